"""Sinks: Hive-partitioned Parquet for articles and rejects, committed atomically.

Rows are grouped by partition (`date=YYYY-MM-DD/lang=xx` for articles,
`date=YYYY-MM-DD` for rejects), sorted by time within each file, and written
with zstd compression and statistics. Every file is written under a temporary
name in `DIR/.tmp/<run_id>/` and renamed into place once complete, so readers
never see half a file. Paths go through Beam's FileSystems (local, gs://, s3://).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable, Iterable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow

from schemas.article import ARTICLE_SCHEMA, REJECT_SCHEMA, article_to_row, reject_to_row
from schemas.records import Article, Reject
from transforms.common import counter, pack_record, unpack_record

__all__ = ["WriteArticles", "WriteRejects", "article_partition", "reject_partition",
           "write_parquet_files", "DEFAULT_TARGET_FILE_BYTES"]

STAGE = "write"
DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def article_partition(article: Article) -> str:
    """`date=YYYY-MM-DD/lang=xx`: publication day in UTC (else fetch day) and language."""
    when = article.published_at or article.fetched_at
    lang = (article.language or "und").lower()
    return f"date={when.astimezone(dt.timezone.utc).date().isoformat()}/lang={lang}"


def reject_partition(reject: Reject) -> str:
    return f"date={reject.rejected_at.astimezone(dt.timezone.utc).date().isoformat()}"


def _row_size(row: dict[str, Any]) -> int:
    size = 64
    for value in row.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, list):
            size += sum(len(str(v)) for v in value) + 8
        else:
            size += 8
    return size


# Rows are turned into Arrow this many at a time while a file fills: a Python dict
# per row (about twice the size of its Arrow form) never outlives its chunk.
_CHUNK_ROWS = 512


def _sort_position(row: dict[str, Any], sort_key: str) -> tuple:
    return (row.get(sort_key) or _EPOCH, row.get("article_id") or row.get("url") or "")


class _FileBuffer:
    """The rows of one file as Arrow record batches, and their sort keys."""

    def __init__(self, schema: pa.Schema, sort_key: str):
        self._schema = schema
        self._sort_key = sort_key
        self._batches: list[pa.RecordBatch] = []
        self._chunk: list[dict[str, Any]] = []
        self._keys: list[tuple] = []
        self.size = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, row: dict[str, Any]) -> None:
        self._keys.append(_sort_position(row, self._sort_key))
        self._chunk.append(row)
        self.size += _row_size(row)
        if len(self._chunk) >= _CHUNK_ROWS:
            self._convert()

    def _convert(self) -> None:
        if self._chunk:
            self._batches.append(pa.RecordBatch.from_pylist(self._chunk, schema=self._schema))
            self._chunk = []

    def sorted_table(self) -> pa.Table:
        """The rows sorted by (sort key, id), earliest first; the buffer is emptied."""
        self._convert()
        table = pa.Table.from_batches(self._batches, schema=self._schema)
        order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
        self._batches, self._keys, self.size = [], [], 0
        if order != list(range(len(order))):
            table = table.take(pa.array(order, type=pa.int64()))
        return table


def _write_table(table: pa.Table, path: str, row_group_bytes: int) -> None:
    avg = max(1, table.nbytes // max(1, table.num_rows))
    row_group_size = max(1, min(table.num_rows, row_group_bytes // avg))
    with FileSystems.create(path) as sink:
        pq.write_table(table, sink, compression="zstd", write_statistics=True,
                       row_group_size=row_group_size)


def write_parquet_files(rows: Iterable[dict[str, Any]], *, schema: pa.Schema,
                        output_dir: str, partition: str, run_id: str, sort_key: str,
                        target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                        row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                        shard: str = "", tmp_root: Optional[str] = None) -> list[str]:
    """Writes rows of one partition to one or more Parquet files, atomically.

    Rows are buffered (as Arrow, a chunk at a time) up to `target_file_bytes`,
    sorted by `sort_key` and written to a temporary file under `tmp_root`
    (default `<output_dir>/.tmp/<run_id>`), then renamed to
    `<output_dir>/<partition>/part-<run_id>-<tag>-<n>.parquet`. File names are
    deterministic, so a retried bundle rewrites the same files.

    Returns:
      The final paths written.
    """
    tag = hashlib.sha1(f"{partition}|{shard}".encode()).hexdigest()[:8]
    final_dir = FileSystems.join(output_dir, *partition.split("/"))
    tmp_dir = FileSystems.join(tmp_root or FileSystems.join(output_dir, ".tmp", run_id), tag)
    for folder in (final_dir, tmp_dir):
        if not FileSystems.exists(folder):
            FileSystems.mkdirs(folder)
    written: list[str] = []

    def flush(buffer: _FileBuffer) -> None:
        name = f"part-{run_id}-{tag}-{len(written):05d}.parquet"
        tmp_path = FileSystems.join(tmp_dir, name)
        final_path = FileSystems.join(final_dir, name)
        _write_table(buffer.sorted_table(), tmp_path, row_group_bytes)
        if FileSystems.exists(final_path):
            FileSystems.delete([final_path])
        FileSystems.rename([tmp_path], [final_path])
        written.append(final_path)

    buffer = _FileBuffer(schema, sort_key)
    for row in rows:
        buffer.add(row)
        if buffer.size >= target_file_bytes:
            flush(buffer)
    if len(buffer):
        flush(buffer)
    return written


class _WritePartitionDoFn(beam.DoFn):
    def __init__(self, schema, output_dir, tmp_root, run_id, sort_key, target_file_bytes,
                 row_group_bytes):
        self._schema = schema
        self._output_dir = output_dir
        self._tmp_root = tmp_root
        self._run_id = run_id
        self._sort_key = sort_key
        self._target_file_bytes = target_file_bytes
        self._row_group_bytes = row_group_bytes

    def setup(self):
        self._files = counter(STAGE, f"{self._schema.metadata[b'newsbeam.schema'].decode()}_files")
        self._rows = counter(STAGE, f"{self._schema.metadata[b'newsbeam.schema'].decode()}_rows")

    def process(self, element, window=beam.DoFn.WindowParam):
        partition, rows = element
        count = [0]

        def counted():
            for packed in rows:
                count[0] += 1
                yield unpack_record(packed)

        shard = ""
        if not isinstance(window, GlobalWindow):
            shard = f"w{int(window.start.micros // 1_000_000)}"
        paths = write_parquet_files(
            counted(), schema=self._schema, output_dir=self._output_dir, partition=partition,
            run_id=self._run_id, sort_key=self._sort_key, shard=shard, tmp_root=self._tmp_root,
            target_file_bytes=self._target_file_bytes, row_group_bytes=self._row_group_bytes)
        self._files.inc(len(paths))
        self._rows.inc(count[0])
        yield from paths


class _WriteRows(beam.PTransform):
    def __init__(self, folder: str, schema: pa.Schema, to_row: Callable, partition_of: Callable,
                 output_dir: str, run_id: str, sort_key: str,
                 target_file_bytes: int, row_group_bytes: int):
        super().__init__()
        self._folder = folder
        self._schema = schema
        self._to_row = to_row
        self._partition_of = partition_of
        self._output_dir = output_dir
        self._run_id = run_id
        self._sort_key = sort_key
        self._target_file_bytes = target_file_bytes
        self._row_group_bytes = row_group_bytes

    def expand(self, records):
        to_row, partition_of = self._to_row, self._partition_of
        return (records
                | "KeyByPartition" >> beam.Map(lambda r: (partition_of(r), pack_record(to_row(r))))
                | "GroupByPartition" >> beam.GroupByKey()
                | "WriteFiles" >> beam.ParDo(_WritePartitionDoFn(
                    self._schema, FileSystems.join(self._output_dir, self._folder),
                    FileSystems.join(self._output_dir, ".tmp", self._run_id, self._folder),
                    self._run_id,
                    self._sort_key, self._target_file_bytes, self._row_group_bytes)))


class WriteArticles(_WriteRows):
    """Article -> `DIR/articles/date=YYYY-MM-DD/lang=xx/part-*.parquet`; returns the paths."""

    def __init__(self, output_dir: str, run_id: str,
                 target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                 row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES):
        super().__init__("articles", ARTICLE_SCHEMA, _stamped(article_to_row, run_id), article_partition,
                         output_dir, run_id, "published_at", target_file_bytes, row_group_bytes)


class WriteRejects(_WriteRows):
    """Reject -> `DIR/rejects/date=YYYY-MM-DD/part-*.parquet`; returns the paths."""

    def __init__(self, output_dir: str, run_id: str,
                 target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                 row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES):
        super().__init__("rejects", REJECT_SCHEMA, _stamped(reject_to_row, run_id), reject_partition,
                         output_dir, run_id, "rejected_at", target_file_bytes, row_group_bytes)


def _stamped(to_row: Callable[[Any], dict[str, Any]], run_id: str) -> Callable[[Any], dict[str, Any]]:
    """`to_row` with `run_id` filled in where the record carries none."""
    def stamped(record: Any) -> dict[str, Any]:
        row = to_row(record)
        row["run_id"] = row.get("run_id") or run_id
        return row
    return stamped
