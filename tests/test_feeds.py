"""parse_feed, read_feeds_file, read_feed and ReadFeeds (local servers on 127.0.0.1 only)."""
from __future__ import annotations

import datetime as dt
import tracemalloc

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.fault_server import LAUGHS_FEED, MALFORMED_FEED, FaultServer
from transforms.feeds import ReadFeeds, parse_feed, read_feed, read_feeds_file
from transforms.http import HttpClient, HttpConfig

FEED_URL = "https://news.test/rss/world.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>World &amp; more</title><language>fr-FR</language><link>https://news.test/</link>
<item><title>Relative</title><link>/2025/03/18/appel.html#comments</link>
  <pubDate>Tue, 18 Mar 2025 17:30:00 +0100</pubDate><dc:creator>Jennifer Jacobs</dc:creator>
  <description>&lt;p&gt;Le &lt;b&gt;r\xc3\xa9sum\xc3\xa9&lt;/b&gt;&lt;/p&gt;</description><guid isPermaLink="false">id-1</guid></item>
<item><title>Absolute</title><link>https://other.test/a?x=1</link></item>
<item><title>Duplicate</title><link>https://news.test/2025/03/18/appel.html</link></item>
<item><title>Mail</title><link>mailto:desk@news.test</link></item>
<item><title>Lost</title><description>no link at all</description><guid isPermaLink="false">lost-1</guid></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de"><title type="html">Nachrichten &lt;i&gt;heute&lt;/i&gt;</title>
<entry><title>Eintrag</title><link rel="alternate" href="eintrag-1"/><id>urn:x:1</id>
<updated>2025-03-18T16:00:00Z</updated><published>2025-03-18T15:00:00-04:00</published>
<author><name>Anna Muster</name></author><author><name>Ben Beispiel</name></author></entry>
</feed>"""


def test_rss_entries_resolved_dated_and_deduplicated():
    entries, rejects = parse_feed(RSS, FEED_URL, "application/rss+xml; charset=utf-8", run_id="r")
    assert [e.url for e in entries] == ["https://news.test/2025/03/18/appel.html#comments", "https://other.test/a?x=1"]
    first = entries[0]
    assert first.feed_url == FEED_URL and first.title == "Relative" and first.entry_id == "id-1"
    assert first.published == dt.datetime(2025, 3, 18, 16, 30, tzinfo=dt.timezone.utc)
    assert first.published.tzinfo is not None
    assert first.authors == ["Jennifer Jacobs"]
    assert first.summary == "Le résumé"
    assert first.feed_title == "World & more" and first.feed_language == "fr-FR"
    assert first.updated is None
    reasons = sorted((r.reason, r.url) for r in rejects)
    assert reasons == [("bad_scheme", "mailto:desk@news.test"), ("no_link", None)]
    no_link = next(r for r in rejects if r.reason == "no_link")
    assert no_link.stage == "feeds" and no_link.feed_url == FEED_URL and "Lost" in no_link.error
    assert no_link.run_id == "r"


def test_atom_entries_with_base_url_after_redirect():
    entries, rejects = parse_feed(ATOM, FEED_URL, "application/atom+xml", base_url="https://news.test/de/feed")
    assert not rejects
    (entry,) = entries
    assert entry.url == "https://news.test/de/eintrag-1"
    assert entry.feed_url == FEED_URL
    assert entry.published == dt.datetime(2025, 3, 18, 19, 0, tzinfo=dt.timezone.utc)
    assert entry.updated == dt.datetime(2025, 3, 18, 16, 0, tzinfo=dt.timezone.utc)
    assert entry.authors == ["Anna Muster", "Ben Beispiel"]
    assert entry.feed_title == "Nachrichten heute"


def test_json_feed():
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
            b'{"id": "1", "url": "https://news.test/j/1", "title": "One", "date_published": "2025-03-18T10:00:00Z"},'
            b'{"id": "2", "title": "No URL"}]}')
    entries, rejects = parse_feed(body, FEED_URL, "application/feed+json")
    assert [e.url for e in entries] == ["https://news.test/j/1"]
    assert entries[0].published == dt.datetime(2025, 3, 18, 10, 0, tzinfo=dt.timezone.utc)
    assert [r.reason for r in rejects] == ["no_link"]


def test_bozo_feed_still_yields_its_entries():
    entries, rejects = parse_feed(MALFORMED_FEED, "http://127.0.0.1:9/feeds/malformed.xml")
    assert [e.title for e in entries] == ["First readable", "Second readable"]
    assert entries[0].url == "http://127.0.0.1:9/article/m1"
    assert entries[1].published == dt.datetime(2025, 3, 18, 15, 0, tzinfo=dt.timezone.utc)
    assert [r.reason for r in rejects] == ["no_link"]


def test_billion_laughs_neither_hangs_nor_blows_memory():
    tracemalloc.start()
    try:
        entries, rejects = parse_feed(LAUGHS_FEED, "http://127.0.0.1:9/feeds/laughs.xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    texts = [e.title or "" for e in entries] + [e.summary or "" for e in entries]
    assert all(len(t) < 1000 for t in texts)  # not expanded
    assert len(entries) + len(rejects) >= 1


def test_external_entities_are_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            f'<rss version="2.0"><channel><item><title>a &xxe; b</title><link>https://news.test/1</link>'
            f"</item></channel></rss>").encode()
    entries, _ = parse_feed(body, FEED_URL)
    assert all("TOP-SECRET" not in (e.title or "") for e in entries)


def test_body_is_never_taken_for_a_path_or_url(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes(RSS)
    for body in (str(secret).encode(), b"https://news.test/rss"):
        entries, rejects = parse_feed(body, FEED_URL)
        assert entries == [] and len(rejects) == 1 and rejects[0].url == FEED_URL


@pytest.mark.parametrize("body, reason", [
    (b"", "empty_feed"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>', "empty_feed"),
    (b"\x00\xff\xfe garbage \x89PNG", "feed_parse_error"),
    (b"<html><body>Not a feed <p>at all</body></html>", "feed_parse_error"),
])
def test_feeds_without_entries_give_one_reject(body, reason):
    entries, rejects = parse_feed(body, FEED_URL)
    assert entries == []
    assert [(r.reason, r.url, r.stage) for r in rejects] == [(reason, FEED_URL, "feeds")]


def test_read_feeds_file_lines_and_opml(tmp_path):
    listing = tmp_path / "feeds.txt"
    listing.write_text("# world\nhttps://a.test/rss\n\n  https://b.test/atom  # comment\nhttps://a.test/rss\n"
                       "https://c.test/x#frag\n", encoding="utf-8")
    assert read_feeds_file(str(listing)) == ["https://a.test/rss", "https://b.test/atom", "https://c.test/x#frag"]
    opml = tmp_path / "feeds.opml"
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
                    '<outline text="News"><outline type="rss" text="A" xmlUrl="https://a.test/rss"/>'
                    '<outline type="rss" text="B" xmlUrl="https://b.test/feed?x=1&amp;y=2"/></outline>'
                    '<outline text="no feed"/></body></opml>', encoding="utf-8")
    assert read_feeds_file(str(opml)) == ["https://a.test/rss", "https://b.test/feed?x=1&y=2"]
    evil = tmp_path / "evil.opml"
    evil.write_text('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body/></opml>')
    with pytest.raises(ValueError):
        read_feeds_file(str(evil))


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def _config(srv) -> HttpConfig:
    return HttpConfig(allow_hosts=(srv.netloc,), read_timeout=2.0, max_retries=1, backoff_base=0.01)


def test_read_feed_conditional_polling_and_failures(server):
    client = HttpClient(_config(server))
    validators = {}
    first = read_feed(client, server.url("/etag"), "r", validators)
    assert [(type(r).__name__, r.url) for r in first] == [("FeedEntry", server.url("/article/e")), ("Reject", None)]
    assert validators[server.url("/etag")][0] == '"v1"'
    assert read_feed(client, server.url("/etag"), "r", validators) == []  # 304: nothing new
    (reject,) = read_feed(client, server.url("/feeds/none.xml"), "r")
    assert (reject.reason, reject.http_status, reject.attempts, reject.stage) == ("http_404", 404, 1, "feeds")
    (pdf,) = read_feed(client, server.url("/report.pdf"), "r")
    assert pdf.reason == "not_feed" and pdf.http_status == 200


def test_read_feeds_pipeline_accounts_for_every_feed(server):
    config = _config(server)
    feeds = [server.url("/feeds/malformed.xml"), server.url("/feeds/laughs.xml"), server.url("/feeds/gz"),
             server.url("/feeds/none.xml"), "ftp://news.test/feed"]
    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create(feeds) | ReadFeeds(config, run_id="feeds-test")
        assert_that(result.good | "Urls" >> beam.Map(lambda e: e.url),
                    equal_to([server.url("/article/m1"), server.url("/article/m2"), server.url("/article/laughs"),
                              server.url("/article/9")]), label="entries")
        assert_that(result.rejects | "Reasons" >> beam.Map(lambda r: (r.reason, r.url)),
                    equal_to([("no_link", None), ("no_link", None), ("http_404", server.url("/feeds/none.xml")),
                              ("bad_scheme", "ftp://news.test/feed")]), label="rejects")
