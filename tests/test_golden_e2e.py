"""The golden end-to-end test: a real local site, `newsbeam ingest`, Parquet read back."""
from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from tests.support.golden import GoldenSite, assert_golden_dataset, read_articles

pytestmark = pytest.mark.slow

MISSING = {"title": "Une page disparue", "path": "/articles/disparue.html",
           "published": "2025-03-18T12:00:00Z"}


def _ingest(args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "ingest", *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("golden") / "dataset"
    with GoldenSite(extra_items=[MISSING]) as site:
        first = _ingest(site.ingest_args(output))
        second = _ingest(site.ingest_args(output))
        yield site, output, first, second


def _manifests(output):
    return sorted((json.loads(p.read_text()) for p in (output / "_runs").glob("*.json")),
                  key=lambda m: m["started_at"])


def test_golden_expectations_hold(golden_run):
    site, output, _, _ = golden_run
    assert_golden_dataset(output, site.docs)


def test_missing_page_lands_in_rejects_with_its_reason(golden_run):
    site, output, _, _ = golden_run
    rows = duckdb.sql(
        f"SELECT url, stage, reason, http_status, error, rejected_at, run_id FROM "
        f"read_parquet('{output}/rejects/**/*.parquet', hive_partitioning=true)").fetchall()
    missing = [r for r in rows if r[0].endswith(MISSING["path"])]
    # A failure is retried by the next run: one reject row per run, nothing else rejected.
    runs = [m["run_id"] for m in _manifests(output)]
    assert sorted(r[6] for r in missing) == sorted(runs), rows
    assert len(rows) == len(runs), rows
    url, stage, reason, status, error, at, _ = missing[0]
    assert (stage, reason, status) == ("fetch", "http_404", 404)
    assert "404" in error and at is not None


def test_rerun_adds_no_rows_and_counts_already_seen(golden_run):
    site, output, first, second = golden_run
    rows = read_articles(output)
    assert len(rows) == len(site.docs)
    assert len({r["article_id"] for r in rows}) == len(rows)
    runs = _manifests(output)
    assert len(runs) == 2 and all(m["status"] == "succeeded" for m in runs)
    assert runs[0]["counts"]["articles_written"] == len(site.docs)
    assert runs[1]["counts"]["articles_written"] == 0
    assert runs[1]["counts"]["already_seen"] >= len(site.docs)
    assert "articles written 0" in second.stdout


def test_dataset_holds_only_complete_files(golden_run):
    _, output, _, _ = golden_run
    files = [p for p in (output / "articles").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".parquet" for p in files)
    assert not (output / ".tmp").exists(), "a finished run leaves no temporary files"
    assert not [p for p in (output / "articles").rglob(".*")], "nothing hidden inside the table"
    import pyarrow.parquet as pq
    for path in files:
        meta = pq.read_schema(path).metadata
        assert meta[b"newsbeam.schema_version"] == b"1.0"
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
