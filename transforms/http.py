"""The one HTTP client of newsbeam, used by every stage that fetches.

`HttpClient.get(url)` fetches one URL the way a polite, careful crawler does:

- pooled connections (urllib3) with connect and read timeouts, and a total
  time limit per attempt;
- the private-network guard (`transforms.http_guard`) checked at every
  redirect hop, and the connection made to the address the guard vetted;
- redirects followed hop by hop, at most `max_redirects`, loops refused;
- the body streamed and cut at `max_bytes`, counted after decompression, so a
  gzip bomb stops after `max_bytes` of output;
- retries with exponential backoff and jitter on connection errors, timeouts,
  truncated bodies, 408, 429, 500, 502, 503 and 504; `Retry-After` honoured;
- robots.txt fetched once per host and obeyed, Crawl-delay honoured;
- per-host limits: at most `per_host_concurrency` requests in flight and at
  least `per_host_delay` seconds between request starts.

Failures raise `FetchError` with a short `reason` slug, the HTTP status when a
response came, and the number of attempts. `decode_html` turns page bytes
into text. The thread pool that runs fetches concurrently is in
`transforms.fetch` (`HostScheduler`).
"""
from __future__ import annotations

import codecs
import collections
import contextlib
import dataclasses
import email.utils
import random
import re
import threading
import time
import zlib
from typing import Any, Callable, Iterator, Optional
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import certifi
import urllib3
from urllib3.exceptions import (ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError,
                                ReadTimeoutError, SSLError)

from transforms import http_guard, robots

__all__ = [
    "DEFAULT_USER_AGENT",
    "RETRY_STATUSES",
    "PAGE_CONTENT_TYPES",
    "HttpConfig",
    "FetchError",
    "Response",
    "HttpClient",
    "HostGate",
    "decode_html",
    "normalise_url",
    "backoff_delay",
    "parse_retry_after",
    "shared_client",
    "release_client",
]


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("newsbeam")
    except metadata.PackageNotFoundError:
        return "0.0.0"


DEFAULT_USER_AGENT = f"newsbeam/{_version()} (+https://github.com/newsbeam/newsbeam)"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PAGE_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
# Feeds come under many content types; these are certainly not feeds.
_NOT_FEED_PREFIXES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip",
                      "application/octet-stream", "application/gzip", "application/msword")


@dataclasses.dataclass(frozen=True)
class HttpConfig:
    """Settings of the HTTP client; the CLI maps its flags onto these fields."""

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024  # also after decompression
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    contact_url: Optional[str] = None  # appended to the UA
    allow_private_network: bool = False
    allow_hosts: tuple[str, ...] = ()  # "host" or "host:port"
    per_host_concurrency: int = 2
    per_host_delay: float = 0.0  # min seconds between request starts to one host
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    respect_robots: bool = True
    fetch_concurrency: int = 16  # thread pool size per DoFn instance
    total_timeout: float = 120.0  # wall-clock limit of one attempt, body included
    max_crawl_delay: float = 30.0  # cap on robots.txt Crawl-delay
    ca_certs: Optional[str] = None  # CA bundle for HTTPS; certifi's when None

    def __post_init__(self):
        object.__setattr__(self, "allow_hosts", tuple(self.allow_hosts or ()))
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_bytes", "per_host_concurrency", "fetch_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("max_redirects", "max_retries", "per_host_delay", "backoff_base",
                     "backoff_max", "max_crawl_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def full_user_agent(self) -> str:
        """The User-Agent header: the project name, plus the contact URL when given."""
        if not self.contact_url:
            return self.user_agent
        if self.user_agent.endswith(")"):
            return f"{self.user_agent[:-1]}; +{self.contact_url})"
        return f"{self.user_agent} (+{self.contact_url})"

    @property
    def agent_token(self) -> str:
        """The product token matched against robots.txt groups ("newsbeam")."""
        return self.user_agent.split("/", 1)[0].split()[0].strip() or "newsbeam"


class FetchError(Exception):
    """A fetch that did not produce a usable response.

    Attributes:
        url: the URL asked for.
        reason: short slug: http_<status>, blocked_address, bad_scheme, bad_url,
            dns_error, too_large, timeout, connection_error, truncated,
            too_many_redirects, redirect_loop, not_html, not_feed, decode_error,
            robots_disallowed, robots_unreachable, retry_after_too_long, tls_error.
        http_status: status of the last response, when one came.
        attempts: HTTP attempts made by the hop that decided the outcome (retries
            included); 0 when no request was sent (guard, robots.txt).
        retryable: whether another attempt may succeed.
        retry_after: seconds the server asked us to wait, if it did.
    """

    def __init__(self, reason: str, url: Optional[str] = None, message: str = "", *,
                 http_status: Optional[int] = None, attempts: Optional[int] = None,
                 retryable: bool = False, retry_after: Optional[float] = None):
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.url = url
        self.message = message
        self.http_status = http_status
        self.attempts = attempts
        self.retryable = retryable
        self.retry_after = retry_after

    def __reduce__(self):
        return (_rebuild_fetch_error, (self.reason, self.url, self.message, self.http_status,
                                       self.attempts, self.retryable, self.retry_after))


def _rebuild_fetch_error(reason, url, message, http_status, attempts, retryable, retry_after):
    return FetchError(reason, url, message, http_status=http_status, attempts=attempts,
                      retryable=retryable, retry_after=retry_after)


@dataclasses.dataclass
class Response:
    """A response: headers with lower-case keys, and the decompressed body."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    attempts: int = 1

    @property
    def content_type(self) -> Optional[str]:
        return self.headers.get("content-type")


# --- pure helpers -----------------------------------------------------------

def backoff_delay(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): capped exponential, jittered.

    The delay is drawn uniformly in [d/2, d] with d = min(cap, base * 2**(attempt-1)).
    """
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + rng() * ceiling / 2


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset_param(content_type: Optional[str]) -> Optional[str]:
    match = re.search(r"charset\s*=\s*[\"']?([\w.:+-]+)", content_type or "", re.I)
    return match.group(1) if match else None


_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
# Labels browsers treat as windows-1252 (WHATWG Encoding Standard).
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii",
                        "iso_8859-1", "cp819", "ibm819", "iso-ir-100", "csisolatin1", "x-cp1252"}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def _codec(label: Optional[str]) -> Optional[str]:
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return "utf-8" if name in ("utf-16", "utf-32") else name  # a page can't really be UTF-16 without BOM


def _plausible(text: str) -> bool:
    """Rejects text that is mostly control characters (binary decoded as text)."""
    if not text:
        return True
    sample = text[:20000]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    return bad <= len(sample) * 0.05


def decode_html(body: bytes, content_type: Optional[str] = None) -> str:
    """The text of an HTML page: charset from BOM, header, <meta>, else detection.

    Valid non-ASCII UTF-8 is read as UTF-8 whatever the declaration says.
    Latin-1 and ASCII labels mean windows-1252, as in browsers.

    Raises:
        FetchError: reason decode_error when no charset gives plausible text.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(name, errors="replace")
    if not body.isascii():
        # Valid UTF-8 with non-ASCII bytes is practically never anything else; servers
        # that declare ISO-8859-1 by default for UTF-8 pages are common.
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    candidates = [_codec(_charset_param(content_type))]
    match = _META_CHARSET.search(body[:4096])
    candidates.append(_codec(match.group(1).decode("ascii", "ignore")) if match else None)
    candidates.append("utf-8")
    for name in candidates:
        if not name:
            continue
        try:
            text = body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        if _plausible(text):
            return text
    detected = _detect_charset(body)
    if detected:
        text = body.decode(detected, errors="replace")
        if _plausible(text):
            return text
    raise FetchError("decode_error", None, "no charset decodes the page to text")


def _detect_charset(body: bytes) -> Optional[str]:
    """The charset detected by charset-normalizer, preferring windows-1252 on a near tie.

    Short Western European pages are ambiguous between the Latin code pages;
    windows-1252 is the web's default legacy charset (WHATWG), so it wins
    when it reads about as well as the best guess.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(body[:200_000]))
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        if ("cp1252" in match.could_be_from_charset and match.chaos <= best.chaos + 0.1
                and match.coherence >= best.coherence - 0.05):
            return "cp1252"
    return best.encoding


# --- decompression with an output cap -----------------------------------------

class _TooLarge(Exception):
    pass


class _Inflater:
    """Streams one Content-Encoding (gzip or deflate) with bounded output."""

    def __init__(self, encoding: str):
        self._encoding = encoding
        self._obj = None
        self._head = b""

    def feed(self, data: bytes, cap: int) -> bytes:
        """At most `cap` bytes of output; raises _TooLarge when more would come."""
        if self._obj is None:
            if self._encoding in ("gzip", "x-gzip"):
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:  # deflate: zlib-wrapped by the standard, raw in practice sometimes
                self._head += data
                if len(self._head) < 2:
                    return b""
                data, self._head = self._head, b""
                zlib_wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
                self._obj = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        if self._obj.eof:
            return b""
        out = self._obj.decompress(data, cap + 1)
        if len(out) > cap or self._obj.unconsumed_tail:
            raise _TooLarge()
        return out

    def flush(self, cap: int) -> bytes:
        if self._obj is None:
            return b""
        out = self._obj.flush()
        if len(out) > cap:
            raise _TooLarge()
        return out


def _inflaters(content_encoding: Optional[str]) -> list[_Inflater]:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    chain = []
    for coding in reversed(codings):  # the last coding applied is undone first
        if coding in ("identity", ""):
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise FetchError("decode_error", None, f"unsupported Content-Encoding {coding!r}")
        chain.append(_Inflater(coding))
    return chain


# --- per-host limits ---------------------------------------------------------------

class _HostState:
    __slots__ = ("slots", "next_start", "delay")

    def __init__(self, concurrency: int, delay: float):
        self.slots = threading.BoundedSemaphore(concurrency)
        self.next_start = 0.0
        self.delay = delay


class HostGate:
    """Per-host politeness: at most N requests in flight and a minimum delay between starts."""

    def __init__(self, concurrency: int, delay: float, sleep: Callable[[float], None] = time.sleep):
        self._concurrency = concurrency
        self._delay = delay
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()

    def _state(self, host: str) -> _HostState:
        with self._lock:
            state = self._hosts.get(host)
            if state is None:
                state = self._hosts[host] = _HostState(self._concurrency, self._delay)
            return state

    @contextlib.contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Holds one of the host's request slots, after waiting for its turn."""
        state = self._state(host)
        state.slots.acquire()
        try:
            with self._lock:
                now = time.monotonic()
                start = max(now, state.next_start)
                state.next_start = start + state.delay
            if start > now:
                self._sleep(start - now)
            yield
        finally:
            state.slots.release()

    def set_delay(self, host: str, seconds: float) -> None:
        """Raises the host's minimum delay between requests (e.g. from Crawl-delay)."""
        state = self._state(host)
        with self._lock:
            state.delay = max(state.delay, seconds)

    def defer(self, host: str, seconds: float) -> None:
        """No new request to the host for `seconds` (e.g. after a Retry-After)."""
        state = self._state(host)
        with self._lock:
            state.next_start = max(state.next_start, time.monotonic() + seconds)


# --- the client --------------------------------------------------------------------

_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _request_target(url: str) -> str:
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return f"{path}?{query}" if query else path


def normalise_url(url: str) -> str:
    """The URL without its fragment and surrounding whitespace."""
    url = url.strip()
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


class HttpClient:
    """Fetches URLs politely and defensively; thread-safe, one per worker.

    Args:
        config: the HttpConfig.
        resolver: resolver(host, port) -> addresses, for the guard (tests stub it).
        sleep: the sleep function used for backoff and politeness delays.
    """

    def __init__(self, config: HttpConfig, *, resolver: Optional[http_guard.Resolver] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._resolver = resolver
        self._sleep = sleep
        self._gate = HostGate(config.per_host_concurrency, config.per_host_delay, sleep)
        self._pools: collections.OrderedDict[tuple, urllib3.HTTPConnectionPool] = collections.OrderedDict()
        self._pools_lock = threading.Lock()
        self._timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)
        self._robots = robots.RobotsCache(self._fetch_robots, config.agent_token)
        self._closed = False

    # public API

    def get(self, url: str, *, kind: str = "page", etag: Optional[str] = None,
            last_modified: Optional[str] = None) -> Response:
        """Fetches `url`, following redirects; 304 comes back as a Response.

        Args:
            url: an http(s) URL.
            kind: "page" (HTML only, robots.txt obeyed), "feed" (robots.txt
                obeyed, no content-type allowlist beyond refusing binaries),
                or "robots".
            etag, last_modified: validators for a conditional GET.

        Raises:
            FetchError: when no usable response came (see FetchError.reason).
        """
        if self._closed:
            raise RuntimeError("HttpClient is closed")
        if not isinstance(url, str) or not url.strip():
            raise FetchError("bad_url", None, f"not a URL: {url!r}", attempts=0)
        start_url = normalise_url(url)
        current = start_url
        seen = {current}
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempts, last_status = 0, None
        for hop in range(self.config.max_redirects + 1):
            try:
                self._check_url(current)  # the address guard runs with each request
                if kind != "robots":
                    self._check_robots(current)
                response = self._get_with_retries(current, kind, headers)
            except FetchError as exc:
                # A refused redirect target is reported with the redirect that led there.
                exc.url = start_url
                exc.attempts = exc.attempts or attempts
                exc.http_status = exc.http_status if exc.http_status is not None else last_status
                if current != start_url:
                    exc.message = f"{exc.message} (redirected to {current})"
                    exc.args = (f"{exc.reason}: {exc.message}",)
                raise
            attempts, last_status = response.attempts, response.status
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES:
                response.url = start_url
                return response
            if not location:
                raise FetchError(f"http_{response.status}", start_url, "redirect without Location",
                                 http_status=response.status, attempts=attempts)
            target = normalise_url(urljoin(current, _header_text(location)))
            if target in seen:
                raise FetchError("redirect_loop", start_url, f"{current} redirects back to {target}",
                                 http_status=response.status, attempts=attempts)
            seen.add(target)
            current = target
            headers = {}
        raise FetchError("too_many_redirects", start_url,
                         f"more than {self.config.max_redirects} redirects",
                         http_status=response.status, attempts=attempts)

    def robots_allowed(self, url: str) -> bool:
        """Whether robots.txt lets us fetch `url` (always True with respect_robots off)."""
        if not self.config.respect_robots:
            return True
        return self._robots.rules_for(url).allowed(url)

    @property
    def robots_fetches(self) -> int:
        return self._robots.fetches

    def close(self) -> None:
        self._closed = True
        with self._pools_lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

    # internals

    def _guard(self, url: str) -> tuple[str, str, int, list[str]]:
        try:
            return http_guard.vet_url(url, allow_private_network=self.config.allow_private_network,
                                      allow_hosts=self.config.allow_hosts, resolver=self._resolver)
        except http_guard.GuardError as exc:
            raise FetchError(exc.reason, url, str(exc), attempts=0) from None

    @staticmethod
    def _check_url(url: str) -> None:
        try:
            http_guard.split_url(url)
        except http_guard.GuardError as exc:
            raise FetchError(exc.reason, url, str(exc), attempts=0) from None

    def _check_robots(self, url: str) -> None:
        if not self.config.respect_robots:
            return
        rules = self._robots.rules_for(url)
        if rules.crawl_delay:
            _, host, port = http_guard.split_url(url)
            self._gate.set_delay(f"{host}:{port}", min(rules.crawl_delay, self.config.max_crawl_delay))
        if not rules.allowed(url):
            if rules.outcome == "unreachable":
                raise FetchError("robots_unreachable", url, "robots.txt could not be fetched (5xx or network error)",
                                 attempts=0)
            raise FetchError("robots_disallowed", url, "robots.txt forbids this path", attempts=0)

    def _fetch_robots(self, robots_url: str) -> tuple[Optional[int], bytes]:
        try:
            response = self.get(robots_url, kind="robots")
        except FetchError as exc:
            if exc.http_status is not None and 400 <= exc.http_status < 500:
                return exc.http_status, b""
            if exc.reason in ("blocked_address", "bad_scheme", "bad_url", "dns_error", "tls_error"):
                return 404, b""  # the page fetch itself fails the same way, and says why
            return exc.http_status, b""
        return response.status, response.body

    def _get_with_retries(self, url: str, kind: str, headers: dict[str, str]) -> Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._get_once(url, kind, headers)
                response.attempts = attempt
                return response
            except FetchError as exc:
                # attempts=0 marks a request that was never sent (the guard refused it).
                exc.attempts = attempt - 1 if exc.attempts == 0 else attempt
                if not exc.retryable or attempt > self.config.max_retries:
                    raise
                wait = backoff_delay(attempt, self.config.backoff_base, self.config.backoff_max)
                if exc.retry_after is not None:
                    if exc.retry_after > self.config.backoff_max:
                        exc.reason = exc.reason if exc.reason.startswith("http_") else "retry_after_too_long"
                        exc.message = f"Retry-After {exc.retry_after:.0f}s exceeds backoff_max"
                        exc.args = (f"{exc.reason}: {exc.message}",)
                        raise
                    wait = max(wait, exc.retry_after)
                    _, host, port = http_guard.split_url(url)
                    self._gate.defer(f"{host}:{port}", exc.retry_after)
                self._sleep(wait)

    def _pool(self, scheme: str, address: str, port: int, host: str) -> urllib3.HTTPConnectionPool:
        key = (scheme, address, port, host)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            common = dict(port=port, maxsize=self.config.per_host_concurrency, block=False,
                          timeout=self._timeout, retries=False)
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address, server_hostname=host, assert_hostname=host,
                    cert_reqs="CERT_REQUIRED", ca_certs=self.config.ca_certs or certifi.where(), **common)
            else:
                pool = urllib3.HTTPConnectionPool(address, **common)
            self._pools[key] = pool
            while len(self._pools) > 512:
                _, old = self._pools.popitem(last=False)
                old.close()
            return pool

    def _get_once(self, url: str, kind: str, extra_headers: dict[str, str]) -> Response:
        scheme, host, port, addresses = self._guard(url)
        host_header = host if port == http_guard.DEFAULT_PORTS[scheme] else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if port == http_guard.DEFAULT_PORTS[scheme] else f"[{host}]:{port}"
        headers = {
            "Host": host_header,
            "User-Agent": self.config.full_user_agent,
            "Accept": _ACCEPT[kind],
            "Accept-Encoding": "gzip, deflate",
            **extra_headers,
        }
        with self._gate.slot(f"{host}:{port}"):
            raw = None
            last_error: Optional[Exception] = None
            for address in addresses[:3]:
                try:
                    raw = self._pool(scheme, address, port, host).urlopen(
                        "GET", _request_target(url), headers=headers, redirect=False, retries=False,
                        preload_content=False, decode_content=False, assert_same_host=False,
                        timeout=self._timeout)
                    break
                except NewConnectionError as exc:
                    last_error = exc
                    continue
                except Exception as exc:  # noqa: BLE001 - mapped to a FetchError below
                    raise _fetch_error_from(exc, url) from None
            if raw is None:
                raise _fetch_error_from(last_error, url)
            try:
                return self._read_response(raw, url, kind)
            finally:
                raw.release_conn()

    def _read_response(self, raw: urllib3.BaseHTTPResponse, url: str, kind: str) -> Response:
        status = raw.status
        headers = {k.lower(): ", ".join(raw.headers.getlist(k)) for k in raw.headers.keys()}
        if not 200 <= status < 300:
            _discard(raw)
            if status in REDIRECT_STATUSES or status == 304:
                return Response(url, url, status, headers, b"")
            raise FetchError(f"http_{status}", url, f"HTTP {status}", http_status=status,
                             retryable=status in RETRY_STATUSES,
                             retry_after=parse_retry_after(headers.get("retry-after")))
        media = _media_type(headers.get("content-type"))
        if kind == "page" and media and media not in PAGE_CONTENT_TYPES:
            _discard(raw)
            raise FetchError("not_html", url, f"content type {media!r}", http_status=status)
        if kind == "feed" and media.startswith(_NOT_FEED_PREFIXES):
            _discard(raw)
            raise FetchError("not_feed", url, f"content type {media!r}", http_status=status)
        limit = robots.ROBOTS_MAX_BYTES if kind == "robots" else self.config.max_bytes
        declared = headers.get("content-length", "")
        if kind != "robots" and declared.isdigit() and int(declared) > limit and "content-encoding" not in headers:
            _discard(raw)
            raise FetchError("too_large", url, f"Content-Length {declared} > {limit}", http_status=status)
        try:
            body = self._read_body(raw, limit, truncate=(kind == "robots"))
        except FetchError as exc:
            exc.url, exc.http_status = url, status
            raise
        if kind == "page" and not media and not body.lstrip()[:1] == b"<":
            raise FetchError("not_html", url, "no content type and the body is not markup", http_status=status)
        return Response(url, url, status, headers, body)

    def _read_body(self, raw: urllib3.BaseHTTPResponse, limit: int, truncate: bool) -> bytes:
        deadline = time.monotonic() + self.config.total_timeout
        inflaters = _inflaters(raw.headers.get("content-encoding"))
        out = bytearray()
        try:
            for chunk in raw.stream(64 * 1024, decode_content=False):
                data = chunk
                for inflater in inflaters:
                    data = inflater.feed(data, limit - len(out))
                out += data
                if len(out) > limit:
                    raise _TooLarge()
                if time.monotonic() > deadline:
                    raise FetchError("timeout", None, f"body not received within {self.config.total_timeout}s",
                                     retryable=True)
            for i, inflater in enumerate(inflaters):
                data = inflater.flush(limit - len(out))
                for later in inflaters[i + 1:]:
                    data = later.feed(data, limit - len(out))
                out += data
        except _TooLarge:
            raw.close()
            if truncate:
                return bytes(out[:limit])
            raise FetchError("too_large", None, f"body exceeds {limit} bytes (after decompression)") from None
        except zlib.error as exc:
            raw.close()
            raise FetchError("decode_error", None, f"bad compressed body: {exc}") from None
        except (ProtocolError, ReadTimeoutError, OSError) as exc:
            raw.close()
            raise _fetch_error_from(exc, None) from None
        return bytes(out)


_ACCEPT = {
    "page": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    "feed": "application/rss+xml,application/atom+xml,application/rdf+xml,application/xml;q=0.9,"
            "text/xml;q=0.9,application/feed+json;q=0.8,*/*;q=0.1",
    "robots": "text/plain,*/*;q=0.1",
}


def _header_text(value: str) -> str:
    """A header value as sent: http.client reads headers as Latin-1, servers send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _discard(raw: urllib3.BaseHTTPResponse) -> None:
    """Drops a body we do not want: drained if small (keeps the connection), else closed."""
    length = raw.headers.get("content-length", "")
    if length.isdigit() and int(length) <= 64 * 1024 and not raw.headers.get("content-encoding"):
        try:
            raw.drain_conn()
            return
        except (HTTPError, OSError):
            pass
    raw.close()


def _fetch_error_from(exc: Optional[BaseException], url: Optional[str]) -> FetchError:
    """Maps a urllib3/socket exception to a FetchError."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, TimeoutError)):
        return FetchError("timeout", url, text, retryable=True)
    if isinstance(exc, SSLError):
        return FetchError("tls_error", url, text)
    if isinstance(exc, ProtocolError) and "IncompleteRead" in str(exc):
        return FetchError("truncated", url, text, retryable=True)
    if isinstance(exc, (NewConnectionError, ProtocolError, OSError, HTTPError)):
        return FetchError("connection_error", url, text, retryable=True)
    return FetchError("connection_error", url, text, retryable=True)


# --- one client per worker process ------------------------------------------------

_SHARED: dict[Any, list] = {}
_SHARED_LOCK = threading.Lock()


def shared_client(config: HttpConfig, key: Any = None) -> HttpClient:
    """The process-wide client for (config, key), created on first use.

    Stages of one run pass the same key (the run id) so that they share one
    connection pool, one robots.txt cache and one set of per-host limits.
    Call `release_client` once per `shared_client`.
    """
    with _SHARED_LOCK:
        entry = _SHARED.get((config, key))
        if entry is None:
            entry = _SHARED[(config, key)] = [HttpClient(config), 0]
        entry[1] += 1
        return entry[0]


def release_client(config: HttpConfig, key: Any = None) -> None:
    """Releases a client from `shared_client`; the last release closes it."""
    with _SHARED_LOCK:
        entry = _SHARED.get((config, key))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _SHARED[(config, key)]
            entry[0].close()
