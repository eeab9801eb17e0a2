"""`newsbeam report DIR --out report.html`: one self-contained HTML page about a dataset.

The page has the stories of the period, each with its articles (title,
source, time) and their copies folded in under the original; charts of
articles per day and per language; rejects by reason; the largest sources;
and the runs. Everything is inline (CSS and SVG, no script, no external
asset), so the file can be mailed or opened offline.

Reading goes through `pyarrow.dataset` with Hive partitioning (local or
gs://); the page is built by pure functions (`build_report`, `render_html`)
that the tests call on plain rows.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import html
import sys
import urllib.parse
from typing import Any, Iterable, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipelines.runs import load_runs, run_row
from schemas.article import SCHEMA_VERSION, pipeline_version

__all__ = [
    "ArticleItem",
    "Story",
    "Report",
    "load_articles",
    "load_rejects",
    "source_of",
    "domain_of",
    "build_report",
    "svg_columns",
    "bar_list",
    "render_html",
    "write_report",
    "build_arg_parser",
    "main",
]

ARTICLE_COLUMNS = ("article_id", "url", "canonical_url", "title", "site_name", "source_domain",
                   "published_at", "fetched_at", "language", "story_id", "duplicate_of",
                   "duplicate_similarity", "word_count", "quality_flags")
REJECT_COLUMNS = ("url", "feed_url", "stage", "reason", "http_status", "rejected_at")
_UTC = dt.timezone.utc


# --- reading -------------------------------------------------------------------

def _dataset(path: str, partitions: list[str]) -> Optional[ds.Dataset]:
    partitioning = ds.partitioning(pa.schema([(p, pa.string()) for p in partitions]), flavor="hive")
    try:
        return ds.dataset(path, format="parquet", partitioning=partitioning,
                          ignore_prefixes=[".", "_"])
    except (FileNotFoundError, OSError):
        return None


def _read(path: str, partitions: list[str], columns: Iterable[str],
          since: Optional[str], until: Optional[str]) -> list[dict[str, Any]]:
    data = _dataset(path, partitions)
    if data is None:
        return []
    present = [c for c in list(columns) + partitions if c in data.schema.names]
    condition = None
    if since:
        condition = pc.field("date") >= since
    if until:
        upper = pc.field("date") <= until
        condition = upper if condition is None else condition & upper
    return data.to_table(columns=present, filter=condition).to_pylist()


def load_articles(dataset: str, since: Optional[str] = None, until: Optional[str] = None) -> list[dict[str, Any]]:
    """The article rows of `dataset` (without their text), with `date` and `lang` from the path."""
    return _read(f"{dataset.rstrip('/')}/articles", ["date", "lang"], ARTICLE_COLUMNS, since, until)


def load_rejects(dataset: str, since: Optional[str] = None, until: Optional[str] = None) -> list[dict[str, Any]]:
    """The reject rows of `dataset`, with `date` from the path."""
    return _read(f"{dataset.rstrip('/')}/rejects", ["date"], REJECT_COLUMNS, since, until)


# --- the report, as data ---------------------------------------------------------

@dataclasses.dataclass
class ArticleItem:
    """An original article and the copies of it (rows whose `duplicate_of` leads to it)."""

    row: dict[str, Any]
    copies: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Story:
    story_id: str
    headline: str
    items: list[ArticleItem]
    first: Optional[dt.datetime]
    last: Optional[dt.datetime]
    sources: list[str]

    @property
    def article_count(self) -> int:
        return sum(1 + len(i.copies) for i in self.items)


@dataclasses.dataclass
class Report:
    title: str
    period: tuple[Optional[str], Optional[str]]
    stories: list[Story]
    per_day: list[tuple[str, int]]
    per_language: list[tuple[str, int]]
    rejects_by_reason: list[tuple[str, int]]
    sources: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    totals: dict[str, int]
    generated_at: dt.datetime


def _when(row: dict[str, Any]) -> Optional[dt.datetime]:
    value = row.get("published_at") or row.get("fetched_at")
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return value


def _sort_time(row: dict[str, Any]) -> tuple:
    when = _when(row)
    return (when is None, when or dt.datetime.min.replace(tzinfo=_UTC), row.get("article_id") or "")


def domain_of(row: dict[str, Any]) -> str:
    """The article's domain: `source_domain`, else its URL's host without www."""
    if row.get("source_domain"):
        return row["source_domain"]
    host = urllib.parse.urlsplit(row.get("canonical_url") or row.get("url") or "").hostname or ""
    return host[4:] if host.startswith("www.") else host


def source_of(row: dict[str, Any]) -> str:
    """The source (publisher) an article counts under: its site name, else its domain."""
    name = " ".join((row.get("site_name") or "").split())
    return name or domain_of(row) or "unknown"


def _day(row: dict[str, Any]) -> Optional[str]:
    if row.get("date"):
        return str(row["date"])
    when = _when(row)
    return when.astimezone(_UTC).date().isoformat() if when else None


def _fill_days(counts: collections.Counter) -> list[tuple[str, int]]:
    days = sorted(counts)
    if not days:
        return []
    try:
        first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    except ValueError:
        return [(d, counts[d]) for d in days]
    if (last - first).days > 400:
        return [(d, counts[d]) for d in days]
    span = ((first + dt.timedelta(n)).isoformat() for n in range((last - first).days + 1))
    return [(d, counts.get(d, 0)) for d in span]


def _group_copies(articles: list[dict[str, Any]]) -> tuple[list[ArticleItem], int]:
    """Originals with their copies folded in; copies whose original is absent stand alone."""
    by_id = {a["article_id"]: a for a in articles if a.get("article_id")}

    def root(row: dict[str, Any]) -> Optional[str]:
        seen = set()
        current = row
        while current.get("duplicate_of") and current["duplicate_of"] in by_id:
            if current["duplicate_of"] in seen:
                break
            seen.add(current["duplicate_of"])
            current = by_id[current["duplicate_of"]]
        return current.get("article_id") if current is not row else None

    items: dict[str, ArticleItem] = {}
    copies: list[tuple[str, dict[str, Any]]] = []
    for row in articles:
        original = root(row) if row.get("duplicate_of") else None
        if original:
            copies.append((original, row))
        else:
            key = row.get("article_id") or f"_row{len(items)}"
            items[key] = ArticleItem(row)
    for original, row in copies:
        items[original].copies.append(row)
    for item in items.values():
        item.copies.sort(key=_sort_time)
    return list(items.values()), len(copies)


def build_report(articles: list[dict[str, Any]], rejects: list[dict[str, Any]],
                 runs: Optional[list[dict[str, Any]]] = None, title: str = "newsbeam report",
                 top_sources: int = 20, now: Optional[dt.datetime] = None) -> Report:
    """Gathers everything the page shows from plain rows (as `load_articles` returns them)."""
    runs = runs or []
    items, copy_count = _group_copies(articles)
    by_story: dict[str, list[ArticleItem]] = collections.defaultdict(list)
    for item in items:
        by_story[item.row.get("story_id") or f"article:{item.row.get('article_id')}"].append(item)
    stories = []
    for story_id, story_items in by_story.items():
        story_items.sort(key=lambda i: _sort_time(i.row))
        rows = [i.row for i in story_items] + [c for i in story_items for c in i.copies]
        times = [t for t in (_when(r) for r in rows) if t]
        headline = next((i.row["title"] for i in story_items if i.row.get("title")), None)
        stories.append(Story(
            story_id=story_id, headline=headline or "(untitled)", items=story_items,
            first=min(times) if times else None, last=max(times) if times else None,
            sources=sorted({source_of(r) for r in rows})))
    stories.sort(key=lambda s: (-s.article_count, -len(s.sources),
                                -(s.last.timestamp() if s.last else 0.0), s.headline))

    per_day = _fill_days(collections.Counter(d for d in map(_day, articles) if d))
    per_language = collections.Counter((a.get("lang") or a.get("language") or "und") for a in articles)

    reasons: collections.Counter = collections.Counter()
    if rejects:
        reasons.update(f"{r.get('stage') or '?'}/{r.get('reason') or '?'}" for r in rejects)
    else:
        for manifest in runs:
            for reason, n in (manifest.get("rejects_by_reason") or {}).items():
                reasons[reason] += int(n or 0)

    source_rows: dict[str, dict[str, Any]] = {}
    for row in articles:
        key = source_of(row)
        entry = source_rows.setdefault(key, {"source": key, "domains": collections.Counter(), "articles": 0,
                                             "copies": 0, "stories": set(), "languages": collections.Counter()})
        entry["articles"] += 1
        entry["copies"] += 1 if row.get("duplicate_of") else 0
        entry["stories"].add(row.get("story_id") or row.get("article_id"))
        entry["languages"][row.get("lang") or row.get("language") or "und"] += 1
        if domain_of(row):
            entry["domains"][domain_of(row)] += 1
    sources = []
    for entry in sorted(source_rows.values(), key=lambda e: (-e["articles"], e["source"]))[:top_sources]:
        sources.append({
            "source": entry["source"],
            "domains": [d for d, _ in entry["domains"].most_common()],
            "articles": entry["articles"], "copies": entry["copies"], "stories": len(entry["stories"]),
            "languages": [lang for lang, _ in entry["languages"].most_common()],
        })

    days = [d for d, _ in per_day]
    return Report(
        title=title,
        period=(days[0], days[-1]) if days else (None, None),
        stories=stories,
        per_day=per_day,
        per_language=sorted(per_language.items(), key=lambda kv: (-kv[1], kv[0])),
        rejects_by_reason=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        sources=sources,
        runs=runs,
        totals={
            "articles": len(articles),
            "originals": len(articles) - copy_count,
            "copies": copy_count,
            "stories": len(stories),
            "sources": len(source_rows),
            "languages": len(per_language),
            "rejects": sum(reasons.values()),
            "runs": len(runs),
        },
        generated_at=now or dt.datetime.now(_UTC),
    )


# --- rendering -------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(value: Optional[dt.datetime], fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value:
        return "—"
    value = value.astimezone(_UTC)
    return f'<time datetime="{value.isoformat()}">{value.strftime(fmt)}</time>'


def _link(url: Optional[str], text: str) -> str:
    if url and urllib.parse.urlsplit(url).scheme in ("http", "https"):
        return f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(text)}</a>'
    return _e(text)


def svg_columns(points: list[tuple[str, int]], label: str, width: int = 640, height: int = 220) -> str:
    """A column chart (one column per point) as inline SVG, with a title per column."""
    if not points:
        return '<p class="empty">No data.</p>'
    top = max(1, max(v for _, v in points))
    left, bottom, pad, head = 44, 30, 8, 18
    plot_w, plot_h = width - left - pad, height - bottom - head
    step = plot_w / len(points)
    bar = min(56.0, max(1.0, step * 0.72))
    every = max(1, round(len(points) / 10))
    base = head + plot_h
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">',
             f'<line x1="{left}" y1="{base}" x2="{width - pad}" y2="{base}" class="axis"/>',
             f'<text x="{left - 6}" y="{head + 4}" class="tick" text-anchor="end">{top}</text>',
             f'<text x="{left - 6}" y="{base}" class="tick" text-anchor="end">0</text>']
    for n, (name, value) in enumerate(points):
        h = plot_h * value / top
        x = left + n * step + (step - bar) / 2
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                     f'height="{h:.1f}"><title>{_e(name)}: {value}</title></rect>')
        if value and len(points) <= 31:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 4:.1f}" class="value" '
                         f'text-anchor="middle">{value}</text>')
        if n % every == 0:
            tick = name[5:] if len(name) == 10 and name[4] == "-" else name
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 10}" class="tick" '
                         f'text-anchor="middle">{_e(tick)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_list(points: list[tuple[str, int]], label: str) -> str:
    """A horizontal bar chart in plain HTML and CSS: name, bar, count; text stays page-sized."""
    if not points:
        return '<p class="empty">None.</p>'
    top = max(1, max(v for _, v in points))
    rows = "".join(
        f'<div class="hrow" title="{_e(name)}: {value}"><span class="hname">{_e(name)}</span>'
        f'<span class="htrack"><span class="hbar" style="width:{max(0.5, 100 * value / top):.1f}%"></span></span>'
        f'<span class="hval">{value}</span></div>' for name, value in points)
    return f'<div class="hbars" role="img" aria-label="{_e(label)}">{rows}</div>'


_CSS = """
:root{--ink:#1d2330;--muted:#5d6778;--line:#e3e6ec;--bg:#f6f7f9;--card:#fff;--accent:#2f6fdb;--copy:#8a5a00}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
header.top{background:#18233a;color:#fff;padding:22px 32px}
header.top h1{margin:0 0 4px;font-size:24px}
header.top p{margin:0;color:#c5cede}
main{max-width:1180px;margin:0 auto;padding:20px 32px 48px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(120px,1fr));gap:12px;margin:0 0 22px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card b{display:block;font-size:24px}
.card span{color:var(--muted);font-size:13px}
.grid{display:grid;grid-template-columns:3fr 2fr;gap:18px}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
section.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:0 0 18px}
h2{font-size:18px;margin:0 0 10px}
.chart{width:100%;max-width:760px;height:auto;display:block}
.chart .bar{fill:var(--accent)}
.chart .axis{stroke:#aab2c0}
.chart text{font-size:12px;fill:var(--muted)}
.chart .value{fill:var(--ink)}
.hbars{display:grid;gap:5px;margin:0 0 8px}
.hrow{display:grid;grid-template-columns:minmax(60px,max-content) 1fr 3.5em;gap:8px;align-items:center;font-size:13px}
.hname{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:240px}
.htrack{background:#eef1f6;border-radius:4px;height:12px}
.hbar{display:block;background:var(--accent);border-radius:4px;height:12px}
.hval{text-align:right;font-variant-numeric:tabular-nums}
.story{border-top:1px solid var(--line);padding:12px 0 10px}
.story:first-of-type{border-top:0}
.story h3{margin:0 0 2px;font-size:17px}
.meta{color:var(--muted);font-size:13px;margin:0 0 6px}
ol.articles{list-style:none;margin:0;padding:0}
ol.articles>li{display:grid;grid-template-columns:140px 1fr;gap:10px;padding:4px 0}
ol.articles time{color:var(--muted);font-variant-numeric:tabular-nums;font-size:13px}
.src{color:var(--muted);font-size:13px}
.tag{display:inline-block;font-size:11px;border:1px solid var(--line);border-radius:10px;padding:0 6px;margin-left:4px;color:var(--muted)}
details.copies{margin:3px 0 0;font-size:13px}
details.copies summary{cursor:pointer;color:var(--copy)}
details.copies ul{margin:4px 0 0;padding-left:18px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.share{display:inline-block;height:8px;background:var(--accent);border-radius:4px;vertical-align:middle}
.empty,.more{color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px}
"""


def _render_article(row: dict[str, Any], copies: list[dict[str, Any]]) -> str:
    flags = "".join(f'<span class="tag">{_e(f)}</span>' for f in row.get("quality_flags") or [])
    if row.get("duplicate_of"):
        flags += '<span class="tag" title="its original is not in this report">copy</span>'
    lang = row.get("lang") or row.get("language")
    source, domain = source_of(row), domain_of(row)
    where = f"{_e(source)} · {_e(domain)}" if domain and domain != source else _e(source)
    out = [f'<li class="article" data-article-id="{_e(row.get("article_id"))}">{_time(_when(row))}<div>',
           f'<span class="title">{_link(row.get("canonical_url") or row.get("url"), row.get("title") or row.get("url") or "(untitled)")}</span>'
           f'<div class="src">{where}{f" <span class=tag>{_e(lang)}</span>" if lang else ""}{flags}</div>']
    if copies:
        names = ", ".join(sorted({source_of(c) for c in copies}))
        out.append(f'<details class="copies"><summary>{len(copies)} '
                   f'{"copy" if len(copies) == 1 else "copies"}: {_e(names)}</summary><ul>')
        for c in copies:
            sim = c.get("duplicate_similarity")
            sim_text = f" · similarity {sim:.2f}" if isinstance(sim, float) else ""
            out.append(f'<li class="copy" data-article-id="{_e(c.get("article_id"))}">{_time(_when(c))} '
                       f'{_link(c.get("canonical_url") or c.get("url"), c.get("title") or c.get("url") or "")}'
                       f' <span class="src">{_e(source_of(c))}{sim_text}</span></li>')
        out.append("</ul></details>")
    out.append("</div></li>")
    return "".join(out)


def _render_story(story: Story, max_articles: int) -> str:
    span = _time(story.first) + (" – " + _time(story.last) if story.last and story.last != story.first else "")
    n = story.article_count
    meta = (f"{n} article{'s' if n != 1 else ''} · {len(story.sources)} "
            f"source{'s' if len(story.sources) != 1 else ''} · {span} UTC")
    out = [f'<article class="story" data-story-id="{_e(story.story_id)}"><h3>{_e(story.headline)}</h3>',
           f'<p class="meta">{meta}</p><ol class="articles">']
    for item in story.items[:max_articles]:
        out.append(_render_article(item.row, item.copies))
    out.append("</ol>")
    if len(story.items) > max_articles:
        out.append(f'<p class="more">… and {len(story.items) - max_articles} more articles.</p>')
    out.append("</article>")
    return "".join(out)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report, max_stories: int = 100, max_articles_per_story: int = 50) -> str:
    """The page: one HTML document with inline CSS and SVG, no script and no external asset."""
    t = report.totals
    start, end = report.period
    period = f"{start} – {end}" if start and start != end else (start or "no articles")
    cards = "".join(f'<div class="card"><b>{t[k]}</b><span>{label}</span></div>' for k, label in [
        ("articles", "articles"), ("copies", "copies folded in"), ("stories", "stories"),
        ("sources", "sources"), ("languages", "languages"), ("rejects", "rejects"), ("runs", "runs")])
    shown = report.stories[:max_stories]
    stories = "".join(_render_story(s, max_articles_per_story) for s in shown) or '<p class="empty">No articles.</p>'
    if len(report.stories) > max_stories:
        rest = report.stories[max_stories:]
        stories += (f'<p class="more">… and {len(rest)} more stories '
                    f'({sum(s.article_count for s in rest)} articles) not shown.</p>')
    top = max([s["articles"] for s in report.sources] or [1])
    sources = _table(["source", "articles", "", "copies", "stories", "languages"], [
        [f'{_e(s["source"])}<div class="src">{_e(", ".join(s["domains"][:3]))}</div>', str(s["articles"]),
         f'<span class="share" style="width:{max(2, round(100 * s["articles"] / top))}px"></span>',
         str(s["copies"]), str(s["stories"]), _e(", ".join(s["languages"]))] for s in report.sources],
        {1, 3, 4}) if report.sources else '<p class="empty">None.</p>'
    reject_rows = [[_e(r.split("/", 1)[0]), _e(r.split("/", 1)[-1]), str(n)] for r, n in report.rejects_by_reason]
    runs = _table(["run", "started (UTC)", "duration", "status", "articles", "rejects", "already seen"],
                  [[_e(c) for c in run_row(m)] for m in report.runs], {2, 4, 5, 6}) \
        if report.runs else '<p class="empty">No run manifests.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(report.title)} · {_e(period)}</title>
<style>{_CSS}</style></head>
<body>
<header class="top"><h1>{_e(report.title)}</h1>
<p>Period {_e(period)} · generated {_time(report.generated_at)} UTC</p></header>
<main>
<div class="cards">{cards}</div>
<div class="grid">
<section class="panel" id="per-day"><h2>Articles per day</h2>{svg_columns(report.per_day, "Articles per day")}</section>
<section class="panel" id="per-language"><h2>Articles per language</h2>{bar_list(report.per_language, "Articles per language")}</section>
</div>
<section class="panel" id="stories"><h2>Stories ({t['stories']})</h2>{stories}</section>
<div class="grid">
<section class="panel" id="sources"><h2>Largest sources</h2>{sources}</section>
<section class="panel" id="rejects"><h2>Rejects by reason ({t['rejects']})</h2>
{bar_list(report.rejects_by_reason, "Rejects by reason")}
{_table(["stage", "reason", "count"], reject_rows, {2}) if reject_rows else ""}</section>
</div>
<section class="panel" id="runs"><h2>Runs</h2>{runs}</section>
</main>
<footer>newsbeam {_e(pipeline_version())} · schema {_e(SCHEMA_VERSION)}</footer>
</body></html>
"""


def write_report(dataset: str, out: str, since: Optional[str] = None, until: Optional[str] = None,
                 title: Optional[str] = None, max_stories: int = 100, top_sources: int = 20,
                 max_articles_per_story: int = 50) -> Report:
    """Reads `dataset`, writes the page to `out` (local or gs://), returns what it showed."""
    from apache_beam.io.filesystems import FileSystems

    report = build_report(load_articles(dataset, since, until), load_rejects(dataset, since, until),
                          load_runs(dataset), title=title or f"newsbeam · {dataset}",
                          top_sources=top_sources)
    page = render_html(report, max_stories, max_articles_per_story)
    with FileSystems.create(out) as sink:
        sink.write(page.encode("utf-8"))
    return report


def _date(text: str) -> str:
    return dt.date.fromisoformat(text).isoformat()


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbeam report",
                                     description="Write a self-contained HTML report of a dataset.")
    parser.add_argument("dataset", help="Dataset folder (local or gs://).")
    parser.add_argument("--out", default="report.html", help="HTML file to write (default %(default)s).")
    parser.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="First day (partition date) shown.")
    parser.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="Last day (partition date) shown.")
    parser.add_argument("--title", help="Page title (default: the dataset path).")
    parser.add_argument("--max-stories", type=int, default=100, help="Stories listed (default %(default)s).")
    parser.add_argument("--max-articles-per-story", type=int, default=50,
                        help="Articles listed per story (default %(default)s).")
    parser.add_argument("--top-sources", type=int, default=20, help="Sources listed (default %(default)s).")
    return parser


def main(argv: list[str]) -> int:
    args = build_arg_parser().parse_args(argv)
    report = write_report(args.dataset, args.out, args.since, args.until, args.title,
                          args.max_stories, args.top_sources, args.max_articles_per_story)
    t = report.totals
    print(f"wrote {args.out}: {t['articles']} articles in {t['stories']} stories, "
          f"{t['copies']} copies, {t['rejects']} rejects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
