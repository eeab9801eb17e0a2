"""Dates: publication and update times from every source, checked and voted on.

Candidates come from the feed, JSON-LD (`datePublished`, `dateModified`), meta
tags (`article:published_time`, `dc.date`, `parsely-pub-date`, ...), `<time>`
elements, htmldate and trafilatura. A date in the future, before 1995, or far
from the feed's date is refused. Candidates vote by calendar day; the best
supported day wins and, within it, the most precise value from the most
reliable source. Everything comes out as a tz-aware UTC datetime; a value with
no time of day is placed at 12:00 UTC so that its UTC day is its own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Iterable, Optional, Sequence

__all__ = ["DateCandidate", "parse_datetime", "published_candidates", "updated_candidates",
           "choose_date", "choose_candidate", "acceptable", "SOURCE_WEIGHTS", "MAX_FEED_SKEW", "FUTURE_TOLERANCE", "EARLIEST"]

UTC = dt.timezone.utc
MAX_FEED_SKEW = dt.timedelta(days=3)
FUTURE_TOLERANCE = dt.timedelta(hours=1)
EARLIEST = dt.datetime(1995, 1, 1, tzinfo=UTC)

_PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "article:published",
    "published_time", "datepublished", "article.published", "parsely-pub-date",
    "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date",
    "dc.date.created", "dcterms.created", "citation_publication_date", "citation_date",
    "publishdate", "publish-date", "publish_date", "published-date", "pub_date", "pubdate",
    "cxenseparse:recs:publishtime", "date", "displaydate", "datecreated", "article.created",
)
_UPDATED_META = (
    "article:modified_time", "og:article:modified_time", "article:modified", "og:updated_time",
    "modified_time", "datemodified", "article.updated", "dc.date.modified", "dcterms.modified",
    "last-modified", "lastmod",
)
# Votes per source: structured publisher values weigh most; htmldate and
# trafilatura mostly re-read the same tags, so they weigh little.
SOURCE_WEIGHTS = {"feed": 2.0, "jsonld": 2.0, "meta": 1.5, "time": 1.0, "jsonld_created": 0.5,
                  "htmldate": 0.5, "trafilatura": 0.25}
_ISO_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_OFFSET_WITHOUT_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
_EXTRA_DIGITS = re.compile(r"(\.\d{6})\d+")
_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}")
_EPOCH = re.compile(r"^\d{10}(\d{3})?$")


@dataclasses.dataclass(frozen=True)
class DateCandidate:
    """One dated piece of evidence. `value` keeps its own offset; `has_time`
    is False for a bare day."""

    source: str
    value: dt.datetime
    has_time: bool = True

    @property
    def day(self) -> dt.date:
        return self.value.date()

    @property
    def utc(self) -> dt.datetime:
        if not self.has_time:
            return dt.datetime.combine(self.value.date(), dt.time(12), tzinfo=UTC)
        return self.value.astimezone(UTC)


def parse_datetime(value: Any) -> Optional[tuple[dt.datetime, bool]]:
    """(aware datetime in its own offset, has_time) from an ISO, RFC 2822, epoch or
    datetime value; naive times are taken as UTC. None when unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)), True
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0), tzinfo=UTC), False
    if isinstance(value, (list, tuple)):
        return parse_datetime(value[0]) if value else None
    if isinstance(value, dict):
        return parse_datetime(value.get("@value") or value.get("value"))
    text = str(value).strip()
    if not text or len(text) > 60:
        return None
    if _EPOCH.match(text):
        seconds = int(text[:10])
        return dt.datetime.fromtimestamp(seconds, tz=UTC), True
    try:
        if _ISO_LIKE.match(text):
            iso = text.replace("Z", "+00:00").replace(" ", "T", 1)
            iso = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", iso)
            iso = _EXTRA_DIGITS.sub(r"\1", iso)
            parsed = dt.datetime.fromisoformat(iso)
            has_time = len(text) > 10
        else:
            from dateutil import parser as date_parser
            parsed = date_parser.parse(text, fuzzy=False)
            has_time = bool(_CLOCK_TIME.search(text))
    except (ValueError, OverflowError, TypeError):
        try:
            parsed = dt.datetime.fromisoformat(text[:10])
            has_time = False
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed, has_time


def _candidate(source: str, value: Any) -> Optional[DateCandidate]:
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    return DateCandidate(source, parsed[0], parsed[1])


def _jsonld_values(items: Sequence[dict], key: str) -> Iterable[Any]:
    for item in items:
        if item.get(key):
            yield item[key]


def published_candidates(page_meta: dict, extracted_meta: dict,
                         feed_published: Optional[dt.datetime]) -> list[DateCandidate]:
    """Publication-date candidates, most reliable source first."""
    out: list[Optional[DateCandidate]] = []
    if feed_published:
        out.append(_candidate("feed", feed_published))
    items = page_meta.get("jsonld") or []
    out.extend(_candidate("jsonld", v) for v in _jsonld_values(items, "datePublished"))
    meta = page_meta.get("meta") or {}
    out.extend(_candidate(f"meta:{k}", meta[k]) for k in _PUBLISHED_META if meta.get(k))
    for t in page_meta.get("times") or []:
        label = f"{t.get('itemprop', '')} {t.get('class', '')} {t.get('pubdate', '')}".lower()
        if "modif" in label or "updat" in label:
            continue
        if "published" in label or "pubdate" in label or "datepublished" in label:
            out.append(_candidate("time", t.get("datetime")))
    out.extend(_candidate("jsonld_created", v) for v in _jsonld_values(items, "dateCreated"))
    if page_meta.get("htmldate_published"):
        found = _candidate("htmldate", page_meta["htmldate_published"])
        if found is not None and found.value.time() == dt.time(0) and found.value.utcoffset() == dt.timedelta(0):
            found = dataclasses.replace(found, has_time=False)  # htmldate found a day only
        out.append(found)
    if extracted_meta.get("date"):
        out.append(_candidate("trafilatura", extracted_meta["date"]))
    return [c for c in out if c is not None]


def updated_candidates(page_meta: dict, feed_updated: Optional[dt.datetime]) -> list[DateCandidate]:
    """Update-time candidates, most reliable source first."""
    out: list[Optional[DateCandidate]] = []
    items = page_meta.get("jsonld") or []
    out.extend(_candidate("jsonld", v) for v in _jsonld_values(items, "dateModified"))
    meta = page_meta.get("meta") or {}
    out.extend(_candidate(f"meta:{k}", meta[k]) for k in _UPDATED_META if meta.get(k))
    if feed_updated:
        out.append(_candidate("feed", feed_updated))
    return [c for c in out if c is not None]


def acceptable(candidate: DateCandidate, now: dt.datetime,
               feed_date: Optional[dt.datetime], max_feed_skew: dt.timedelta = MAX_FEED_SKEW) -> bool:
    """False for a date in the future, before 1995, or farther than
    `max_feed_skew` from the feed's date."""
    value = candidate.utc
    if value > now + FUTURE_TOLERANCE or value < EARLIEST:
        return False
    if feed_date is not None and candidate.source != "feed":
        slack = dt.timedelta(days=1) if not candidate.has_time else dt.timedelta(0)
        if abs(value - feed_date.astimezone(UTC)) > max_feed_skew + slack:
            return False
    return True


def choose_candidate(candidates: Sequence[DateCandidate], now: dt.datetime,
                     feed_date: Optional[dt.datetime] = None,
                     max_feed_skew: dt.timedelta = MAX_FEED_SKEW) -> Optional[DateCandidate]:
    """The best supported acceptable candidate (see `choose_date`)."""
    kept = [c for c in candidates if acceptable(c, now, feed_date, max_feed_skew)]
    if not kept:
        return None

    def agrees(a: DateCandidate, b: DateCandidate) -> bool:
        if a.has_time and b.has_time:
            return abs(a.utc - b.utc) <= dt.timedelta(hours=12) or a.day == b.day
        return a.day == b.day or a.value.astimezone(UTC).date() == b.value.astimezone(UTC).date()

    def weight(c: DateCandidate) -> float:
        return SOURCE_WEIGHTS.get(c.source.split(":")[0], 0.5) * (1.0 if c.has_time else 0.5)

    best = None
    for rank, candidate in enumerate(kept):
        votes: dict[str, float] = {}
        for other in kept:
            if agrees(other, candidate):
                group = other.source.split(":")[0]
                votes[group] = max(votes.get(group, 0.0), weight(other))
        score = (round(sum(votes.values()), 6), candidate.has_time, -rank)
        if best is None or score > best[0]:
            best = (score, candidate)
    winner = best[1]
    if not winner.has_time:
        # A precise value from the same day, if any source has one.
        for candidate in kept:
            if candidate.has_time and agrees(candidate, winner):
                return candidate
    return winner


def choose_date(candidates: Sequence[DateCandidate], now: dt.datetime,
                feed_date: Optional[dt.datetime] = None,
                max_feed_skew: dt.timedelta = MAX_FEED_SKEW) -> Optional[dt.datetime]:
    """The best supported date, in UTC.

    Candidates that are not `acceptable` are refused. Each remaining one is
    supported by the sources that agree with it (same day, or within 12 hours),
    each source counting once with its weight (SOURCE_WEIGHTS, halved for a bare
    day); the best supported wins, ties going to a precise value, then to the
    more reliable source.

    Args:
      candidates: dated evidence, most reliable source first.
      now: the reference time; later dates are refused.
      feed_date: the feed's date; page dates far from it are refused.
      max_feed_skew: how far from the feed's date a page date may be.

    Returns:
      The winner as a tz-aware UTC datetime, or None if no candidate is acceptable.
    """
    winner = choose_candidate(candidates, now, feed_date, max_feed_skew)
    return winner.utc if winner is not None else None
