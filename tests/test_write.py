"""The Parquet sinks: partitions, atomic files, sorting, sizes, metadata."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam
import duckdb
import pyarrow.parquet as pq
from apache_beam.testing.util import assert_that, equal_to

from schemas.article import ARTICLE_SCHEMA, article_to_row
from schemas.records import Article, Reject
from transforms.write import (WriteArticles, WriteRejects, article_partition,
                              reject_partition, write_parquet_files)

UTC = dt.timezone.utc


def _article(i: int, day: int = 1, lang: str = "fr") -> Article:
    return Article(url=f"http://example.org/{i}", feed_url="http://example.org/feed",
                   fetched_at=dt.datetime(2025, 3, 20, tzinfo=UTC), text=f"texte {i} " * 50,
                   article_id=f"{i:032x}", language=lang, word_count=100,
                   published_at=dt.datetime(2025, 3, day, 12 - i % 12, tzinfo=UTC),
                   removed_blocks=[{"kind": "image_labels", "text": "Image 1"}])


def test_partition_uses_publication_day_in_utc_then_fetch_day():
    a = _article(1)
    a.published_at = dt.datetime(2025, 3, 18, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert article_partition(a) == "date=2025-03-19/lang=fr"
    a.published_at, a.language = None, None
    assert article_partition(a) == "date=2025-03-20/lang=und"
    r = Reject(url="u", stage="fetch", reason="http_404", rejected_at=dt.datetime(2025, 1, 2, tzinfo=UTC))
    assert reject_partition(r) == "date=2025-01-02"


def test_files_are_split_by_target_size_sorted_and_renamed_into_place(tmp_path):
    rows = [article_to_row(_article(i)) for i in range(40)]
    paths = write_parquet_files(rows, schema=ARTICLE_SCHEMA, output_dir=str(tmp_path),
                                partition="date=2025-03-01/lang=fr", run_id="r1",
                                sort_key="published_at", target_file_bytes=4000)
    assert len(paths) > 2
    assert all("/date=2025-03-01/lang=fr/part-r1-" in p for p in paths)
    total = 0
    for path in paths:
        table = pq.read_table(path)
        total += table.num_rows
        times = table.column("published_at").to_pylist()
        assert times == sorted(times)
        assert table.schema.metadata[b"newsbeam.schema_version"] == b"1.0"
        assert b"description" in table.schema.field("text").metadata
    assert total == 40
    assert not list(tmp_path.rglob(".tmp/**/*.parquet"))


def test_a_file_larger_than_a_chunk_keeps_every_row_sorted_by_time_then_id(tmp_path):
    import random

    from transforms import write

    n = 3 * write._CHUNK_ROWS + 7
    articles = [_article(i, day=1 + i % 28) for i in range(n)]
    for a in articles[::10]:
        a.published_at = None        # no time: first, as the fetch-time-less epoch
    random.Random(7).shuffle(articles)
    rows = [article_to_row(a) for a in articles]
    paths = write_parquet_files(rows, schema=ARTICLE_SCHEMA, output_dir=str(tmp_path),
                                partition="date=2025-03-01/lang=fr", run_id="r1",
                                sort_key="published_at")
    assert len(paths) == 1
    table = pq.read_table(paths[0])
    assert table.num_rows == n
    got = list(zip(table.column("published_at").to_pylist(), table.column("article_id").to_pylist()))
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    assert got == sorted(got, key=lambda r: (r[0] or epoch, r[1]))
    assert sorted(r[1] for r in got) == sorted(a.article_id for a in articles)
    assert got[0][0] is None


def test_rewriting_the_same_run_replaces_its_files(tmp_path):
    rows = [article_to_row(_article(i)) for i in range(3)]
    kwargs = dict(schema=ARTICLE_SCHEMA, output_dir=str(tmp_path), partition="date=2025-03-01/lang=fr",
                  run_id="r1", sort_key="published_at")
    first = write_parquet_files(rows, **kwargs)
    second = write_parquet_files(rows, **kwargs)
    assert first == second
    assert len(list(tmp_path.rglob("*.parquet"))) == 1


def test_pipeline_writes_hive_partitions_readable_by_duckdb(tmp_path):
    articles = [_article(1, day=1), _article(2, day=1), _article(3, day=2, lang="en")]
    rejects = [Reject(url="http://example.org/x", stage="fetch", reason="http_404", http_status=404,
                      rejected_at=dt.datetime(2025, 3, 20, tzinfo=UTC))]
    with beam.Pipeline(runner="FnApiRunner") as p:
        paths = p | "A" >> beam.Create(articles) | WriteArticles(str(tmp_path), "run1")
        _ = p | "R" >> beam.Create(rejects) | WriteRejects(str(tmp_path), "run1")
        assert_that(paths | beam.Map(lambda s: s.split("/articles/")[1].rsplit("/", 1)[0]),
                    equal_to(["date=2025-03-01/lang=fr", "date=2025-03-02/lang=en"]))
    got = duckdb.sql(f"SELECT CAST(date AS VARCHAR), lang, url, run_id FROM read_parquet("
                     f"'{tmp_path}/articles/**/*.parquet', hive_partitioning=true) ORDER BY url").fetchall()
    assert got == [("2025-03-01", "fr", "http://example.org/1", "run1"),
                   ("2025-03-01", "fr", "http://example.org/2", "run1"),
                   ("2025-03-02", "en", "http://example.org/3", "run1")]
    rej = duckdb.sql(f"SELECT stage, reason, http_status FROM read_parquet('{tmp_path}/rejects/**/*.parquet')").fetchall()
    assert rej == [("fetch", "http_404", 404)]
