"""Stage `feeds`: feed URLs -> FeedEntry records (RSS, Atom, RDF, JSON Feed).

Feeds are fetched with the shared HTTP client and parsed with feedparser.
Ill-formed ("bozo") feeds still give the entries feedparser could read;
entity declarations that are not plain character references are stripped by
feedparser before parsing, and expat refuses runaway expansion, so nested
entity expansion (billion laughs) neither hangs nor eats memory. Every feed
URL ends as entries or as one Reject; entries without a usable link become
Rejects too.
"""
from __future__ import annotations

import calendar
import datetime as dt
import html
import io
import json
import re
import xml.etree.ElementTree as ElementTree
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas.records import FeedEntry, Reject
from transforms.common import ParDoWithRejects
from transforms.fetch import ConcurrentFetchDoFn
from transforms.http import FetchError, HttpClient, HttpConfig, normalise_url

__all__ = ["STAGE", "ReadFeeds", "parse_document", "parse_feed", "read_feed", "read_feeds_file"]

STAGE = "feeds"
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _plain(value: Optional[str], detail: Optional[dict] = None) -> Optional[str]:
    """Text without markup, entities resolved, whitespace collapsed; None when empty."""
    if not value:
        return None
    if detail is None or "html" in (detail.get("type") or ""):
        value = html.unescape(_TAGS.sub(" ", value))
    value = _SPACE.sub(" ", value).strip()
    return value or None


def _utc(parsed: Any) -> Optional[dt.datetime]:
    """A feedparser *_parsed struct_time (UTC) as an aware datetime."""
    if not parsed:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(parsed), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _entry_link(entry: Any) -> Optional[str]:
    """The entry's page: feedparser's `link` when it is an alternate link, else the
    first HTML alternate, else any alternate, else `link` (never an enclosure when
    an alternate exists). A permalink guid counts only when it is an absolute URL."""
    link = entry.get("link") or None
    if link and entry.get("guidislink") and link == entry.get("id"):
        # From an RSS <guid> without isPermaLink="false": a link only when it is a URL.
        return link if urlsplit(link.strip()).scheme.lower() in ("http", "https") else None
    alternates = [c for c in entry.get("links") or ()
                  if isinstance(c, dict) and c.get("href") and c.get("rel", "alternate") == "alternate"]
    if link and any(c["href"] == link for c in alternates):
        return link
    for candidate in alternates:
        if _media_type(candidate.get("type")) in ("text/html", "application/xhtml+xml"):
            return candidate["href"]
    if alternates:
        return alternates[0]["href"]
    return link


def _media_type(value: Optional[str]) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _authors(entry: Any) -> list[str]:
    names: list[str] = []
    for author in entry.get("authors") or ():
        name = _plain(author.get("name") if isinstance(author, dict) else str(author))
        if name and name not in names:
            names.append(name)
    if not names:
        name = _plain(entry.get("author"))
        if name:
            names.append(name)
    return names


def _json_time(value: Any) -> Optional[Any]:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).timetuple()


def _parse_json_feed(body: bytes) -> Optional[dict]:
    """A JSON Feed (jsonfeed.org) in feedparser's shape; None when `body` is not one.

    feedparser 6.0 reads only XML feeds.
    """
    head = body[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return None
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        return None
    html_detail = {"type": "text/html"}
    text_detail = {"type": "text/plain"}
    entries = []
    for item in data.get("items") or ():
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        summary, detail = item.get("summary"), text_detail
        if not summary and item.get("content_text"):
            summary = item["content_text"]
        elif not summary and item.get("content_html"):
            summary, detail = item["content_html"], html_detail
        entries.append({
            "title": str(item.get("title") or ""), "title_detail": text_detail,
            "link": item.get("url") if isinstance(item.get("url"), str) else None,
            "id": str(item.get("id")) if item.get("id") is not None else None,
            "published_parsed": _json_time(item.get("date_published")),
            "updated_parsed": _json_time(item.get("date_modified")),
            "authors": [{"name": a.get("name")} for a in authors if isinstance(a, dict) and a.get("name")],
            "summary": summary if isinstance(summary, str) else None, "summary_detail": detail,
        })
    feed = {"title": str(data.get("title") or ""), "title_detail": text_detail,
            "language": data.get("language") if isinstance(data.get("language"), str) else None}
    return {"feed": feed, "entries": entries, "bozo": False}


def parse_document(body: bytes, content_type: Optional[str] = None, base_url: Optional[str] = None) -> dict:
    """The feed document as feedparser's result dict (JSON Feed included); may raise.

    The charset comes from `content_type`, the XML declaration or detection.
    Links are resolved against xml:base, and against `base_url` only when
    given: `parse_feed` resolves them itself, so that it can tell a relative
    RSS guid (an id, not a link) from an absolute one.
    """
    import feedparser

    result = _parse_json_feed(body)
    if result is not None:
        return result
    headers = {"content-location": base_url} if base_url else {}
    if content_type:
        headers["content-type"] = content_type
    # A stream, never bytes or str: feedparser would take those for a path or a URL.
    return feedparser.parse(io.BytesIO(body), response_headers=headers)


def parse_feed(body: bytes, feed_url: str, content_type: Optional[str] = None, *,
               base_url: Optional[str] = None, run_id: Optional[str] = None,
               ) -> tuple[list[FeedEntry], list[Reject]]:
    """Entries of a feed document (RSS, Atom, RDF or JSON Feed), and rejects.

    Pure: no I/O. Entry URLs are resolved against `base_url` (the URL the
    feed was finally fetched from) or `feed_url`; an entry whose URL differs
    from an earlier one only by its fragment is dropped. Bozo feeds yield
    what could be read.

    Args:
        body: the feed bytes, undecoded.
        feed_url: the feed URL as configured; FeedEntry.feed_url.
        content_type: the Content-Type response header, for the charset.
        base_url: base for relative links, if not `feed_url`.
        run_id: copied onto rejects.

    Returns:
        (entries, rejects). A feed with nothing readable gives one reject
        (feed_parse_error or empty_feed) for the feed itself.
    """
    base = base_url or feed_url
    try:
        result = parse_document(body, content_type)
    except Exception as exc:  # noqa: BLE001 - a feed must never crash the stage
        return [], [Reject(url=feed_url, feed_url=feed_url, stage=STAGE, reason="feed_parse_error",
                           error=f"{type(exc).__name__}: {exc}"[:2000], run_id=run_id)]
    channel = result.get("feed") or {}
    feed_title = _plain(channel.get("title"), channel.get("title_detail"))
    feed_language = (channel.get("language") or "").strip() or None
    entries: list[FeedEntry] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for index, item in enumerate(result.get("entries") or ()):
        title = _plain(item.get("title"), item.get("title_detail"))
        link = _entry_link(item)
        url = urljoin(base, link.strip()) if link and link.strip() else None
        if not url:
            rejects.append(Reject(url=None, feed_url=feed_url, stage=STAGE, reason="no_link",
                                  error=f"entry {index} has no link (id={item.get('id')!r}, title={title!r})"[:2000],
                                  run_id=run_id))
            continue
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            rejects.append(Reject(url=url, feed_url=feed_url, stage=STAGE, reason="bad_scheme",
                                  error=f"entry {index} links to a non-http URL", run_id=run_id))
            continue
        key = normalise_url(url)  # without the fragment: one page, one entry
        if key in seen:
            continue
        seen.add(key)
        entries.append(FeedEntry(
            feed_url=feed_url,
            url=url,
            title=title,
            published=_utc(item.get("published_parsed")),
            # dict.get: FeedParserDict.get would fall back to published_parsed.
            updated=_utc(dict.get(item, "updated_parsed")),
            authors=_authors(item),
            summary=_plain(item.get("summary"), item.get("summary_detail")),
            feed_language=feed_language,
            feed_title=feed_title,
            entry_id=(item.get("id") or None),
        ))
    if not entries and not rejects:
        bozo = result.get("bozo_exception")
        # A recognised feed type with no entries is empty; anything else was not readable.
        recognised = result.get("version") or not body.strip() or not result.get("bozo")
        reason = "empty_feed" if recognised else "feed_parse_error"
        rejects.append(Reject(url=feed_url, feed_url=feed_url, stage=STAGE, reason=reason,
                              error=(f"{type(bozo).__name__}: {bozo}" if bozo else "feed has no entries")[:2000],
                              run_id=run_id))
    return entries, rejects


def read_feed(client: HttpClient, feed_url: str, run_id: Optional[str] = None,
              validators: Optional[dict[str, tuple[Optional[str], Optional[str]]]] = None,
              ) -> list[FeedEntry | Reject]:
    """Fetches and parses one feed: its FeedEntry records and Rejects, in one list.

    Args:
        client: the HTTP client.
        feed_url: the feed URL.
        run_id: copied onto rejects.
        validators: feed_url -> (etag, last_modified), read for a conditional
            GET and updated; a 304 then gives no records (streaming polls).
    """
    etag, modified = (validators or {}).get(feed_url, (None, None))
    try:
        response = client.get(feed_url, kind="feed", etag=etag, last_modified=modified)
    except FetchError as exc:
        return [Reject(url=feed_url, feed_url=feed_url, stage=STAGE, reason=exc.reason,
                       http_status=exc.http_status, attempts=exc.attempts, error=str(exc)[:2000], run_id=run_id)]
    if response.status == 304:
        return []
    if validators is not None:
        validators[feed_url] = (response.headers.get("etag"), response.headers.get("last-modified"))
    entries, rejects = parse_feed(response.body, feed_url, response.content_type,
                                  base_url=response.final_url, run_id=run_id)
    for reject in rejects:
        if reject.url == feed_url:
            reject.http_status, reject.attempts = response.status, response.attempts
    return [*entries, *rejects]


def read_feeds_file(path: str) -> list[str]:
    """Feed URLs from a file: one URL a line ('#' starts a comment), or OPML.

    Read through Beam's FileSystems, so gs:// and other schemes work.
    Duplicates are kept once, in first-seen order.
    """
    with FileSystems.open(path) as handle:
        data = handle.read()
    text = data.decode("utf-8-sig", errors="replace")
    urls: list[str] = []
    if text.lstrip().startswith("<") and re.search(r"<opml\b", text[:4096], re.I):
        if "<!DOCTYPE" in text or "<!ENTITY" in text:
            raise ValueError(f"{path}: OPML with a DOCTYPE is not accepted")
        root = ElementTree.fromstring(text)
        for outline in root.iter("outline"):
            url = outline.get("xmlUrl") or outline.get("xmlurl")
            if url and url.strip():
                urls.append(url.strip())
    else:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                urls.append(re.sub(r"\s+#.*$", "", line))
    return list(dict.fromkeys(urls))


class _ReadFeedsDoFn(ConcurrentFetchDoFn):
    stage = STAGE

    def setup(self):
        super().setup()
        self._validators: dict[str, tuple[Optional[str], Optional[str]]] = {}

    def url_of(self, element: str) -> str:
        return element

    def work(self, element: str) -> list[Any]:
        return read_feed(self.client, element.strip(), self.run_id, self._validators)


class ReadFeeds(beam.PTransform):
    """PCollection[str feed URL] -> StageResult(good=FeedEntry, rejects=Reject).

    Args:
        http_config: the HTTP client settings.
        run_id: the run id, copied onto rejects; stages of one run that pass
            the same run id share one HTTP client per worker process.
    """

    def __init__(self, http_config: HttpConfig, run_id: Optional[str] = None):
        super().__init__()
        self._http_config = http_config
        self._run_id = run_id

    def expand(self, feed_urls):
        # allow_unsafe_userstate_in_process keeps process()'s signature visible, so that
        # Beam passes the window and timestamp parameters; there is no state here.
        return feed_urls | "ReadFeed" >> ParDoWithRejects(
            _ReadFeedsDoFn(self._http_config, self._run_id), STAGE, self._run_id,
            allow_unsafe_userstate_in_process=True)
