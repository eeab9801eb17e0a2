"""The golden fixtures: where they are, a site built from them, and the checks.

The fixtures are read from ../shared/fixtures/golden (or $NEWSBEAM_GOLDEN_DIR)
at run time; nothing of them is stored in this repository.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import html
import importlib.util
import json
import os
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

import pytest

from pipelines.site_server import Route, SiteServer

REPO = Path(__file__).resolve().parents[2]


def golden_dir() -> Path:
    """The golden folder; a missing folder skips locally and fails in CI."""
    folder = Path(os.environ.get("NEWSBEAM_GOLDEN_DIR") or REPO.parent / "shared" / "fixtures" / "golden")
    if not (folder / "golden.json").is_file():
        message = f"golden fixtures not found at {folder}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


def eval_dir() -> Path:
    folder = Path(os.environ.get("NEWSBEAM_EVAL_DIR") or REPO.parent / "shared" / "eval")
    if not folder.is_dir():
        message = f"evaluation data not found at {folder}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


def eval_pages(folder: str, limit: int) -> list[tuple[str, str]]:
    """(html, url) of the first `limit` pages of an evaluation set, read with its own `load.py`."""
    spec = importlib.util.spec_from_file_location(f"eval_{folder.replace('-', '_')}_for_tests",
                                                  eval_dir() / folder / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(item["html"], item["url"]) for item in module.load()][:limit]


def load_golden() -> list[dict]:
    """golden.json's documents, each with its `text` and a `slug`."""
    folder = golden_dir()
    docs = json.loads((folder / "golden.json").read_text(encoding="utf-8"))["documents"]
    for doc in docs:
        doc["text"] = (folder / doc["file"]).read_text(encoding="utf-8")
        doc["slug"] = doc["file"].split("_")[0]
    return docs


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def article_page(doc: dict) -> str:
    """An HTML page for one golden document, with site chrome around the article."""
    site = html.escape(doc["site_name"])
    title = html.escape(doc["title"])
    paragraphs = "\n".join(f"<p>{html.escape(line)}</p>"
                           for line in doc["text"].splitlines() if line.strip())
    headline = "" if doc.get("headline_in_text") else f"<h1>{title}</h1>"
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>{title} | {site}</title>
<meta property="og:site_name" content="{site}">
<meta property="og:type" content="article">
</head><body>
<header><div class="logo">{site}</div>
<nav><ul><li><a href="/">Accueil</a></li><li><a href="/monde">Monde</a></li>
<li><a href="/politique">Politique</a></li><li><a href="/economie">Économie</a></li>
<li><a href="/contact">Contact</a></li></ul></nav></header>
<main><article>
{headline}
<div class="article-body">
{paragraphs}
</div>
</article>
<aside><h3>Les plus lus</h3><ul><li><a href="/a1">Un autre article du jour</a></li>
<li><a href="/a2">Météo : le printemps arrive</a></li></ul></aside></main>
<footer><p>© 2025 {site}. Tous droits réservés.</p><a href="/mentions">Mentions légales</a></footer>
</body></html>"""


def rss_feed(items: list[dict], base: str, title: str = "Golden") -> str:
    """An RSS 2.0 feed; items carry title, link and pubDate."""
    entries = []
    for item in items:
        pub = ""
        if item.get("published"):
            pub = f"<pubDate>{email.utils.format_datetime(_parse_time(item['published']))}</pubDate>"
        entries.append(
            f"<item><title>{escape(item['title'])}</title><link>{escape(base + item['path'])}</link>"
            f"<guid>{escape(base + item['path'])}</guid>{pub}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(base)}/</link><language>fr</language>"
            f"<description>{escape(title)}</description>{''.join(entries)}</channel></rss>")


class GoldenSite:
    """The golden documents served on 127.0.0.1: /feed.xml and /articles/<slug>.html."""

    def __init__(self, extra_items: Optional[list[dict]] = None):
        self.docs = load_golden()
        self.server = SiteServer()
        self.extra_items = extra_items or []

    def __enter__(self) -> "GoldenSite":
        self.server.start()
        base = f"http://{self.server.host_port}"
        items = []
        for doc in self.docs:
            path = f"/articles/{doc['slug']}.html"
            doc["url"] = base + path
            self.server.routes[path] = Route(article_page(doc).encode("utf-8"))
            items.append({"title": doc["title"], "path": path, "published": doc["published"]})
        items += self.extra_items
        self.server.routes["/feed.xml"] = Route(
            rss_feed(items, base).encode("utf-8"), "application/rss+xml; charset=utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    @property
    def feed_url(self) -> str:
        return self.server.url("/feed.xml")

    @property
    def host_port(self) -> str:
        return self.server.host_port

    def ingest_args(self, output: Path) -> list[str]:
        return ["--feed", self.feed_url, "--output", str(output), "--allow-host", self.host_port]


def read_articles(output: Path):
    """The articles of a dataset, read with DuckDB (hive partitioning), as dicts by URL."""
    import duckdb

    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{output}/articles/**/*.parquet', hive_partitioning=true)")
    cols = rel.columns
    return [dict(zip(cols, row)) for row in rel.fetchall()]


def assert_golden_dataset(output: Path, docs: list[dict], check_stories: bool = True) -> None:
    """Asserts every golden.json expectation on a dataset written from the golden site."""
    import pyarrow.dataset as ds

    rows = {row["url"]: row for row in read_articles(output)}
    assert len(rows) == len(docs), sorted(rows)
    table = ds.dataset(str(output / "articles"), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(docs)
    for doc in docs:
        row = rows[doc["url"]]
        exp = doc["expect"]
        label = doc["slug"]
        assert row["language"] == exp["language"], label
        assert str(row["date"]) == exp["partition"]["date"], (label, row["date"])
        assert row["lang"] == exp["partition"]["lang"], label
        assert row["title"] == doc["title"], (label, row["title"])
        assert row["published_at"] == _parse_time(doc["published"]), (label, row["published_at"])
        assert row["word_count"] and row["word_count"] > 50, label
        assert row["site_name"] == doc["site_name"], (label, row["site_name"])
        text = row["text"]
        if "authors" in exp:
            assert row["authors"] == exp["authors"], (label, row["authors"])
        if "quality_flagged" in exp:
            assert bool(row["quality_flags"]) == exp["quality_flagged"], (label, row["quality_flags"])
        if "text_must_start_with" in exp:
            assert text.startswith(exp["text_must_start_with"]), (label, text[:200])
        if "text_must_end_with" in exp:
            assert text.rstrip().endswith(exp["text_must_end_with"]), (label, text[-200:])
        if "text_must_not_end_with" in exp:
            assert not text.rstrip().endswith(exp["text_must_not_end_with"]), (label, text[-200:])
        for snippet in exp.get("text_must_contain", []):
            assert snippet in text, (label, snippet)
        for snippet in exp.get("text_must_not_contain", []):
            assert snippet not in text, (label, snippet)
        assert row["duplicate_of"] is None, (label, "none of the golden documents is a copy")
        assert row["schema_version"] and row["pipeline_version"]
    if check_stories:
        by_story: dict[str, set[str]] = {}
        for doc in docs:
            by_story.setdefault(doc["expect"]["story"], set()).add(rows[doc["url"]]["story_id"])
        for story, ids in by_story.items():
            assert len(ids) == 1 and None not in ids, (story, ids)
        all_ids = [next(iter(ids)) for ids in by_story.values()]
        assert len(set(all_ids)) == len(all_ids), by_story
