"""The golden ingest on Beam's distributed runners (Prism, Flink) and on worker processes.

Each runner runs `newsbeam ingest` unchanged (only Beam options differ) against
one golden site on 127.0.0.1, and must write the golden expectations and the
same rows as the in-process FnApiRunner. The Prism binary and the Flink job
server come from `scripts/get_prism.sh` and `scripts/get_flink_job_server.sh`,
which build or fetch them once into ~/.cache/newsbeam. Without Go, Maven or
Java the tests skip locally and fail in CI.

Wall times per runner: `python scripts/runner_wall_times.py`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

from tests.support.golden import GoldenSite, assert_golden_dataset

# Generous: the first run on a machine builds Prism (minutes on two cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
# Columns that differ between two runs of the same input by design.
RUN_COLUMNS = ("run_id", "fetched_at", "at", "rejected_at")


def _unavailable(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def fetch_tool(script: str, needs: tuple[str, ...], timeout: float = 1800) -> str:
    """Runs one of the idempotent scripts/get_*.sh and returns the path it prints."""
    missing = [tool for tool in needs if shutil.which(tool) is None]
    if missing:
        _unavailable(f"{script} needs {', '.join(missing)}")
    proc = subprocess.run(["bash", str(REPO / "scripts" / script)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not os.path.isfile(path):
        _unavailable(f"{script} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return path


def run_ingest(args: list[str], python: str = sys.executable, timeout: float = 900,
               cwd: Path = REPO, env: dict | None = None) -> float:
    """Runs `python -m pipelines.cli ingest ARGS` in its own session; returns its wall time.

    Whatever the run started (Prism, the Flink job server) is in that session,
    so a run that times out is ended whole, by its process group.
    """
    start = time.monotonic()
    proc = subprocess.Popen([python, "-m", "pipelines.cli", "ingest", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"ingest timed out after {timeout}s: {err[-4000:]}")
    finally:
        try:  # a job server left behind by the driver
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, err[-6000:]
    assert "articles written" in out, out
    return time.monotonic() - start


def dataset_rows(output: Path, table: str = "articles") -> list[tuple]:
    """Every row of a dataset table, without run-specific columns, in a stable order."""
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{output}/{table}/**/*.parquet', "
                  f"hive_partitioning=true, union_by_name=true)")
    keep = [c for c in rel.columns if c not in RUN_COLUMNS]
    return con.sql(f"SELECT {', '.join(keep)} FROM rel ORDER BY url").fetchall()


@pytest.fixture(scope="module")
def golden_site():
    with GoldenSite() as site:
        yield site


@pytest.fixture(scope="module")
def workdir():
    """A folder of this module's own: runs outlive pytest's tmp_path rotation
    when several pytest sessions share the machine."""
    with tempfile.TemporaryDirectory(prefix="newsbeam-runners-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def in_process(golden_site, workdir):
    """The golden ingest on the in-process FnApiRunner: the reference rows."""
    output = workdir / "fnapi"
    seconds = run_ingest([*golden_site.ingest_args(output), "--runner=FnApiRunner"])
    assert_golden_dataset(output, golden_site.docs)
    return output, seconds


@pytest.fixture(scope="session")
def prism_binary() -> str:
    return fetch_tool("get_prism.sh", needs=("go",))


@pytest.fixture(scope="session")
def flink_job_server() -> str:
    return fetch_tool("get_flink_job_server.sh", needs=("mvn", "java", "jar"))


def _same_rows_as_in_process(output: Path, in_process_output: Path) -> None:
    expected = dataset_rows(in_process_output)
    actual = dataset_rows(output)
    assert len(actual) == len(expected) == 5
    for got, want in zip(actual, expected):
        assert got == want
    assert _rejects(output) == _rejects(in_process_output)


def _rejects(output: Path) -> list[tuple]:
    return dataset_rows(output, "rejects") if list((output / "rejects").rglob("*.parquet")) else []


def test_golden_ingest_on_worker_processes(golden_site, in_process, workdir):
    """The in-process runner with two worker processes (the benchmark's row b): same rows,
    and the workers end without teardown (transforms/memory.py) and exit cleanly."""
    output = workdir / "workers"
    run_ingest([*golden_site.ingest_args(output), "--runner=FnApiRunner",
                "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert_golden_dataset(output, golden_site.docs)
    _same_rows_as_in_process(output, in_process[0])


@pytest.mark.prism
def test_golden_ingest_on_prism(golden_site, in_process, prism_binary, workdir, record_property):
    output = workdir / "prism"
    seconds = run_ingest([*golden_site.ingest_args(output),
                          "--runner=PrismRunner", f"--prism_location={prism_binary}"])
    record_property("wall_seconds_prism", round(seconds, 1))
    record_property("wall_seconds_fnapi", round(in_process[1], 1))
    assert_golden_dataset(output, golden_site.docs)
    _same_rows_as_in_process(output, in_process[0])


@pytest.mark.flink
def test_golden_ingest_on_flink(golden_site, in_process, flink_job_server, workdir, record_property):
    output = workdir / "flink"
    seconds = run_ingest([*golden_site.ingest_args(output),
                          "--runner=FlinkRunner", f"--flink_job_server_jar={flink_job_server}",
                          "--flink_master=[local]", "--parallelism=2",
                          "--environment_type=LOOPBACK"])
    record_property("wall_seconds_flink", round(seconds, 1))
    assert_golden_dataset(output, golden_site.docs)
    _same_rows_as_in_process(output, in_process[0])
