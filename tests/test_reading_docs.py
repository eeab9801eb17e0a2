"""Every Python and SQL example of docs/reading.md runs against a generated dataset."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
import re
import tomllib

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import ARTICLE_SCHEMA
from schemas.records import Reject
from tests.test_report import _manifest, _row, _t, mixed_rows, write_dataset

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reading.md"


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


BLOCKS = [b for b in code_blocks(DOC.read_text(encoding="utf-8")) if b[0] in ("python", "sql")]


def _depends_on(package: str) -> bool:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = project.get("dependencies", []) + [d for extra in project.get("optional-dependencies", {}).values()
                                              for d in extra]
    return any(re.match(rf"{package}\b", d) for d in deps)


@pytest.fixture
def news(tmp_path, monkeypatch):
    """`out/news` in the working directory: articles in two minor schema versions, rejects, a run."""
    rows = mixed_rows()
    newer = _row("n1", "Nouvelle colonne", "2025-03-20T10:00:00Z", "Le Quotidien", "quotidien.example", "s-new")
    dataset = write_dataset(
        tmp_path / "out" / "news", rows,
        rejects=[Reject(url="https://x.example/1", stage="fetch", reason="http_404", rejected_at=_t("2025-03-19T09:00:00Z")),
                 Reject(url="https://x.example/2", stage="extract", reason="empty_text",
                        rejected_at=_t("2025-03-19T09:01:00Z"))],
        manifests=[_manifest("20250319T090000Z-abc123", "2025-03-19T09:00:00Z", 7, {"fetch/http_404": 1})])
    folder = dataset / "articles" / "date=2025-03-20" / "lang=fr"
    folder.mkdir(parents=True)
    newer.pop("date"), newer.pop("lang")
    newer["paywall"] = True
    pq.write_table(pa.Table.from_pylist([newer], schema=ARTICLE_SCHEMA.append(pa.field("paywall", pa.bool_()))),
                   folder / "part-r2-00000.parquet")
    (dataset / "_state").mkdir()
    (dataset / "_state" / "seen.bin").write_bytes(b"\0not parquet")
    monkeypatch.chdir(tmp_path)
    return dataset


def test_doc_has_examples_for_every_reader():
    text = DOC.read_text(encoding="utf-8")
    code = "\n".join(c for _, c in BLOCKS)
    for needle in ("read_parquet('out/news/articles/**/*.parquet'", "hive_partitioning = true",
                   "pd.read_parquet", "pl.scan_parquet", "ds.dataset("):
        assert needle in code, needle
    assert len(BLOCKS) >= 7
    assert "## DuckDB" in text and "## pandas" in text and "## pyarrow.dataset" in text


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"{lang}-{i}" for i, (lang, _) in enumerate(BLOCKS)])
def test_example_runs(news, index):
    lang, code = BLOCKS[index]
    if lang == "sql":
        con = duckdb.connect()
        statements = [s.strip() for s in code.split(";") if re.sub(r"--[^\n]*", "", s).strip()]
        result = None
        for statement in statements:
            result = con.sql(statement)
        rows = result.fetchall()
        assert rows, "the last statement returns rows"
        output = repr(rows)
    else:
        if "import polars" in code and importlib.util.find_spec("polars") is None:
            assert not _depends_on("polars"), "polars is a dependency: it must be installed"
            pytest.skip("polars not installed (not a dependency)")
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, f"{DOC.name}[{index}]", "exec"), {"__name__": "reading_doc"})
        output = stdout.getvalue()
        assert output.strip(), "every example prints something"
    known = ("Storm hits the coast", "quotidien.example", "Le Quotidien", "http_404", "s-storm", "fr",
             "20250319T090000Z-abc123", "Nouvelle colonne")
    assert any(k in output for k in known) or re.search(r"\b[1-9]\d* (French )?articles\b", output), output


def test_examples_report_the_right_figures(news):
    """Spot checks of what the examples print, against the dataset the fixture wrote."""
    outputs = {}
    for index, (lang, code) in enumerate(BLOCKS):
        if lang != "python" or "import polars" in code:
            continue
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, f"{DOC.name}[{index}]", "exec"), {"__name__": "reading_doc"})
        outputs[index] = stdout.getvalue()
    text = "\n".join(outputs.values())
    assert "3 French articles" in text  # b1, b2 and the newer-version n1
    assert "8 articles in 5 files; 34 columns" in text  # 7 + the newer-version row; 31 + paywall + 2 partitions
    assert "20250319T090000Z-abc123 succeeded 7 articles" in text
    assert "Identifier shared by all articles reporting the same event." in text
