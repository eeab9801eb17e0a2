"""The schema contract: generated docs are current, exports are valid, changes stay compatible."""
from __future__ import annotations

import datetime as dt
import json
import pathlib
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import ARTICLE_SCHEMA, REJECT_SCHEMA, SCHEMA_VERSION, article_to_row
from schemas.export import (
    PARTITIONS,
    SCHEMAS,
    bigquery_schema,
    check_compatible,
    contract,
    duckdb_view_sql,
    generated_files,
    load_contract,
    schema_markdown,
    spark_type,
    spark_view_sql,
)
from schemas.records import Article

ROOT = pathlib.Path(__file__).resolve().parent.parent
UTC = dt.timezone.utc


# --- generated files ------------------------------------------------------------

@pytest.mark.parametrize("rel", sorted(generated_files()))
def test_generated_file_is_current(rel):
    path = ROOT / rel
    assert path.exists(), f"{rel} missing: run python scripts/gen_schema_docs.py"
    assert path.read_text(encoding="utf-8") == generated_files()[rel], (
        f"{rel} is stale: run python scripts/gen_schema_docs.py")


def test_gen_script_check_mode_agrees():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_schema_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_schema_doc_lists_every_column_with_its_description():
    text = schema_markdown()
    for schema in SCHEMAS.values():
        for field in schema:
            description = field.metadata[b"description"].decode()
            assert f"| `{field.name}` |" in text
            assert description.replace("|", "\\|") in text
    for partitions in PARTITIONS.values():
        for name, _ in partitions:
            assert f"| `{name}` | partition (path) |" in text


def test_schema_doc_changes_when_schema_changes(monkeypatch):
    import schemas.export as export
    extra = ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_(), metadata={"description": "Behind a paywall."}))
    monkeypatch.setitem(export.SCHEMAS, "articles", extra)
    assert "| `paywall` | `bool` | yes | Behind a paywall. |" in export.schema_markdown()
    assert export.schema_markdown() != (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")


def test_every_field_has_a_description():
    for schema in SCHEMAS.values():
        descriptions = json.loads(schema.metadata[b"newsbeam.descriptions"])
        for field in schema:
            assert field.metadata and field.metadata[b"description"].strip(), field.name
            assert descriptions[field.name] == field.metadata[b"description"].decode()


# --- Parquet metadata -------------------------------------------------------------

def _article(**kw) -> Article:
    base = dict(url="https://example.org/a", feed_url="https://example.org/feed",
                fetched_at=dt.datetime(2025, 3, 18, 12, tzinfo=UTC), text="Bonjour.",
                article_id="a1", title="Titre", authors=["A B"], language="fr",
                published_at=dt.datetime(2025, 3, 18, 10, tzinfo=UTC),
                removed_blocks=[{"kind": "nav", "text": "Menu"}])
    base.update(kw)
    return Article(**base)


def test_parquet_file_carries_schema_and_descriptions(tmp_path):
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pylist([article_to_row(_article())], schema=ARTICLE_SCHEMA), path,
                   compression="zstd")
    schema = pq.read_schema(path)
    assert schema.metadata[b"newsbeam.schema_version"].decode() == SCHEMA_VERSION
    assert schema.metadata[b"newsbeam.schema"] == b"articles"
    assert json.loads(schema.metadata[b"newsbeam.descriptions"])["title"].startswith("Headline")
    assert schema.field("title").metadata[b"description"].startswith(b"Headline")
    assert contract(schema) == contract(ARTICLE_SCHEMA)


# --- exports ------------------------------------------------------------------------

def test_bigquery_schema_shapes():
    fields = {f["name"]: f for f in bigquery_schema(ARTICLE_SCHEMA)}
    assert list(fields) == ARTICLE_SCHEMA.names
    assert fields["article_id"] == {"name": "article_id", "type": "STRING", "mode": "REQUIRED",
                                    "description": ARTICLE_SCHEMA.field("article_id").metadata[b"description"].decode()}
    assert fields["authors"]["mode"] == "REPEATED" and fields["authors"]["type"] == "STRING"
    assert fields["published_at"]["type"] == "TIMESTAMP"
    assert fields["word_count"]["type"] == "INTEGER"
    assert fields["language_probability"]["type"] == "FLOAT"
    blocks = fields["removed_blocks"]
    assert blocks["type"] == "RECORD" and blocks["mode"] == "REPEATED"
    assert [f["name"] for f in blocks["fields"]] == ["kind", "text"]
    assert {f["name"] for f in bigquery_schema(REJECT_SCHEMA)} == set(REJECT_SCHEMA.names)


def test_bigquery_json_files_match_schemas():
    for table, schema in SCHEMAS.items():
        on_disk = json.loads((ROOT / "docs" / f"bigquery_{table}.json").read_text(encoding="utf-8"))
        assert on_disk == bigquery_schema(schema)


def test_bigquery_rejects_unknown_types():
    with pytest.raises(ValueError):
        bigquery_schema(pa.schema([pa.field("x", pa.binary())]))


def test_spark_types_and_view():
    assert spark_type(ARTICLE_SCHEMA.field("removed_blocks").type) == "ARRAY<STRUCT<kind: STRING, text: STRING>>"
    assert spark_type(pa.int32()) == "INT"
    sql = spark_view_sql("gs://bucket/news")
    assert "PARTITIONED BY (date, lang)" in sql
    assert "LOCATION 'gs://bucket/news/articles'" in sql
    for name in ARTICLE_SCHEMA.names:
        assert f"\n  {name} " in sql
    assert "\\'WASHINGTON\\'" in sql  # Spark escapes quotes with a backslash


def _write_dataset(root: pathlib.Path, schema: pa.Schema = ARTICLE_SCHEMA) -> None:
    rows = [article_to_row(_article(article_id=f"a{i}", url=f"https://example.org/{i}",
                                    title=f"Titre {i}")) for i in range(3)]
    folder = root / "articles" / "date=2025-03-18" / "lang=fr"
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=ARTICLE_SCHEMA)
    pq.write_table(table.select([n for n in schema.names if n in table.column_names]),
                   folder / "part-r1-00000.parquet")
    reject_dir = root / "rejects" / "date=2025-03-18"
    reject_dir.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{
        "url": "https://example.org/x", "stage": "fetch", "reason": "http_404",
        "rejected_at": dt.datetime(2025, 3, 18, tzinfo=UTC), "schema_version": SCHEMA_VERSION,
        "pipeline_version": "0"}], schema=REJECT_SCHEMA), reject_dir / "part-r1-00000.parquet")


def test_duckdb_views_read_the_dataset(tmp_path):
    _write_dataset(tmp_path)
    con = duckdb.connect()
    con.execute(duckdb_view_sql(str(tmp_path), "articles"))
    con.execute(duckdb_view_sql(str(tmp_path), "rejects"))
    rows = con.execute("SELECT date, lang, count(*), min(title) FROM articles GROUP BY ALL").fetchall()
    assert rows == [(dt.date(2025, 3, 18), "fr", 3, "Titre 0")]
    assert con.execute("SELECT reason FROM rejects").fetchall() == [("http_404",)]


def test_duckdb_view_reads_older_minor_files_with_union_by_name(tmp_path):
    _write_dataset(tmp_path)
    newer = tmp_path / "articles" / "date=2025-03-19" / "lang=fr"
    newer.mkdir(parents=True)
    row = article_to_row(_article(article_id="b", published_at=dt.datetime(2025, 3, 19, tzinfo=UTC)))
    row["paywall"] = True
    pq.write_table(pa.Table.from_pylist([row], schema=ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_()))),
                   newer / "part-r2-00000.parquet")
    con = duckdb.connect()
    con.execute(duckdb_view_sql(str(tmp_path)))
    assert con.execute("SELECT count(*), count(paywall) FROM articles").fetchone() == (4, 1)


# --- compatibility --------------------------------------------------------------------

def test_current_schema_is_compatible_with_frozen_contract():
    frozen = load_contract(SCHEMA_VERSION)
    assert frozen is not None, (
        f"no frozen contract for major {SCHEMA_VERSION.split('.')[0]}: "
        "run python scripts/gen_schema_docs.py --freeze")
    assert check_compatible(frozen, SCHEMAS, SCHEMA_VERSION) == []


def _frozen() -> dict:
    return {"schema_version": "1.0", "tables": {t: contract(s) for t, s in SCHEMAS.items()}}


def _with_articles(schema: pa.Schema) -> dict[str, pa.Schema]:
    return {"articles": schema, "rejects": REJECT_SCHEMA}


def test_checker_accepts_new_nullable_column_with_minor_bump():
    schema = ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_()))
    assert check_compatible(_frozen(), _with_articles(schema), "1.1") == []


def test_checker_wants_a_minor_bump_for_new_columns():
    schema = ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_()))
    problems = check_compatible(_frozen(), _with_articles(schema), "1.0")
    assert len(problems) == 1 and "without raising the minor version" in problems[0]


def test_checker_rejects_removed_column():
    schema = ARTICLE_SCHEMA.remove(ARTICLE_SCHEMA.get_field_index("dateline"))
    assert check_compatible(_frozen(), _with_articles(schema), "1.1") == ["articles.dateline: column removed"]


def test_checker_rejects_type_change():
    index = ARTICLE_SCHEMA.get_field_index("word_count")
    schema = ARTICLE_SCHEMA.set(index, pa.field("word_count", pa.int64()))
    assert check_compatible(_frozen(), _with_articles(schema), "1.1") == [
        "articles.word_count: type changed int32 -> int64"]


def test_checker_rejects_nullability_change_and_required_new_column():
    index = ARTICLE_SCHEMA.get_field_index("title")
    schema = ARTICLE_SCHEMA.set(index, pa.field("title", pa.string(), nullable=False))
    schema = schema.append(pa.field("must", pa.string(), nullable=False))
    problems = check_compatible(_frozen(), _with_articles(schema), "1.1")
    assert "articles.title: nullable changed True -> False" in problems
    assert "articles.must: new column must be nullable" in problems


def test_checker_rejects_major_change_and_removed_table():
    problems = check_compatible(_frozen(), {"articles": ARTICLE_SCHEMA}, "2.0")
    assert any("not major 1" in p for p in problems)
    assert "rejects: table removed" in problems



def test_sink_files_carry_the_contract(tmp_path):
    """What the writer leaves on disk is what docs/schema.md promises."""
    from transforms.write import write_parquet_files

    rows = [article_to_row(_article(article_id=f"a{i}", url=f"https://example.org/{i}",
                                    published_at=dt.datetime(2025, 3, 18, 23 - i, tzinfo=UTC)))
            for i in range(5)]
    paths = write_parquet_files(rows, schema=ARTICLE_SCHEMA, output_dir=str(tmp_path / "articles"),
                                partition="date=2025-03-18/lang=fr", run_id="r1", sort_key="published_at")
    assert len(paths) == 1
    path = pathlib.Path(paths[0])
    assert path.parent.relative_to(tmp_path).as_posix() == "articles/date=2025-03-18/lang=fr"
    schema = pq.read_schema(path)
    assert contract(schema) == contract(ARTICLE_SCHEMA)
    assert schema.metadata[b"newsbeam.schema_version"].decode() == SCHEMA_VERSION
    assert json.loads(schema.metadata[b"newsbeam.descriptions"]) == json.loads(
        ARTICLE_SCHEMA.metadata[b"newsbeam.descriptions"])
    column = pq.ParquetFile(path).metadata.row_group(0).column(ARTICLE_SCHEMA.get_field_index("published_at"))
    assert column.compression == "ZSTD" and column.statistics.has_min_max
    published = pq.read_table(path).column("published_at").to_pylist()
    assert published == sorted(published)
