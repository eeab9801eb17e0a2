"""Canonical URLs, URL keys and article ids (pure, no Beam)."""
import pytest

from transforms.canonical import (article_id, canonical_url, normalize_url, registered_domain,
                                  source_domain, url_key)


@pytest.mark.parametrize("variant", [
    "https://www.example.com/news/story-1",
    "http://example.com/news/story-1",
    "HTTPS://WWW.EXAMPLE.COM:443/news/story-1",
    "http://example.com:80/news/story-1/",
    "https://example.com/news/story-1?utm_source=rss&utm_medium=feed",
    "https://example.com/news/story-1?fbclid=abc123#comments",
    "https://example.com/news/./other/../story-1?at_medium=RSS&at_campaign=x&gclid=1",
    "https://example.com/news/%73tory-1",
])
def test_url_variants_share_key_and_id(variant):
    assert url_key(variant) == "example.com/news/story-1"
    assert article_id(variant) == article_id("https://example.com/news/story-1")


def test_normalize_keeps_meaningful_query_sorted_in_key_only():
    url = "https://Example.com/search?q=beam&page=2&utm_campaign=x"
    assert normalize_url(url) == "https://example.com/search?q=beam&page=2"
    assert url_key(url) == "example.com/search?page=2&q=beam"
    assert url_key("https://example.com/a?id=1") != url_key("https://example.com/a?id=2")


def test_non_default_port_and_scheme_kept_in_url():
    assert normalize_url("http://127.0.0.1:8080/p/1.html#x") == "http://127.0.0.1:8080/p/1.html"
    assert url_key("http://127.0.0.1:8080/p/1.html") != url_key("http://127.0.0.1:8081/p/1.html")


def test_canonical_from_page_meta_same_site():
    fetched = "https://m.lemonde.fr/international/article/2025/03/18/x.html?utm_source=twitter"
    meta = {"canonical": "https://www.lemonde.fr/international/article/2025/03/18/x.html"}
    assert canonical_url(fetched, meta) == "https://www.lemonde.fr/international/article/2025/03/18/x.html"


def test_relative_canonical_resolved_and_og_url_fallback():
    fetched = "https://www.example.org/a/b.html?xtor=RSS-1"
    assert canonical_url(fetched, {"canonical": "/a/b.html"}) == "https://www.example.org/a/b.html"
    assert canonical_url(fetched, {"og_url": "https://example.org/a/b.html?utm_term=z"}) \
        == "https://example.org/a/b.html"


@pytest.mark.parametrize("meta", [
    {"canonical": "https://aggregator.example.net/a/b.html"},   # another site: not trusted
    {"canonical": "https://www.example.org/"},                 # home page of an article: a template bug
    {"canonical": "javascript:void(0)"},
    {"og_url": "ftp://www.example.org/a/b.html"},
    {},
])
def test_untrusted_canonical_falls_back_to_fetched_url(meta):
    assert canonical_url("https://www.example.org/a/b.html?utm_source=x", meta) \
        == "https://www.example.org/a/b.html"


def test_registered_and_source_domain():
    assert registered_domain("https://news.bbc.co.uk/x") == "bbc.co.uk"
    assert registered_domain("http://127.0.0.1:8000/x") == "127.0.0.1:8000"
    assert source_domain("https://www.lemonde.fr/x") == "lemonde.fr"
    assert source_domain("https://edition.cnn.com/x") == "edition.cnn.com"


def test_article_id_is_stable_hex():
    aid = article_id("https://example.com/a")
    assert len(aid) == 32 and int(aid, 16) >= 0
    assert aid == article_id("https://example.com/a")
    assert aid != article_id("https://example.com/b")
