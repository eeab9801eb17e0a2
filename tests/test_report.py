"""`newsbeam report DIR --out report.html`: the page's data, its HTML, and what Chromium renders."""
from __future__ import annotations

import datetime as dt
import hashlib
import html.parser
import os
import pathlib
import re
import shutil
import subprocess
import unicodedata
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import cli
from pipelines.manifest import build_manifest, write_manifest
from pipelines.report import build_report, load_articles, render_html, write_report
from schemas import ARTICLE_SCHEMA, REJECT_SCHEMA, article_to_row, reject_to_row
from schemas.records import Article, Reject
from tests.support.golden import load_golden

UTC = dt.timezone.utc


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _row(article_id: str, title: str, published: str, site: str, domain: str, story: Optional[str],
         lang: str = "fr", duplicate_of: Optional[str] = None, similarity: Optional[float] = None,
         flags: Optional[list[str]] = None) -> dict:
    when = _t(published)
    row = article_to_row(Article(
        url=f"https://{domain}/{article_id}.html", feed_url=f"https://{domain}/feed.xml",
        fetched_at=when + dt.timedelta(minutes=20), text="…", article_id=article_id,
        canonical_url=f"https://{domain}/{article_id}.html", source_domain=domain, site_name=site,
        title=title, language=lang, published_at=when, story_id=story, duplicate_of=duplicate_of,
        duplicate_similarity=similarity, quality_flags=flags or [], word_count=300, run_id="r1"))
    row["date"], row["lang"] = when.date().isoformat(), lang
    return row


def write_dataset(root: pathlib.Path, rows: list[dict], rejects: list[Reject] = (),
                  manifests: list[dict] = ()) -> pathlib.Path:
    """Writes rows (each with its `date` and `lang`) the way the sink lays them out."""
    by_partition: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        row = dict(row)
        key = (row.pop("date"), row.pop("lang"))
        by_partition.setdefault(key, []).append(row)
    for (date, lang), part in by_partition.items():
        folder = root / "articles" / f"date={date}" / f"lang={lang}"
        folder.mkdir(parents=True, exist_ok=True)
        part.sort(key=lambda r: r["published_at"])
        pq.write_table(pa.Table.from_pylist(part, schema=ARTICLE_SCHEMA), folder / "part-r1-00000.parquet",
                       compression="zstd")
    for reject in rejects:
        folder = root / "rejects" / f"date={reject.rejected_at.date().isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        n = len(list(folder.glob("*.parquet")))
        pq.write_table(pa.Table.from_pylist([reject_to_row(reject)], schema=REJECT_SCHEMA),
                       folder / f"part-r1-{n:05d}.parquet")
    for manifest in manifests:
        write_manifest(str(root), manifest)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _story_id(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:16]


def golden_rows() -> tuple[list[dict], list[dict]]:
    """Article rows shaped like the golden run's (read from shared/ at run time), and the docs."""
    docs = load_golden()
    rows = []
    for doc in docs:
        ascii_name = unicodedata.normalize("NFKD", doc["site_name"]).encode("ascii", "ignore").decode()
        domain = re.sub(r"[^a-z]+", "-", ascii_name.lower()).strip("-") + ".example"
        rows.append(_row(f"g{doc['slug']}", doc["title"], doc["published"], doc["site_name"], domain,
                         _story_id(doc["expect"]["story"]), lang=doc["expect"]["language"],
                         flags=["mt_garbage"] if doc["expect"].get("quality_flagged") else []))
    return rows, docs


def _manifest(run_id: str, start: str, articles: int, rejects: dict[str, int]) -> dict:
    counters = {"write.articles_rows": articles, "write.rejects_rows": sum(rejects.values())}
    counters.update({f"rejects.{k}": v for k, v in rejects.items()})
    started = _t(start)
    return build_manifest(run_id=run_id, output="out", started_at=started,
                          finished_at=started + dt.timedelta(seconds=42), status="succeeded",
                          options={}, counters=counters, feeds=1)


def mixed_rows() -> list[dict]:
    """Two stories with copies (one a copy of a copy), an English story, an orphan copy, no story."""
    return [
        _row("a1", "Storm hits the coast", "2025-03-17T08:00:00Z", "Coast News", "coast.example", "s-storm", "en"),
        _row("a2", "Storm hits the coast", "2025-03-17T09:00:00Z", "Wire Copy", "wire.example", "s-storm", "en",
             duplicate_of="a1", similarity=1.0),
        _row("a3", "Storm hits coast (updated)", "2025-03-17T10:00:00Z", "Aggregator", "agg.example", "s-storm",
             "en", duplicate_of="a2", similarity=0.93),
        _row("a4", "Coast cleanup begins", "2025-03-19T07:00:00Z", "Coast News", "coast.example", "s-storm", "en"),
        _row("b1", "Élections municipales : premiers résultats", "2025-03-19T21:00:00Z", "Le Quotidien",
             "quotidien.example", "s-vote", "fr"),
        _row("b2", "Copie d'un article absent", "2025-03-19T22:00:00Z", "Le Relais", "relais.example", "s-vote",
             "fr", duplicate_of="gone"),
        _row("c1", "Ein Artikel ohne Geschichte", "2025-03-19T12:00:00Z", "Die Zeitung", "zeitung.example", None,
             "de"),
    ]


# --- the data ------------------------------------------------------------------------

def test_copies_fold_under_their_original_even_through_a_chain():
    report = build_report(mixed_rows(), [], [])
    storm = next(s for s in report.stories if s.story_id == "s-storm")
    assert [i.row["article_id"] for i in storm.items] == ["a1", "a4"]
    assert [c["article_id"] for c in storm.items[0].copies] == ["a2", "a3"]
    assert storm.article_count == 4
    assert storm.headline == "Storm hits the coast"
    assert storm.sources == ["Aggregator", "Coast News", "Wire Copy"]
    vote = next(s for s in report.stories if s.story_id == "s-vote")
    assert [i.row["article_id"] for i in vote.items] == ["b1", "b2"], "a copy of an absent article stands alone"
    assert report.totals == {"articles": 7, "originals": 5, "copies": 2, "stories": 3, "sources": 6,
                             "languages": 3, "rejects": 0, "runs": 0}
    assert report.stories[0].story_id == "s-storm"


def test_days_languages_sources_and_rejects():
    rejects = [{"stage": "fetch", "reason": "http_404"}] * 3 + [{"stage": "extract", "reason": "empty_text"}]
    report = build_report(mixed_rows(), rejects, [], top_sources=2)
    assert report.per_day == [("2025-03-17", 3), ("2025-03-18", 0), ("2025-03-19", 4)]
    assert report.period == ("2025-03-17", "2025-03-19")
    assert report.per_language == [("en", 4), ("fr", 2), ("de", 1)]
    assert report.rejects_by_reason == [("fetch/http_404", 3), ("extract/empty_text", 1)]
    assert [s["source"] for s in report.sources] == ["Coast News", "Aggregator"]
    assert report.sources[0] == {"source": "Coast News", "domains": ["coast.example"], "articles": 2,
                                 "copies": 0, "stories": 1, "languages": ["en"]}


def test_rejects_fall_back_to_the_run_manifests():
    runs = [_manifest("r1", "2025-03-18T10:00:00Z", 3, {"fetch/http_404": 2}),
            _manifest("r2", "2025-03-19T10:00:00Z", 1, {"fetch/http_404": 1, "fetch/not_html": 4})]
    report = build_report(mixed_rows(), [], runs)
    assert report.rejects_by_reason == [("fetch/not_html", 4), ("fetch/http_404", 3)]
    assert report.totals["runs"] == 2


def test_load_articles_reads_partitions_and_filters_by_day(tmp_path):
    write_dataset(tmp_path, mixed_rows())
    rows = load_articles(str(tmp_path))
    assert sorted(r["article_id"] for r in rows) == ["a1", "a2", "a3", "a4", "b1", "b2", "c1"]
    assert {(r["article_id"], r["date"], r["lang"]) for r in rows} >= {("a1", "2025-03-17", "en")}
    assert "text" not in rows[0]
    assert sorted(r["article_id"] for r in load_articles(str(tmp_path), since="2025-03-18")) == [
        "a4", "b1", "b2", "c1"]
    assert sorted(r["article_id"] for r in load_articles(str(tmp_path), until="2025-03-17")) == ["a1", "a2", "a3"]
    assert load_articles(str(tmp_path / "missing")) == []


# --- the HTML -------------------------------------------------------------------------

def test_page_is_self_contained_and_escaped():
    rows = mixed_rows()
    rows[0]["title"] = "<script>alert(1)</script> & co"
    rows[4]["url"] = rows[4]["canonical_url"] = "javascript:alert(1)"
    page = render_html(build_report(rows, [{"stage": "fetch", "reason": "http_404"}], []))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "javascript:" not in page
    for asset in ("<link", "src=", "@import", "url(", "<iframe", "<img"):
        assert asset not in page, asset
    assert page.count("<svg") == 1 and page.count('class="hbars"') == 2
    assert '<span class="title">Élections municipales : premiers résultats</span>' in page, "shown, not linked"
    assert '<a href="https://coast.example/a4.html" rel="noopener noreferrer">Coast cleanup begins</a>' in page


def test_stories_beyond_the_limit_are_counted():
    page = render_html(build_report(mixed_rows(), [], []), max_stories=1)
    assert page.count('class="story"') == 1
    assert "and 2 more stories (3 articles) not shown" in page


# --- in a browser ---------------------------------------------------------------------

def chromium() -> str:
    """Debian's chromium; missing, it skips locally and fails in CI."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return binary


def run_chromium(page: pathlib.Path, profile: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local file, with no network features; returns the finished process."""
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}", *extra,
            page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


class _StoryParser(html.parser.HTMLParser):
    """Collects, per rendered story, the text of its article titles and of its copies."""

    def __init__(self):
        super().__init__()
        self.stories: list[dict] = []
        self._in: Optional[str] = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "article" and "story" in classes:
            self.stories.append({"id": attrs.get("data-story-id"), "headline": "", "titles": [], "copies": []})
        elif self.stories and tag == "h3":
            self._in = "headline"
        elif self.stories and tag == "span" and "title" in classes:
            self._in, self.stories[-1]["titles"] = "titles", self.stories[-1]["titles"] + [""]
        elif self.stories and tag == "li" and "copy" in classes:
            self._in, self.stories[-1]["copies"] = "copies", self.stories[-1]["copies"] + [""]
        if self._in:
            self._depth += 1

    def handle_endtag(self, tag):
        if self._in:
            self._depth -= 1
            if self._depth == 0:
                self._in = None

    def handle_data(self, data):
        if not self._in:
            return
        story = self.stories[-1]
        if self._in == "headline":
            story["headline"] += data
        else:
            story[self._in][-1] += data


def rendered_stories(dom: str) -> list[dict]:
    parser = _StoryParser()
    parser.feed(dom)
    return parser.stories


def test_golden_stories_render_in_chromium(tmp_path):
    rows, docs = golden_rows()
    dataset = write_dataset(
        tmp_path / "dataset", rows,
        rejects=[Reject(url="http://127.0.0.1/articles/disparue.html", stage="fetch", reason="http_404",
                        http_status=404, rejected_at=_t("2025-03-19T09:00:00Z"))],
        manifests=[_manifest("20250319T090000Z-golden", "2025-03-19T09:00:00Z", 5, {"fetch/http_404": 1})])
    out = tmp_path / "report.html"
    assert cli.main(["report", str(dataset), "--out", str(out), "--title", "Golden run"]) == 0

    done = run_chromium(out, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<svg" in dom and "Golden run" in dom
    stories = rendered_stories(dom)
    by_title = {title: s["id"] for s in stories for title in s["titles"]}
    for doc in docs:
        assert doc["title"] in by_title, doc["title"]
    story_of = {doc["slug"]: by_title[doc["title"]] for doc in docs}
    assert story_of["000"] == story_of["001"] == story_of["003"] == story_of["004"]
    assert story_of["002"] != story_of["000"]
    assert len(stories) == 2
    assert stories[0]["headline"] == next(d["title"] for d in docs if d["slug"] == "003"), \
        "the larger story comes first, headed by its earliest article"
    assert "fetch" in dom and "http_404" in dom
    assert "20250319T090000Z-golden" in dom


def test_copies_render_folded_under_their_original_in_chromium(tmp_path):
    dataset = write_dataset(tmp_path / "dataset", mixed_rows())
    out = tmp_path / "report.html"
    write_report(str(dataset), str(out))
    done = run_chromium(out, tmp_path / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    storm = next(s for s in rendered_stories(done.stdout) if s["id"] == "s-storm")
    assert storm["titles"] == ["Storm hits the coast", "Coast cleanup begins"]
    assert [c.split("\n")[0] for c in storm["copies"]] and len(storm["copies"]) == 2
    assert "Storm hits coast (updated)" in storm["copies"][1]
    assert "2 copies: Aggregator, Wire Copy" in done.stdout


def test_screenshot_has_content(tmp_path):
    rows, _ = golden_rows()
    dataset = write_dataset(tmp_path / "dataset", rows + mixed_rows())
    out = tmp_path / "report.html"
    write_report(str(dataset), str(out))
    shot = tmp_path / "report.png"
    done = run_chromium(out, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1800")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 1800)
    assert len(data) > 40_000, "a blank page compresses to a few KB"


def assert_report_shows_golden_stories(dataset: pathlib.Path, docs: list[dict], workdir: pathlib.Path) -> str:
    """Renders the report of a golden dataset in Chromium and checks the golden story grouping.

    000, 001, 003 and 004 are one story and 002 another; every title renders.
    Returns the rendered DOM.
    """
    out = workdir / "report.html"
    assert cli.main(["report", str(dataset), "--out", str(out)]) == 0
    done = run_chromium(out, workdir / "profile", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    by_title = {title: s["id"] for s in rendered_stories(done.stdout) for title in s["titles"]}
    story_of = {}
    for doc in docs:
        assert doc["title"] in by_title, (doc["slug"], sorted(by_title))
        story_of[doc["slug"]] = by_title[doc["title"]]
    assert story_of["000"] == story_of["001"] == story_of["003"] == story_of["004"], story_of
    assert story_of["002"] != story_of["000"], story_of
    assert "4 articles · 4 sources" in done.stdout, "each golden site counts as a source"
    return done.stdout


@pytest.mark.slow
def test_report_of_the_real_golden_run(tmp_path):
    """The golden site served on 127.0.0.1, `newsbeam ingest`, then the report in Chromium."""
    import subprocess as sp
    import sys

    from tests.support.golden import GoldenSite

    chromium()
    dataset = tmp_path / "dataset"
    missing = {"title": "Une page disparue", "path": "/articles/disparue.html",
               "published": "2025-03-18T12:00:00Z"}
    with GoldenSite(extra_items=[missing]) as site:
        done = sp.run([sys.executable, "-m", "pipelines.cli", "ingest", *site.ingest_args(dataset)],
                      capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        docs = site.docs
    dom = assert_report_shows_golden_stories(dataset, docs, tmp_path)
    rejects = dom[dom.index('id="rejects"'):]
    assert "fetch" in rejects and "404" in rejects, "the missing page shows among the rejects"


def test_cli_period_filter_and_empty_dataset(tmp_path, capsys):
    dataset = write_dataset(tmp_path / "dataset", mixed_rows())
    out = tmp_path / "march19.html"
    assert cli.main(["report", str(dataset), "--out", str(out), "--since", "2025-03-18",
                     "--until", "2025-03-19"]) == 0
    assert "4 articles in 3 stories" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert "Coast cleanup begins" in page and "Storm hits the coast" not in page
    assert "Period 2025-03-19 – 2025-03-19" not in page and "Period 2025-03-19" in page

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["report", str(empty), "--out", str(tmp_path / "empty.html")]) == 0
    page = (tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "No articles." in page and "No run manifests." in page
