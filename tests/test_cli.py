"""The command line: help, flag parsing, feeds files, manifests."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from pipelines.manifest import build_manifest, format_summary, new_run_id, read_manifest, write_manifest
from pipelines.options import NewsbeamOptions
from pipelines.ingest import pipeline_options


def _run(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_commands_and_every_ingest_flag():
    top = _run("--help")
    assert top.returncode == 0
    for command in ("ingest", "stream", "demo", "report", "runs", "compact"):
        assert command in top.stdout
    ingest = _run("ingest", "--help")
    assert ingest.returncode == 0
    for flag in ("--feed", "--feeds-file", "--output", "--allow-private-network", "--allow-host",
                 "--max-bytes", "--max-redirects", "--per-host-delay", "--no-robots",
                 "--target-file-bytes", "--runner"):
        assert flag in ingest.stdout, flag


def test_ingest_without_feeds_is_a_clear_error():
    proc = _run("ingest", "--output", "/tmp/nowhere")
    assert proc.returncode == 2
    assert "--feed" in proc.stderr


def test_default_runner_is_in_process_and_flags_survive_a_round_trip():
    options = pipeline_options(["--feed", "http://a/rss", "--feed=http://b/rss", "--output", "x",
                                "--allow-host", "127.0.0.1:8000", "--max-bytes", "1000"])
    assert options.get_all_options()["runner"] == "FnApiRunner"
    again = NewsbeamOptions.from_dictionary(options.get_all_options(drop_default=True))
    o = again.view_as(NewsbeamOptions)
    assert o.feed == ["http://a/rss", "http://b/rss"]
    assert o.allow_host == ["127.0.0.1:8000"] and o.max_bytes == 1000


def test_ingest_skips_beams_construction_type_check_unless_asked():
    from apache_beam.options.pipeline_options import TypeOptions

    base = ["--feed", "http://a/rss", "--output", "x"]
    assert pipeline_options(base).view_as(TypeOptions).pipeline_type_check is False
    assert pipeline_options(base + ["--check-types"]).view_as(TypeOptions).pipeline_type_check is True


def test_the_batch_graph_passes_beams_construction_type_check(tmp_path):
    # what `--check-types` would check, on every CI run
    import apache_beam as beam

    from pipelines.batch import build_batch

    options = pipeline_options(["--feed", "http://127.0.0.1:1/rss", "--output", str(tmp_path), "--check-types"])
    pipeline = beam.Pipeline(options=options)
    build_batch(pipeline, ["http://127.0.0.1:1/rss"], "run-1")
    assert len(pipeline.to_runner_api().components.transforms) > 100


def test_manifest_is_written_atomically_and_summarised(tmp_path):
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    run_id = new_run_id(start)
    manifest = build_manifest(
        run_id=run_id, output=str(tmp_path), started_at=start,
        finished_at=start + dt.timedelta(seconds=3), status="succeeded", options={"feed": ["x"]},
        counters={"write.articles_rows": 4, "rejects.fetch/http_404": 1, "write.rejects_rows": 1,
                  "summary.lang.fr": 3, "summary.lang.en": 1, "summary.stories": 2},
        feeds=1)
    path = write_manifest(str(tmp_path), manifest)
    assert path.endswith(f"_runs/{run_id}.json")
    assert [p.name for p in (tmp_path / "_runs").iterdir()] == [f"{run_id}.json"]
    back = read_manifest(path)
    assert back["counts"]["articles_written"] == 4
    assert back["rejects_by_reason"] == {"fetch/http_404": 1}
    assert back["languages"] == {"en": 1, "fr": 3}
    assert "apache-beam" in back["versions"]
    text = format_summary(back)
    assert "articles written 4" in text and "fetch/http_404" in text and "fr: 3" in text
    json.dumps(back)
