"""`newsbeam compact DIR`: fewer files, the same rows, sorted, metadata kept, crash-safe."""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pathlib

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipelines import cli
from pipelines.compact import (
    DataFile,
    compact_dataset,
    list_partitions,
    merge_tables,
    parse_bytes,
    plan_groups,
    recover,
)
from schemas import ARTICLE_SCHEMA, REJECT_SCHEMA, SCHEMA_VERSION, article_to_row, reject_to_row
from schemas.records import Article, Reject

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 3, 18, 6, tzinfo=UTC)


def _article(i: int, day: int = 18, published: bool = True) -> dict:
    when = dt.datetime(2025, 3, day, tzinfo=UTC) + dt.timedelta(minutes=(i * 37) % 1400)
    return article_to_row(Article(
        url=f"https://site{i % 3}.example/{day}/{i}", feed_url="https://site.example/feed",
        fetched_at=when + dt.timedelta(hours=1), text=f"Texte numéro {i}. " * 20,
        article_id=f"id-{day}-{i:04d}", title=f"Titre {day}/{i}", authors=[f"Auteur {i % 4}"],
        language="fr", published_at=when if published else None, story_id=f"s{i % 5}",
        removed_blocks=[{"kind": "nav", "text": "Menu"}] if i % 2 else [], run_id=f"r{i % 7}"))


def _write(path: pathlib.Path, rows: list[dict], schema: pa.Schema, sort_key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    rows = sorted(rows, key=lambda r: r[sort_key] or epoch)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="zstd")


def _streaming_dataset(root: pathlib.Path) -> pathlib.Path:
    """Many small files per partition, as a streaming run leaves them."""
    n = 0
    for day in (18, 19):
        folder = root / "articles" / f"date=2025-03-{day}" / "lang=fr"
        for window in range(6):
            rows = [_article(n + k, day, published=(n + k) % 11 != 0) for k in range(5)]
            n += 5
            _write(folder / f"part-r{window}-w{window}-00000.parquet", rows, ARTICLE_SCHEMA, "published_at")
    rejects = root / "rejects" / "date=2025-03-18"
    for window in range(3):
        rows = [reject_to_row(Reject(url=f"https://x.example/{window}/{k}", stage="fetch", reason="http_404",
                                     rejected_at=T0 + dt.timedelta(minutes=7 * k - window))) for k in range(4)]
        _write(rejects / f"part-r{window}-00000.parquet", rows, REJECT_SCHEMA, "rejected_at")
    (root / "_state").mkdir()
    (root / "_state" / "seen.parquet").write_bytes(b"not data")
    (root / "articles" / ".tmp").mkdir()
    (root / "articles" / ".tmp" / "part-x.parquet").write_bytes(b"partial")
    return root


def _rows(root: pathlib.Path, table: str) -> collections.Counter:
    data = ds.dataset(str(root / table), format="parquet", partitioning="hive",
                      exclude_invalid_files=False, ignore_prefixes=[".", "_"])
    return collections.Counter(json.dumps(r, sort_keys=True, default=str) for r in data.to_table().to_pylist())


def _files(root: pathlib.Path, table: str) -> list[pathlib.Path]:
    return sorted(p for p in (root / table).rglob("*.parquet")
                  if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))


def test_compact_keeps_rows_and_merges_files(tmp_path):
    root = _streaming_dataset(tmp_path)
    before = {t: _rows(root, t) for t in ("articles", "rejects")}
    assert len(_files(root, "articles")) == 12

    results = compact_dataset(str(root), min_age_seconds=0)

    assert {t: _rows(root, t) for t in ("articles", "rejects")} == before
    assert sum(before["articles"].values()) == 60
    assert len(_files(root, "articles")) == 2 and len(_files(root, "rejects")) == 1
    assert sum(r.rows for r in results) == 72
    assert (root / "_state" / "seen.parquet").read_bytes() == b"not data"
    assert (root / "articles" / ".tmp" / "part-x.parquet").exists()
    assert not list((root / "_compaction").glob("*.json"))


def test_compacted_files_are_sorted_zstd_with_statistics_and_metadata(tmp_path):
    root = _streaming_dataset(tmp_path)
    compact_dataset(str(root), min_age_seconds=0)
    for path, key in [(p, "published_at") for p in _files(root, "articles")] + [
            (p, "rejected_at") for p in _files(root, "rejects")]:
        assert path.name.startswith("part-compact-")
        table = pq.read_table(path)
        values = table.column(key).to_pylist()
        nulls = [v for v in values if v is None]
        assert values[:len(nulls)] == nulls, "nulls first, as the writer puts them"
        assert values[len(nulls):] == sorted(values[len(nulls):])
        meta = pq.ParquetFile(path).metadata
        column = meta.row_group(0).column(0)
        assert column.compression == "ZSTD"
        assert column.statistics is not None and column.statistics.has_min_max
        schema = pq.read_schema(path)
        assert schema.metadata[b"newsbeam.schema_version"].decode() == SCHEMA_VERSION
        assert json.loads(schema.metadata[b"newsbeam.descriptions"])
        assert schema.field(key).metadata[b"description"]
        assert "date" not in schema.names and "lang" not in schema.names


def test_target_size_splits_groups_and_leaves_big_files(tmp_path):
    root = _streaming_dataset(tmp_path)
    folder = root / "articles" / "date=2025-03-18" / "lang=fr"
    sizes = sorted(p.stat().st_size for p in folder.glob("*.parquet"))
    big = root / "articles" / "date=2025-03-19" / "lang=fr" / "part-r0-w0-00000.parquet"
    target = sizes[-1] * 2 + 1  # any two small files fit, no three do
    assert sizes[0] * 3 > target
    big_rows = [_article(1000 + k, 19) for k in range(400)]
    _write(big, big_rows, ARTICLE_SCHEMA, "published_at")
    before = _rows(root, "articles")
    big_mtime = big.stat().st_mtime_ns

    compact_dataset(str(root), ("articles",), target_file_bytes=target, min_age_seconds=0)

    assert _rows(root, "articles") == before
    assert big.exists() and big.stat().st_mtime_ns == big_mtime
    merged = sorted(folder.glob("part-compact-*.parquet"))
    assert len(list(folder.glob("*.parquet"))) == len(merged) == 3
    for path in merged:
        assert pq.ParquetFile(path).metadata.num_rows == 10


def test_plan_groups_greedy():
    files = [DataFile(f"f{i}", s) for i, s in enumerate([10, 10, 50, 10, 100, 10, 10, 95])]
    groups = plan_groups(files, 100)
    assert [[f.path for f in g] for g in groups] == [["f0", "f1", "f2", "f3", "f5", "f6"]]
    pairs = plan_groups([DataFile(f"g{i}", 40) for i in range(5)], 100)
    assert [[f.path for f in g] for g in pairs] == [["g0", "g1"], ["g2", "g3"]]
    assert plan_groups([DataFile(f"h{i}", 60) for i in range(3)], 100) == []
    assert plan_groups([DataFile("a", 5)], 100) == []


def test_merge_tables_takes_newest_schema_and_fills_nulls():
    old = pa.Table.from_pylist([_article(1)], schema=ARTICLE_SCHEMA)
    newer_schema = ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_(), metadata={"description": "x"}))
    newer_schema = newer_schema.with_metadata({**ARTICLE_SCHEMA.metadata, b"newsbeam.schema_version": b"1.1"})
    row = _article(2)
    row["paywall"] = True
    new = pa.Table.from_pylist([row], schema=newer_schema)
    merged = merge_tables([old, new], "published_at", "article_id")
    assert merged.schema.metadata[b"newsbeam.schema_version"] == b"1.1"
    assert merged.num_rows == 2
    assert sorted(merged.column("paywall").to_pylist(), key=str) == [None, True]


@pytest.mark.parametrize("renamed", [True, False])
def test_recover_finishes_a_committing_journal(tmp_path, renamed):
    root = _streaming_dataset(tmp_path)
    before = _rows(root, "articles")
    folder = root / "articles" / "date=2025-03-18" / "lang=fr"
    inputs = sorted(folder.glob("*.parquet"))[:3]
    merged = merge_tables([pq.read_table(p) for p in inputs], "published_at", "article_id")
    tmp = folder / ".crash.parquet.tmp"
    pq.write_table(merged, tmp, compression="zstd")
    output = folder / "part-compact-crash-00000.parquet"
    (root / "_compaction").mkdir()
    (root / "_compaction" / "crash.json").write_text(json.dumps({
        "id": "crash", "state": "committing", "inputs": [str(p) for p in inputs],
        "tmp": str(tmp), "output": str(output)}))
    if renamed:  # the crash came halfway through the deletes
        os.rename(tmp, output)
        inputs[0].unlink()

    assert recover(str(root)) == ["crash"]
    assert _rows(root, "articles") == before
    assert not any(p.exists() for p in inputs) and output.exists()
    assert not list((root / "_compaction").glob("*.json"))


def test_recover_rolls_back_a_writing_journal(tmp_path):
    root = _streaming_dataset(tmp_path)
    before = _rows(root, "articles")
    folder = root / "articles" / "date=2025-03-18" / "lang=fr"
    inputs = sorted(folder.glob("*.parquet"))[:2]
    tmp = folder / ".half.parquet.tmp"
    tmp.write_bytes(b"half a file")
    (root / "_compaction").mkdir()
    (root / "_compaction" / "half.json").write_text(json.dumps({
        "id": "half", "state": "writing", "inputs": [str(p) for p in inputs],
        "tmp": str(tmp), "output": str(folder / "part-compact-half-00000.parquet")}))
    assert recover(str(root)) == ["half"]
    assert not tmp.exists() and all(p.exists() for p in inputs)
    assert _rows(root, "articles") == before


def test_list_partitions_skips_hidden_and_underscore(tmp_path):
    root = _streaming_dataset(tmp_path)
    parts = list_partitions(str(root), "articles")
    assert sorted(pathlib.Path(p).relative_to(root).as_posix() for p in parts) == [
        "articles/date=2025-03-18/lang=fr", "articles/date=2025-03-19/lang=fr"]
    assert list_partitions(str(root), "nothing") == {}


@pytest.mark.parametrize("text,value", [("128MB", 128_000_000), ("64MiB", 64 * 2**20), ("1000", 1000),
                                        ("1.5 GB", 1_500_000_000)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "12XB", "-5", "0"])
def test_parse_bytes_rejects(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_cli_compact_dry_run_then_real(tmp_path, capsys):
    root = _streaming_dataset(tmp_path)
    assert cli.main(["compact", str(root)]) == 0
    assert "15 files -> 15" in capsys.readouterr().out, "files younger than --min-age-seconds stay"
    assert cli.main(["compact", str(root), "--dry-run", "--min-age-seconds", "0"]) == 0
    assert "would merge articles/date=2025-03-18/lang=fr: 6 files -> 1" in capsys.readouterr().out
    assert len(_files(root, "articles")) == 12
    assert cli.main(["compact", str(root), "--table", "articles", "--target-file-bytes", "128MB",
                     "--min-age-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 partitions, 12 files -> 2" in out
    assert len(_files(root, "articles")) == 2 and len(_files(root, "rejects")) == 3
    assert cli.main(["compact", str(tmp_path / "missing")]) == 1
