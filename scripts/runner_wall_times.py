"""Wall time of the golden ingest on each runner: FnApiRunner, PrismRunner, FlinkRunner.

    .venv/bin/python scripts/runner_wall_times.py [--runners fnapi,prism,flink] [--repeat N]

Serves the golden site on 127.0.0.1, runs `newsbeam ingest` once per runner
and repetition into a fresh folder, checks the golden expectations on each
output, and prints one line per run and the median per runner. Prism and the
Flink job server come from scripts/get_prism.sh and scripts/get_flink_job_server.sh.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.golden import GoldenSite, assert_golden_dataset  # noqa: E402


def _tool(script: str) -> str:
    out = subprocess.run(["bash", str(REPO / "scripts" / script)], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def runner_args(name: str) -> list[str]:
    """The Beam options of one runner, as the tests pass them."""
    if name == "fnapi":
        return ["--runner=FnApiRunner"]
    if name == "prism":
        return ["--runner=PrismRunner", f"--prism_location={_tool('get_prism.sh')}"]
    if name == "flink":
        return ["--runner=FlinkRunner", f"--flink_job_server_jar={_tool('get_flink_job_server.sh')}",
                "--flink_master=[local]", "--parallelism=2", "--environment_type=LOOPBACK"]
    raise SystemExit(f"unknown runner {name!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", default="fnapi,prism,flink")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    options = {name: runner_args(name) for name in runners}  # fetch tools before timing
    times: dict[str, list[float]] = {name: [] for name in runners}
    with GoldenSite() as site, tempfile.TemporaryDirectory(prefix="newsbeam-walltimes-") as tmp:
        for i in range(args.repeat):
            for name in runners:
                output = Path(tmp) / f"{name}-{i}"
                start = time.monotonic()
                subprocess.run([sys.executable, "-m", "pipelines.cli", "ingest",
                                *site.ingest_args(output), *options[name]],
                               cwd=REPO, check=True, capture_output=True, text=True)
                seconds = time.monotonic() - start
                assert_golden_dataset(output, site.docs)
                times[name].append(seconds)
                print(f"{name:<6} run {i + 1}: {seconds:6.1f} s  (golden expectations hold)", flush=True)
    print("\nrunner  median wall time (s)  runs")
    for name in runners:
        print(f"{name:<7} {statistics.median(times[name]):>20.1f}  {len(times[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
