"""`newsbeam runs DIR`: manifests listed oldest first, with the figures people ask for."""
from __future__ import annotations

import datetime as dt
import json

from pipelines import cli
from pipelines.manifest import build_manifest, write_manifest
from pipelines.runs import format_runs_table, load_runs, run_row

UTC = dt.timezone.utc


def _manifest(run_id: str, start: dt.datetime, seconds: float, status: str = "succeeded",
              articles: int = 5, rejects: int = 1, seen: int = 0) -> dict:
    counters = {"write.articles_rows": articles, "write.rejects_rows": rejects,
                "dedup.already_seen": seen, "feeds.entries": articles + rejects + seen,
                "rejects.fetch/http_404": rejects}
    return build_manifest(run_id=run_id, output="out", started_at=start,
                          finished_at=start + dt.timedelta(seconds=seconds), status=status,
                          options={"feed": ["http://127.0.0.1/feed.xml"]}, counters=counters, feeds=1)


def _dataset(tmp_path):
    write_manifest(str(tmp_path), _manifest("r2", dt.datetime(2025, 3, 19, 8, 0, tzinfo=UTC), 75.4,
                                            articles=2, rejects=0, seen=5))
    write_manifest(str(tmp_path), _manifest("r1", dt.datetime(2025, 3, 18, 21, 0, 5, tzinfo=UTC), 12.25))
    write_manifest(str(tmp_path), _manifest("r3", dt.datetime(2025, 3, 20, tzinfo=UTC), 3700, status="failed",
                                            articles=0, rejects=7))
    (tmp_path / "_runs" / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "_runs" / ".r4.json.tmp").write_text("{}", encoding="utf-8")
    return tmp_path


def test_load_runs_sorted_by_start_and_keeps_broken(tmp_path):
    runs = load_runs(str(_dataset(tmp_path)))
    assert [m["run_id"] for m in runs] == ["broken", "r1", "r2", "r3"]
    assert runs[0]["status"] == "unreadable" and runs[0]["error"]
    assert runs[1]["counts"]["articles_written"] == 5


def test_run_row_figures(tmp_path):
    runs = {m["run_id"]: m for m in load_runs(str(_dataset(tmp_path)))}
    assert run_row(runs["r1"]) == ("r1", "2025-03-18 21:00:05", "12.2s", "succeeded", "5", "1", "0")
    assert run_row(runs["r2"]) == ("r2", "2025-03-19 08:00:00", "1m15s", "succeeded", "2", "0", "5")
    assert run_row(runs["r3"])[2:4] == ("1h01m40s", "failed")
    assert run_row(runs["broken"]) == ("broken", "-", "-", "unreadable", "-", "-", "-")


def test_duration_from_times_when_not_recorded():
    manifest = {"run_id": "x", "started_at": "2025-03-18T10:00:00Z", "finished_at": "2025-03-18T10:00:30+00:00",
                "status": "succeeded", "counts": {}}
    assert run_row(manifest)[1:4] == ("2025-03-18 10:00:00", "30.0s", "succeeded")


def test_table_is_aligned(tmp_path):
    table = format_runs_table(load_runs(str(_dataset(tmp_path))))
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["run_id", "started"]
    assert len(lines) == 5
    assert len({line.index("succeeded") for line in lines if "succeeded" in line}) == 1


def test_cli_runs(tmp_path, capsys):
    assert cli.main(["runs", str(_dataset(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.index("r1") < out.index("r2") < out.index("r3")
    assert cli.main(["runs", str(tmp_path), "--json", "--last", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == ["r2", "r3"]
    assert json.loads(lines[1])["rejects_by_reason"] == {"fetch/http_404": 7}


def test_cli_runs_empty_and_missing(tmp_path, capsys):
    assert cli.main(["runs", str(tmp_path)]) == 0
    assert "no runs recorded" in capsys.readouterr().err
    assert cli.main(["runs", str(tmp_path / "nope")]) == 1
