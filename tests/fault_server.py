"""A threaded HTTP server on 127.0.0.1 that misbehaves on purpose.

Each route reproduces one way the real web goes wrong (see ROUTES). The
server records every request (path, time, Host header, User-Agent) and the
most requests it had in flight at once per path prefix, so tests can assert
what the fetcher did on the wire. `TrapServer` is a server that must never
be reached: redirect targets the guard has to refuse.
"""
from __future__ import annotations

import collections
import gzip
import http.server
import socket
import struct
import threading
import time
import zlib
from typing import NamedTuple, Optional

__all__ = ["FaultServer", "TrapServer", "ROUTES", "PAGE_PATHS", "gzip_bomb"]

ARTICLE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"""

# route -> what it does (the fault suite asserts each one's outcome)
ROUTES = {
    "/flaky": "503 twice, then 200",
    "/ratelimited": "429 with Retry-After: 1, then 200",
    "/ratelimited-long": "429 with Retry-After: 3600, always",
    "/hang": "accepts, then sends nothing past the read timeout",
    "/reset": "resets the connection (RST) without answering",
    "/truncated": "Content-Length 2000, sends 100 bytes and closes",
    "/bomb": "gzip body inflating to 1 GiB",
    "/loop/a": "redirects to /loop/b, which redirects back",
    "/chain/<n>": "redirects n times before answering",
    "/to-other-ip": "redirects to 127.0.0.2:<trap port>",
    "/to-localhost": "redirects to localhost:<trap port>",
    "/to-other-port": "redirects to 127.0.0.1:<trap port>",
    "/report.pdf": "a PDF",
    "/utf8-redirect": "redirect whose Location header is raw UTF-8 (/café/menu)",
    "/etag": "a feed with an ETag; 304 when If-None-Match matches",
    "/big, /big-chunked": "2 MiB pages, with and without Content-Length",
    "/latin1": "Latin-1 HTML without a charset anywhere",
    "/binary": "text/html whose bytes are not text",
    "/not-found": "404",
    "/status/<code>": "always answers <code>",
    "/private/secret": "forbidden by robots.txt (must never be requested)",
    "/article/<n>": "a good article page",
    "/slow/<n>": "a good page after 0.3 s",
    "/feeds/laughs.xml": "a feed with nested entity expansion (billion laughs)",
    "/feeds/malformed.xml": "an ill-formed feed that still holds readable entries",
    "/feeds/main.xml": "a feed linking to every page route above",
    "/feeds/extra.xml": "a feed linking to the URLs a test puts in `extra_feed`",
}

# The page routes /feeds/main.xml links to.
PAGE_PATHS = ("/flaky", "/ratelimited", "/ratelimited-long", "/hang", "/reset", "/truncated", "/bomb",
              "/loop/a", "/chain/9", "/to-other-ip", "/to-localhost", "/to-other-port", "/report.pdf",
              "/latin1", "/binary", "/not-found", "/private/secret", "/article/1", "/article/2",
              "/article/3", "/chain/2")
_ONE_MIB = 1024 * 1024


class Request(NamedTuple):
    """One request the server saw."""

    path: str
    time: float
    host: str
    user_agent: str
    client_port: int
    headers: dict
_BOMB_CACHE: dict[int, tuple[bytes, bytes, bytes, int]] = {}


def gzip_bomb(inflated_mib: int = 1024) -> tuple[bytes, bytes, bytes, int]:
    """A gzip stream of `inflated_mib` MiB of zeros, as (head, segment, tail, repeats).

    The body is head + segment * repeats + tail. Each segment is one MiB of
    zeros compressed after a full flush, so all segments are identical and
    the 1 GiB is never materialised (about 1 MB on the wire).
    """
    if inflated_mib in _BOMB_CACHE:
        return _BOMB_CACHE[inflated_mib]
    zeros = bytes(_ONE_MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first
    tail = end + struct.pack("<II", crc & 0xFFFFFFFF, (inflated_mib * _ONE_MIB) & 0xFFFFFFFF)
    _BOMB_CACHE[inflated_mib] = (head, segment, tail, inflated_mib - 1)
    return _BOMB_CACHE[inflated_mib]


LAUGHS_FEED = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><link>/</link>
<item><title>&lol9;</title><link>/article/laughs</link><description>&lol9;</description></item>
</channel></rss>
"""

MALFORMED_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Broken & proud</title>
<item><title>First readable</title><link>/article/m1</link><description>AT&T <b>bold</description></item>
<item><title>Second readable</title><link>/article/m2</link><pubDate>Tue, 18 Mar 2025 15:00:00 GMT</pubDate></item>
<item><title>No link here</title><description>orphan</description></item>
</channel>
"""


def main_feed(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>{p}</title><link>{base}{p}</link><guid>{p}</guid></item>\n" for p in paths)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Faults</title>'
            f"<link>{base}/</link>{items}<item><title>Entry without link</title><guid isPermaLink=\"false\">nolink</guid></item>"
            f"</channel></rss>").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server API
        owner = self.server.owner
        owner._enter(self)
        try:
            owner.handle_route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            owner._leave(self)

    # helpers for routes
    def send_body(self, status: int, body: bytes, content_type: Optional[str] = "text/html; charset=utf-8",
                  headers: Optional[dict] = None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302):
        self.send_body(status, b"", None, {"Location": location})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, owner):
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):  # resets and hangs are on purpose
        pass


class _BaseServer:
    def __init__(self, host: str = "127.0.0.1"):
        self._httpd = _Server((host, 0), self)
        self.host = host
        self.port = self._httpd.server_address[1]
        self.requests: list[Request] = []
        self.in_flight: collections.Counter = collections.Counter()
        self.max_in_flight: collections.Counter = collections.Counter()
        self.spans: list[tuple[str, float, float]] = []  # (path, start, end) of answered requests
        self._lock = threading.Lock()
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def times(self, path_prefix: str) -> list[float]:
        with self._lock:
            return [r.time for r in self.requests if r.path.startswith(path_prefix)]

    @staticmethod
    def _prefix(path: str) -> str:
        return "/" + path.lstrip("/").split("/", 1)[0]

    def _enter(self, handler):
        with self._lock:
            self.requests.append(Request(handler.path, time.monotonic(), handler.headers.get("Host", ""),
                                         handler.headers.get("User-Agent", ""), handler.client_address[1],
                                         {k.lower(): v for k, v in handler.headers.items()}))
            prefix = self._prefix(handler.path)
            self.in_flight[prefix] += 1
            self.max_in_flight[prefix] = max(self.max_in_flight[prefix], self.in_flight[prefix])
            handler.started_at = time.monotonic()

    def _leave(self, handler):
        with self._lock:
            self.in_flight[self._prefix(handler.path)] -= 1
            self.spans.append((handler.path, handler.started_at, time.monotonic()))

    def handle_route(self, h: _Handler):
        h.send_body(404, b"not here")


class TrapServer(_BaseServer):
    """Answers 200 to anything; tests assert it saw no request."""

    def handle_route(self, h: _Handler):
        h.send_body(200, ARTICLE.format(title="trap", body="must not be fetched").encode())


class FaultServer(_BaseServer):
    """The fault-injection server. `traps` are the servers redirects point at.

    Args:
        robots: the robots.txt body.
        trap_ip: TrapServer on 127.0.0.2; trap_local: TrapServer on 127.0.0.1.
        hang_seconds: how long /hang keeps the connection silent.
    """

    def __init__(self, robots: str = "User-agent: *\nDisallow: /private/\n",
                 trap_ip: Optional[TrapServer] = None, trap_local: Optional[TrapServer] = None,
                 hang_seconds: float = 5.0):
        super().__init__("127.0.0.1")
        self.robots = robots
        self.trap_ip = trap_ip
        self.trap_local = trap_local
        self.hang_seconds = hang_seconds
        self._counts: collections.Counter = collections.Counter()
        self.extra_feed: list[str] = []  # links served at /feeds/extra.xml
        gzip_bomb()  # built now, so that /bomb answers at once

    def _count(self, path: str) -> int:
        with self._lock:
            self._counts[path] += 1
            return self._counts[path]

    def page_paths(self) -> list[str]:
        """The page routes the main feed links to."""
        return list(PAGE_PATHS)

    def handle_route(self, h: _Handler):  # noqa: C901 - one branch per route
        path = h.path
        if path == "/robots.txt":
            return h.send_body(200, self.robots.encode(), "text/plain")
        if path.startswith("/article/") or path.startswith("/slow/"):
            if path.startswith("/slow/"):
                self.stop_event.wait(0.3)
            name = path.rsplit("/", 1)[1]
            return h.send_body(200, ARTICLE.format(title=f"Article {name}", body=f"Text of {name}. " * 20).encode())
        if path == "/flaky":
            if self._count(path) <= 2:
                return h.send_body(503, b"busy", headers={"Retry-After": "0"})
            return h.send_body(200, ARTICLE.format(title="Flaky", body="Third time lucky.").encode())
        if path == "/ratelimited":
            if self._count(path) == 1:
                return h.send_body(429, b"slow down", headers={"Retry-After": "1"})
            return h.send_body(200, ARTICLE.format(title="Patience", body="Worth the wait.").encode())
        if path == "/ratelimited-long":
            return h.send_body(429, b"come back tomorrow", headers={"Retry-After": "3600"})
        if path == "/hang":
            self.stop_event.wait(self.hang_seconds)
            return None
        if path == "/reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return None
        if path == "/truncated":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "2000")
            h.end_headers()
            h.wfile.write(b"<html><body><p>" + b"x" * 85)
            h.wfile.flush()
            h.close_connection = True
            return None
        if path == "/bomb":
            head, segment, tail, repeats = gzip_bomb()
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(head) + len(segment) * repeats + len(tail)))
            h.end_headers()
            h.wfile.write(head)
            for _ in range(repeats):
                if self.stop_event.is_set():
                    break
                h.wfile.write(segment)
            h.wfile.write(tail)
            return None
        if path == "/utf8-redirect":  # a raw UTF-8 Location header
            h.send_response(302)
            h.send_header("Content-Length", "0")
            h._headers_buffer.append("Location: /café/menu\r\n".encode("utf-8"))
            h.end_headers()
            return None
        if path.startswith("/caf%C3%A9"):
            return h.send_body(200, ARTICLE.format(title="Caf\u00e9", body="Arrived at the caf\u00e9.").encode())
        if path.startswith("/status/"):
            return h.send_body(int(path.rsplit("/", 1)[1]), b"status page")
        if path == "/loop/a":
            return h.redirect("/loop/b")
        if path == "/loop/b":
            return h.redirect(self.url("/loop/a"), 301)
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left <= 0:
                return h.send_body(200, ARTICLE.format(title="End of chain", body="Arrived.").encode())
            return h.redirect(f"/chain/{left - 1}", 307)
        if path == "/to-other-ip":
            return h.redirect(f"http://127.0.0.2:{self.trap_ip.port}/stolen")
        if path == "/to-localhost":
            return h.redirect(f"http://localhost:{self.trap_local.port}/stolen")
        if path == "/to-other-port":
            return h.redirect(f"http://127.0.0.1:{self.trap_local.port}/stolen")
        if path == "/etag":
            if h.headers.get("If-None-Match") == '"v1"':
                return h.send_body(304, b"", None, {"ETag": '"v1"'})
            return h.send_body(200, main_feed(self.base, ["/article/e"]), "application/rss+xml",
                               {"ETag": '"v1"', "Last-Modified": "Tue, 18 Mar 2025 15:00:00 GMT"})
        if path.startswith("/big"):
            size = 2 * _ONE_MIB
            if path == "/big-chunked":  # no Content-Length: the cap must hold while streaming
                h.send_response(200)
                h.send_header("Content-Type", "text/html")
                h.send_header("Connection", "close")
                h.end_headers()
                h.close_connection = True
                for _ in range(size // 65536):
                    h.wfile.write(b"<p>" + b"y" * 65533)
                return None
            return h.send_body(200, b"<p>" + b"y" * size, "text/html")
        if path == "/report.pdf":
            return h.send_body(200, b"%PDF-1.4\n" + b"0" * 50_000, "application/pdf")
        if path == "/latin1":
            body = ("<html><head><title>Caf\u00e9</title></head><body><p>Un caf\u00e9 cr\u00e8me \u00e0 "
                    "la terrasse, d\u00e9j\u00e0 servi. " * 5 + "</p></body></html>").encode("latin-1")
            return h.send_body(200, body, "text/html")
        if path == "/binary":
            return h.send_body(200, bytes(range(256)) * 64, "text/html")
        if path == "/feeds/laughs.xml":
            return h.send_body(200, LAUGHS_FEED, "application/rss+xml")
        if path == "/feeds/malformed.xml":
            return h.send_body(200, MALFORMED_FEED, "application/rss+xml")
        if path == "/feeds/extra.xml":
            return h.send_body(200, main_feed("", self.extra_feed), "application/rss+xml")
        if path == "/feeds/main.xml":
            return h.send_body(200, main_feed(self.base, self.page_paths()), "application/rss+xml")
        if path.startswith("/feeds/gz"):
            return h.send_body(200, gzip.compress(main_feed(self.base, ["/article/9"])), "application/rss+xml",
                               {"Content-Encoding": "gzip"})
        return h.send_body(404, b"not found")
