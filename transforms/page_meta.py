"""Metadata evidence read from a parsed HTML page, before extraction touches it.

`collect_page_meta` is called by the extraction stage on the page's lxml tree,
before trafilatura runs on the same tree. It never modifies the tree and returns
plain JSON-able values only, which the metadata stage weighs later.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterable, Optional
from urllib.parse import urljoin

import lxml.html

__all__ = ["collect_page_meta", "ARTICLE_TYPES"]

LOG = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset({
    "newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle",
    "askpublicnewsarticle", "blogposting", "liveblogposting", "socialmediaposting",
    "scholarlyarticle", "techarticle", "report", "webpage", "itempage", "medicalwebpage",
    "videoobject", "creativework", "satiricalarticle", "advertisercontentarticle",
})

# JSON-LD keys worth keeping (articleBody and the like are dropped: records stay small).
_JSONLD_KEYS = (
    "@type", "@id", "headline", "name", "alternativeHeadline", "author", "creator",
    "contributor", "publisher", "sourceOrganization", "datePublished", "dateCreated",
    "dateModified", "uploadDate", "description", "image", "thumbnailUrl", "articleSection",
    "keywords", "about", "inLanguage", "url", "mainEntityOfPage", "isAccessibleForFree",
)

# Meta names/properties kept in "meta" (lowercased). Prefixes keep whole families.
_META_EXACT = frozenset({
    "author", "authors", "byl", "byline", "creator", "article:author", "og:article:author",
    "article:published_time", "article:modified_time", "og:article:published_time",
    "og:article:modified_time", "article:published", "article:modified", "og:updated_time",
    "published_time", "modified_time", "article:section", "og:article:section",
    "article:tag", "og:article:tag", "keywords", "news_keywords", "description", "date",
    "pubdate", "publishdate", "publish-date", "publish_date", "published-date", "pub_date",
    "datepublished", "datemodified", "datecreated", "last-modified", "lastmod",
    "article.published", "article.updated", "article.created", "displaydate",
    "twitter:title", "twitter:description", "twitter:image", "twitter:image:src",
    "twitter:creator", "application-name", "section", "category", "language",
    "content-language", "citation_author", "citation_publication_date", "citation_date",
    "og:locale", "cxenseparse:author", "cxenseparse:recs:publishtime", "copyright",
})
_META_PREFIXES = ("dc.", "dcterms.", "parsely-", "sailthru.", "article:", "og:", "cxenseparse:")
_LIST_META = frozenset({"article:tag", "og:article:tag", "article:author", "og:article:author",
                        "author", "citation_author", "dc.creator", "parsely-author",
                        "sailthru.author", "article:section"})
_MAX_META_VALUE = 1000

_BYLINE_CLASS = re.compile(r"byline|\bauthor|autor|auteur|writer|reporter|journalist|"
                           r"article-?by|posted-?by", re.I)
_BYLINE_SKIP = re.compile(r"avatar|image|img|photo|bio\b|biography|about-?the|social|"
                          r"follow|share|more-from|related|comment", re.I)
_MAX_BYLINE = 200
_WS = re.compile(r"\s+")


def _text(el: lxml.html.HtmlElement) -> str:
    try:
        return _WS.sub(" ", el.text_content()).strip()
    except ValueError:
        return ""


def _attr(tree, xpath: str) -> Optional[str]:
    for value in tree.xpath(xpath):
        value = _WS.sub(" ", str(value)).strip()
        if value:
            return value
    return None


def _lenient_json(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("<!--"):
        raw = raw[4:]
    if raw.endswith("-->"):
        raw = raw[:-3]
    raw = raw.strip().rstrip(";")
    try:
        return json.loads(raw, strict=False)
    except ValueError:
        # Common breakage: raw newlines or tabs inside strings, trailing commas.
        fixed = re.sub(r",\s*([}\]])", r"\1", re.sub(r"[\x00-\x1f]", " ", raw))
        try:
            return json.loads(fixed, strict=False)
        except ValueError:
            return None


def _walk_jsonld(node: Any, depth: int = 0) -> Iterable[dict]:
    if depth > 4:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk_jsonld(item, depth + 1)
    elif isinstance(node, dict):
        if "@graph" in node:
            yield from _walk_jsonld(node["@graph"], depth + 1)
        if "@type" in node:
            yield node
        main = node.get("mainEntity")
        if isinstance(main, (dict, list)):
            yield from _walk_jsonld(main, depth + 1)


def _types(item: dict) -> list[str]:
    t = item.get("@type")
    values = t if isinstance(t, list) else [t]
    return [str(v).rsplit("/", 1)[-1].lower() for v in values if v]


def _trim(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_META_VALUE]
    if isinstance(value, list):
        return [_trim(v) for v in value[:30]]
    if isinstance(value, dict):
        return {str(k): _trim(v) for k, v in list(value.items())[:30]}
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def _jsonld(tree) -> tuple[list[dict], list[dict]]:
    """Article-like JSON-LD items (flattened from @graph) and other typed items."""
    articles, others = [], []
    for script in tree.xpath('//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]'):
        data = _lenient_json(script.text or "")
        for item in _walk_jsonld(data):
            kept = {k: _trim(item[k]) for k in _JSONLD_KEYS if k in item}
            if any(t in ARTICLE_TYPES for t in _types(item)):
                articles.append(kept)
            elif any(t in ("organization", "newsmediaorganization", "person", "website")
                     for t in _types(item)):
                others.append({k: kept[k] for k in ("@type", "name", "url") if k in kept})
    return articles, others


def _meta(tree) -> tuple[dict[str, str], dict[str, list[str]]]:
    meta: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for el in tree.xpath("//meta[@content]"):
        key = (el.get("property") or el.get("name") or el.get("itemprop")
               or el.get("http-equiv") or "").strip().lower()
        content = _WS.sub(" ", el.get("content") or "").strip()[:_MAX_META_VALUE]
        if not key or not content:
            continue
        if key in _META_EXACT or key.startswith(_META_PREFIXES):
            meta.setdefault(key, content)
            if key in _LIST_META and content not in lists.setdefault(key, []):
                lists[key].append(content)
    return meta, {k: v for k, v in lists.items() if len(v) > 1}


def _bylines(tree) -> list[str]:
    found: list[str] = []

    def add(value: str) -> None:
        if value and len(value) <= _MAX_BYLINE and value not in found:
            found.append(value)

    for el in tree.xpath('//a[@rel="author"] | //*[@itemprop="author"]'):
        names = el.xpath('.//*[@itemprop="name"]')
        if names:
            for name in names:
                add(_text(name) or (name.get("content") or "").strip())
        else:
            add(_text(el) or (el.get("content") or "").strip())
    xpath = ('//*[self::div or self::span or self::p or self::a or self::address or self::li'
             ' or self::strong or self::em or self::small][@class or @id or @data-testid]')
    for el in tree.xpath(xpath):
        label = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("data-testid"))))
        if _BYLINE_CLASS.search(label) and not _BYLINE_SKIP.search(label):
            # Innermost matches are the cleanest; skip containers of other matches.
            if any(_BYLINE_CLASS.search(" ".join(filter(None, (c.get("class"), c.get("id")))))
                   for c in el.iterdescendants() if isinstance(c.tag, str)):
                continue
            add(_text(el))
        if len(found) >= 20:
            break
    return found


def _times(tree) -> list[dict[str, str]]:
    out = []
    for el in tree.xpath("//time[@datetime]")[:10]:
        item = {"datetime": el.get("datetime").strip()}
        for attr in ("itemprop", "class", "pubdate"):
            if el.get(attr) is not None:
                item[attr] = (el.get(attr) or attr).strip()
        out.append(item)
    for el in tree.xpath('//*[@itemprop="datePublished" or @itemprop="dateModified"]'
                         '[not(self::meta)][@content or @datetime]')[:4]:
        out.append({"datetime": (el.get("content") or el.get("datetime")).strip(),
                    "itemprop": el.get("itemprop")})
    return out


def _htmldate(tree, url: Optional[str]) -> dict[str, Optional[str]]:
    try:
        import htmldate
    except ImportError:  # pragma: no cover - htmldate is a dependency
        return {}
    try:
        # htmldate deep-copies a tree it is given before cleaning it. One call only
        # (the original date): update times come from the page's own tags.
        found = htmldate.find_date(tree, url=url, original_date=True, extensive_search=False,
                                   outputformat="%Y-%m-%dT%H:%M:%S%z")
    except Exception as exc:  # noqa: BLE001 - a broken date never breaks a page
        LOG.debug("htmldate failed on %s: %s", url, exc)
        found = None
    return {"htmldate_published": found}


def collect_page_meta(tree: lxml.html.HtmlElement, url: Optional[str]) -> dict[str, Any]:
    """Gathers metadata evidence from a parsed page, without modifying it.

    Args:
      tree: the page as parsed by `lxml.html` (document root).
      url: the page's URL, to make link values absolute; may be None.

    Returns:
      A JSON-able dict: canonical, og_url, og_title, og_site_name, og_description,
      og_image, og_type, html_lang, h1 (list), title_tag, jsonld (article-like
      items), jsonld_other (organisations, websites, persons), meta (lowercased
      name/property -> first content), meta_lists (keys seen with several values),
      byline (list), times (time elements), htmldate_published.
    """
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree

    def absolute(value: Optional[str]) -> Optional[str]:
        if value and url and not value.startswith(("http://", "https://")):
            try:
                return urljoin(url, value)
            except ValueError:
                return value
        return value

    meta, meta_lists = _meta(root)
    jsonld, jsonld_other = _jsonld(root)
    title_el = root.find(".//title")
    lang = root.get("lang") or root.get("xml:lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    page = {
        "canonical": absolute(_attr(root, '//link[contains(concat(" ", normalize-space(@rel), " "), " canonical ")]/@href')),
        "og_url": absolute(meta.get("og:url")),
        "og_title": meta.get("og:title"),
        "og_site_name": meta.get("og:site_name"),
        "og_description": meta.get("og:description"),
        "og_image": absolute(meta.get("og:image") or meta.get("og:image:url")
                             or meta.get("og:image:secure_url")),
        "og_type": meta.get("og:type"),
        "html_lang": (lang or "").strip() or None,
        "h1": [t for t in (_text(h)[:500] for h in root.xpath("//h1")[:5]) if t],
        "title_tag": _text(title_el)[:500] if title_el is not None else None,
        "jsonld": jsonld,
        "jsonld_other": jsonld_other,
        "meta": meta,
        "meta_lists": meta_lists,
        "byline": _bylines(root),
        "times": _times(root),
    }
    page.update(_htmldate(root, url))
    return page
