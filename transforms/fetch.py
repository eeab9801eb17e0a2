"""Stage `fetch`: FeedEntry -> FetchedPage, pages fetched concurrently and politely.

Each worker runs fetches on a bounded thread pool (`fetch_concurrency`),
at most `per_host_concurrency` per host at a time, so one slow host holds a
few threads while the other hosts go on. Results are emitted as they finish,
in their own window and timestamp; `finish_bundle` waits for the rest.
Every entry ends as one FetchedPage or one Reject carrying the HTTP status
and the number of attempts.
"""
from __future__ import annotations

import collections
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from schemas.records import FeedEntry, FetchedPage, Reject, utcnow
from transforms.common import REJECTS_TAG, ParDoWithRejects, counter, url_of
from transforms.http import FetchError, HttpClient, HttpConfig, decode_html, release_client, shared_client
from transforms.memory import (WORKER_TRIM_FREE_BYTES, WORKER_TRIM_SECONDS, end_worker_without_teardown,
                               start_memory_trimmer)

__all__ = ["STAGE", "REJECTS_TAG", "FetchPages", "fetch_page", "HostScheduler", "ConcurrentFetchDoFn"]

STAGE = "fetch"

# Elements queued in one DoFn instance before process() waits for some to finish.
# It bounds the fetched pages held in memory while later stages catch up (benchmarks:
# 10,000 let a run hold every page it had fetched, so memory grew with the run).
MAX_QUEUED = 128


def fetch_page(client: HttpClient, entry: FeedEntry, run_id: Optional[str] = None) -> FetchedPage | Reject:
    """Fetches and decodes the page of one feed entry.

    Returns:
        A FetchedPage, or a Reject (stage "fetch") with the reason, the HTTP
        status when a response came, and the number of attempts.
    """
    def reject(reason: str, error: str, status: Optional[int], attempts: Optional[int]) -> Reject:
        return Reject(url=entry.url, feed_url=entry.feed_url, stage=STAGE, reason=reason,
                      http_status=status, attempts=attempts, error=error[:2000], run_id=run_id)

    try:
        response = client.get(entry.url, kind="page")
    except FetchError as exc:
        return reject(exc.reason, str(exc), exc.http_status, exc.attempts)
    if response.status != 200 and not response.body:
        return reject(f"http_{response.status}", f"HTTP {response.status} without a body",
                      response.status, response.attempts)
    try:
        text = decode_html(response.body, response.content_type)
    except FetchError as exc:
        return reject("decode_error", str(exc), response.status, response.attempts)
    if not text.strip():
        return reject("empty_body", "the page is empty", response.status, response.attempts)
    return FetchedPage(entry=entry, final_url=response.final_url, status=response.status,
                       headers=response.headers, html=text, fetched_at=utcnow(),
                       attempts=response.attempts)


class HostScheduler:
    """Runs jobs on a bounded thread pool, at most `per_host` at once for one host.

    A slow host therefore holds at most `per_host` threads while the others
    keep working. Results come back through `ready()` (non-blocking) and
    `drain()` (waits for everything submitted).

    Args:
        workers: thread pool size.
        per_host: jobs of one host running at the same time.
    """

    def __init__(self, workers: int, per_host: int):
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="newsbeam-fetch")
        self._per_host = per_host
        self._lock = threading.Lock()
        self._waiting: dict[str, collections.deque] = {}
        self._running: collections.Counter = collections.Counter()
        self._done: collections.deque = collections.deque()
        self._finished = threading.Condition(self._lock)
        self._outstanding = 0

    def submit(self, host: str, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        """Queues fn(*args); its result (or exception) comes back with `tag`."""
        with self._lock:
            self._outstanding += 1
            self._waiting.setdefault(host, collections.deque()).append((tag, fn, args))
            self._pump()

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def _pump(self) -> None:  # holds self._lock
        for host in list(self._waiting):
            queue = self._waiting[host]
            while queue and self._running[host] < self._per_host:
                tag, fn, args = queue.popleft()
                self._running[host] += 1
                self._executor.submit(self._run, host, tag, fn, args)
            if not queue:
                del self._waiting[host]

    def _run(self, host: str, tag: Any, fn: Callable[..., Any], args: tuple) -> None:
        try:
            outcome = (tag, fn(*args), None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            outcome = (tag, None, exc)
        with self._lock:
            self._running[host] -= 1
            if not self._running[host]:
                del self._running[host]
            self._done.append(outcome)
            self._outstanding -= 1
            self._pump()
            self._finished.notify_all()

    def ready(self) -> list[tuple[Any, Any, Optional[BaseException]]]:
        """The (tag, result, exception) of jobs finished since the last call."""
        with self._lock:
            out = list(self._done)
            self._done.clear()
            return out

    def drain(self) -> Iterator[tuple[Any, Any, Optional[BaseException]]]:
        """Yields every outstanding outcome, waiting as needed."""
        while True:
            with self._lock:
                while not self._done and self._outstanding:
                    self._finished.wait(1.0)
                if not self._done and not self._outstanding:
                    return
                out = list(self._done)
                self._done.clear()
            yield from out

    def wait_below(self, limit: int) -> None:
        """Blocks until fewer than `limit` jobs are outstanding or finished-unread."""
        with self._lock:
            while self._outstanding >= limit and not self._done:
                self._finished.wait(1.0)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class ConcurrentFetchDoFn(beam.DoFn):
    """Base DoFn that runs `work(element)` on a per-host-fair thread pool.

    Subclasses set `stage` and implement `url_of(element)` and `work(element)`,
    which returns one record or a list of records and TaggedOutputs. Rejects
    are routed to the REJECTS_TAG output; exceptions in `work` become Rejects
    (reason crash:<Type>) so that no element is lost.
    """

    stage = "fetch"

    def __init__(self, http_config: HttpConfig, run_id: Optional[str] = None):
        self._config = http_config
        self.run_id = run_id
        # Instances of one pipeline (same run id) share one client per process.
        self._client_key = run_id or uuid.uuid4().hex

    def setup(self):
        # once per process: worker processes too (transforms/memory.py); the command's
        # process already runs one (every 0.2 s); a worker process looks once a second
        # and trims when its heaps hold more than WORKER_TRIM_FREE_BYTES free
        start_memory_trimmer(default=WORKER_TRIM_SECONDS, free_above=WORKER_TRIM_FREE_BYTES)
        end_worker_without_teardown()
        self.client = shared_client(self._config, self._client_key)
        self._scheduler = HostScheduler(self._config.fetch_concurrency, self._config.per_host_concurrency)
        self._counters = {}

    def url_of(self, element: Any) -> str:
        raise NotImplementedError

    def work(self, element: Any) -> Any:
        raise NotImplementedError

    def process(self, element, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        try:
            host = urlsplit(self.url_of(element)).netloc.lower()
        except (ValueError, AttributeError, TypeError):
            host = ""
        self._scheduler.submit(host, (element, window, timestamp), self.work, element)
        if self._scheduler.outstanding >= MAX_QUEUED:
            self._scheduler.wait_below(MAX_QUEUED)
        yield from self._emit(self._scheduler.ready())

    def finish_bundle(self):
        yield from self._emit(self._scheduler.drain())

    def teardown(self):
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.close()
        if getattr(self, "client", None) is not None:
            release_client(self._config, self._client_key)
            self.client = None

    def _count(self, name: str) -> None:
        metric = self._counters.get(name)
        if metric is None:
            metric = self._counters[name] = counter(self.stage, name)
        metric.inc()

    def _emit(self, outcomes):
        for (element, window, timestamp), result, error in outcomes:
            if error is not None:
                url, feed_url = url_of(element)
                result = Reject(url=url, feed_url=feed_url, stage=self.stage,
                                reason=f"crash:{type(error).__name__}",
                                error=f"{type(error).__name__}: {error}"[:2000], run_id=self.run_id)
            for record in (result if isinstance(result, list) else [result]):
                if isinstance(record, beam.pvalue.TaggedOutput):
                    record = record.value
                if isinstance(record, Reject):
                    self._count(f"rejected.{record.reason}")
                    yield beam.pvalue.TaggedOutput(REJECTS_TAG, WindowedValue(record, timestamp, (window,)))
                else:
                    self._count("ok")
                    yield WindowedValue(record, timestamp, (window,))


class _FetchPagesDoFn(ConcurrentFetchDoFn):
    stage = STAGE

    def url_of(self, element: FeedEntry) -> str:
        return element.url

    def work(self, element: FeedEntry) -> FetchedPage | Reject:
        return fetch_page(self.client, element, self.run_id)


class FetchPages(beam.PTransform):
    """PCollection[FeedEntry] -> StageResult(good=FetchedPage, rejects=Reject).

    Args:
        http_config: the HTTP client settings.
        run_id: the run id, copied onto rejects; stages that pass the same
            run id share one HTTP client (pool, robots cache, host limits) per
            worker process.
        reshuffle: spread entries across workers before fetching (entries
            of one feed otherwise stay on one worker).
    """

    def __init__(self, http_config: HttpConfig, run_id: Optional[str] = None, reshuffle: bool = True):
        super().__init__()
        self._http_config = http_config
        self._run_id = run_id
        self._reshuffle = reshuffle

    def expand(self, entries):
        if self._reshuffle:
            entries = entries | "Spread" >> beam.Reshuffle()
        # allow_unsafe_userstate_in_process keeps process()'s signature visible, so that
        # Beam passes the window and timestamp parameters; there is no state here.
        return entries | "Fetch" >> ParDoWithRejects(
            _FetchPagesDoFn(self._http_config, self._run_id), STAGE, self._run_id,
            allow_unsafe_userstate_in_process=True)
