"""`newsbeam demo`: serve the built-in example site on 127.0.0.1 and ingest it.

The site (pipelines/demo_site/site.json) is a small invented news site with
its own RSS feed: articles with boilerplate in their paragraphs, a syndicated
copy of one article on a partner page, and one article in English.
"""
from __future__ import annotations

import argparse
import email.utils
import datetime as dt
import html
import json
from importlib import resources
from typing import Optional
from xml.sax.saxutils import escape

from pipelines import ingest
from pipelines.manifest import format_summary
from pipelines.site_server import Route, SiteServer

__all__ = ["build_arg_parser", "site_routes", "main"]


def _load_site() -> dict:
    return json.loads(resources.files("pipelines").joinpath("demo_site/site.json").read_text("utf-8"))


def _page(site_name: str, article: dict, lang: str) -> str:
    body = [*article.get("chrome_top", []), *([article["prefix"]] if article.get("prefix") else []),
            *article["paragraphs"], *article.get("chrome_bottom", [])]
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in body)
    author = html.escape(article.get("author") or "")
    author_meta = f'<meta name="author" content="{author}">' if author else ""
    byline = f'<p class="byline">Par {author}</p>' if author else ""
    title = html.escape(article["title"])
    return f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title} - {html.escape(site_name)}</title>
<meta property="og:site_name" content="{html.escape(site_name)}">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{article['published']}">{author_meta}
</head><body><header><a href="/">{html.escape(site_name)}</a>
<nav><a href="/">Accueil</a> <a href="/local">Local</a> <a href="/sport">Sport</a></nav></header>
<main><article><h1>{title}</h1>{byline}
{paragraphs}</article></main>
<footer>© 2025 {html.escape(site_name)} — <a href="/mentions">Mentions légales</a></footer></body></html>"""


def site_routes(base: str) -> dict[str, Route]:
    """The routes of the example site: /feed.xml, /robots.txt and one page per article."""
    site = _load_site()
    routes: dict[str, Route] = {}
    items = []
    by_slug = {a["slug"]: a for a in site["articles"]}
    pages = [(a, site["site_name"], a.get("lang", site["language"])) for a in site["articles"]]
    syn = site["syndicated"]
    original = by_slug[syn["of"]]
    pages.append(({**original, **syn, "author": None}, syn["site_name"], site["language"]))
    for article, site_name, lang in pages:
        path = f"/{article['slug']}.html"
        routes[path] = Route(_page(site_name, article, lang).encode("utf-8"))
        when = dt.datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
        items.append(f"<item><title>{escape(article['title'])}</title><link>{base}{path}</link>"
                     f"<guid>{base}{path}</guid><pubDate>{email.utils.format_datetime(when)}</pubDate></item>")
    routes["/feed.xml"] = Route(
        (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(site["feed_title"])}</title>'
         f"<link>{base}/</link><language>{site['language']}</language><description>Demo</description>"
         f"{''.join(items)}</channel></rss>").encode("utf-8"), "application/rss+xml; charset=utf-8")
    routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    return routes


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbeam demo",
        description="Serve the built-in example site on 127.0.0.1 and run the batch ingest on it.")
    parser.add_argument("--output", default="out", help="Dataset folder to write (default ./out).")
    parser.add_argument("--keep", action="store_true",
                        help="Keep what an earlier demo wrote in --output (default: start afresh).")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_arg_parser()
    args, beam_args = parser.parse_known_args(argv)
    if not args.keep:
        import shutil
        shutil.rmtree(args.output, ignore_errors=True)
    with SiteServer() as server:
        server.routes.update(site_routes(f"http://{server.host_port}"))
        print(f"serving the example site at {server.url('/')} (feed {server.url('/feed.xml')})")
        manifest = ingest.run(["--feed", server.url("/feed.xml"), "--output", args.output,
                               "--allow-host", server.host_port, *beam_args])
    print(format_summary(manifest))
    return 0 if manifest["status"] == "succeeded" else 1
