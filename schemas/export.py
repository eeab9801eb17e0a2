"""Everything a reader of the dataset gets from `schemas.article`, derived, never typed twice.

- `bigquery_schema(schema)`: the BigQuery JSON schema (`bq load --schema=...`).
- `duckdb_view_sql(dataset)` / `spark_view_sql(dataset)`: views over the Parquet.
- `schema_markdown()`: the text of `docs/schema.md`.
- `contract(schema)` / `check_compatible(frozen, schema, version)`: the schema
  contract. Within a major `SCHEMA_VERSION` a new schema may only add nullable
  columns to the snapshot frozen in `schemas/contract/v<major>.json`.

`scripts/gen_schema_docs.py` writes the generated files; the tests fail when
they differ from what this module produces.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Optional

import pyarrow as pa

from schemas.article import ARTICLE_SCHEMA, REJECT_SCHEMA, SCHEMA_VERSION

__all__ = [
    "SCHEMAS",
    "PARTITIONS",
    "CONTRACT_DIR",
    "type_name",
    "bigquery_schema",
    "spark_type",
    "duckdb_view_sql",
    "spark_view_sql",
    "schema_markdown",
    "generated_files",
    "contract",
    "contract_path",
    "load_contract",
    "check_compatible",
]

SCHEMAS: dict[str, pa.Schema] = {"articles": ARTICLE_SCHEMA, "rejects": REJECT_SCHEMA}

# Hive partition columns: in the path only, never inside the files.
PARTITIONS: dict[str, list[tuple[str, str]]] = {
    "articles": [
        ("date", "Publication day in UTC (`published_at`, else `fetched_at`), YYYY-MM-DD."),
        ("lang", "Value of `language` ('und' when undetermined)."),
    ],
    "rejects": [("date", "Day of the failure in UTC (`at`), YYYY-MM-DD.")],
}

CONTRACT_DIR = pathlib.Path(__file__).parent / "contract"


def _description(field: pa.Field) -> str:
    return (field.metadata or {}).get(b"description", b"").decode()


def type_name(type_: pa.DataType) -> str:
    """A short, stable spelling of an Arrow type: `string`, `list<string>`, `timestamp[us, UTC]`."""
    if pa.types.is_list(type_):
        return f"list<{type_name(type_.value_type)}>"
    if pa.types.is_struct(type_):
        inner = ", ".join(f"{f.name}: {type_name(f.type)}" for f in type_)
        return f"struct<{inner}>"
    if pa.types.is_timestamp(type_):
        return f"timestamp[{type_.unit}, {type_.tz}]" if type_.tz else f"timestamp[{type_.unit}]"
    return str(type_)


# --- BigQuery -----------------------------------------------------------------

def _bigquery_type(type_: pa.DataType) -> str:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "STRING"
    if pa.types.is_integer(type_):
        return "INTEGER"
    if pa.types.is_floating(type_):
        return "FLOAT"
    if pa.types.is_boolean(type_):
        return "BOOLEAN"
    if pa.types.is_timestamp(type_):
        return "TIMESTAMP"
    if pa.types.is_date(type_):
        return "DATE"
    if pa.types.is_struct(type_):
        return "RECORD"
    raise ValueError(f"no BigQuery type for {type_}")


def _bigquery_field(name: str, type_: pa.DataType, nullable: bool, description: str) -> dict[str, Any]:
    mode = "NULLABLE" if nullable else "REQUIRED"
    if pa.types.is_list(type_):
        mode, type_ = "REPEATED", type_.value_type
    field: dict[str, Any] = {"name": name, "type": _bigquery_type(type_), "mode": mode}
    if description:
        field["description"] = description
    if pa.types.is_struct(type_):
        field["fields"] = [_bigquery_field(f.name, f.type, f.nullable, _description(f)) for f in type_]
    return field


def bigquery_schema(schema: pa.Schema, partitions: Optional[list[tuple[str, str]]] = None) -> list[dict[str, Any]]:
    """The BigQuery JSON schema of `schema`; lists become REPEATED (null lists load as empty).

    Args:
      schema: an Arrow schema with a `description` in each field's metadata.
      partitions: (name, description) of Hive partition columns to append, typed STRING.
    """
    fields = [_bigquery_field(f.name, f.type, f.nullable, _description(f)) for f in schema]
    for name, description in partitions or []:
        fields.append({"name": name, "type": "STRING", "mode": "NULLABLE", "description": description})
    return fields


# --- DuckDB and Spark ---------------------------------------------------------

def spark_type(type_: pa.DataType) -> str:
    """The Spark SQL spelling of an Arrow type."""
    if pa.types.is_list(type_):
        return f"ARRAY<{spark_type(type_.value_type)}>"
    if pa.types.is_struct(type_):
        return "STRUCT<" + ", ".join(f"{f.name}: {spark_type(f.type)}" for f in type_) + ">"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "STRING"
    if pa.types.is_int32(type_):
        return "INT"
    if pa.types.is_int64(type_):
        return "BIGINT"
    if pa.types.is_float64(type_):
        return "DOUBLE"
    if pa.types.is_boolean(type_):
        return "BOOLEAN"
    if pa.types.is_timestamp(type_):
        return "TIMESTAMP"
    raise ValueError(f"no Spark type for {type_}")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _spark_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def duckdb_view_sql(dataset: str, table: str = "articles") -> str:
    """`CREATE VIEW` statements for DuckDB over `dataset/<table>/**/*.parquet`.

    `union_by_name` lets files of an older minor schema version (fewer
    columns) be read together with newer ones.
    """
    dataset = dataset.rstrip("/")
    hive_types = ", ".join(f"'{name}': {'DATE' if name == 'date' else 'VARCHAR'}"
                           for name, _ in PARTITIONS[table])
    return (
        f"CREATE OR REPLACE VIEW {table} AS\n"
        f"SELECT * FROM read_parquet({_sql_string(f'{dataset}/{table}/**/*.parquet')},\n"
        f"    hive_partitioning = true, union_by_name = true,\n"
        f"    hive_types = {{{hive_types}}});\n"
    )


def spark_view_sql(dataset: str, table: str = "articles") -> str:
    """Spark SQL: an external table with the full column list, and a quick temporary view."""
    dataset = dataset.rstrip("/")
    schema = SCHEMAS[table]
    columns = [f"  {f.name} {spark_type(f.type)}{'' if f.nullable else ' NOT NULL'}"
               f" COMMENT {_spark_string(_description(f))}" for f in schema]
    columns += [f"  {name} STRING COMMENT {_spark_string(text)}" for name, text in PARTITIONS[table]]
    names = ", ".join(name for name, _ in PARTITIONS[table])
    return (
        f"-- Spark: external table (run MSCK REPAIR TABLE after new partitions appear)\n"
        f"CREATE TABLE IF NOT EXISTS newsbeam_{table} (\n" + ",\n".join(columns) + "\n)\n"
        f"USING parquet\nPARTITIONED BY ({names})\n"
        f"LOCATION {_spark_string(f'{dataset}/{table}')};\n"
        f"MSCK REPAIR TABLE newsbeam_{table};\n\n"
        f"-- Spark: or a temporary view that discovers columns and partitions itself\n"
        f"CREATE OR REPLACE TEMPORARY VIEW {table}\n"
        f"USING parquet OPTIONS (path {_spark_string(f'{dataset}/{table}')}, mergeSchema 'true');\n"
    )


# --- docs/schema.md -----------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_table(schema: pa.Schema, partitions: list[tuple[str, str]]) -> list[str]:
    lines = ["| column | type | nullable | description |", "|---|---|---|---|"]
    for f in schema:
        lines.append(f"| `{f.name}` | `{type_name(f.type)}` | {'yes' if f.nullable else '**no**'} "
                     f"| {_md_cell(_description(f))} |")
    for name, text in partitions:
        lines.append(f"| `{name}` | partition (path) | no | {_md_cell(text)} |")
    return lines


def schema_markdown(dataset: str = "DIR") -> str:
    """The text of `docs/schema.md`, generated from `schemas.article`."""
    major = SCHEMA_VERSION.split(".")[0]
    out = [
        "<!-- Generated by scripts/gen_schema_docs.py from schemas/article.py. Do not edit by hand. -->",
        "# Dataset schema",
        "",
        f"Schema version **{SCHEMA_VERSION}**. The columns below are the whole contract: "
        "`schemas/article.py` declares them once, and this page, the BigQuery schemas "
        "(`docs/bigquery_articles.json`, `docs/bigquery_rejects.json`) and the metadata of "
        "every Parquet file are generated from it.",
        "",
        "## Layout",
        "",
        "```",
        f"{dataset}/articles/date=YYYY-MM-DD/lang=xx/part-<run_id>-<n>.parquet",
        f"{dataset}/rejects/date=YYYY-MM-DD/part-<run_id>-<n>.parquet",
        f"{dataset}/_runs/<run_id>.json        one manifest per run (`newsbeam runs {dataset}`)",
        "```",
        "",
        "- Files are Parquet, zstd-compressed, with column statistics; rows are sorted by "
        "`published_at` (rejects: `at`) within a file.",
        "- Partition columns (`date`, `lang`) are in the path only (Hive style); read with "
        "hive partitioning on.",
        "- Files appear by an atomic rename: a reader never sees a partial file. Names starting "
        "with `_` or `.` are not data.",
        "- Each file's Arrow schema metadata holds `newsbeam.schema`, "
        "`newsbeam.schema_version` and `newsbeam.descriptions` (a JSON object column -> "
        "description); each field also carries its own `description`.",
        "- Timestamps are UTC (`timestamp[us, UTC]`).",
        "",
        "## Compatibility",
        "",
        f"Within major version {major}, a new minor version may only **add nullable columns**. "
        "No column is removed, renamed, retyped or made required before the next major "
        "version. Read with `union_by_name` (DuckDB) or `mergeSchema` (Spark) so files of "
        "older minor versions, which lack the newer columns, read as nulls. The frozen "
        f"contract of major {major} is `schemas/contract/v{major}.json`; a test fails on an "
        "incompatible change.",
        "",
    ]
    for table, schema in SCHEMAS.items():
        out += [f"## `{table}`", ""]
        out += _field_table(schema, PARTITIONS[table])
        out.append("")
    out += [
        "## Load it elsewhere",
        "",
        "DuckDB:",
        "",
        "```sql",
        duckdb_view_sql(dataset, "articles") + duckdb_view_sql(dataset, "rejects").rstrip("\n"),
        "```",
        "",
        "Spark SQL:",
        "",
        "```sql",
        spark_view_sql(dataset, "articles").rstrip("\n"),
        "```",
        "",
        "BigQuery: `docs/bigquery_articles.json` and `docs/bigquery_rejects.json` hold the "
        "columns of the files (lists are REPEATED, so a null list loads as an empty one); a "
        "Hive-partitioned load adds `date` and `lang` itself:",
        "",
        "```sh",
        "bq load --source_format=PARQUET --hive_partitioning_mode=AUTO \\",
        f"  --hive_partitioning_source_uri_prefix=gs://BUCKET/{dataset}/articles \\",
        f"  BQ_DATASET.articles 'gs://BUCKET/{dataset}/articles/*' docs/bigquery_articles.json",
        "```",
        "",
        "More reading examples (DuckDB, pandas, Polars, pyarrow.dataset): `docs/reading.md`.",
        "",
    ]
    return "\n".join(out)


def generated_files() -> dict[str, str]:
    """Path relative to the repository root -> content, for every generated file."""
    files = {"docs/schema.md": schema_markdown()}
    for table, schema in SCHEMAS.items():
        files[f"docs/bigquery_{table}.json"] = json.dumps(
            bigquery_schema(schema), indent=2, ensure_ascii=False) + "\n"
    return files


# --- the contract ---------------------------------------------------------------

def contract(schema: pa.Schema) -> list[dict[str, Any]]:
    """The part of a schema readers rely on: each column's name, type and nullability."""
    return [{"name": f.name, "type": type_name(f.type), "nullable": f.nullable} for f in schema]


def contract_path(version: str = SCHEMA_VERSION) -> pathlib.Path:
    return CONTRACT_DIR / f"v{version.split('.')[0]}.json"


def load_contract(version: str = SCHEMA_VERSION) -> Optional[dict[str, Any]]:
    """The frozen contract of `version`'s major version, or None when none is frozen."""
    path = contract_path(version)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def check_compatible(frozen: dict[str, Any], schemas: dict[str, pa.Schema],
                     version: str = SCHEMA_VERSION) -> list[str]:
    """Every way `schemas` at `version` breaks the frozen contract; empty when compatible.

    Allowed within a major version: new nullable columns (anywhere), with a
    minor version above the frozen one. Anything else is a problem: a column
    removed, retyped or with changed nullability, a new required column, a
    different major version, or new columns without a new minor version.
    """
    problems: list[str] = []
    frozen_version = _version(frozen["schema_version"])
    if _version(version)[0] != frozen_version[0]:
        problems.append(f"schema_version {version} is not major {frozen_version[0]}: freeze a new contract")
    for table, frozen_fields in frozen["tables"].items():
        if table not in schemas:
            problems.append(f"{table}: table removed")
            continue
        current = {c["name"]: c for c in contract(schemas[table])}
        for old in frozen_fields:
            new = current.pop(old["name"], None)
            if new is None:
                problems.append(f"{table}.{old['name']}: column removed")
                continue
            if new["type"] != old["type"]:
                problems.append(f"{table}.{old['name']}: type changed {old['type']} -> {new['type']}")
            if new["nullable"] != old["nullable"]:
                problems.append(f"{table}.{old['name']}: nullable changed {old['nullable']} -> {new['nullable']}")
        for name, added in current.items():
            if not added["nullable"]:
                problems.append(f"{table}.{name}: new column must be nullable")
        if current and _version(version) <= frozen_version:
            problems.append(f"{table}: columns {sorted(current)} added without raising the minor "
                            f"version above {frozen['schema_version']}")
    return problems
