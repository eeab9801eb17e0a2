"""A small threaded HTTP server on 127.0.0.1 serving in-memory routes.

Used by `newsbeam demo` to serve the built-in example site, and by the tests
and benchmarks to serve feeds and pages built at run time. It binds to the
loopback interface only.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Union

__all__ = ["Route", "SiteServer"]


@dataclasses.dataclass
class Route:
    """A canned response."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[BaseHTTPRequestHandler], Optional[Route]]


class SiteServer:
    """Serves `routes` (path -> Route or handler) on 127.0.0.1:<port>.

    Use as a context manager. `requests` records (method, path, headers) of
    every request received, for assertions. `latency` delays every answer.
    """

    def __init__(self, routes: Optional[dict[str, Union[Route, Handler]]] = None,
                 host: str = "127.0.0.1", port: int = 0, latency: float = 0.0):
        self.routes: dict[str, Union[Route, Handler]] = dict(routes or {})
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.latency = latency
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                with server._lock:
                    server.requests.append(("GET", self.path, dict(self.headers.items())))
                if server.latency:
                    time.sleep(server.latency)
                route = server.routes.get(self.path.split("#")[0])
                if callable(route):
                    route = route(self)
                if route is None:
                    route = Route(b"not found", "text/plain", 404)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(route.body)

        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def host_port(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host_port}{path}"

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [path for _, path, _ in self.requests]

    def start(self) -> "SiteServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "SiteServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
