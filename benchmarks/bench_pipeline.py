"""`make bench`: newsbeam's throughput against a naive loop and trafilatura's CLI.

Builds N byte-distinct copies of the 258 real fundus pages (`benchmarks.corpus`),
serves them from local sites with a per-request latency behind RSS feeds, and
runs each row in its own subprocess, so that its CPU time and memory are its own:

  (a) `newsbeam ingest`, in-process FnApiRunner
  (b) `newsbeam ingest` with two worker processes
  (c) the naive loop (`benchmarks/naive_loop.py`): fetch -> trafilatura ->
      langdetect -> hashing -> one Parquet write, one page at a time
  (d) `trafilatura --input-dir --parallel 2 --with-metadata` over the same
      pages on disk: extraction only, no network (`--keep-dirs` too, so that
      copies with the same text get one output file each and can be counted)

Columns: pages per second (N / wall time, start-up included), CPU seconds per
page (user + system of the process tree), peak memory (largest sum of RSS over
the process tree, sampled from /proc), and each row's throughput relative to
(c) and (d). Under the table, a per-stage breakdown of where newsbeam's time
goes, from a cProfile run of (a) on a subset of the pages.

Usage: python benchmarks/bench_pipeline.py [--pages 2000] [--latency 0.05]
       [--hosts 4] [--rows a,b,c,d] [--profile-pages 300] [--json FILE]
       [any `newsbeam ingest` flag, passed to rows (a) and (b)]
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.corpus import Corpus, ServedCorpus, load_sources  # noqa: E402
from benchmarks.cpu_timeline import format_timeline  # noqa: E402

__all__ = ["ROWS", "Measurement", "RowResult", "TreeMonitor", "measure", "run_row",
           "stage_breakdown", "format_table", "format_breakdown", "run_benchmark", "main"]

ROWS = {
    "a": "newsbeam ingest, in-process",
    "b": "newsbeam ingest, 2 worker processes",
    "c": "naive loop (fetch, trafilatura, langdetect, hash, Parquet)",
    "d": "trafilatura CLI --parallel 2 --with-metadata (disk, no network)",
}
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


# --- measuring one subprocess and its descendants ---------------------------

class TreeMonitor:
    """Samples the RSS and CPU time of a process and all its descendants from /proc.

    `peak_rss` is the largest sum of RSS over the tree seen in one sample;
    `cpu_seconds` sums, over every process ever seen, its last user+system time.
    The tree is listed again every `rescan` samples (0.5 s by default): listing
    it reads a file per thread of every process (a Beam worker has about 40),
    which at every sample took 5% of a core beside row (b).
    """

    def __init__(self, pid: int, interval: float = 0.05, record: bool = False, rescan: int = 10):
        self.pid = pid
        self.interval = interval
        self.rescan = rescan
        self._pids: list[int] = []
        self._samples = 0
        self.peak_rss = 0
        self._cpu: dict[int, float] = {}
        self.samples: Optional[list[tuple[float, dict[int, float]]]] = [] if record else None
        self._t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def start(self) -> "TreeMonitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        if self._samples % self.rescan == 0:
            self._pids = self._tree()
        self._samples += 1
        total = 0
        for pid in self._pids:
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * _PAGE_SIZE
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                self._cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
            except (OSError, IndexError, ValueError):
                continue
        self.peak_rss = max(self.peak_rss, total)
        if self.samples is not None:
            self.samples.append((time.perf_counter() - self._t0, dict(self._cpu)))

    def _tree(self) -> list[int]:
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for children in glob.glob(f"/proc/{pid}/task/*/children"):
                try:
                    with open(children) as f:
                        todo.extend(int(c) for c in f.read().split())
                except (OSError, ValueError):
                    continue
        return found


@dataclasses.dataclass
class Measurement:
    """Wall time, CPU time and peak memory of one command."""

    seconds: float
    cpu_seconds: float
    peak_rss: int
    returncode: int
    stdout: str
    stderr: str
    timeline: Optional[list] = None
    system_seconds: float = 0.0     # kernel time of the reaped tree (wait4 rusage)
    minor_faults: int = 0           # page faults served without I/O, same account


def measure(cmd: list[str], *, env: Optional[dict[str, str]] = None,
            cwd: Optional[str] = None, log_dir: Optional[Path] = None,
            timeline: bool = False) -> Measurement:
    """Runs `cmd` and measures it.

    CPU time is the larger of the kernel's account of the reaped tree
    (`wait4` rusage) and the /proc samples (which also see descendants that
    were never reaped); peak memory is the /proc tree sum, or the largest
    single process (`ru_maxrss`) when that is larger. With `timeline`, the
    samples ((seconds, {pid: CPU seconds})) are kept (benchmarks/cpu_timeline.py).
    """
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="nb-bench-log-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / "stdout.txt", log_dir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        monitor = TreeMonitor(proc.pid, record=timeline).start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        monitor.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = max(usage.ru_utime + usage.ru_stime, monitor.cpu_seconds)
    peak = max(monitor.peak_rss, usage.ru_maxrss * 1024)
    return Measurement(seconds, cpu, peak, proc.returncode,
                       out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
                       monitor.samples, usage.ru_stime, usage.ru_minflt)


# --- the rows ---------------------------------------------------------------

@dataclasses.dataclass
class RowResult:
    """One row of the table."""

    key: str
    label: str
    pages: int
    articles: int
    seconds: float
    cpu_seconds: float
    peak_rss: int
    detail: dict = dataclasses.field(default_factory=dict)
    system_seconds: float = 0.0
    minor_faults: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_page(self) -> float:
        return self.cpu_seconds / self.pages if self.pages else 0.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def newsbeam_command(served: ServedCorpus, output: Path, workers: int = 1,
                     extra: tuple[str, ...] = ()) -> list[str]:
    """The `newsbeam ingest` command line over a served corpus."""
    cmd = [sys.executable, "-m", "pipelines.cli", "ingest", "--output", str(output)]
    for feed in served.feed_urls:
        cmd += ["--feed", feed]
    for host in served.allow_hosts:
        cmd += ["--allow-host", host]
    if workers > 1:
        cmd += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return cmd + list(extra)


def _manifest(output: Path) -> dict:
    runs = sorted((output / "_runs").glob("*.json"))
    return json.loads(runs[-1].read_text()) if runs else {}


def _check(m: Measurement, what: str) -> None:
    if m.returncode != 0:
        raise RuntimeError(f"{what} failed ({m.returncode}):\n{m.stderr[-3000:]}")


def run_row(key: str, served: ServedCorpus, workdir: Path, extra: tuple[str, ...] = (),
            timeline: bool = False) -> RowResult:
    """Runs one row of the table in its own subprocess and measures it.

    With `timeline`, `detail["cpu_timeline"]` holds its per-second CPU use.
    """
    corpus = served.corpus
    out = workdir / f"row_{key}"
    if out.exists():
        shutil.rmtree(out)
    detail: dict = {}
    if key in ("a", "b"):
        m = measure(newsbeam_command(served, out / "dataset", 2 if key == "b" else 1, extra),
                    env=_env(), cwd=str(REPO), log_dir=out / "log", timeline=timeline)
        _check(m, f"row {key}")
        manifest = _manifest(out / "dataset")
        counts = manifest.get("counts", {})
        articles = int(counts.get("articles_written", 0))
        detail = {"counts": counts, "rejects_by_reason": manifest.get("rejects_by_reason", {}),
                  "counters": manifest.get("counters", {})}
    elif key == "c":
        cmd = [sys.executable, str(REPO / "benchmarks" / "naive_loop.py"), "--output", str(out / "dataset")]
        for feed in served.feed_urls:
            cmd += ["--feed", feed]
        m = measure(cmd, env=_env(), cwd=str(REPO), log_dir=out / "log", timeline=timeline)
        _check(m, "row c")
        detail = json.loads(m.stdout.strip().splitlines()[-1])
        articles = int(detail.get("articles", 0))
    elif key == "d":
        pages_dir, text_dir = out / "pages", out / "text"
        corpus.write_dir(pages_dir)
        text_dir.mkdir(parents=True)
        cli = shutil.which("trafilatura", path=str(Path(sys.executable).parent)) or "trafilatura"
        # run from inside the pages folder: --keep-dirs joins the input path to the output folder
        m = measure([cli, "--input-dir", ".", "--output-dir", str(text_dir),
                     "--parallel", "2", "--with-metadata", "--keep-dirs"],
                    env=_env(), cwd=str(pages_dir), log_dir=out / "log", timeline=timeline)
        _check(m, "row d")
        articles = sum(1 for _ in text_dir.rglob("*.txt"))
        shutil.rmtree(pages_dir)
    else:
        raise ValueError(f"unknown row {key!r}")
    if timeline:
        detail["cpu_timeline"] = format_timeline(f"({key})", m.timeline or [], m.seconds, os.cpu_count() or 1)
    return RowResult(key, ROWS[key], corpus.pages, articles, m.seconds, m.cpu_seconds, m.peak_rss, detail,
                     m.system_seconds, m.minor_faults)


# --- where the time goes ----------------------------------------------------

def profile_newsbeam(served: ServedCorpus, workdir: Path) -> Path:
    """Runs row (a) under cProfile; returns the profile file."""
    out = workdir / "profile"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    prof = out / "newsbeam.prof"
    cmd = newsbeam_command(served, out / "dataset")
    cmd[1:4] = [str(Path(__file__).resolve()), "--profile-child", str(prof), "--"]
    m = measure(cmd, env=_env(), cwd=str(REPO), log_dir=out / "log")
    _check(m, "profiled run")
    return prof


def _profile_child(prof: str, argv: list[str]) -> int:
    """`newsbeam ingest argv` in this process under cProfile (wall time of the main thread).

    The in-process runner executes the bundles in the main thread, so every
    DoFn is seen; the fetch threads are not (the main thread's waits for
    them show under `fetch`).
    """
    import cProfile

    from pipelines.cli import main as cli_main

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return cli_main(["ingest", *argv])
    finally:
        profiler.disable()
        profiler.dump_stats(prof)


# Project modules that a library calls back inside another stage's work (trafilatura
# evaluates set_xpath's expressions during extract): not stages of their own.
_CALLED_BACK = frozenset({"set_xpath"})


def _module_of(filename: str) -> Optional[str]:
    path = Path(filename)
    if path.parent.parent == REPO and path.parent.name == "transforms" and path.stem not in _CALLED_BACK:
        return path.stem
    return None


def _in_project(filename: str) -> bool:
    path = Path(filename)
    return path.parent.parent == REPO and path.parent.name in ("transforms", "pipelines", "schemas")


_CONSTRUCTION = {"expand", "__init__", "__post_init__", "default_label", "with_outputs"}


def stage_breakdown(profile: Path) -> tuple[float, list[tuple[str, float]], list[tuple[str, float, float]]]:
    """Where the profiled run spent the time of its main thread.

    A stage's time is the cumulative time of every call into its module
    (`transforms/<stage>.py`) made from outside the project (the Beam runner
    calling a DoFn method, a `beam.Map` function, a combiner): nested calls
    between project modules stay with the stage that made them. Pipeline
    construction (`expand`, `__init__`) is left out.

    Returns:
        (total seconds, [(stage, seconds)], [(function, own seconds,
        cumulative seconds)] for the top functions by own time).
    """
    stats = pstats.Stats(str(profile))
    total = stats.total_tt
    stages: dict[str, float] = {}
    functions = []
    for (filename, _, function), (_, _, tottime, cumtime, callers) in stats.stats.items():
        module = _module_of(filename)
        if module is not None and function not in _CONSTRUCTION:
            outside = sum(edge[3] for (caller_file, _, _), edge in callers.items()
                          if not _in_project(caller_file))
            if outside:
                stages[module] = stages.get(module, 0.0) + outside
        short = filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
        functions.append((f"{short}:{function}", tottime, cumtime))
    functions.sort(key=lambda f: -f[1])
    return total, sorted(stages.items(), key=lambda kv: -kv[1]), functions[:15]


# --- output -------------------------------------------------------------------

def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def format_table(rows: list[RowResult], pages: int, latency: float, hosts: int) -> str:
    by_key = {r.key: r for r in rows}
    lines = [f"newsbeam benchmark: {pages} pages (fundus x{pages / 258:.1f}, byte-distinct), "
             f"{latency * 1000:.0f} ms latency, {hosts} sites, {os.cpu_count()} CPUs",
             "",
             f"{'row':<70} {'pages/s':>8} {'CPU s/page':>10} {'peak mem':>9} {'vs (c)':>7} {'vs (d)':>7} {'articles':>8}"]
    for r in rows:
        ratios = []
        for ref in ("c", "d"):
            base = by_key.get(ref)
            ratios.append(f"{r.pages_per_second / base.pages_per_second:.2f}x"
                          if base and base.pages_per_second else "-")
        lines.append(f"({r.key}) {r.label:<66} {r.pages_per_second:>8.1f} {r.cpu_per_page:>10.4f} "
                     f"{_mb(r.peak_rss):>9} {ratios[0]:>7} {ratios[1]:>7} {r.articles:>8}")
    lines.append("")
    lines.append("kernel's share (wait4 rusage of each row's process tree): "
                 + "; ".join(f"({r.key}) {r.system_seconds:.1f} s system CPU, "
                             f"{r.minor_faults / 1e6:.2f} M minor page faults" for r in rows))
    return "\n".join(lines)


def _lower_median(items: list, key=None):
    """The middle item by `key` (the lower of the two middle ones for an even count)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def median_run(runs: list[RowResult]) -> RowResult:
    """The run with the median pages/s."""
    return _lower_median(runs, key=lambda r: r.pages_per_second)


def round_ratios(rounds: list[list[RowResult]], row: str, ref: str) -> list[float]:
    """Per round, `row`'s pages/s over `ref`'s, both from that round."""
    ratios = []
    for runs in rounds:
        by_key = {r.key: r for r in runs}
        if row in by_key and ref in by_key and by_key[ref].pages_per_second:
            ratios.append(by_key[row].pages_per_second / by_key[ref].pages_per_second)
    return ratios


def format_rounds(rounds: list[list[RowResult]]) -> str:
    """Each round's pages/s per row, and each newsbeam row's ratio to (d) and (c) within a round."""
    keys = [r.key for r in rounds[0]]
    lines = [f"{len(rounds)} rounds, the rows one after the other in each (this machine's speed drifts "
             f"between minutes: compare rows within a round); pages/s:",
             "  round " + "".join(f"{f'({k})':>9}" for k in keys)]
    for n, runs in enumerate(rounds, 1):
        lines.append(f"  {n:>5} " + "".join(f"{r.pages_per_second:>9.1f}" for r in runs))
    for row in ("a", "b"):
        for ref in ("d", "c"):
            ratios = round_ratios(rounds, row, ref)
            if ratios:
                lines.append(f"  ({row}) / ({ref}) per round: " + ", ".join(f"{x:.2f}x" for x in ratios)
                             + f"; median {_lower_median(ratios):.2f}x")
    return "\n".join(lines)


def format_breakdown(total: float, stages: list[tuple[str, float]],
                     functions: list[tuple[str, float, float]], pages: int) -> str:
    lines = [f"where the time goes: cProfile of (a) over {pages} pages, main thread (every stage; "
             f"fetch threads not profiled): {total:.1f} s, {1000 * total / pages:.1f} ms/page "
             f"(profiling slows Python code)",
             f"  {'stage (calls into transforms/<stage>.py)':<52} {'s':>7} {'ms/page':>8} {'share':>6}"]
    for stage, seconds in stages:
        lines.append(f"  {stage:<52} {seconds:>7.1f} {1000 * seconds / pages:>8.1f} {seconds / total:>6.0%}")
    rest = total - sum(s for _, s in stages)
    lines.append(f"  {'(Beam runner, coders, shuffles, start-up, the rest)':<52} {rest:>7.1f} "
                 f"{1000 * rest / pages:>8.1f} {rest / total:>6.0%}")
    lines.append("  top functions by own time:")
    for name, own, cum in functions:
        lines.append(f"    {name[-70:]:<70} {own:>6.1f} s own {cum:>7.1f} s cum")
    return "\n".join(lines)


def run_benchmark(pages: int = 2000, latency: float = 0.05, hosts: int = 4, feed_items: int = 200,
                  rows: tuple[str, ...] = ("a", "b", "c", "d"), profile_pages: int = 300,
                  workdir: Optional[Path] = None, extra: tuple[str, ...] = (),
                  cpu_timeline: bool = False, repeat: int = 1) -> dict:
    """Runs the benchmark; returns {"rows": [RowResult], "table": str, "breakdown": str,
    "rounds": [[RowResult]]}. With `repeat` > 1 the rows run round after round, and each
    row of the table is its median run; the table is followed by every round's figures."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    sources = load_sources()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="nb-bench-"))
    corpus = Corpus(sources, pages, hosts=hosts, feed_items=feed_items)
    rounds: list[list[RowResult]] = []
    with corpus.serve(latency) as served:
        for n in range(repeat):
            rounds.append([])
            for key in rows:
                print(f"running ({key}) {ROWS[key]}" + (f", round {n + 1} of {repeat}" if repeat > 1 else "")
                      + " ...", file=sys.stderr, flush=True)
                rounds[-1].append(run_row(key, served, workdir, extra, cpu_timeline))
    results = [median_run([runs[i] for runs in rounds]) for i in range(len(rows))]
    table = format_table(results, pages, latency, corpus.hosts)
    if repeat > 1:
        table += "\n\n" + format_rounds(rounds)
    breakdown = ""
    if profile_pages:
        sub = Corpus(sources, min(pages, profile_pages), hosts=hosts, feed_items=feed_items)
        print(f"profiling (a) over {sub.pages} pages ...", file=sys.stderr, flush=True)
        with sub.serve(latency) as served:
            prof = profile_newsbeam(served, workdir)
        breakdown = format_breakdown(*stage_breakdown(prof), sub.pages)
    return {"rows": results, "table": table, "breakdown": breakdown, "workdir": str(workdir),
            "rounds": rounds}


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--profile-child"]:
        return _profile_child(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="pages in the corpus (default 2000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request (default 0.05)")
    parser.add_argument("--hosts", type=int, default=4, help="local sites serving the pages (default 4)")
    parser.add_argument("--feed-items", type=int, default=200, help="most items per feed (default 200)")
    parser.add_argument("--rows", default="a,b,c,d", help="rows to run, e.g. a,d (default a,b,c,d)")
    parser.add_argument("--profile-pages", type=int, default=300,
                        help="pages of the profiled run for the per-stage breakdown; 0 skips it")
    parser.add_argument("--workdir", default=None, help="keep outputs here (default: a temp folder, removed)")
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file")
    parser.add_argument("--cpu-timeline", action="store_true",
                        help="also print each row's CPU use per process, second by second, and its "
                             "start / steady / tail phases (benchmarks/cpu_timeline.py)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the rows this many times, round after round; the table shows "
                             "each row's median run, then every round (default 1)")
    args, extra = parser.parse_known_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    for key in rows:
        if key not in ROWS:
            parser.error(f"unknown row {key!r}; rows are {', '.join(ROWS)}")
    keep = args.workdir is not None
    result = run_benchmark(args.pages, args.latency, args.hosts, args.feed_items, rows,
                           args.profile_pages, Path(args.workdir) if keep else None, tuple(extra),
                           args.cpu_timeline, args.repeat)
    print(result["table"])
    for row in result["rows"]:
        if "cpu_timeline" in row.detail:
            print()
            print(row.detail["cpu_timeline"])
    if result["breakdown"]:
        print()
        print(result["breakdown"])
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pages": args.pages, "latency": args.latency, "hosts": args.hosts,
            "rows": [dict(dataclasses.asdict(r), pages_per_second=r.pages_per_second,
                          cpu_per_page=r.cpu_per_page) for r in result["rows"]],
            "table": result["table"], "breakdown": result["breakdown"],
            "rounds": [[dict(dataclasses.asdict(r), pages_per_second=r.pages_per_second) for r in runs]
                       for runs in result["rounds"]]}, indent=2, default=str))
    if not keep:
        shutil.rmtree(result["workdir"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
