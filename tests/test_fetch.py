"""FetchPages in batch and streaming, and the concurrent DoFn's accounting (127.0.0.1 only)."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, equal_to_per_window
from apache_beam.transforms import window

from schemas.records import FeedEntry
from tests.fault_server import FaultServer
from transforms.common import StageResult
from transforms.fetch import REJECTS_TAG, ConcurrentFetchDoFn, FetchPages, fetch_page
from transforms.http import HttpClient, HttpConfig


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def _config(srv, **overrides):
    settings = dict(allow_hosts=(srv.netloc,), read_timeout=2.0, max_retries=1, backoff_base=0.01)
    settings.update(overrides)
    return HttpConfig(**settings)


def test_fetch_page_keeps_entry_final_url_and_headers(server):
    entry = FeedEntry(feed_url=server.url("/feeds/main.xml"), url=server.url("/chain/2"), title="t")
    page = fetch_page(HttpClient(_config(server)), entry)
    assert page.entry is entry
    assert page.final_url == server.url("/chain/0") and page.status == 200
    assert page.headers["content-type"].startswith("text/html") and "End of chain" in page.html
    assert page.fetched_at.tzinfo is not None


def test_fetch_page_rejects_non_urls(server):
    client = HttpClient(_config(server))
    for url in (None, "", "   ", "ftp://x.test/a", "http://"):
        reject = fetch_page(client, FeedEntry(feed_url="f", url=url))
        assert reject.stage == "fetch" and reject.reason in ("bad_url", "bad_scheme"), (url, reject.reason)


def test_batch_every_entry_once(server):
    urls = [server.url(p) for p in ("/article/1", "/article/2", "/not-found", "/report.pdf", "/private/secret")]
    with TestPipeline(runner="FnApiRunner") as p:
        entries = p | beam.Create([FeedEntry(feed_url="f", url=u) for u in urls])
        result = entries | FetchPages(_config(server), run_id="batch")
        assert isinstance(result, StageResult)
        assert_that(result.good | "Good" >> beam.Map(lambda page: page.entry.url), equal_to(urls[:2]), label="good")
        assert_that(result.rejects | "Bad" >> beam.Map(lambda r: (r.url, r.reason, r.http_status, r.attempts)),
                    equal_to([(urls[2], "http_404", 404, 1), (urls[3], "not_html", 200, 1),
                              (urls[4], "robots_disallowed", None, 0)]), label="rejects")


def test_outputs_keep_their_window_and_timestamp(server):
    """Results finish out of order on the thread pool, yet each lands in its own window
    with its own timestamp: what streaming relies on. (FnApiRunner has no TestStream;
    timestamped, windowed input in batch exercises the same path.)"""
    stamped = [(server.url(path), ts) for path, ts in
               [("/slow/w1", 10), ("/article/w1", 20), ("/article/w2", 75), ("/not-found", 80)]]
    with TestPipeline(runner="FnApiRunner") as p:
        entries = (p | beam.Create(stamped)
                   | "Stamp" >> beam.Map(lambda pair: window.TimestampedValue(
                       FeedEntry(feed_url="f", url=pair[0]), pair[1]))
                   | beam.WindowInto(window.FixedWindows(60)))
        result = entries | FetchPages(_config(server), run_id="windows", reshuffle=False)
        urls = result.good | "Urls" >> beam.Map(
            lambda page, ts=beam.DoFn.TimestampParam: (page.entry.url.rsplit("/", 1)[1], int(ts.micros // 1_000_000)))
        assert_that(urls, equal_to_per_window({
            window.IntervalWindow(0, 60): [("w1", 10), ("w1", 20)],
            window.IntervalWindow(60, 120): [("w2", 75)],
        }), label="pages per window")
        rejects = result.rejects | "Rejects" >> beam.Map(lambda r: r.reason)
        assert_that(rejects, equal_to_per_window({window.IntervalWindow(60, 120): ["http_404"]}),
                    label="rejects per window")


class _Exploding(ConcurrentFetchDoFn):
    stage = "fetch"

    def url_of(self, element):
        return element.url

    def work(self, element):
        if "boom" in element.url:
            raise RuntimeError("unexpected")
        return element


def test_exceptions_in_workers_become_rejects(server):
    entries = [FeedEntry(feed_url="f", url=server.url(p)) for p in ("/ok", "/boom")]
    with TestPipeline(runner="FnApiRunner") as p:
        results = (p | beam.Create(entries)
                   | beam.ParDo(_Exploding(_config(server), "crash")).with_outputs(REJECTS_TAG, main="good"))
        assert_that(results.good | "Good" >> beam.Map(lambda e: e.url), equal_to([server.url("/ok")]), label="good")
        assert_that(results[REJECTS_TAG] | "Bad" >> beam.Map(lambda r: (r.url, r.reason, r.stage, r.run_id)),
                    equal_to([(server.url("/boom"), "crash:RuntimeError", "fetch", "crash")]), label="bad")
