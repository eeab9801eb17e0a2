"""The benchmark corpus: real news pages replicated to N byte-distinct copies.

The 258 pages of `../shared/eval/fundus` (or `$NEWSBEAM_EVAL_DIR/fundus`) are
read at run time, never copied into the repository. Copy `i` is source page
`i % 258` with two changes that make every copy byte-distinct: a comment
naming the copy after `<head>`, and every occurrence of the original URL
replaced by the copy's own URL (so canonical links, and with them article
ids, differ between copies too). The text of copies of one page is the same,
so the dedup stage sees them as exact copies of each other.

`Corpus.serve()` serves the copies from memory behind RSS feeds on one or
more local `SiteServer`s (one per "host", each on its own 127.0.0.1 port),
with a per-request latency; pages are built on request, so memory does not
grow with N. `Corpus.write_dir()` writes the same copies to disk for
trafilatura's CLI.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import importlib.util
import os
import re
from pathlib import Path
from typing import Iterator, Optional
from xml.sax.saxutils import escape

from pipelines.site_server import Route, SiteServer

__all__ = ["SourcePage", "eval_dir", "load_sources", "Corpus", "ServedCorpus"]

REPO = Path(__file__).resolve().parents[1]
DISK_BASE = "http://bench.newsbeam.test"
_HEAD = re.compile(rb"<head[^>]*>", re.I)
_PUBLISHED = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@dataclasses.dataclass(frozen=True)
class SourcePage:
    """One real page of the evaluation set."""

    id: str
    url: str
    html: bytes
    title: Optional[str]
    language: Optional[str]


def eval_dir() -> Path:
    """The shared evaluation folder: $NEWSBEAM_EVAL_DIR or ../shared/eval."""
    return Path(os.environ.get("NEWSBEAM_EVAL_DIR") or REPO.parent / "shared" / "eval")


def load_sources(folder: Optional[Path] = None, limit: Optional[int] = None) -> list[SourcePage]:
    """The fundus pages, read with the dataset's own stdlib `load.py`.

    Raises:
        FileNotFoundError: the evaluation folder is missing.
    """
    folder = Path(folder or eval_dir() / "fundus")
    loader = folder / "load.py"
    if not loader.is_file():
        raise FileNotFoundError(f"fundus evaluation data not found at {folder} (set NEWSBEAM_EVAL_DIR)")
    spec = importlib.util.spec_from_file_location("newsbeam_bench_fundus_load", loader)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pages = []
    for item in module.load():
        pages.append(SourcePage(id=item["id"], url=item["url"], html=item["html"].encode("utf-8"),
                                title=item.get("expected_title"), language=item.get("language")))
        if limit and len(pages) >= limit:
            break
    return pages


def _slug(source_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", source_id.split("/", 1)[-1]).strip("-").lower()


class Corpus:
    """N byte-distinct copies of the source pages, spread over `hosts` sites.

    Args:
        sources: the real pages.
        pages: number of copies N.
        hosts: number of sites; page i lives on site i % hosts.
        feed_items: most items per feed; each site has as many feeds as it needs.
    """

    def __init__(self, sources: list[SourcePage], pages: int, hosts: int = 4, feed_items: int = 200):
        if not sources:
            raise ValueError("no source pages")
        if pages < 1 or hosts < 1 or feed_items < 1:
            raise ValueError("pages, hosts and feed_items must be positive")
        self.sources = sources
        self.pages = pages
        self.hosts = min(hosts, pages)
        self.feed_items = feed_items

    def source_of(self, i: int) -> SourcePage:
        return self.sources[i % len(self.sources)]

    def host_of(self, i: int) -> int:
        return i % self.hosts

    def path_of(self, i: int) -> str:
        return f"/news/{i:06d}/{_slug(self.source_of(i).id)}.html"

    def pages_of_host(self, host: int) -> list[int]:
        return list(range(host, self.pages, self.hosts))

    def feeds_of_host(self, host: int) -> list[list[int]]:
        """The page numbers listed by each feed of one site."""
        pages = self.pages_of_host(host)
        return [pages[k:k + self.feed_items] for k in range(0, len(pages), self.feed_items)]

    def page_bytes(self, i: int, base_url: str) -> bytes:
        """Copy i as served from `base_url` (scheme://host[:port])."""
        source = self.source_of(i)
        own_url = (base_url + self.path_of(i)).encode()
        html = source.html.replace(source.url.encode(), own_url) if source.url else source.html
        marker = b"\n<!-- newsbeam bench copy %d of %s -->\n" % (i, source.id.encode())
        head = _HEAD.search(html, 0, 4096)
        at = head.end() if head else 0
        return html[:at] + marker + html[at:]

    def feed_bytes(self, host: int, feed: int, base_url: str) -> bytes:
        """RSS 2.0 listing the pages of one feed of one site."""
        items = []
        for i in self.feeds_of_host(host)[feed]:
            source = self.source_of(i)
            when = email.utils.format_datetime(_PUBLISHED + dt.timedelta(minutes=i))
            items.append(
                f"<item><title>{escape(source.title or source.id)}</title>"
                f"<link>{escape(base_url + self.path_of(i))}</link>"
                f"<guid>{escape(base_url + self.path_of(i))}</guid>"
                f"<pubDate>{when}</pubDate></item>")
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>"
                f"<title>bench site {host}</title><link>{base_url}/</link>"
                f"<description>newsbeam benchmark feed {feed}</description>"
                + "".join(items) + "</channel></rss>").encode("utf-8")

    def write_dir(self, folder: Path) -> list[Path]:
        """Writes every copy as `<folder>/<i>.html` (for trafilatura's CLI)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(self.pages):
            path = folder / f"{i:06d}.html"
            path.write_bytes(self.page_bytes(i, DISK_BASE))
            paths.append(path)
        return paths

    @contextlib.contextmanager
    def serve(self, latency: float = 0.05) -> Iterator["ServedCorpus"]:
        """Serves the corpus on `hosts` local servers for the duration of the block."""
        servers = [self._server(h, latency) for h in range(self.hosts)]
        started = []
        try:
            for server in servers:
                started.append(server.start())
            yield ServedCorpus(self, servers)
        finally:
            for server in started:
                server.stop()

    def _server(self, host: int, latency: float) -> SiteServer:
        server = SiteServer(latency=latency)
        base = server.url("").rstrip("/")
        corpus = self
        for feed in range(len(self.feeds_of_host(host))):
            server.routes[f"/feed/{feed}.xml"] = Route(
                self.feed_bytes(host, feed, base), "application/rss+xml; charset=utf-8")
        server.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
        for i in self.pages_of_host(host):
            server.routes[self.path_of(i)] = _PageHandler(corpus, i, base)
        return server


class _PageHandler:
    """Builds one page when it is requested (nothing of it is kept)."""

    __slots__ = ("corpus", "i", "base")

    def __init__(self, corpus: Corpus, i: int, base: str):
        self.corpus, self.i, self.base = corpus, i, base

    def __call__(self, _request) -> Route:
        return Route(self.corpus.page_bytes(self.i, self.base))


@dataclasses.dataclass
class ServedCorpus:
    """A corpus being served: its feed URLs and the hosts to allow."""

    corpus: Corpus
    servers: list[SiteServer]

    @property
    def feed_urls(self) -> list[str]:
        return [server.url(f"/feed/{feed}.xml")
                for host, server in enumerate(self.servers)
                for feed in range(len(self.corpus.feeds_of_host(host)))]

    @property
    def allow_hosts(self) -> list[str]:
        return [server.host_port for server in self.servers]

    def page_urls(self) -> list[str]:
        return [self.servers[self.corpus.host_of(i)].url(self.corpus.path_of(i))
                for i in range(self.corpus.pages)]

    def pages_requested(self) -> int:
        return sum(1 for server in self.servers for path in server.paths_requested()
                   if path.startswith("/news/"))
