"""Helpers of the polling and streaming tests (no tests here).

`FeedSite` serves, on 127.0.0.1, an RSS feed that can gain entries between
polls (by hand, or when its Nth request comes) and answers conditional GETs
with 304 while it is unchanged, plus one HTML article page per entry, each
with its own English text.
"""
from __future__ import annotations

import email.utils
import hashlib
import random
import threading
from xml.sax.saxutils import escape

from pipelines.site_server import Route, SiteServer
from transforms.http import HttpConfig

__all__ = ["FeedSite", "local_http_config", "article_text"]

_WORDS = """
council budget river harbour election minister school hospital railway bridge festival
museum library farmers market weather storm flood drought energy prices workers union
strike court judge ruling police investigation mayor village city region province
parliament vote debate reform tax pension health doctors nurses patients research
university students teachers science climate forest wildlife ocean fishing boats port
airport flights travel tourism hotel restaurant chef football match season coach player
stadium fans concert orchestra theatre film director actor novel author poet painting
gallery exhibition company profits shares investors bank loans housing rents tenants
builders road traffic cyclists buses trains station tunnel mountain valley lake island
coast desert village neighbours volunteers charity donation church mosque temple
anniversary memorial veterans soldiers border talks treaty embassy diplomats summit
""".split()


def article_text(n: int, paragraphs: int = 6) -> str:
    """A distinct English text for article `n`: no two share many word sequences."""
    rng = random.Random(f"article-{n}")
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(4):
            words = rng.sample(_WORDS, 9)
            sentences.append(f"The {words[0]} and the {words[1]} said that {words[2]} {words[3]} "
                             f"would meet the {words[4]} before the {words[5]} of {words[6]} "
                             f"while {words[7]} watched the {words[8]}.")
        out.append(" ".join(sentences))
    return "\n".join(out)


def local_http_config(**overrides) -> HttpConfig:
    """An HttpConfig for a test server on 127.0.0.1: no retries, no robots.txt."""
    settings = dict(allow_private_network=True, max_retries=0, respect_robots=False,
                    connect_timeout=2.0, read_timeout=5.0)
    settings.update(overrides)
    return HttpConfig(**settings)


class FeedSite:
    """A feed on 127.0.0.1 whose entries can be added between polls.

    `/feed.xml` sends an ETag and a Last-Modified header and answers 304 to a
    request whose If-None-Match matches; `failing` makes it answer 500.
    `/articles/<n>.html` are the pages. Every feed request is recorded with
    its headers and the status sent. `grow_at[k] = n` adds n entries just
    before the k-th feed request (1-based) is answered.
    """

    def __init__(self, name: str = "feed", start: int = 0):
        self.name = name
        self._next = start
        self.items: list[int] = []
        self.failing = False
        self._lock = threading.Lock()
        self._log: list[tuple[dict[str, str], int]] = []
        self.server = SiteServer({f"/{name}.xml": self._feed})
        self._version = 0
        self.grow_at: dict[int, int] = {}

    # lifecycle

    def __enter__(self) -> "FeedSite":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    # content

    @property
    def base(self) -> str:
        return f"http://{self.server.host_port}"

    @property
    def feed_url(self) -> str:
        return self.server.url(f"/{self.name}.xml")

    def url_of(self, n: int) -> str:
        return f"{self.base}/articles/{self.name}-{n}.html"

    def urls(self) -> list[str]:
        return [self.url_of(n) for n in self.items]

    def add(self, count: int = 1) -> list[str]:
        """Adds `count` new entries (and their pages); returns their URLs."""
        with self._lock:
            return self._add(count)

    def _add(self, count: int) -> list[str]:
        added = []
        for _ in range(count):
            n = self._next
            self._next += 1
            self.items.append(n)
            path = f"/articles/{self.name}-{n}.html"
            self.server.routes[path] = Route(self._page(n).encode("utf-8"))
            added.append(self.url_of(n))
        if added:
            self._version += 1
        return added

    @staticmethod
    def rss(base: str, items: list[tuple[str, str]]) -> str:
        entries = "".join(f"<item><title>{escape(t)}</title><link>{escape(base + p)}</link>"
                          f"<guid>{escape(base + p)}</guid></item>" for t, p in items)
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Test feed</title><link>{escape(base)}/</link><language>en</language>"
                f"<description>Test</description>{entries}</channel></rss>")

    def _page(self, n: int) -> str:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article_text(int(hashlib.sha1(f"{self.name}-{n}".encode()).hexdigest()[:8], 16)).split("\n"))
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f"<title>Story {self.name} {n} | Local News</title>"
                f'<meta property="og:site_name" content="Local News"></head><body>'
                f"<header><nav><a href='/'>Home</a></nav></header><main><article>"
                f"<h1>Story {self.name} {n}</h1>{paragraphs}</article></main>"
                f"<footer>Local News</footer></body></html>")

    # the feed handler

    def _feed(self, handler) -> Route:
        with self._lock:
            headers = dict(handler.headers.items())
            self._add(self.grow_at.get(len(self._log) + 1, 0))
            if self.failing:
                self._log.append((headers, 500))
                return Route(b"boom", "text/plain", 500)
            items = [(f"Story {self.name} {n}", f"/articles/{self.name}-{n}.html")
                     for n in reversed(self.items)]
            body = self.rss(self.base, items).encode("utf-8")
            etag = '"%s"' % hashlib.sha1(body).hexdigest()[:16]
            modified = email.utils.formatdate(1_700_000_000 + self._version * 60, usegmt=True)
            if headers.get("If-None-Match") == etag:
                self._log.append((headers, 304))
                return Route(b"", "application/rss+xml", 304, {"ETag": etag, "Last-Modified": modified})
            self._log.append((headers, 200))
            return Route(body, "application/rss+xml; charset=utf-8", 200,
                         {"ETag": etag, "Last-Modified": modified})

    # what the server saw

    def feed_requests(self) -> list[dict[str, str]]:
        with self._lock:
            return [h for h, _ in self._log]

    def statuses(self) -> list[int]:
        with self._lock:
            return [s for _, s in self._log]

    def conditional_requests(self) -> int:
        return sum(1 for h in self.feed_requests() if "If-None-Match" in h or "If-Modified-Since" in h)
