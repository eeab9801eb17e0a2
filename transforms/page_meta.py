"""Metadata evidence read from a parsed HTML page, before extraction touches it.

`collect_page_meta` is called by the extraction stage on the page's lxml tree,
before trafilatura runs on the same tree. It never modifies the tree and returns
plain JSON-able values only, which the metadata stage weighs later.
"""
from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from typing import Any, Iterable, Optional
from urllib.parse import urljoin

import lxml.html
from lxml import etree

__all__ = ["collect_page_meta", "attribute_values", "ARTICLE_TYPES"]

LOG = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset({
    "newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle",
    "askpublicnewsarticle", "blogposting", "liveblogposting", "socialmediaposting",
    "scholarlyarticle", "techarticle", "report", "webpage", "itempage", "medicalwebpage",
    "videoobject", "creativework", "satiricalarticle", "advertisercontentarticle",
})

_OTHER_TYPES = frozenset({"organization", "newsmediaorganization", "person", "website"})

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

# 'author' as a word of a class name, BEM and camelCase included ('article__author',
# 'postAuthor', 'author-name'), not inside a word ('coauthored').
_BYLINE_CLASS = re.compile(r"(?i:byline|autor|auteur|writer|reporter|journalist|article-?by|"
                           r"posted-?by)|(?<![A-Za-z])(?i:author)|(?<=[a-z])Author")
_BYLINE_SKIP = re.compile(r"avatar|image|img|photo|bio\b|biography|about-?the|social|"
                          r"follow|share|more-from|related|comment", re.I)
_BYLINE_TAGS = frozenset({"div", "span", "p", "a", "address", "li", "strong", "em", "small"})
_MAX_BYLINES = 20
_MAX_BYLINE = 200


def _squash(text: str) -> str:
    """Each run of whitespace as one space, none at the ends (as re's \\s+ and strip)."""
    return " ".join(text.split())


def _text(el: lxml.html.HtmlElement) -> str:
    try:
        return _squash(el.text_content())
    except ValueError:
        return ""


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
    # Strings in lists and dicts are cut here, without a call each.
    if isinstance(value, list):
        return [v[:_MAX_META_VALUE] if isinstance(v, str) else _trim(v) for v in value[:30]]
    if isinstance(value, dict):
        return {str(k): v[:_MAX_META_VALUE] if isinstance(v, str) else _trim(v)
                for k, v in itertools.islice(value.items(), 30)}
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


# The elements read by their tag, gathered in one walk (lxml tests the tags in C).
_TAGS = ("meta", "link", "script", "h1", "time", "title")
_LDJSON_CASE = str.maketrans("LDJSON", "ldjson")  # as XPath translate(@type, "LDJSON", "ldjson")
_XPATH_SPACE = re.compile(r"[ \t\r\n]+")  # the blanks of XPath's normalize-space


def _by_tag(root) -> dict[str, list]:
    """The page's `_TAGS` elements, each tag's in document order, in one walk."""
    found: dict[str, list] = {tag: [] for tag in _TAGS}
    for el in root.iter(*_TAGS):
        found[el.tag].append(el)
    return found


def _jsonld(scripts: list) -> tuple[list[dict], list[dict]]:
    """Article-like JSON-LD items (flattened from @graph) and other typed items.

    Reads the scripts whose type holds 'ld+json' (ignoring the case of those letters).
    """
    articles, others = [], []
    for script in scripts:
        kind = script.get("type")
        if kind is None or "ld+json" not in kind.translate(_LDJSON_CASE):
            continue
        data = _lenient_json(script.text or "")
        for item in _walk_jsonld(data):
            types = _types(item)
            if any(t in ARTICLE_TYPES for t in types):
                articles.append({k: _trim(item[k]) for k in _JSONLD_KEYS if k in item})
            elif any(t in _OTHER_TYPES for t in types):
                others.append({k: _trim(item[k]) for k in ("@type", "name", "url") if k in item})
    return articles, others


def _meta(metas: list) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Kept meta tags with content: first content per key, and keys seen with several."""
    meta: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for el in metas:
        content = el.get("content")
        if content is None:
            continue
        key = (el.get("property") or el.get("name") or el.get("itemprop")
               or el.get("http-equiv") or "").strip().lower()
        if not key or not (key in _META_EXACT or key.startswith(_META_PREFIXES)):
            continue
        content = _squash(content)[:_MAX_META_VALUE]
        if not content:
            continue
        meta.setdefault(key, content)
        if key in _LIST_META and content not in lists.setdefault(key, []):
            lists[key].append(content)
    return meta, {k: v for k, v in lists.items() if len(v) > 1}


def _canonical(links: list) -> Optional[str]:
    """The first non-blank href of a link whose rel has the token 'canonical'."""
    for el in links:
        rel, href = el.get("rel"), el.get("href")
        if rel is None or href is None or "canonical" not in _XPATH_SPACE.split(rel):
            continue
        href = _squash(href)
        if href:
            return href
    return None


# Bylines and itemprop dates in two XPath steps that make no element objects but for
# the few candidates: the class/id/data-testid/itemprop/rel values as plain strings,
# scanned at once for byline words; then the elements holding one of the values found.
_LABELS = {name: etree.XPath(path, smart_strings=False) for name, path in (
    ("class", "/descendant::*/@class"), ("id", "/descendant::*/@id"),
    ("data-testid", "/descendant::*/@data-testid"), ("itemprop", "/descendant::*/@itemprop"),
    ("rel", "/descendant::a/@rel"))}
_NAMED = ("class", "id", "data-testid")  # the attributes a byline word marks
_ITEMPROPS = frozenset({"author", "datePublished", "dateModified"})
_DATE_ITEMPROPS = ("datePublished", "dateModified")
# One branch per attribute that marks a candidate on the page (see `_candidates`).
_BRANCHES = {name: f"/descendant::*/@{name}[. = $values]/.." for name in _NAMED}
_BRANCHES["itemprop"] = ('/descendant::*/@itemprop[. = "author" or . = "datePublished"'
                         ' or . = "dateModified"]/..')
_BRANCHES["rel"] = '/descendant::a/@rel[. = "author"]/..'
_ITEMPROP_NAME = etree.XPath('.//*[@itemprop="name"]')
# Lower-case substrings, one at least in any value `_BYLINE_CLASS` matches: 'aut' for
# author/autor/auteur, 'by' for byline and article-by/posted-by (with or without '-').
_BYLINE_STEMS = ("aut", "by", "writer", "reporter", "journalist")


def _matching(values: Iterable[str]) -> set[str]:
    """The values that `_BYLINE_CLASS` matches (give each value once: a set).

    The values are joined by NUL (no attribute value holds one) and lower-cased
    once; only values holding one of `_BYLINE_STEMS` go to the regex. When
    lower-casing is not one character for one, or leaves a character that `re.I`
    folds onto the pattern's letters (dotless i, long s), every value goes to it.
    """
    values = list(values)
    blob = "\x00".join(values)
    low = blob.lower()
    if len(low) != len(blob) or "ı" in low or "ſ" in low:
        return {v for v in values if _BYLINE_CLASS.search(v)}
    found, tried = set(), set()
    for stem in _BYLINE_STEMS:
        at = low.find(stem)
        while at >= 0:
            start, end = low.rfind("\x00", 0, at) + 1, low.find("\x00", at)
            end = len(low) if end < 0 else end
            if start not in tried:
                tried.add(start)
                value = blob[start:end]
                if _BYLINE_CLASS.search(value):
                    found.add(value)
            at = low.find(stem, end)
    return found


@functools.lru_cache(maxsize=None)
def _branches_xpath(names: tuple[str, ...]) -> etree.XPath:
    return etree.XPath(" | ".join(_BRANCHES[name] for name in names))


def _is_candidate(el, matching: set[str]) -> bool:
    return (any(el.get(a) in matching for a in _NAMED) or el.get("itemprop") in _ITEMPROPS
            or (el.tag == "a" and el.get("rel") == "author"))


def attribute_values(root) -> dict[str, list[str]]:
    """The page's class, id, data-testid and itemprop values and its links' rel values.

    Each a list in document order, one entry per element that has the attribute.
    `collect_page_meta` reads them; the extraction stage reads them once for it
    and for trafilatura's metadata (`transforms.extract`).
    """
    return {name: xpath(root) for name, xpath in _LABELS.items()}


def _candidates(root, values: Optional[dict[str, list[str]]] = None) -> tuple[set[str], list]:
    """The class/id/data-testid values with a byline word, and the candidate elements.

    Candidates, in document order: the elements whose class, id or data-testid is
    one of those values, with an itemprop author/datePublished/dateModified, or
    `a` elements with rel=author. Only the attributes present on the page get an
    XPath branch.
    """
    values = values if values is not None else attribute_values(root)
    distinct = {name: set(values[name]) for name in _NAMED if values[name]}
    matching = _matching(set().union(*distinct.values()))
    names = [name for name in distinct if not matching.isdisjoint(distinct[name])]
    if not _ITEMPROPS.isdisjoint(values["itemprop"]):
        names.append("itemprop")
    if "author" in values["rel"]:
        names.append("rel")
    if not names:
        return matching, []
    box = etree.Element("values")
    try:
        for value in matching:
            etree.SubElement(box, "v").text = value
    except ValueError:  # a control character: no XPath node can carry it
        return matching, [el for el in root.iter() if isinstance(el.tag, str)
                          and _is_candidate(el, matching)]
    return matching, _branches_xpath(tuple(names))(root, values=list(box))


def _label(el, *attrs: str) -> str:
    return " ".join(filter(None, (el.get(a) for a in attrs)))


def _bylines_of(candidates: list, matching: set[str]) -> list[str]:
    """Byline texts, at most `_MAX_BYLINES`, in this order:

    1. `rel=author` links and `itemprop=author` elements (their `itemprop=name`
       parts when they have some, else their text or `content`);
    2. elements (div, span, p, a, ...) whose class, id or data-testid says
       byline/author/writer/... and not avatar/bio/share/..., innermost only: an
       element holding another such match is a container and is skipped.

    `candidates` and `matching` come from `_candidates`.
    """
    found: list[str] = []

    def add(value: str) -> None:
        if value and len(value) <= _MAX_BYLINE and value not in found:
            found.append(value)

    for el in candidates:
        if el.get("itemprop") == "author" or (el.tag == "a" and el.get("rel") == "author"):
            names = _ITEMPROP_NAME(el)
            for name in names:
                add(_text(name) or (name.get("content") or "").strip())
            if not names:
                add(_text(el) or (el.get("content") or "").strip())
    labelled = [el for el in candidates if any(el.get(a) in matching for a in _NAMED)]
    containers = set()
    for el in labelled:
        if el.get("class") in matching or el.get("id") in matching:
            containers.update(el.iterancestors())
    for el in labelled:
        if len(found) >= _MAX_BYLINES:
            break
        if el.tag in _BYLINE_TAGS and el not in containers:
            if not _BYLINE_SKIP.search(_label(el, "class", "id", "data-testid")):
                add(_text(el))
    return found


def _bylines(tree) -> list[str]:
    """Byline texts of a page (see `_bylines_of`), on their own."""
    matching, candidates = _candidates(tree)
    return _bylines_of(candidates, matching)


def _times(times: list, candidates: list) -> list[dict[str, str]]:
    """`time` elements with a datetime (10 at most), then itemprop dates outside meta (4)."""
    out = []
    for el in [el for el in times if el.get("datetime") is not None][:10]:
        item = {"datetime": el.get("datetime").strip()}
        for attr in ("itemprop", "class", "pubdate"):
            if el.get(attr) is not None:
                item[attr] = (el.get(attr) or attr).strip()
        out.append(item)
    dated = [el for el in candidates if el.get("itemprop") in _DATE_ITEMPROPS
             and el.tag != "meta" and (el.get("content") is not None
                                       or el.get("datetime") is not None)]
    for el in dated[:4]:
        # An empty content and no datetime: an empty value (it used to raise, losing the page).
        out.append({"datetime": (el.get("content") or el.get("datetime") or "").strip(),
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


def collect_page_meta(tree: lxml.html.HtmlElement, url: Optional[str],
                      values: Optional[dict[str, list[str]]] = None) -> dict[str, Any]:
    """Gathers metadata evidence from a parsed page, without modifying it.

    The tagged elements (meta, link, script, h1, time, title) come from one walk
    over the page; bylines and itemprop dates from the attribute values (see
    `_candidates`).

    Args:
      tree: the page as parsed by `lxml.html` (document root).
      url: the page's URL, to make link values absolute; may be None.
      values: `attribute_values` of the page, when the caller has them already.

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

    tagged = _by_tag(root)
    meta, meta_lists = _meta(tagged["meta"])
    jsonld, jsonld_other = _jsonld(tagged["script"])
    matching, candidates = _candidates(root, values)
    title_el = next((el for el in tagged["title"] if el is not root), None)
    lang = root.get("lang") or root.get("xml:lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    page = {
        "canonical": absolute(_canonical(tagged["link"])),
        "og_url": absolute(meta.get("og:url")),
        "og_title": meta.get("og:title"),
        "og_site_name": meta.get("og:site_name"),
        "og_description": meta.get("og:description"),
        "og_image": absolute(meta.get("og:image") or meta.get("og:image:url")
                             or meta.get("og:image:secure_url")),
        "og_type": meta.get("og:type"),
        "html_lang": (lang or "").strip() or None,
        "h1": [t for t in (_text(h)[:500] for h in tagged["h1"][:5]) if t],
        "title_tag": _text(title_el)[:500] if title_el is not None else None,
        "jsonld": jsonld,
        "jsonld_other": jsonld_other,
        "meta": meta,
        "meta_lists": meta_lists,
        "byline": _bylines_of(candidates, matching),
        "times": _times(tagged["time"], candidates),
    }
    page.update(_htmldate(root, url))
    return page
