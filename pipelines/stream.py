"""`newsbeam stream`: poll feeds continuously and write windowed Parquet.

    newsbeam stream (--feed URL ... | --feeds-file FILE) --output DIR
        --poll-interval SECONDS [--max-polls N] [--window SECONDS]
        [--state-horizon SECONDS] [--allow-private-network] [beam options]

The pipeline polls every feed at every tick (`transforms.poll`), lets each
entry through once (`transforms.stream_state`), runs the batch stages on it
(`pipelines.batch.IngestArticles`) with the streaming dedup, and writes one
set of files per window in the batch layout (`date=/lang=`), each committed
by a rename. It runs on a runner with real streaming semantics: Prism
locally (the default, when a Prism binary is found), Dataflow or Flink.

Stopping: SIGINT or SIGTERM (or `--max-polls`) drains the pipeline: the
driver writes `DIR/_state/stream/<run_id>.stop`, the poll source ends, and
every window in flight is written. Creating that file by hand stops a run
on any runner. A second SIGINT cancels the run without draining. A restart
on the same DIR skips what is already in the dataset (`FilterSeen`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (PipelineOptions, PortableOptions,
                                                  PrismRunnerOptions, StandardOptions)
from apache_beam.transforms.window import FixedWindows

from pipelines.batch import IngestArticles
from pipelines.ingest import resolve_feeds
from pipelines.manifest import counters_from_result, format_summary, new_run_id, record_run
from pipelines.options import NewsbeamOptions, StreamOptions, http_config_from_options
from transforms.poll import PollFeeds, PollTicks, request_stop
from transforms.stream_state import FirstSeen, RecordSeen
from transforms.summary import CountArticles, CountRejects
from transforms.write import WriteArticles, WriteRejects

__all__ = ["build_arg_parser", "build_stream", "find_prism", "stream_options", "stop_file_path",
           "PrismNotFound", "run", "main"]

_LOG = logging.getLogger(__name__)

STREAM_JOB_SERVER_TIMEOUT = 10 * 365 * 86400  # seconds: the job runs until stopped
PRISM_START_SECONDS = 60.0

PRISM_HELP = """no Prism binary found. `newsbeam stream` runs on Beam's Prism runner locally:
  make prism                    # or: bash scripts/get_prism.sh
builds it once with `go install github.com/apache/beam/sdks/v2/go/cmd/prism@v{version}`
into ~/.cache/newsbeam/prism/v{version}/prism, which is then found by itself; or pass
--prism_location=PATH. Other runners: --runner=DataflowRunner ... or --runner=FlinkRunner ..."""

_EPILOG = """Runs until stopped (SIGINT/SIGTERM drain the pipeline; a second SIGINT cancels)
or after --max-polls polls. Without --runner, Prism is used when a binary is found
(--prism_location, $NEWSBEAM_PRISM, or the cache of scripts/get_prism.sh); nothing is
downloaded. Any Apache Beam option is accepted, e.g. --runner=DataflowRunner --project=P
--region=R --temp_location=gs://... (drain with `gcloud dataflow jobs drain`, or create
DIR/_state/stream/<run_id>.stop)."""


class PrismNotFound(RuntimeError):
    """No Prism binary is available and none may be downloaded."""


def build_arg_parser(prog: str = "newsbeam stream") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Poll news feeds continuously; write windowed, Hive-partitioned Parquet.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    NewsbeamOptions._add_argparse_args(parser)
    StreamOptions._add_argparse_args(parser.add_argument_group("streaming"))
    return parser


def _beam_version() -> str:
    from apache_beam.version import __version__
    return __version__


def find_prism(explicit: Optional[str] = None) -> Optional[str]:
    """The Prism binary to use: `explicit`, $NEWSBEAM_PRISM, or the get_prism.sh cache."""
    cache = os.environ.get("NEWSBEAM_PRISM_DIR") or os.path.expanduser("~/.cache/newsbeam/prism")
    for candidate in (explicit, os.environ.get("NEWSBEAM_PRISM"),
                      os.path.join(cache, f"v{_beam_version()}", "prism"), shutil.which("prism")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def stream_options(argv: list[str]) -> PipelineOptions:
    """PipelineOptions for a streaming run: streaming on, Prism by default.

    Raises:
        PrismNotFound: Prism is (or would be) the runner and no binary is found;
            Beam would otherwise try to download one.
    """
    options = PipelineOptions(argv)
    standard = options.view_as(StandardOptions)
    standard.streaming = True
    if not any(a.lstrip("-").replace("-", "_").startswith("job_server_timeout") for a in argv):
        # Portable runners (Prism, Flink) also put this deadline on the job's state
        # stream: with Beam's default (300 s) the driver gives up on any run longer.
        options.view_as(PortableOptions).job_server_timeout = STREAM_JOB_SERVER_TIMEOUT
    standard.runner = standard.runner or "PrismRunner"
    if (standard.runner.split(".")[-1] in ("PrismRunner", "DirectRunner", "SwitchingDirectRunner")
            and not options.view_as(PortableOptions).job_endpoint):
        # These would download Prism from GitHub when they find no binary.
        prism = options.view_as(PrismRunnerOptions)
        found = find_prism(prism.prism_location)
        if not found:
            raise PrismNotFound(PRISM_HELP.format(version=_beam_version()))
        prism.prism_location = found
    return options


class _PrismServer:
    """Runs Prism in its own session, so a Ctrl-C at the terminal reaches only the driver.

    Beam's PrismRunner would start Prism in the driver's process group, where
    the terminal's SIGINT kills it before the pipeline can drain. Used when the
    runner is Prism and no --job_endpoint is given: sets --job_endpoint.
    """

    def __init__(self, options: PipelineOptions):
        self._options = options
        self._process: Optional[subprocess.Popen] = None

    def __enter__(self) -> "_PrismServer":
        standard = self._options.view_as(StandardOptions)
        portable = self._options.view_as(PortableOptions)
        binary = self._options.view_as(PrismRunnerOptions).prism_location
        if standard.runner.split(".")[-1] != "PrismRunner" or portable.job_endpoint or not binary:
            return self
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._process = subprocess.Popen(
            [binary, "--job_port", str(port), "--log_level", "warn", "--serve_http=false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait_for_port(port)
        portable.job_endpoint = f"localhost:{port}"
        portable.environment_type = portable.environment_type or "LOOPBACK"
        return self

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + PRISM_START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Prism exited at start with status {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"Prism did not listen on port {port} within {PRISM_START_SECONDS:.0f} s")

    def __exit__(self, *exc) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def stop_file_path(output: str, run_id: str) -> str:
    """The file whose creation drains the run `run_id`."""
    return FileSystems.join(output, "_state", "stream", f"{run_id}.stop")


def build_stream(pipeline: beam.Pipeline, feed_urls: list[str], run_id: str,
                 stop_file: Optional[str] = None) -> None:
    """Adds the streaming ingest to `pipeline`: polls -> stages -> windowed Parquet sinks.

    Args:
        pipeline: a pipeline whose options hold NewsbeamOptions and StreamOptions.
        feed_urls: the feeds to poll.
        run_id: the run id (file names, rejects, the shared HTTP client).
        stop_file: a path whose appearance ends the polling (drain).
    """
    o = pipeline.options.view_as(NewsbeamOptions)
    s = pipeline.options.view_as(StreamOptions)
    http_config = http_config_from_options(o)
    window = FixedWindows(s.window)
    polled = (pipeline
              | "PollTicks" >> PollTicks(s.poll_interval, s.max_polls, stop_file)
              | "PollFeeds" >> PollFeeds(feed_urls, http_config, run_id, interval=s.poll_interval))
    articles, rejects = polled.good | "Ingest" >> IngestArticles(
        o, run_id, skip_seen=FirstSeen(s.state_horizon, o.output), **_streaming_dedup(o, s, run_id))
    articles = articles | "ArticleWindows" >> beam.WindowInto(window)
    all_rejects = ((polled.rejects, rejects) | "AllRejects" >> beam.Flatten()
                   | "RejectWindows" >> beam.WindowInto(window))
    written = articles | "WriteArticles" >> WriteArticles(
        o.output, run_id, o.target_file_bytes, o.row_group_bytes)
    _ = written | "RecordSeen" >> RecordSeen(o.output, run_id)
    _ = articles | "Summary" >> CountArticles()
    _ = all_rejects | "RejectSummary" >> CountRejects()
    _ = all_rejects | "WriteRejects" >> WriteRejects(
        o.output, run_id, o.target_file_bytes, o.row_group_bytes)


def _streaming_dedup(o: NewsbeamOptions, s: StreamOptions, run_id: str) -> dict[str, Any]:
    """The IngestArticles arguments that swap batch dedup for the stateful one."""
    from transforms.stream_state import StreamDeduplicate

    args: dict[str, Any] = {"horizon": s.state_horizon, "window": s.window, "output_dir": o.output}
    if o.near_duplicate_threshold is not None:
        args["near_threshold"] = o.near_duplicate_threshold
    return {"dedup": StreamDeduplicate(run_id, **args)}


class _Stopper:
    """SIGINT/SIGTERM: the first drains (writes the stop file), the second cancels."""

    def __init__(self, stop_file: str):
        self.stop_file = stop_file
        self.result = None
        self.signals = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_Stopper":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, _frame) -> None:
        self.signals += 1
        if self.signals == 1:
            print(f"newsbeam stream: {signal.Signals(signum).name}: draining (polling stops, "
                  f"windows in flight are written); signal again to cancel", file=sys.stderr)
            threading.Thread(target=request_stop, args=(self.stop_file,), daemon=True).start()
        elif self.result is not None:
            print("newsbeam stream: cancelling", file=sys.stderr)
            threading.Thread(target=self.result.cancel, daemon=True).start()


def _wait(result, stopper: _Stopper) -> None:
    """Waits for the pipeline in a thread, so that signals reach the main thread."""
    failure: list[BaseException] = []

    def wait():
        try:
            result.wait_until_finish()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            failure.append(exc)

    waiter = threading.Thread(target=wait, name="newsbeam-stream-wait", daemon=True)
    waiter.start()
    while waiter.is_alive():
        waiter.join(0.5)
    if failure and stopper.signals < 2:
        raise failure[0]


def _cleanup(output: str, run_id: str, stop_file: str) -> None:
    for path in (stop_file, FileSystems.join(output, ".tmp", run_id)):
        try:
            if FileSystems.exists(path):
                FileSystems.delete([path])
        except Exception:  # noqa: BLE001 - best effort: leftovers sit outside the dataset
            _LOG.warning("could not remove %s", path)


def run(argv: list[str]) -> dict[str, Any]:
    """Runs the streaming ingest until it is stopped; returns its manifest (also in DIR/_runs/)."""
    parser = build_arg_parser()
    args, _ = parser.parse_known_args(argv)
    if not (args.feed or args.feeds_file):
        parser.error("give at least one --feed URL or a --feeds-file")
    if not args.output:
        parser.error("--output DIR is required")
    if args.poll_interval <= 0 or args.window <= 0 or args.state_horizon <= 0:
        parser.error("--poll-interval, --window and --state-horizon must be positive")
    if args.max_polls is not None and args.max_polls < 1:
        parser.error("--max-polls must be at least 1")
    options = stream_options(argv)
    o = options.view_as(NewsbeamOptions)
    run_id = o.run_id or new_run_id()
    feeds = resolve_feeds(o)
    if not feeds:
        parser.error("no feed URL found in the arguments or the feeds file")
    stop_file = stop_file_path(o.output, run_id)
    if FileSystems.exists(stop_file):  # left by an earlier run with this --run-id
        FileSystems.delete([stop_file])
    started = dt.datetime.now(dt.timezone.utc)
    status, error, counters = "succeeded", None, {}
    with _Stopper(stop_file) as stopper, _PrismServer(options):
        try:
            pipeline = beam.Pipeline(options=options)
            build_stream(pipeline, feeds, run_id, stop_file)
            result = stopper.result = pipeline.run()
            print(f"newsbeam stream: run {run_id} polling {len(feeds)} feed(s) every "
                  f"{options.view_as(StreamOptions).poll_interval:g}s; Ctrl-C (or creating "
                  f"{stop_file}) drains and stops", file=sys.stderr)
            _wait(result, stopper)
            counters = counters_from_result(result)
            if stopper.signals >= 2:
                status = "cancelled"
        except BaseException as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            manifest = record_run(
                run_id=run_id, output=o.output, started_at=started, status=status,
                options=options.get_all_options(drop_default=True), counters=counters,
                feeds=len(feeds), error=error, mode="stream")
            _cleanup(o.output, run_id, stop_file)
    return manifest


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        manifest = run(argv)
    except PrismNotFound as exc:
        print(f"newsbeam stream: {exc}", file=sys.stderr)
        return 2
    print(format_summary(manifest))
    return 0 if manifest["status"] == "succeeded" else 1
