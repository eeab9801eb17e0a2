"""Memory of a long `newsbeam stream` run: 20 local feeds polled 10 times a minute.

    .venv/bin/python benchmarks/bench_stream_memory.py                 # 1 hour (the issue's figure)
    .venv/bin/python benchmarks/bench_stream_memory.py --minutes 5     # shorter

Serves `--feeds` RSS feeds on 127.0.0.1, each gaining one new article every
`--new-every` seconds (with its page), and runs `newsbeam stream` on Prism in a
subprocess for `--minutes` at `--polls-per-minute`. Every `--sample` seconds
it records the resident memory (RSS, from /proc) of the driver (which hosts
the Python SDK worker: Prism runs it in LOOPBACK mode) and of the Prism
process. Prints a JSON summary: RSS at warm-up end, peak and end; the growth
over the second half of the run (MB/hour); polls, 304s and articles written.
Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_stream_support import FeedSite  # noqa: E402  (the tests' local feed server)


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def _is_prism(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/prism")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return False


def _grow(sites: list[FeedSite], every: float, until: float, stop: threading.Event) -> None:
    """Adds one article to one feed at a time (each feed gains one every `every` seconds).

    Starts with the first feed request and stops `until` seconds later, so
    that the last polls see every article added.
    """
    while not stop.is_set() and not any(site.statuses() for site in sites):
        time.sleep(0.1)
    end = time.monotonic() + until
    step = every / len(sites)
    i = 0
    while not stop.wait(step) and time.monotonic() < end:
        sites[i % len(sites)].add(1)
        i += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--polls-per-minute", type=float, default=10.0)
    parser.add_argument("--new-every", type=float, default=60.0,
                        help="seconds between new articles of one feed (default 60)")
    parser.add_argument("--window", type=float, default=600.0)
    parser.add_argument("--sample", type=float, default=10.0)
    parser.add_argument("--output", default=None, help="dataset folder (default: a temp folder)")
    parser.add_argument("--prism", default=None, help="Prism binary (default: scripts/get_prism.sh)")
    args = parser.parse_args(argv)

    prism = args.prism or subprocess.run(["bash", str(REPO / "scripts" / "get_prism.sh")],
                                         capture_output=True, text=True, check=True).stdout.strip()
    interval = 60.0 / args.polls_per_minute
    polls = max(1, int(args.minutes * 60 / interval))
    output = Path(args.output or tempfile.mkdtemp(prefix="bench_stream_"))
    sites = [FeedSite(f"f{i:02d}", start=i * 100_000).__enter__() for i in range(args.feeds)]
    stop = threading.Event()
    try:
        for site in sites:
            site.add(5)
        cmd = [sys.executable, "-m", "pipelines.cli", "stream", "--output", str(output),
               "--prism_location", prism, "--no-robots", "--poll-interval", str(interval),
               "--max-polls", str(polls), "--window", str(args.window)]
        for site in sites:
            cmd += ["--feed", site.feed_url, "--allow-host", site.server.host_port]
        grower = threading.Thread(target=_grow, args=(sites, args.new_every, (polls - 2) * interval, stop),
                                  daemon=True)
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        grower.start()
        samples = []  # (seconds, driver kB, prism kB)
        while proc.poll() is None:
            time.sleep(args.sample)
            kids = _children(proc.pid)
            driver = _rss_kb(proc.pid) + sum(_rss_kb(c) for c in kids if not _is_prism(c))
            prism_kb = sum(_rss_kb(c) for c in kids if _is_prism(c))
            if driver and prism_kb:
                samples.append((round(time.monotonic() - started, 1), driver, prism_kb))
        out, err = proc.communicate()
        stop.set()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for site in sites:
            site.__exit__(None, None, None)
    if proc.returncode != 0:
        print(err[-4000:], file=sys.stderr)
        return 1
    statuses = [s for site in sites for s in site.statuses()]
    listed = sum(len(site.items) for site in sites)
    manifest = sorted((json.loads(p.read_text()) for p in (output / "_runs").glob("*.json")),
                      key=lambda m: m["started_at"])[-1]
    total = [(t, (d + p) / 1024) for t, d, p in samples]
    warm = [m for t, m in total if t >= min(120.0, elapsed / 4)] or [m for _, m in total]
    half = [(t, m) for t, m in total if t >= elapsed / 2]
    slope = 0.0
    if len(half) >= 2:
        n = len(half)
        mean_t = sum(t for t, _ in half) / n
        mean_m = sum(m for _, m in half) / n
        var = sum((t - mean_t) ** 2 for t, _ in half) or 1.0
        slope = sum((t - mean_t) * (m - mean_m) for t, m in half) / var * 3600
    summary = {
        "minutes": round(elapsed / 60, 1),
        "feeds": args.feeds,
        "poll_interval_s": interval,
        "polls": polls,
        "feed_requests": len(statuses),
        "not_modified_304": statuses.count(304),
        "entries_listed": listed,
        "articles_written": manifest["counts"]["articles_written"],
        "rejects": manifest["counts"]["rejects"],
        "rss_mb": {
            "driver_and_sdk_worker_peak": round(max(d for _, d, _ in samples) / 1024, 1),
            "prism_peak": round(max(p for _, _, p in samples) / 1024, 1),
            "total_after_warmup": round(warm[0], 1),
            "total_peak": round(max(m for _, m in total), 1),
            "total_end": round(total[-1][1], 1),
            "growth_second_half_mb_per_hour": round(slope, 1),
        },
        "output": str(output),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
