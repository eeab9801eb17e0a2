"""Metadata stage: title, authors, agencies, dates and page facts from the best evidence.

Reads what extraction gathered (the feed entry, `page_meta` from
`transforms.page_meta.collect_page_meta`, trafilatura's `extracted_meta`) and the
raw extracted text, and sets title, site_name, authors, agencies, published_at,
updated_at, description, image_url, section, topics and dateline. A dateline
(`WASHINGTON –`) is moved out of the text into its own field. The rules per
field live in `titles.py`, `authors.py` and `dates.py`; docs/metadata.md has
the measurements.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from typing import Any, Iterable, Optional
from urllib.parse import urljoin

import apache_beam as beam

from schemas.records import Article
from transforms import authors as _authors
from transforms import dates as _dates
from transforms.common import ParDoWithRejects, counter
from transforms.titles import choose_title, normalise_title, site_keys

__all__ = ["ResolveMetadata", "resolve_metadata", "published_evidence", "split_dateline", "MAX_TOPICS"]

STAGE = "metadata"
MAX_TOPICS = 25

_UPPER = "A-ZÀ-ÖØ-ÞĀ-ŽА-Я"
_DATELINE = re.compile(
    rf"^(?P<place>[{_UPPER}][{_UPPER}'’.\- ]{{1,40}}?"          # WASHINGTON / NEW YORK
    rf"(?:,\s*[^\n–—()]{{1,40}}?)?)"                            # , 18 March / , Calif.
    rf"\s*(?:\((?P<agency>[^()\n]{{2,40}})\))?"                 # (AFP)
    r"\s*(?:[–—]|-{1,2})\s+(?=\S)")
_DATELINE_TITLECASE = re.compile(
    rf"^(?P<place>[{_UPPER}][\w'’.\- ]{{1,40}}?(?:,\s*[^\n–—()]{{1,40}}?)?)"
    r"\s*\((?P<agency>[^()\n]{2,40})\)\s*(?:[–—:]|-{1,2})\s+(?=\S)")
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_KEYWORD_SEPARATOR = re.compile(r"[,;]")
_NAME_SEPARATOR = re.compile(r";|\|")


def split_dateline(text: str, title: Optional[str] = None) -> tuple[Optional[str], Optional[str], str]:
    """(dateline, agency credited in it, text without it).

    A dateline is an upper-case place (optionally with a date) followed by a
    dash at the very start of the text (or right after a headline line equal to
    `title`): 'WASHINGTON – ...', 'PARIS (AFP) - ...', 'Berlin (dpa) - ...'.
    """
    if not text:
        return None, None, text
    offset = 0
    first, _, rest = text.partition("\n")
    if title and first.strip().casefold() == title.strip().casefold() and rest:
        offset = len(first) + 1
        rest = text[offset:]
        lead = len(rest) - len(rest.lstrip())
        offset += lead
    body = text[offset:]
    m = _DATELINE.match(body)
    if m:
        place = m.group("place").strip()
        letters = [c for c in place.split(",")[0] if c.isalpha()]
        if not letters or not all(c.isupper() for c in letters) or len(letters) < 3:
            m = None
    if not m:
        m = _DATELINE_TITLECASE.match(body)
        if m and not _authors.agency_name(m.group("agency").split("/")[0]):
            m = None
    if not m:
        return None, None, text
    agency = m.group("agency")
    return m.group("place").strip(" ,"), agency, text[:offset] + body[m.end():]


def _first_str(*values: Any) -> Optional[str]:
    for value in values:
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, (str, dict))), None)
        if isinstance(value, dict):
            value = value.get("url") or value.get("contentUrl") or value.get("@id") or value.get("name")
        if isinstance(value, str):
            value = _SPACES.sub(" ", html.unescape(_TAGS.sub(" ", value))).strip()
            if value:
                return value
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, list):
        return [n for v in value for n in _names(v)]
    return [value.strip()] if isinstance(value, str) and value.strip() else []


def _split_keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        return [k for v in value for k in _split_keywords(v)]
    if not isinstance(value, str):
        return []
    return [k.strip() for k in _KEYWORD_SEPARATOR.split(value) if k.strip()]


def _site_name(page: dict, article_ld: list[dict], entry, extracted: dict,
               title_candidates: list[tuple[str, str]]) -> Optional[str]:
    publisher = next((n for item in article_ld for n in _names(item.get("publisher"))), None)
    other = next((o.get("name") for o in page.get("jsonld_other") or []
                  if "organization" in str(o.get("@type", "")).lower() and o.get("name")), None)
    app, guessed = (page.get("meta") or {}).get("application-name"), extracted.get("sitename")
    return _first_str(page.get("og_site_name"), publisher,
                      None if _is_a_title(app, title_candidates) else app,
                      other, getattr(entry, "feed_title", None),
                      None if _is_a_title(guessed, title_candidates) else guessed)


def _title_candidates(page: dict, article_ld: list[dict], entry, extracted: dict):
    meta = page.get("meta") or {}
    out = [("jsonld", _first_str(item.get("headline"))) for item in article_ld[:2]]
    out += [("og", page.get("og_title")), ("feed", getattr(entry, "title", None))]
    out += [("h1", h) for h in (page.get("h1") or [])[:2]]
    out += [("twitter", meta.get("twitter:title")), ("trafilatura", extracted.get("title")),
            ("title_tag", page.get("title_tag"))]
    return [(s, html.unescape(t)) for s, t in out if t]


def _is_a_title(name: Any, candidates: list[tuple[str, str]]) -> bool:
    """Whether a supposed site name is one of the page's titles.

    Without a site name in the page, trafilatura takes a part of `<title>` for its
    sitename, often the headline itself, and some pages repeat the headline in
    `application-name`. Used as a site name, it would strip the headline away.
    """
    return isinstance(name, str) and any(
        normalise_title(name) == normalise_title(t) for _, t in candidates)


def _topics(page: dict, article_ld: list[dict], extracted: dict) -> list[str]:
    meta, lists = page.get("meta") or {}, page.get("meta_lists") or {}
    values: list[str] = []
    for key in ("article:tag", "og:article:tag"):
        values += lists.get(key) or _split_keywords(meta.get(key))
    for item in article_ld:
        values += _split_keywords(item.get("keywords"))
    for key in ("news_keywords", "keywords", "parsely-tags", "sailthru.tags"):
        values += _split_keywords(meta.get(key))
    values += _split_keywords(extracted.get("tags"))
    seen, out = set(), []
    for value in values:
        value = _SPACES.sub(" ", value).strip()
        key = value.casefold()
        if value and len(value) <= 60 and key not in seen and ":" not in value:
            seen.add(key)
            out.append(value)
    return out[:MAX_TOPICS]


def _absolute(url: Optional[str], base: Optional[str]) -> Optional[str]:
    if url and base and not url.startswith(("http://", "https://")):
        try:
            return urljoin(base, url)
        except ValueError:
            return url
    return url


def _credit_sources(page: dict, article_ld: list[dict], entry, extracted: dict, text: str,
                    keys: set[str]) -> list[tuple[str, _authors.Credits]]:
    meta, lists = page.get("meta") or {}, page.get("meta_lists") or {}
    meta_credits: list[str] = []
    for key in ("author", "article:author", "og:article:author", "parsely-author",
                "sailthru.author", "dc.creator", "dcterms.creator", "citation_author", "byl",
                "cxenseparse:author", "authors"):
        for value in lists.get(key) or ([meta[key]] if meta.get(key) else []):
            if not value.startswith(("http://", "https://")):
                meta_credits.append(value)
    jsonld = _authors.jsonld_credits(article_ld, keys)
    meta_names = _authors.person_names(meta_credits, keys, handles=True)
    # The first byline that names anyone: a label alone ('Von', 'Autor:') is skipped, up
    # to the third byline; so is the site's name, unless JSON-LD or meta credit it too.
    site_credited = jsonld.organisations or meta_names.organisations
    byline = _authors.Credits()
    for value in (page.get("byline") or [])[:3]:
        byline = _authors.person_names([value], keys, handles=True)
        if (byline.persons or byline.handles or byline.agencies
                or (byline.organisations and site_credited)):
            break
    traf_author = extracted.get("author") or ""
    return [
        ("jsonld", jsonld),
        ("meta", meta_names),
        ("byline", byline),
        ("trafilatura", _authors.person_names(
            _NAME_SEPARATOR.split(traf_author), keys,
            handles=not _NAME_SEPARATOR.search(traf_author))),
        ("feed", _authors.person_names(getattr(entry, "authors", None) or [], keys, handles=True)),
        ("text", _authors.contributor_credits(text, keys)),
        ("jsonld_creator", _authors.jsonld_credits(article_ld, keys, key="creator")),
        ("signature", _authors.signature_credits(text, keys)),
    ]


def published_evidence(article: Article, now: dt.datetime) -> Optional[_dates.DateCandidate]:
    """The publication-date candidate chosen for the article (with its own offset)."""
    feed_published = getattr(article.entry, "published", None)
    return _dates.choose_candidate(
        _dates.published_candidates(article.page_meta or {}, article.extracted_meta or {},
                                    feed_published), now, feed_published)


def resolve_metadata(article: Article, now: Optional[dt.datetime] = None) -> Article:
    """The article with its metadata fields resolved from the evidence it carries.

    Args:
      article: an Article fresh from extraction (entry, page_meta, extracted_meta, raw text).
      now: reference time for refusing future dates (default: the fetch time, or now).

    Returns:
      A copy with title, site_name, authors, agencies, published_at, updated_at,
      description, image_url, section, topics and dateline set, the dateline
      removed from the text.
    """
    page = article.page_meta or {}
    extracted = article.extracted_meta or {}
    entry = article.entry
    base_url = page.get("final_url") or article.url
    article_ld = [i for i in page.get("jsonld") or [] if not any(
        t in str(i.get("@type", "")).lower() for t in ("webpage", "itempage"))]
    article_ld += [i for i in page.get("jsonld") or [] if i not in article_ld]
    candidates = _title_candidates(page, article_ld, entry, extracted)
    site_name = _site_name(page, article_ld, entry, extracted, candidates) or article.site_name
    names_for_keys = [site_name, page.get("og_site_name"), getattr(entry, "feed_title", None)]
    names_for_keys += [n for item in article_ld for n in _names(item.get("publisher"))]
    names_for_keys += [o.get("name") for o in page.get("jsonld_other") or []
                       if "person" not in str(o.get("@type", "")).lower()]
    keys = site_keys([n for n in names_for_keys + [extracted.get("sitename")]
                      if isinstance(n, str)], base_url)
    meta = page.get("meta") or {}

    section = _first_str(meta.get("article:section"), meta.get("og:article:section"),
                         *[i.get("articleSection") for i in article_ld],
                         meta.get("parsely-section"), meta.get("section"),
                         (_split_keywords(extracted.get("categories")) or [None])[0])
    sections = [s for s in (section, meta.get("category")) if s]
    title_keys = site_keys([n for n in names_for_keys if isinstance(n, str)], base_url) \
        if _is_a_title(extracted.get("sitename"), candidates) else keys
    title = choose_title(candidates, title_keys, sections) or article.title

    dateline, dateline_agency, text = split_dateline(article.text, title)
    authors, agencies = _authors.resolve_authors(
        _credit_sources(page, article_ld, entry, extracted, article.text, keys))
    if dateline_agency:
        for piece in re.split(r"[/,]", dateline_agency):
            agency = _authors.agency_name(piece)
            if agency and agency not in agencies:
                agencies.append(agency)

    now = now or article.fetched_at or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    chosen = published_evidence(article, now)
    published = chosen.utc if chosen is not None else None
    updated = _dates.choose_date(
        _dates.updated_candidates(page, getattr(entry, "updated", None)), now)
    if updated is not None and published is not None and updated <= published:
        updated = None

    description = _first_str(page.get("og_description"), meta.get("description"),
                             *[i.get("description") for i in article_ld],
                             meta.get("twitter:description"), getattr(entry, "summary", None),
                             extracted.get("description"))
    image = _first_str(page.get("og_image"), *[i.get("image") for i in article_ld],
                       meta.get("twitter:image"), meta.get("twitter:image:src"),
                       extracted.get("image"))
    return dataclasses.replace(
        article,
        text=text,
        title=title,
        site_name=site_name,
        authors=authors,
        agencies=agencies,
        published_at=published,
        updated_at=updated,
        description=description,
        image_url=_absolute(image, base_url),
        section=section,
        topics=_topics(page, article_ld, extracted),
        dateline=dateline,
    )


class _ResolveMetadataDoFn(beam.DoFn):
    def setup(self):
        self._resolved = counter(STAGE, "resolved")
        self._no_title = counter(STAGE, "no_title")
        self._no_date = counter(STAGE, "no_published_at")
        self._no_authors = counter(STAGE, "no_authors")

    def process(self, article: Article) -> Iterable[Article]:
        resolved = resolve_metadata(article)
        self._resolved.inc()
        if not resolved.title:
            self._no_title.inc()
        if resolved.published_at is None:
            self._no_date.inc()
        if not resolved.authors:
            self._no_authors.inc()
        yield resolved


class ResolveMetadata(beam.PTransform):
    """Article -> Article with title, authors, dates and page facts resolved.

    Args:
      run_id: identifier of the run, copied onto rejects.
    """

    def __init__(self, run_id: Optional[str] = None):
        super().__init__()
        self._run_id = run_id

    def expand(self, articles):
        return articles | "Resolve" >> ParDoWithRejects(
            _ResolveMetadataDoFn(), STAGE, self._run_id)
