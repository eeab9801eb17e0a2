"""Canonical URLs and the article id derived from them.

One article is often reachable by several URLs: with tracking parameters, over
http and https, with and without `www.`, with a default port or a fragment.
`canonical_url` picks the URL the publisher declares (`rel=canonical`, then
`og:url`) when it is on the same registered domain as the fetched page, and
normalises it; `url_key` reduces a URL to the key two variants share; and
`article_id` is a digest of that key.

Rules:
- scheme and host are lower-cased, default ports (80, 443), fragments, user
  info and tracking parameters (`utm_*`, `fbclid`, `gclid`, `at_medium`, ...)
  are dropped, dot segments are resolved, unreserved %-escapes decoded;
- a declared canonical is trusted only when it is http(s), on the same
  registered domain (public-suffix rule) as the fetched URL, and not the bare
  home page of a fetched article page (a frequent template bug);
- the *key* additionally ignores the scheme, a leading `www.`, a trailing `/`
  and the order of query parameters.
"""
from __future__ import annotations

import hashlib
import posixpath
import re
import urllib.parse
from typing import Optional

__all__ = ["canonical_url", "url_key", "article_id", "source_domain", "registered_domain",
           "normalize_url", "TRACKING_PARAMS", "TRACKING_PREFIXES"]

TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "vero_", "oly_", "_hs")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "igshid", "mc_cid", "mc_eid", "mkt_tok", "_ga", "_gl", "xtor", "ocid", "cmpid",
    "ito", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "sr_share",
    "ref_src", "ref_url", "smid", "smtyp", "icid", "dicbo", "soc_src", "soc_trk",
    "__twitter_impression", "spm", "s_cid", "wt.mc_id", "wt_mc",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def _decode_unreserved(text: str) -> str:
    def fix(m: re.Match) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED_CHARS else "%" + m.group(1).upper()
    return _UNRESERVED.sub(fix, text)


def _clean_path(path: str) -> str:
    path = _decode_unreserved(path or "/")
    if not path.startswith("/"):
        path = "/" + path
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    normal = posixpath.normpath(path)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if trailing and normal != "/":
        normal += "/"
    return normal


def normalize_url(url: str) -> str:
    """The URL with case, port, fragment, tracking parameters and path normalised.

    Keeps the scheme and a `www.` prefix (the canonical URL is a real, fetchable
    address); see `url_key` for the variant-insensitive key.
    """
    parts = urllib.parse.urlsplit(url.strip())
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host
    if port and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    if ":" in host and not host.startswith("["):   # IPv6 literal
        netloc = f"[{host}]" + (f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else "")
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if not _is_tracking(k)]
    return urllib.parse.urlunsplit((
        scheme, netloc, _clean_path(parts.path),
        urllib.parse.urlencode(query, doseq=True), ""))


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") and host.count(".") >= 2 else host


def registered_domain(url: str) -> str:
    """The registered domain of a URL ('news.bbc.co.uk' -> 'bbc.co.uk').

    Uses the Public Suffix List shipped with `tld` (no network). Hosts without
    a public suffix (IP addresses, `localhost`) are their own domain, port
    included.
    """
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        from tld import get_fld
        fld = get_fld(f"http://{host}", fail_silently=True)
    except Exception:  # noqa: BLE001 - malformed host: fall back to the host
        fld = None
    if fld:
        return fld
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def source_domain(url: str) -> str:
    """Host of a URL without a leading `www.` ('https://www.lemonde.fr/x' -> 'lemonde.fr')."""
    return _strip_www((urllib.parse.urlsplit(url).hostname or "").lower())


def _trusted(candidate: Optional[str], fetched: str) -> Optional[str]:
    if not candidate or not isinstance(candidate, str):
        return None
    absolute = urllib.parse.urljoin(fetched, candidate.strip())
    parts = urllib.parse.urlsplit(absolute)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if registered_domain(absolute) != registered_domain(fetched):
        return None
    normal = normalize_url(absolute)
    if urllib.parse.urlsplit(normal).path == "/" and urllib.parse.urlsplit(fetched).path not in ("", "/"):
        return None
    return normal


def canonical_url(url: str, page_meta: Optional[dict] = None) -> str:
    """The canonical URL of an article fetched at `url`.

    Args:
        url: the fetched (or feed) URL.
        page_meta: evidence from the page; the keys "canonical" (rel=canonical
            href) and "og_url" are used, relative values resolved against `url`.

    Returns:
        The declared canonical when trusted (see the module rules), else `url`,
        normalised by `normalize_url`.
    """
    meta = page_meta or {}
    for key in ("canonical", "og_url"):
        trusted = _trusted(meta.get(key), url)
        if trusted:
            return trusted
    return normalize_url(url)


def url_key(url: str) -> str:
    """The key two variants of one URL share: no scheme, no `www.`, sorted query.

    'https://WWW.Example.com:443/a/?utm_source=x&b=2&a=1#top' -> 'example.com/a?a=1&b=2'.
    """
    normal = urllib.parse.urlsplit(normalize_url(url))
    path = normal.path.rstrip("/") or ""
    query = "&".join(sorted(normal.query.split("&"))) if normal.query else ""
    return _strip_www(normal.netloc) + path + (f"?{query}" if query else "")


def article_id(canonical: str) -> str:
    """Stable id of an article: 32 hex digits of the SHA-256 of `url_key(canonical)`."""
    return hashlib.sha256(url_key(canonical).encode("utf-8")).hexdigest()[:32]
