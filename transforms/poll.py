"""Polling source of the streaming pipeline: ticks -> new FeedEntry records.

`PollTicks` is an unbounded source like Beam's `PeriodicImpulse`: one tick
every `interval` seconds, from the time the pipeline starts, optionally for
`max_polls` ticks only. Unlike `PeriodicImpulse` it can be drained: when a stop
file appears (`newsbeam stream` writes it on SIGINT/SIGTERM) the source stops
emitting, its watermark jumps to the end of time, and the runner finishes
every window in flight, so nothing already fetched is lost.

`PollFeeds` polls every feed at every tick from a stateful DoFn keyed by feed
URL (the feeds spread over workers). Its per-feed state holds:

- the validators of the last response (ETag, Last-Modified), sent back as a
  conditional GET, so an unchanged feed costs a 304;
- a hash of the last body, so a server without validators that serves the same
  bytes again costs no parse;
- the entry URLs of the last listing: only entries not in it go downstream;
- the count of consecutive failures and the time before which the feed is not
  polled again (capped exponential backoff).

A listing diff alone is not exactly-once (an entry can leave a feed and come
back, or appear in two feeds): `transforms.stream_state.FirstSeen` finishes
the job with keyed, expiring state.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
import uuid
from typing import Any, Callable, Iterable, Optional

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms import core
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from schemas.records import FeedEntry, Reject
from transforms.common import REJECTS_TAG, StageResult, counter
from transforms.feeds import parse_feed
from transforms.http import FetchError, HttpClient, HttpConfig, release_client, shared_client

__all__ = ["STAGE", "DEFAULT_MAX_BACKOFF", "FeedPollState", "PollOutcome", "PollTicks", "PollFeeds",
           "backoff_seconds", "poll_feed", "stop_requested", "request_stop"]

STAGE = "feeds"
DEFAULT_MAX_BACKOFF = 3600.0
# How often, at most, a waiting source looks for the stop file (seconds).
STOP_CHECK_SECONDS = 2.0
_LOG = logging.getLogger(__name__)


# --- stopping ----------------------------------------------------------------------

def request_stop(stop_file: str) -> None:
    """Creates `stop_file`: every `PollTicks` watching it stops and the pipeline drains."""
    folder = stop_file.rsplit("/", 1)[0]
    if folder and not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    with FileSystems.create(stop_file) as handle:
        handle.write(b"stop\n")


def stop_requested(stop_file: Optional[str]) -> bool:
    """Whether `stop_file` exists (False when there is none to watch)."""
    if not stop_file:
        return False
    try:
        return FileSystems.exists(stop_file)
    except Exception:  # noqa: BLE001 - a flaky store must not stop the source
        return False


# --- the tick source -------------------------------------------------------------

class _TickRestrictionProvider(core.RestrictionProvider):
    """Offsets 0..n of the ticks of (start, stop, interval); n is huge when unbounded."""

    def initial_restriction(self, element):
        start, stop, interval = element
        return OffsetRange(0, max(0, math.ceil((stop - start) / interval)))

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        start, _, interval = element
        due = math.floor((time.time() - start) / interval) + 1
        return 8 * max(0, min(restriction.stop, due) - restriction.start)

    def truncate(self, element, restriction):
        return None  # on a runner's drain, emit nothing more


class _TicksDoFn(beam.DoFn):
    """Emits tick i at start + i * interval, not before; stops when the stop file appears."""

    def __init__(self, stop_file: Optional[str], check_seconds: float = STOP_CHECK_SECONDS):
        self._stop_file = stop_file
        self._check_seconds = check_seconds

    @beam.DoFn.unbounded_per_element()
    def process(self, element,
                tracker=beam.DoFn.RestrictionParam(_TickRestrictionProvider()),
                watermark=beam.DoFn.WatermarkEstimatorParam(
                    ManualWatermarkEstimator.default_provider())):
        start, _, interval = element
        index = tracker.current_restriction().start
        while True:
            if stop_requested(self._stop_file):
                _LOG.info("stop file %s found: the poll source stops", self._stop_file)
                tracker.try_claim(tracker.current_restriction().stop)  # claims the rest: done
                return
            due = start + interval * index
            now = time.time()
            if due > now:
                wake = Timestamp.of(min(due, now + self._check_seconds))
                if watermark.current_watermark() is None or Timestamp.of(due) > watermark.current_watermark():
                    watermark.set_watermark(Timestamp.of(due))
                tracker.defer_remainder(wake)
                return
            if not tracker.try_claim(index):
                return
            tick = Timestamp.of(due)
            if watermark.current_watermark() is None or tick > watermark.current_watermark():
                watermark.set_watermark(tick)
            yield TimestampedValue(tick, tick)
            index += 1


class PollTicks(beam.PTransform):
    """PBegin -> unbounded PCollection[Timestamp]: one tick every `interval` seconds.

    Ticks start when the pipeline starts (like `PeriodicImpulse` with
    `RebaseMode.REBASE_ALL`), carry their own time as value and timestamp, and
    live in the global window.

    Args:
        interval: seconds between ticks.
        max_polls: number of ticks, then the source ends; None for no end.
        stop_file: path (local, gs://, ...) whose appearance ends the source.
    """

    def __init__(self, interval: float, max_polls: Optional[int] = None,
                 stop_file: Optional[str] = None):
        super().__init__()
        if interval <= 0:
            raise ValueError("interval must be positive")
        if max_polls is not None and max_polls < 1:
            raise ValueError("max_polls must be at least 1")
        self._interval = float(interval)
        self._max_polls = max_polls
        self._stop_file = stop_file

    def expand(self, pbegin):
        interval, max_polls = self._interval, self._max_polls

        def bounds(_):
            start = time.time()
            stop = (start + interval * max_polls) if max_polls else MAX_TIMESTAMP.micros / 1e6
            return (start, stop, interval)

        return (pbegin
                | "Impulse" >> beam.Impulse()
                | "Bounds" >> beam.Map(bounds)
                | "Ticks" >> beam.ParDo(_TicksDoFn(self._stop_file)).with_output_types(Timestamp))


# --- polling one feed -------------------------------------------------------------

@dataclasses.dataclass
class FeedPollState:
    """What is remembered about one feed between polls."""

    etag: Optional[str] = None
    last_modified: Optional[str] = None
    body_hash: Optional[str] = None
    listing: frozenset[str] = frozenset()  # url digests of the last listing
    reported: frozenset[str] = frozenset()  # digests of the entry rejects of the last listing
    failures: int = 0
    next_poll_at: float = 0.0  # epoch seconds; polls before it are skipped
    polls: int = 0


class PollOutcome:
    """How a poll ended (also the counter names)."""

    CHANGED = "changed"
    NOT_MODIFIED = "not_modified"  # 304
    SAME_BODY = "same_body"  # 200 with the bytes of the last poll
    FAILED = "failed"
    BACKING_OFF = "backing_off"  # not polled: the feed is in backoff


def backoff_seconds(failures: int, interval: float, max_backoff: float = DEFAULT_MAX_BACKOFF) -> float:
    """Seconds to wait after `failures` consecutive failed polls before the next one.

    One failure waits the normal interval; each further failure doubles the
    wait, up to `max_backoff` (never less than the interval).
    """
    if failures <= 0:
        return interval
    return min(max(interval, max_backoff), interval * 2 ** min(failures - 1, 30))


def _digest(url: str) -> str:
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def poll_feed(client: HttpClient, feed_url: str, state: FeedPollState, now: float, *,
              interval: float, max_backoff: float = DEFAULT_MAX_BACKOFF,
              run_id: Optional[str] = None,
              ) -> tuple[FeedPollState, list[FeedEntry], list[Reject], str]:
    """Polls one feed once, given what the last polls left.

    Args:
        client: the HTTP client.
        feed_url: the feed.
        state: the feed's state before this poll (not modified).
        now: the current time, epoch seconds.
        interval: the poll interval, seconds (for the backoff).
        max_backoff: the longest wait after repeated failures, seconds.
        run_id: copied onto rejects.

    Returns:
        (new state, entries not in the last listing, rejects, PollOutcome value).
    """
    if now < state.next_poll_at:
        return state, [], [], PollOutcome.BACKING_OFF
    polled = dataclasses.replace(state, polls=state.polls + 1)

    def failed(reason: str, error: str, status: Optional[int] = None,
               attempts: Optional[int] = None) -> tuple[FeedPollState, list, list, str]:
        failures = polled.failures + 1
        wait = backoff_seconds(failures, interval, max_backoff)
        new_state = dataclasses.replace(polled, failures=failures, next_poll_at=now + wait - interval / 2)
        reject = Reject(url=feed_url, feed_url=feed_url, stage=STAGE, reason=reason,
                        http_status=status, attempts=attempts,
                        error=f"{error} (failure {failures} in a row; next poll in {wait:.0f}s)"[:2000],
                        run_id=run_id)
        return new_state, [], [reject], PollOutcome.FAILED

    try:
        response = client.get(feed_url, kind="feed", etag=state.etag, last_modified=state.last_modified)
    except FetchError as exc:
        return failed(exc.reason, str(exc), exc.http_status, exc.attempts)
    except Exception as exc:  # noqa: BLE001 - any failure of one feed only backs that feed off
        return failed(f"crash:{type(exc).__name__}", f"{type(exc).__name__}: {exc}")
    healthy = dataclasses.replace(polled, failures=0, next_poll_at=0.0)
    if response.status == 304:
        return healthy, [], [], PollOutcome.NOT_MODIFIED
    if response.status != 200:
        return failed(f"http_{response.status}", f"HTTP {response.status}", response.status,
                      response.attempts)
    body_hash = hashlib.sha256(response.body).hexdigest()
    healthy = dataclasses.replace(healthy, etag=response.headers.get("etag"),
                                  last_modified=response.headers.get("last-modified"))
    if body_hash == state.body_hash:
        return healthy, [], [], PollOutcome.SAME_BODY
    try:
        entries, rejects = parse_feed(response.body, feed_url, response.content_type,
                                      base_url=response.final_url, run_id=run_id)
    except Exception as exc:  # noqa: BLE001
        return failed(f"crash:{type(exc).__name__}", f"{type(exc).__name__}: {exc}",
                      response.status, response.attempts)
    feed_failed = [r for r in rejects if r.url == feed_url]
    for reject in feed_failed:
        reject.http_status, reject.attempts = response.status, response.attempts
    if feed_failed and not entries:
        # Unreadable or empty: keep the old listing so a repaired feed emits no repeats.
        keep = dataclasses.replace(healthy, body_hash=body_hash)
        return keep, [], rejects, PollOutcome.CHANGED
    fresh = [e for e in entries if _digest(e.url) not in state.listing]
    # Entry rejects (no link, bad scheme) would repeat at every change of the feed: report them once.
    keyed = {_digest(f"{r.reason}|{r.url}|{r.error}"): r for r in rejects}
    new_state = dataclasses.replace(healthy, body_hash=body_hash,
                                    listing=frozenset(_digest(e.url) for e in entries),
                                    reported=frozenset(keyed))
    rejects = [r for key, r in keyed.items() if key not in state.reported]
    return new_state, fresh, rejects, PollOutcome.CHANGED


# --- the stateful DoFn ------------------------------------------------------------

class _PollFeedDoFn(beam.DoFn):
    """(feed_url, tick) -> new FeedEntry, plus Rejects; state per feed URL."""

    FEED_STATE = ReadModifyWriteStateSpec("feed_state", coders.PickleCoder())

    def __init__(self, http_config: HttpConfig, run_id: Optional[str], interval: float,
                 max_backoff: float, clock: Callable[[], float] = time.time):
        self._config = http_config
        self._run_id = run_id
        self._interval = interval
        self._max_backoff = max_backoff
        self._clock = clock
        self._client_key = run_id or uuid.uuid4().hex

    def setup(self):
        self._client = shared_client(self._config, self._client_key)
        self._counters = {}

    def _count(self, name: str, n: int = 1) -> None:
        metric = self._counters.get(name)
        if metric is None:
            metric = self._counters[name] = counter("poll", name)
        metric.inc(n)

    def process(self, element, feed_state=beam.DoFn.StateParam(FEED_STATE)) -> Iterable[Any]:
        feed_url, _tick = element
        state = feed_state.read() or FeedPollState()
        new_state, entries, rejects, outcome = poll_feed(
            self._client, feed_url, state, self._clock(), interval=self._interval,
            max_backoff=self._max_backoff, run_id=self._run_id)
        if new_state != state:
            feed_state.write(new_state)
        self._count(outcome)
        self._count("new_entries", len(entries))
        yield from entries
        for reject in rejects:
            yield beam.pvalue.TaggedOutput(REJECTS_TAG, reject)

    def teardown(self):
        if getattr(self, "_client", None) is not None:
            release_client(self._config, self._client_key)
            self._client = None


class PollFeeds(beam.PTransform):
    """PCollection[tick] -> StageResult(good=new FeedEntry, rejects=Reject).

    At every tick each feed is polled once (unless it is backing off) with a
    conditional GET; only entries absent from the feed's previous listing go
    on. Rejects (stage "feeds") report failed polls and unusable entries.

    Args:
        feed_urls: the feeds to poll.
        http_config: the HTTP client settings.
        run_id: copied onto rejects; shares the HTTP client with the other stages.
        interval: the poll interval in seconds (the unit of the backoff).
        max_backoff: the longest wait of a failing feed, seconds.
    """

    def __init__(self, feed_urls: Iterable[str], http_config: HttpConfig,
                 run_id: Optional[str] = None, *, interval: float,
                 max_backoff: float = DEFAULT_MAX_BACKOFF):
        super().__init__()
        self._feed_urls = sorted(set(feed_urls))
        self._http_config = http_config
        self._run_id = run_id
        self._interval = interval
        self._max_backoff = max_backoff

    def expand(self, ticks):
        results = (ticks
                   | "PerFeed" >> beam.FlatMap(lambda tick, feeds: [(f, tick) for f in feeds],
                                               self._feed_urls).with_output_types(tuple[str, Any])
                   | "Poll" >> beam.ParDo(_PollFeedDoFn(
                       self._http_config, self._run_id, self._interval, self._max_backoff))
                   .with_outputs(REJECTS_TAG, main="good"))
        return StageResult(results.good, results[REJECTS_TAG])
