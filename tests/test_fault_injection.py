"""Fault injection: every route of tests/fault_server.py, one by one and end to end.

All servers listen on 127.0.0.1 / 127.0.0.2 only. The guard is opened for the
fault server's own host:port alone (`allow_hosts`), so redirects to
127.0.0.2, to localhost and to another local port stay refused, and the trap
servers there must see no request. Backoffs and timeouts are small so the
suite runs in seconds; nothing here asserts a speed.
"""
from __future__ import annotations

import tracemalloc

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import FeedEntry, FetchedPage, Reject
from tests.fault_server import PAGE_PATHS, FaultServer, TrapServer
from transforms.feeds import ReadFeeds
from transforms.fetch import FetchPages, fetch_page
from transforms.http import HttpClient, HttpConfig

PAGE = "page"
# route -> (outcome: PAGE or the reject reason, HTTP status, attempts)
EXPECTED = {
    "/flaky": (PAGE, 200, 3),                        # 503, 503, 200
    "/ratelimited": (PAGE, 200, 2),                  # 429 Retry-After: 1, then 200
    "/ratelimited-long": ("http_429", 429, 1),       # Retry-After beyond backoff_max: no retry
    "/hang": ("timeout", None, 3),                   # read timeout, retried, given up
    "/reset": ("connection_error", None, 3),
    "/truncated": ("truncated", 200, 3),
    "/bomb": ("too_large", 200, 1),                  # 1 GiB gzip bomb cut at max_bytes
    "/loop/a": ("redirect_loop", 301, 1),
    "/chain/9": ("too_many_redirects", 307, 1),
    "/chain/2": (PAGE, 200, 1),
    "/to-other-ip": ("blocked_address", 302, 1),     # 127.0.0.2:<trap>
    "/to-localhost": ("blocked_address", 302, 1),    # localhost:<trap>
    "/to-other-port": ("blocked_address", 302, 1),   # 127.0.0.1:<trap>
    "/report.pdf": ("not_html", 200, 1),
    "/latin1": (PAGE, 200, 1),
    "/binary": ("decode_error", 200, 1),
    "/not-found": ("http_404", 404, 1),
    "/private/secret": ("robots_disallowed", None, 0),
    "/article/1": (PAGE, 200, 1),
    "/article/2": (PAGE, 200, 1),
    "/article/3": (PAGE, 200, 1),
}


@pytest.fixture
def servers():
    with TrapServer("127.0.0.2") as trap_ip, TrapServer("127.0.0.1") as trap_local, \
            FaultServer(trap_ip=trap_ip, trap_local=trap_local, hang_seconds=3.0) as srv:
        yield srv, trap_ip, trap_local
        assert trap_ip.requests == [] and trap_local.requests == [], "a refused redirect reached a trap"


def fault_config(srv: FaultServer, **overrides) -> HttpConfig:
    settings = dict(allow_hosts=(srv.netloc,), connect_timeout=1.0, read_timeout=0.5, max_retries=2,
                    backoff_base=0.05, backoff_max=2.0, per_host_concurrency=4, fetch_concurrency=8)
    settings.update(overrides)
    return HttpConfig(**settings)


def outcome_of(record) -> tuple:
    if isinstance(record, FetchedPage):
        return PAGE, record.status, record.attempts
    return record.reason, record.http_status, record.attempts


def test_every_route_is_listed():
    assert set(EXPECTED) == set(PAGE_PATHS)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_route_outcome(servers, path):
    srv, _, _ = servers
    client = HttpClient(fault_config(srv))
    entry = FeedEntry(feed_url=srv.url("/feeds/main.xml"), url=srv.url(path))
    record = fetch_page(client, entry, run_id="faults")
    assert outcome_of(record) == EXPECTED[path], getattr(record, "error", None)
    if isinstance(record, Reject):
        assert (record.stage, record.url, record.feed_url, record.run_id) == ("fetch", entry.url, entry.feed_url,
                                                                              "faults")
        assert record.error
    else:
        assert record.entry is entry and record.html.strip()
    client.close()


def test_flaky_is_retried_with_backoff(servers):
    srv, _, _ = servers
    page = fetch_page(HttpClient(fault_config(srv)), FeedEntry("f", srv.url("/flaky")))
    assert isinstance(page, FetchedPage) and "Third time lucky" in page.html
    assert srv.hits("/flaky") == 3


def test_retry_after_is_waited_for(servers):
    srv, _, _ = servers
    page = fetch_page(HttpClient(fault_config(srv)), FeedEntry("f", srv.url("/ratelimited")))
    assert isinstance(page, FetchedPage)
    first, second = srv.times("/ratelimited")
    assert second - first >= 0.99  # Retry-After: 1


def test_no_retry_on_other_4xx(servers):
    srv, _, _ = servers
    client = HttpClient(fault_config(srv))
    fetch_page(client, FeedEntry("f", srv.url("/not-found")))
    fetch_page(client, FeedEntry("f", srv.url("/ratelimited-long")))
    assert srv.hits("/not-found") == 1 and srv.hits("/ratelimited-long") == 1


def test_gzip_bomb_is_cut_without_inflating_it(servers):
    srv, _, _ = servers
    client = HttpClient(fault_config(srv))
    tracemalloc.start()
    try:
        record = fetch_page(client, FeedEntry("f", srv.url("/bomb")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.reason == "too_large" and "10485760" in record.error
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB while reading a bomb"


def test_redirects_to_other_loopback_services_are_refused(servers):
    srv, trap_ip, trap_local = servers
    client = HttpClient(fault_config(srv))
    for path in ("/to-other-ip", "/to-localhost", "/to-other-port"):
        record = fetch_page(client, FeedEntry("f", srv.url(path)))
        assert record.reason == "blocked_address", path
        assert "redirected to" in record.error
    assert trap_ip.requests == [] and trap_local.requests == []


def test_robots_forbidden_path_is_never_requested(servers):
    srv, _, _ = servers
    client = HttpClient(fault_config(srv))
    for _ in range(3):
        assert fetch_page(client, FeedEntry("f", srv.url("/private/secret"))).reason == "robots_disallowed"
    assert srv.hits("/private/secret") == 0 and srv.hits("/robots.txt") == 1


def test_latin1_without_charset_is_decoded(servers):
    srv, _, _ = servers
    page = fetch_page(HttpClient(fault_config(srv)), FeedEntry("f", srv.url("/latin1")))
    assert "Un café crème à la terrasse, déjà servi." in page.html
    assert "charset" not in page.headers["content-type"]


@pytest.mark.timeout(180)  # the run must end: hangs and retries are bounded
def test_pipeline_end_to_end_accounts_for_every_url(servers):
    """ReadFeeds + FetchPages on FnApiRunner over feeds on the fault server.

    Every entry URL ends exactly once, as a page or a reject; the bad feeds
    end as rejects too; all good articles are written.
    """
    srv, _, _ = servers
    config = fault_config(srv)
    feeds = [srv.url("/feeds/main.xml"), srv.url("/feeds/malformed.xml"), srv.url("/feeds/laughs.xml"),
             srv.url("/feeds/none.xml"), srv.url("/hang")]
    expected_pages = sorted((srv.url(path), *outcome) for path, outcome in EXPECTED.items()) + [
        (srv.url("/article/m1"), PAGE, 200, 1), (srv.url("/article/m2"), PAGE, 200, 1),
        (srv.url("/article/laughs"), PAGE, 200, 1)]
    expected_feed_rejects = [
        (None, "no_link"), (None, "no_link"),             # one in main.xml, one in malformed.xml
        (srv.url("/feeds/none.xml"), "http_404"),
        (srv.url("/hang"), "timeout"),
    ]
    with TestPipeline(runner="FnApiRunner") as p:
        feed_result = p | beam.Create(feeds) | "Feeds" >> ReadFeeds(config, run_id="e2e")
        page_result = feed_result.good | "Pages" >> FetchPages(config, run_id="e2e")
        outcomes = (
            (page_result.good | "PageOutcome" >> beam.Map(lambda page: (page.entry.url, *outcome_of(page))),
             page_result.rejects | "RejectOutcome" >> beam.Map(lambda r: (r.url, *outcome_of(r))))
            | beam.Flatten())
        assert_that(outcomes, equal_to(expected_pages), label="every URL exactly once")
        assert_that(feed_result.rejects | "FeedRejects" >> beam.Map(lambda r: (r.url, r.reason)),
                    equal_to(expected_feed_rejects), label="feed rejects")
        assert_that(page_result.rejects | "Stages" >> beam.Map(lambda r: (r.stage, r.run_id)).with_output_types(tuple)
                    | beam.Distinct(), equal_to([("fetch", "e2e")]), label="reject stage")
    assert srv.hits("/robots.txt") == 1  # one client per process for the run: robots.txt once
    assert srv.hits("/private/secret") == 0



@pytest.mark.timeout(180)
def test_pipeline_fetches_concurrently_within_host_limits():
    """Two hosts with slow pages: each has exactly per_host_concurrency requests in flight
    at its peak, and the second host is served while the first is still busy."""
    with FaultServer() as host_a, FaultServer() as host_b:
        host_a.extra_feed = [host_a.url(f"/slow/a{n}") for n in range(6)] + [host_b.url(f"/slow/b{n}") for n in range(6)]
        config = HttpConfig(allow_hosts=(host_a.netloc, host_b.netloc), per_host_concurrency=2, fetch_concurrency=8,
                            read_timeout=5.0, backoff_base=0.05)
        with TestPipeline(runner="FnApiRunner") as p:
            entries = p | beam.Create([host_a.url("/feeds/extra.xml")]) | "Feeds" >> ReadFeeds(config, "conc")
            pages = entries.good | "Pages" >> FetchPages(config, "conc")
            assert_that(pages.good | beam.Map(lambda page: page.entry.url), equal_to(host_a.extra_feed))
        assert host_a.max_in_flight["/slow"] == 2 and host_b.max_in_flight["/slow"] == 2
        spans_a = [(s, e) for path, s, e in host_a.spans if path.startswith("/slow/")]
        spans_b = [(s, e) for path, s, e in host_b.spans if path.startswith("/slow/")]
        assert len(spans_a) == len(spans_b) == 6
        # Neither host waited for the other to finish.
        assert min(s for s, _ in spans_b) < max(e for _, e in spans_a)
        assert min(s for s, _ in spans_a) < max(e for _, e in spans_b)
