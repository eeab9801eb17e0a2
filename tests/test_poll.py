"""Polling: conditional GET, listing diff, per-feed backoff, the tick source and its stop file."""
from __future__ import annotations

import threading
import time

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from pipelines.site_server import SiteServer
from tests.test_stream_support import FeedSite, local_http_config
from transforms.http import HttpClient
from transforms.poll import (FeedPollState, PollFeeds, PollOutcome, PollTicks, backoff_seconds,
                             poll_feed, request_stop, stop_requested)


def test_backoff_doubles_from_the_interval_up_to_the_cap():
    assert backoff_seconds(0, 60) == 60
    assert [backoff_seconds(n, 60, 600) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    assert backoff_seconds(3, 60, 10) == 60  # never shorter than the interval
    assert backoff_seconds(10_000, 1, 3600) == 3600


@pytest.fixture
def feed_site():
    with FeedSite() as site:
        yield site


@pytest.fixture
def client():
    c = HttpClient(local_http_config())
    yield c
    c.close()


def test_first_poll_gives_every_entry_then_304_while_unchanged(feed_site, client):
    feed_site.add(3)
    state, entries, rejects, outcome = poll_feed(client, feed_site.feed_url, FeedPollState(), 100.0,
                                                 interval=10)
    assert outcome == PollOutcome.CHANGED and not rejects
    assert sorted(e.url for e in entries) == sorted(feed_site.urls())
    assert state.etag and state.polls == 1 and len(state.listing) == 3

    state2, entries, rejects, outcome = poll_feed(client, feed_site.feed_url, state, 110.0, interval=10)
    assert (outcome, entries, rejects) == (PollOutcome.NOT_MODIFIED, [], [])
    assert state2.listing == state.listing and state2.polls == 2
    assert feed_site.statuses() == [200, 304]
    conditional = feed_site.feed_requests()[-1]
    assert conditional.get("If-None-Match") == state.etag


def test_only_entries_new_to_the_listing_go_on(feed_site, client):
    feed_site.add(2)
    state, first, _, _ = poll_feed(client, feed_site.feed_url, FeedPollState(), 0.0, interval=10)
    feed_site.add(2)
    state, second, _, outcome = poll_feed(client, feed_site.feed_url, state, 10.0, interval=10)
    assert outcome == PollOutcome.CHANGED
    assert sorted(e.url for e in second) == sorted(feed_site.urls()[2:])
    assert not {e.url for e in first} & {e.url for e in second}


def test_same_bytes_without_validators_cost_no_parse(client):
    from pipelines.site_server import Route

    body = FeedSite.rss("http://127.0.0.1", [("a", "/a.html")]).encode()
    with SiteServer({"/feed.xml": Route(body, "application/rss+xml")}) as server:
        url = server.url("/feed.xml")
        state, entries, _, _ = poll_feed(client, url, FeedPollState(), 0.0, interval=10)
        assert len(entries) == 1 and state.etag is None
        state, entries, _, outcome = poll_feed(client, url, state, 10.0, interval=10)
        assert (outcome, entries) == (PollOutcome.SAME_BODY, [])


def test_a_failing_feed_backs_off_then_recovers(feed_site, client):
    feed_site.add(1)
    feed_site.failing = True
    state, now, outcomes = FeedPollState(), 0.0, []
    for _ in range(8):
        state, entries, rejects, outcome = poll_feed(client, feed_site.feed_url, state, now,
                                                     interval=10, max_backoff=40)
        outcomes.append(outcome)
        if outcome == PollOutcome.FAILED:
            assert rejects[0].reason == "http_500" and rejects[0].stage == "feeds"
        now += 10
    # fail at 0 and 10 (1st wait = interval), then 20s, then 40s (the cap)
    assert outcomes == ["failed", "failed", "backing_off", "failed", "backing_off",
                        "backing_off", "backing_off", "failed"]
    assert state.failures == 4
    assert len(feed_site.feed_requests()) == 4
    feed_site.failing = False
    now = state.next_poll_at
    state, entries, rejects, outcome = poll_feed(client, feed_site.feed_url, state, now, interval=10)
    assert outcome == PollOutcome.CHANGED and len(entries) == 1 and state.failures == 0


def test_an_unreachable_feed_is_a_reject_not_a_crash(client):
    with SiteServer() as server:
        url = server.url("/feed.xml")
    state, entries, rejects, outcome = poll_feed(client, url, FeedPollState(), 0.0, interval=5)
    assert outcome == PollOutcome.FAILED and state.failures == 1
    assert rejects[0].reason in ("connection_error", "timeout") and rejects[0].url == url


def test_stop_file(tmp_path):
    stop = str(tmp_path / "state" / "stream" / "run.stop")
    assert not stop_requested(stop) and not stop_requested(None)
    request_stop(stop)
    assert stop_requested(stop)


def test_ticks_stop_after_max_polls():
    with BeamTestPipeline(runner="FnApiRunner") as p:
        ticks = p | PollTicks(interval=0.2, max_polls=4)
        assert_that(_count(ticks), equal_to([4]))


def test_ticks_end_when_the_stop_file_appears(tmp_path):
    stop = str(tmp_path / "run.stop")
    marks = tmp_path / "ticks"
    marks.mkdir()

    def stop_after_two_ticks():
        while len(list(marks.iterdir())) < 2:
            time.sleep(0.05)
        request_stop(stop)

    stopper = threading.Thread(target=stop_after_two_ticks, daemon=True)
    stopper.start()
    with BeamTestPipeline(runner="FnApiRunner") as p:
        ticks = p | PollTicks(interval=0.25, stop_file=stop)
        _ = ticks | "Mark" >> beam.Map(lambda t, d: open(f"{d}/{t.micros}", "w").close(), str(marks))
        assert_that(_count(ticks), _one_count_between(2, 10_000))
    assert stop_requested(stop)


def _one_count_between(low: int, high: int):
    def check(counts):
        if len(counts) != 1 or not low <= counts[0] <= high:
            raise BeamAssertException(f"expected one count in [{low}, {high}], got {counts}")
    return check


def _count(ticks):
    """The number of ticks, in one huge fixed window (an unbounded input needs a window)."""
    return (ticks
            | "OneWindow" >> beam.WindowInto(beam.window.FixedWindows(10 ** 9))
            | "Count" >> beam.combiners.Count.Globally().without_defaults())


def test_poll_feeds_in_a_pipeline_emits_each_entry_once(feed_site):
    feed_site.add(2)
    ticks = [beam.utils.timestamp.Timestamp.of(t) for t in (1.0, 2.0, 3.0)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        result = (p | beam.Create(ticks) | PollFeeds([feed_site.feed_url], local_http_config(),
                                                     "t", interval=1.0))
        assert_that(result.good | beam.Map(lambda e: e.url), equal_to(feed_site.urls()), label="entries")
        assert_that(result.rejects, equal_to([]), label="rejects")
    assert sorted(feed_site.statuses()) == [200, 304, 304]


def test_unusable_entries_are_reported_once_not_at_every_change(client):
    from pipelines.site_server import Route

    def feed(extra: str) -> Route:
        body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                '<item><title>no link here</title></item>'
                '<item><title>ftp</title><link>ftp://127.0.0.1/file</link></item>'
                f'<item><title>ok</title><link>http://127.0.0.1/a</link></item>{extra}'
                '</channel></rss>')
        return Route(body.encode(), "application/rss+xml")

    with SiteServer({"/feed.xml": feed("")}) as server:
        url = server.url("/feed.xml")
        state, entries, rejects, _ = poll_feed(client, url, FeedPollState(), 0.0, interval=10)
        assert len(entries) == 1 and sorted(r.reason for r in rejects) == ["bad_scheme", "no_link"]
        server.routes["/feed.xml"] = feed('<item><title>b</title><link>http://127.0.0.1/b</link></item>')
        state, entries, rejects, outcome = poll_feed(client, url, state, 10.0, interval=10)
        assert outcome == PollOutcome.CHANGED
        assert [e.url for e in entries] == ["http://127.0.0.1/b"] and rejects == []
