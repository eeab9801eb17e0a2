"""`newsbeam runs DIR`: the runs recorded in a dataset, one line each, oldest first.

Reads the manifests `DIR/_runs/<run_id>.json` that every run writes (through
Beam's FileSystems, so gs:// works) and prints run id, start, duration,
status, articles written, rejects and entries already seen. `--json` prints
the manifests instead, one JSON object per line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import posixpath
import sys
from typing import Any, Optional

from apache_beam.io.filesystems import FileSystems

__all__ = ["load_runs", "run_row", "format_runs_table", "build_arg_parser", "main"]

COLUMNS = ("run_id", "started (UTC)", "duration", "status", "articles", "rejects", "already seen")


def _parse_time(value: Any) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def load_runs(dataset: str) -> list[dict[str, Any]]:
    """The run manifests of `dataset`, sorted by start time.

    A manifest that cannot be read or parsed is returned as
    `{"run_id": <file stem>, "status": "unreadable", "error": ...}` so that a
    broken run shows up rather than vanishing.
    """
    pattern = FileSystems.join(dataset.rstrip("/"), "_runs", "*.json")
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # no _runs folder yet
        return []
    runs = []
    for meta in matched:
        name = posixpath.basename(meta.path)
        if name.startswith((".", "_")):
            continue
        try:
            with FileSystems.open(meta.path) as source:
                manifest = json.loads(source.read().decode("utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not a JSON object")
        except Exception as exc:  # a broken manifest is listed, not fatal
            manifest = {"run_id": name[:-len(".json")], "status": "unreadable", "error": str(exc)}
        manifest.setdefault("run_id", name[:-len(".json")])
        runs.append(manifest)
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    runs.sort(key=lambda m: (_parse_time(m.get("started_at")) or epoch, str(m["run_id"])))
    return runs


def _duration(manifest: dict[str, Any]) -> Optional[float]:
    if isinstance(manifest.get("duration_seconds"), (int, float)):
        return float(manifest["duration_seconds"])
    start, end = _parse_time(manifest.get("started_at")), _parse_time(manifest.get("finished_at"))
    return (end - start).total_seconds() if start and end else None


def _format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def run_row(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The table cells of one manifest, in the order of `COLUMNS`."""
    counts = manifest.get("counts") or {}
    started = _parse_time(manifest.get("started_at"))

    def count(key: str) -> str:
        value = counts.get(key)
        return "-" if value is None else str(value)

    return (
        str(manifest.get("run_id", "?")),
        started.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if started else "-",
        _format_duration(_duration(manifest)),
        str(manifest.get("status", "?")),
        count("articles_written"),
        count("rejects"),
        count("already_seen"),
    )


def format_runs_table(runs: list[dict[str, Any]]) -> str:
    """A plain-text table of runs with aligned columns, numbers right-aligned."""
    rows = [COLUMNS] + [run_row(m) for m in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    numeric = {2, 4, 5, 6}
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i in numeric else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbeam runs", description="List the runs recorded in a dataset.")
    parser.add_argument("dataset", help="Dataset folder (local or gs://): reads DIR/_runs/*.json.")
    parser.add_argument("--json", action="store_true", help="Print the manifests as JSON lines.")
    parser.add_argument("--last", type=int, default=0, metavar="N", help="Only the N most recent runs.")
    return parser


def main(argv: list[str]) -> int:
    args = build_arg_parser().parse_args(argv)
    runs = load_runs(args.dataset)
    if args.last > 0:
        runs = runs[-args.last:]
    if args.json:
        for manifest in runs:
            print(json.dumps(manifest, ensure_ascii=False, default=str))
        return 0
    if not runs:
        if not FileSystems.exists(args.dataset):
            print(f"newsbeam runs: no dataset at {args.dataset}", file=sys.stderr)
            return 1
        print(f"no runs recorded in {FileSystems.join(args.dataset.rstrip('/'), '_runs')}", file=sys.stderr)
        return 0
    print(format_runs_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
