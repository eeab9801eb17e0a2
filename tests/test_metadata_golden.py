"""Golden metadata expectations: resolve_metadata and detect_language on the golden texts.

Each golden text is wrapped in the same small page the golden site serves
(tests.support.golden.article_page), extracted with the pipeline's own
extract_document, and given the feed entry golden.json describes.
"""
from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import Article, FeedEntry
from tests.support.golden import article_page, load_golden
from transforms.extract import extract_document
from transforms.language import detect_language
from transforms.metadata import ResolveMetadata, resolve_metadata

FETCHED = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


def _published(doc: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(doc["published"].replace("Z", "+00:00"))


def _article(doc: dict) -> Article:
    url = f"http://127.0.0.1:8000/articles/{doc['slug']}.html"
    extracted = extract_document(article_page(doc), url)
    entry = FeedEntry(feed_url="http://127.0.0.1:8000/feed.xml", url=url, title=doc["title"],
                      published=_published(doc), feed_language="fr", feed_title="Golden")
    return Article(url=url, feed_url=entry.feed_url, fetched_at=FETCHED, text=extracted.text,
                   entry=entry, page_meta=extracted.page_meta,
                   extracted_meta=extracted.extracted_meta)


@pytest.fixture(scope="module")
def golden():
    docs = load_golden()
    return [(doc, _article(doc)) for doc in docs]


def test_golden_titles_sites_and_dates(golden):
    for doc, article in golden:
        resolved = resolve_metadata(article)
        assert resolved.title == doc["title"], doc["slug"]
        assert resolved.site_name == doc["site_name"], doc["slug"]
        assert resolved.published_at == _published(doc), doc["slug"]
        assert resolved.published_at.tzinfo == dt.timezone.utc
        assert resolved.published_at.date().isoformat() == doc["expect"]["partition"]["date"]


def test_golden_authors(golden):
    for doc, article in golden:
        resolved = resolve_metadata(article)
        if "authors" in doc["expect"]:
            assert resolved.authors == doc["expect"]["authors"], doc["slug"]
        else:
            # Nothing in these pages names a person: not the site, not 'LA REDACTION'.
            assert resolved.authors == [], (doc["slug"], resolved.authors)
        assert resolved.agencies == [], (doc["slug"], resolved.agencies)


def test_golden_000_dateline_moves_out_of_the_text(golden):
    doc, article = next((d, a) for d, a in golden if d["slug"] == "000")
    assert article.text.startswith("WASHINGTON –")
    resolved = resolve_metadata(article)
    assert resolved.dateline == "WASHINGTON"
    assert resolved.text.startswith("Le président Trump a déclaré")
    assert len(resolved.text) == len(article.text) - len("WASHINGTON – ")
    for other_doc, other in golden:
        if other_doc["slug"] != "000":
            assert resolve_metadata(other).dateline is None, other_doc["slug"]


def test_golden_language(golden):
    for doc, article in golden:
        lang, probability = detect_language(article.text, html_lang="fr", feed_lang="fr")
        assert lang == doc["expect"]["language"], doc["slug"]
        assert probability > 0.9
        assert detect_language(article.text)[0] == doc["expect"]["language"], doc["slug"]


def test_resolve_metadata_stage_on_golden(golden):
    articles = [a for _, a in golden]
    expected = [(d["title"], _published(d)) for d, _ in golden]
    with TestPipeline(runner="FnApiRunner") as p:
        good, rejects = p | beam.Create(articles) | ResolveMetadata(run_id="golden")
        assert_that(good | beam.Map(lambda a: (a.title, a.published_at)), equal_to(expected),
                    label="good")
        assert_that(rejects, equal_to([]), label="rejects")
