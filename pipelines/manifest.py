"""Run manifests: `DIR/_runs/<run_id>.json`, one per run, built from Beam metrics."""
from __future__ import annotations

import datetime as dt
import json
import secrets
from importlib import metadata
from typing import Any, Optional

from apache_beam.io.filesystems import FileSystems

from schemas.article import SCHEMA_VERSION, pipeline_version

__all__ = ["new_run_id", "counters_from_result", "build_manifest", "write_manifest",
           "record_run", "read_manifest", "format_summary"]

# Feed-stage reject reasons that concern one entry, not the whole feed.
_ENTRY_REASONS = ("no_link", "bad_scheme")

_LIBRARIES = ("apache-beam", "trafilatura", "feedparser", "langdetect", "datasketch",
              "pyarrow", "lxml", "htmldate", "requests")


def new_run_id(now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def counters_from_result(result) -> dict[str, int]:
    """`{"<stage>.<name>": value}` for every newsbeam counter of a finished pipeline."""
    from apache_beam.metrics.metric import MetricsFilter

    counters: dict[str, int] = {}
    try:
        query = result.metrics().query(MetricsFilter().with_namespace("newsbeam"))
    except Exception:  # some runners do not report metrics
        return counters
    for item in query["counters"]:
        value = item.committed if item.committed is not None else item.attempted
        counters[item.key.metric.name] = counters.get(item.key.metric.name, 0) + int(value or 0)
    return counters


def _versions() -> dict[str, str]:
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            pass
    return versions


def build_manifest(*, run_id: str, output: str, started_at: dt.datetime,
                   finished_at: dt.datetime, status: str, options: dict[str, Any],
                   counters: dict[str, int], feeds: int, error: Optional[str] = None) -> dict[str, Any]:
    """The manifest of one run, as a JSON-able dict."""
    get = counters.get
    rejects_by_reason = {k[len("rejects."):]: v for k, v in sorted(counters.items())
                         if k.startswith("rejects.")}
    languages = {k[len("summary.lang."):]: v for k, v in sorted(counters.items())
                 if k.startswith("summary.lang.")}
    failed_feeds = sum(v for k, v in rejects_by_reason.items()
                       if k.startswith("feeds/") and k.split("/", 1)[1] not in _ENTRY_REASONS)
    manifest = {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "duration_seconds": round((finished_at - started_at).total_seconds(), 3),
        "status": status,
        "pipeline_version": pipeline_version(),
        "schema_version": SCHEMA_VERSION,
        "versions": _versions(),
        "options": {k: v for k, v in sorted(options.items()) if v is not None},
        "output": output,
        "counts": {
            "feeds": feeds,
            "feeds_read": max(0, feeds - failed_feeds) if counters else 0,
            "entries": get("feeds.entries", 0),
            "repeated_entries": get("feeds.repeated_entries", 0),
            "already_seen": get("dedup.already_seen", 0),
            "pages_fetched": get("fetch.ok", 0),
            "articles_written": get("write.articles_rows", 0),
            "rejects": get("write.rejects_rows", 0),
            "duplicates": get("summary.duplicates", 0),
            "stories": get("summary.stories", 0),
        },
        "rejects_by_reason": rejects_by_reason,
        "languages": languages,
        "counters": dict(sorted(counters.items())),
    }
    if error:
        manifest["error"] = error
    return manifest


def write_manifest(output: str, manifest: dict[str, Any]) -> str:
    """Writes the manifest atomically; returns its path."""
    folder = FileSystems.join(output, "_runs")
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    final = FileSystems.join(folder, f"{manifest['run_id']}.json")
    tmp = FileSystems.join(folder, f".{manifest['run_id']}.json.tmp")
    with FileSystems.create(tmp) as sink:
        sink.write(json.dumps(manifest, indent=2, ensure_ascii=False, default=str).encode())
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    return final


def record_run(*, run_id: str, output: str, started_at: dt.datetime, status: str,
               options: dict[str, Any], counters: dict[str, int], feeds: int,
               error: Optional[str] = None, mode: Optional[str] = None) -> dict[str, Any]:
    """Builds the manifest of a run that just ended and writes it; returns it."""
    manifest = build_manifest(
        run_id=run_id, output=output, started_at=started_at,
        finished_at=dt.datetime.now(dt.timezone.utc), status=status, options=options,
        counters=counters, feeds=feeds, error=error)
    if mode:
        manifest["mode"] = mode
    write_manifest(output, manifest)
    return manifest


def read_manifest(path: str) -> dict[str, Any]:
    with FileSystems.open(path) as source:
        return json.loads(source.read().decode())


def format_summary(manifest: dict[str, Any]) -> str:
    """A short human summary of a run."""
    c = manifest["counts"]
    lines = [
        f"run {manifest['run_id']}: {manifest['status']} in {manifest['duration_seconds']:.1f}s",
        f"  feeds read       {c['feeds_read']} of {c['feeds']}",
        f"  feed entries     {c['entries']} ({c['already_seen']} already in the dataset)",
        f"  pages fetched    {c['pages_fetched']}",
        f"  articles written {c['articles_written']}",
        f"  duplicates       {c['duplicates']}",
        f"  stories          {c['stories']}",
        "  languages        " + (", ".join(f"{k}: {v}" for k, v in manifest["languages"].items()) or "-"),
        f"  rejects          {c['rejects']}",
    ]
    for reason, n in manifest["rejects_by_reason"].items():
        lines.append(f"    {reason:<28} {n}")
    out = manifest["output"]
    lines += [
        f"  articles  {FileSystems.join(out, 'articles')}/date=YYYY-MM-DD/lang=xx/*.parquet",
        f"  rejects   {FileSystems.join(out, 'rejects')}/",
        f"  manifest  {FileSystems.join(out, '_runs', manifest['run_id'] + '.json')}",
    ]
    return "\n".join(lines)
