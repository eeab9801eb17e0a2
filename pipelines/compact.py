"""`newsbeam compact DIR`: merge the small Parquet files streaming leaves, without changing a row.

Within each partition folder (`articles/date=.../lang=...`, `rejects/date=...`)
the files smaller than `--target-file-bytes` are packed, oldest name first,
into groups of about that size; each group of two or more becomes one file,
sorted by `published_at` (rejects: `rejected_at`), zstd-compressed, with statistics and
the schema metadata of the newest input. Large files, and files younger than `--min-age-seconds` (a streaming job
may still rewrite them), are left alone.

How a group is committed, so that a crash never loses or doubles rows:

1. A journal `DIR/_compaction/<id>.json` names the inputs and the output.
2. The merged file is written under a hidden temporary name in the partition
   (`.compact-<id>.parquet.tmp`: names starting with `.` are not data) and its
   row count checked against the inputs.
3. The journal is marked `committing`; the temporary file is renamed into
   place (the commit point), the inputs are deleted, then the journal.

A later `newsbeam compact` first finishes or rolls back any journal it finds
(`committing`: finish the rename and the deletes; `writing`: drop the
temporary file). Between the rename and the deletes (milliseconds on a local
disk, one batch request on gs://) a reader that lists the partition may see
the group's rows twice; a reader that must be exact then either skips the
files listed as `inputs` in a `committing` journal or de-duplicates on
`article_id`. Run one compaction at a time per dataset.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import posixpath
import re
import secrets
import sys
import time
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.write import DEFAULT_ROW_GROUP_BYTES, DEFAULT_TARGET_FILE_BYTES

__all__ = [
    "DataFile",
    "CompactionResult",
    "SORT_KEYS",
    "parse_bytes",
    "list_partitions",
    "plan_groups",
    "merge_tables",
    "write_sorted_parquet",
    "compact_partition",
    "compact_dataset",
    "recover",
    "build_arg_parser",
    "main",
]

# Table folder -> (sort column, tie-break column); same order as the writer's.
SORT_KEYS = {"articles": ("published_at", "article_id"), "rejects": ("rejected_at", "url")}
JOURNAL_DIR = "_compaction"
# A streaming job may rewrite a recent file when a bundle is retried (file names
# are deterministic); merging it away before then would double its rows.
DEFAULT_MIN_AGE_SECONDS = 600.0


@dataclasses.dataclass(frozen=True)
class DataFile:
    path: str
    size: int
    mtime: float = 0.0


@dataclasses.dataclass
class CompactionResult:
    """What compaction did to one partition folder."""

    partition: str
    files_before: int
    files_after: int
    rows: int
    bytes_before: int
    bytes_after: int
    outputs: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        return (f"{self.partition}: {self.files_before} files -> {self.files_after} "
                f"({self.rows} rows, {_human(self.bytes_before)} -> {_human(self.bytes_after)})")


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_bytes(text: str) -> int:
    """`"128MB"`, `"64MiB"`, `"1.5GB"` or `"1000"` -> a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (use e.g. 128MB, 64MiB, 1000000)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _is_data(relative: str) -> bool:
    parts = relative.split("/")
    return relative.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in parts)


def list_partitions(dataset: str, table: str) -> dict[str, list[DataFile]]:
    """Partition folder -> its data files (hidden and `_` names left out), for one table."""
    root = FileSystems.join(dataset.rstrip("/"), table)
    try:
        matched = FileSystems.match([FileSystems.join(root, "**")])[0].metadata_list
    except Exception:  # no such table yet
        return {}
    partitions: dict[str, list[DataFile]] = {}
    for meta in matched:
        relative = meta.path[len(root):].lstrip("/")
        if not _is_data(relative):
            continue
        folder = posixpath.dirname(meta.path)
        partitions.setdefault(folder, []).append(
            DataFile(meta.path, meta.size_in_bytes, meta.last_updated_in_seconds or 0.0))
    for files in partitions.values():
        files.sort(key=lambda f: f.path)
    return dict(sorted(partitions.items()))


def plan_groups(files: list[DataFile], target_file_bytes: int) -> list[list[DataFile]]:
    """Groups of small files to merge: greedy, in the given order, each about `target_file_bytes`.

    Files of `target_file_bytes` or more stay alone; groups of one file are dropped.
    """
    groups: list[list[DataFile]] = []
    current: list[DataFile] = []
    size = 0
    for f in files:
        if f.size >= target_file_bytes:
            continue
        if current and size + f.size > target_file_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        groups.append(current)
    return [g for g in groups if len(g) > 1]


def _version_key(schema: pa.Schema) -> tuple[int, int, int]:
    raw = (schema.metadata or {}).get(b"newsbeam.schema_version", b"0.0").decode()
    major, _, minor = raw.partition(".")
    try:
        return int(major), int(minor or 0), len(schema)
    except ValueError:
        return 0, 0, len(schema)


def merge_tables(tables: list[pa.Table], sort_key: str, tie_break: Optional[str] = None) -> pa.Table:
    """One table with every row of `tables`, sorted by `sort_key` (nulls first), then `tie_break`.

    The schema is the newest input's (highest `newsbeam.schema_version`, then
    most columns) with its metadata; columns an older input lacks are null.
    """
    if not tables:
        raise ValueError("nothing to merge")
    newest = max((t.schema for t in tables), key=_version_key)
    schema = pa.unify_schemas([newest] + [t.schema for t in tables])
    aligned = []
    for t in tables:
        columns = [t.column(f.name) if f.name in t.column_names else pa.nulls(t.num_rows, f.type)
                   for f in schema]
        aligned.append(pa.Table.from_arrays(columns, schema=schema))
    merged = pa.concat_tables(aligned)
    keys = [(sort_key, "ascending", "at_start")]
    if tie_break and tie_break in merged.column_names:
        keys.append((tie_break, "ascending", "at_start"))
    order = pc.sort_indices(merged, sort_keys=keys)
    return merged.take(order)


def write_sorted_parquet(table: pa.Table, path: str, row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES) -> None:
    """Writes `table` as the writer does: zstd, statistics, row groups of about `row_group_bytes`."""
    avg = max(1, table.nbytes // max(1, table.num_rows))
    row_group_size = max(1, min(max(1, table.num_rows), row_group_bytes // avg))
    with FileSystems.create(path) as sink:
        pq.write_table(table, sink, compression="zstd", write_statistics=True,
                       row_group_size=row_group_size)


def _read(path: str) -> pa.Table:
    with FileSystems.open(path) as source:
        return pq.read_table(source)


def _num_rows(path: str) -> int:
    with FileSystems.open(path) as source:
        return pq.ParquetFile(source).metadata.num_rows


def _size(path: str) -> int:
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


def _write_journal(dataset: str, journal: dict[str, Any]) -> str:
    folder = FileSystems.join(dataset.rstrip("/"), JOURNAL_DIR)
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    final = FileSystems.join(folder, f"{journal['id']}.json")
    tmp = FileSystems.join(folder, f".{journal['id']}.json.tmp")
    with FileSystems.create(tmp) as sink:
        sink.write(json.dumps(journal, indent=2).encode())
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])
    return final


def _delete_existing(paths: list[str]) -> None:
    existing = [p for p in paths if FileSystems.exists(p)]
    if existing:
        FileSystems.delete(existing)


def _new_id() -> str:
    return f"compact-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def compact_partition(dataset: str, folder: str, files: list[DataFile], sort_key: str,
                      tie_break: Optional[str] = None,
                      target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                      row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                      dry_run: bool = False,
                      min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS) -> CompactionResult:
    """Merges the small files of one partition folder; see the module docstring for the commit.

    Files modified less than `min_age_seconds` ago are left for a later run.
    """
    cutoff = time.time() - min_age_seconds
    groups = plan_groups([f for f in files if f.mtime <= cutoff], target_file_bytes)
    rel = folder[len(dataset.rstrip("/")):].lstrip("/")
    result = CompactionResult(rel, len(files), len(files), 0, sum(f.size for f in files),
                              sum(f.size for f in files))
    run_id = _new_id()
    for n, group in enumerate(groups):
        result.files_after -= len(group) - 1
        if dry_run:
            continue
        output = FileSystems.join(folder, f"part-{run_id}-{n:05d}.parquet")
        tmp = FileSystems.join(folder, f".{run_id}-{n:05d}.parquet.tmp")
        journal = {"id": f"{run_id}-{n:05d}", "state": "writing", "partition": rel,
                   "inputs": [f.path for f in group], "tmp": tmp, "output": output}
        journal_path = _write_journal(dataset, journal)
        tables = [_read(f.path) for f in group]
        merged = merge_tables(tables, sort_key, tie_break)
        expected = sum(t.num_rows for t in tables)
        write_sorted_parquet(merged, tmp, row_group_bytes)
        if _num_rows(tmp) != expected:
            _delete_existing([tmp, journal_path])
            raise RuntimeError(f"{output}: wrote {_num_rows(tmp)} rows, expected {expected}")
        journal.update(state="committing", rows=expected)
        _write_journal(dataset, journal)
        FileSystems.rename([tmp], [output])
        _delete_existing(journal["inputs"])
        FileSystems.delete([journal_path])
        result.rows += expected
        result.outputs.append(output)
        result.bytes_after += _size(output) - sum(f.size for f in group)
    return result


def recover(dataset: str) -> list[str]:
    """Finishes (`committing`) or rolls back (`writing`) interrupted compactions; returns their ids."""
    pattern = FileSystems.join(dataset.rstrip("/"), JOURNAL_DIR, "*.json")
    try:
        journals = FileSystems.match([pattern])[0].metadata_list
    except Exception:
        return []
    done = []
    for meta in journals:
        if posixpath.basename(meta.path).startswith("."):
            continue
        with FileSystems.open(meta.path) as source:
            journal = json.loads(source.read().decode())
        if journal.get("state") == "committing":
            if not FileSystems.exists(journal["output"]):
                FileSystems.rename([journal["tmp"]], [journal["output"]])
            _delete_existing(journal["inputs"])
        else:
            _delete_existing([journal["tmp"]])
        FileSystems.delete([meta.path])
        done.append(journal["id"])
    return done


def compact_dataset(dataset: str, tables: tuple[str, ...] = ("articles", "rejects"),
                    target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                    row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                    dry_run: bool = False,
                    min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS) -> list[CompactionResult]:
    """Compacts every partition of the given tables; returns one result per partition folder."""
    if not dry_run:
        recover(dataset)
    results = []
    for table in tables:
        sort_key, tie_break = SORT_KEYS[table]
        for folder, files in list_partitions(dataset, table).items():
            results.append(compact_partition(dataset, folder, files, sort_key, tie_break,
                                             target_file_bytes, row_group_bytes, dry_run, min_age_seconds))
    return results


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam compact",
        description="Merge the small Parquet files of a dataset, partition by partition, atomically.")
    parser.add_argument("dataset", help="Dataset folder (local or gs://).")
    parser.add_argument("--target-file-bytes", type=parse_bytes, default=DEFAULT_TARGET_FILE_BYTES,
                        metavar="SIZE", help="Target size of a merged file, e.g. 128MB (default %(default)s bytes).")
    parser.add_argument("--row-group-bytes", type=parse_bytes, default=DEFAULT_ROW_GROUP_BYTES,
                        metavar="SIZE", help="Target uncompressed size of a row group (default %(default)s bytes).")
    parser.add_argument("--table", choices=("articles", "rejects", "all"), default="all",
                        help="Which table to compact (default: all).")
    parser.add_argument("--min-age-seconds", type=float, default=DEFAULT_MIN_AGE_SECONDS, metavar="S",
                        help="Leave files younger than this alone: a streaming job may still rewrite "
                             "a file of a retried bundle (default %(default)s).")
    parser.add_argument("--dry-run", action="store_true", help="Only print what would be merged.")
    return parser


def main(argv: list[str]) -> int:
    args = build_arg_parser().parse_args(argv)
    if not FileSystems.exists(args.dataset):
        print(f"newsbeam compact: no dataset at {args.dataset}", file=sys.stderr)
        return 1
    tables = ("articles", "rejects") if args.table == "all" else (args.table,)
    results = compact_dataset(args.dataset, tables, args.target_file_bytes, args.row_group_bytes,
                              args.dry_run, args.min_age_seconds)
    changed = [r for r in results if r.files_after < r.files_before]
    for r in changed:
        print(("would merge " if args.dry_run else "") + r.describe())
    before = sum(r.files_before for r in results)
    after = sum(r.files_after for r in results)
    print(f"{len(results)} partitions, {before} files -> {after}" + (" (dry run)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
