"""trafilatura's metadata of a parsed page, as its `extract_metadata` finds it, for less work.

`trafilatura_metadata` runs trafilatura's own steps in its order, with two cuts
(no licence search; its regex reading of JSON-LD that does not parse bounded in
length) and cheaper forms of the same searches: JSON-LD scripts found without
XPath and parsed without the minifier when that gives the same value, category
and tag searches only over the links they could keep, and the regex tests of
its author, category and tag XPaths run as set tests on the page's attribute
values (`_SetXPath`). The results are trafilatura's (docs/performance.md,
"Third round: extraction").
"""
from __future__ import annotations

import html
import re
from typing import Any, Optional

from lxml import etree

from transforms.set_xpath import PAGE_WIDE_ATTRIBUTES, AttributeValues, rewrite

__all__ = ["JSON_FALLBACK_MAX_CHARS", "trafilatura_metadata"]

# trafilatura's JSON minifier (strings kept, white space outside them dropped), as the
# tokens it keeps: findall joins them in C where `sub(r"\1")` calls Python for each match.
# The string token unrolled ("[^"\\]*(?:\\.[^"\\]*)*" for "(?:\\.|[^"\\])*"): the same matches,
# each run of plain characters taken in one step (3x faster).
_JSON_KEPT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]+|"')
_JSON_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SURROGATES = re.compile("[\ud800-\udfff]")
# The scripts trafilatura reads as JSON metadata (exact @type values).
_JSON_SCRIPT_TYPES = ("application/ld+json", "application/settings+json")
# The links of the page, whose URLs tell whether trafilatura's category and tag searches
# could keep one, and its category fallback.
_LINKS = etree.XPath("/descendant::a/@href", smart_strings=False)
_LINKS_WITH = etree.XPath("/descendant::a/@href[. = $hrefs]/..")
_CATEGORY_META = './/head//meta[@property="article:section" or contains(@name, "subject")][@content]'
# trafilatura's regex reading of a JSON-LD block that does not parse stops here.
JSON_FALLBACK_MAX_CHARS = 20_000

_META_KEYS = ("title", "author", "date", "sitename", "description", "categories",
              "tags", "image", "hostname", "url", "pagetype", "language")


def trafilatura_metadata(tree, url: Optional[str] = None,
                         values: Optional[dict[str, list[str]]] = None) -> dict[str, Any]:
    """trafilatura's metadata of a parsed page, as `extract_metadata` finds it, cheaper.

    The same steps in the same order (as `bare_extraction(fast=True,
    with_metadata=True)` calls them), with two cuts: no licence search (never
    used), and trafilatura's regex fallback for a JSON-LD block that does not
    parse reads only its first `JSON_FALLBACK_MAX_CHARS` characters (its regexes
    are quadratic in the length: 1.2 s for one 800 KB live-blog block). Its
    author, category and tag XPaths and its JSON-LD reading find the same things
    with less work (`_SetXPath`, `_meta_json`).

    Args:
      tree: the page parsed by lxml (not modified).
      url: the page URL.
      values: the page's attribute values (`transforms.page_meta.attribute_values`),
        when the caller has them already.

    Returns:
      The non-empty values of `_META_KEYS`.
    """
    from trafilatura import metadata as tm
    from trafilatura.settings import set_date_params

    found = tm.examine_meta(tree)
    if found.author and " " not in found.author:
        found.author = None
    try:
        found = _meta_json(tree, found)
    except Exception:  # noqa: BLE001 - as trafilatura: bugs in its JSON-LD reading
        pass
    found.title = found.title or tm.extract_title(tree)
    labels = AttributeValues(tree, {name: values[name] for name in PAGE_WIDE_ATTRIBUTES} if values else None)
    found.author = found.author or _author(tree, labels)
    found.url = found.url or tm.extract_url(tree, url)
    if found.url:
        found.hostname = tm.extract_domain(found.url, fast=True)
    found.date = tm.find_date(tree, **set_date_params(True), url=found.url)
    if not found.sitename:
        found.sitename = tm.extract_sitename(tree)
    if found.sitename:
        found.sitename = found.sitename.lstrip("@")
        if found.sitename and "." not in found.sitename and not found.sitename[0].isupper():
            found.sitename = found.sitename.title()
    elif found.url:
        match = tm.META_URL.match(found.url)
        if match:
            found.sitename = match[1]
    if not found.categories or not found.tags:
        links = [href for href in _LINKS(tree) if "/categor" in href or "/tag" in href]
        found.categories = found.categories or _catstags("category", tree, links, labels)
        found.tags = found.tags or _catstags("tag", tree, links, labels)
    found.clean_and_trim()
    return {k: v for k in _META_KEYS if (v := getattr(found, k, None)) not in (None, "", [])}


def _catstags(kind: str, tree, links: list[str], labels: AttributeValues) -> list[str]:
    """trafilatura's `extract_catstags`, its XPath regex tests as set tests (`_SetXPath`).

    Its link searches keep only links whose URL its regex finds
    ('/category/', '/tags/', ...): they are skipped when no link of the page
    (`links`: those with '/categor' or '/tag') has such a URL, and otherwise
    look only at those links (`_SetXPath.among`).
    """
    from trafilatura import metadata as tm

    results: list[str] = []
    pattern = re.compile("/" + kind.rstrip("y") + "(?:y|ies|s)?/")
    hrefs = [url for url in links if pattern.search(url)]
    if hrefs:
        elements = _link_elements(tree, hrefs)
        for expression in _CATEGORIES_XPATHS if kind == "category" else _TAGS_XPATHS:
            found = expression(tree, labels) if elements is None else expression.among(
                tree, labels, elements)
            results.extend(tm.block_text(element) for element in found
                           if pattern.search(element.attrib["href"]))
            if results:
                break
    if kind == "category" and not results:
        results = [element.attrib["content"] for element in tree.xpath(_CATEGORY_META)]
    return [r for r in dict.fromkeys(tm.line_processing(x) for x in results if x) if r]


def _link_elements(tree, hrefs: list[str]) -> Optional[list]:
    """The page's `a` elements whose href is one of `hrefs`, in document order.

    None when an href has a character no XPath node can carry.
    """
    box = etree.Element("values")
    try:
        for href in set(hrefs):
            etree.SubElement(box, "v").text = href
    except ValueError:
        return None
    return _LINKS_WITH(tree, hrefs=list(box))


def _author(tree, labels: AttributeValues) -> Optional[str]:
    """trafilatura's `extract_author`, its XPath regex tests as set tests (`_SetXPath`)."""
    from copy import deepcopy

    from trafilatura import metadata as tm
    from trafilatura.xml import delete_element

    subtree = deepcopy(tree)
    for expression in _AUTHOR_DISCARD_XPATHS:  # as prune_unwanted_nodes
        for element in expression(subtree, labels):
            delete_element(element)
    for expression in _AUTHOR_XPATHS:  # as extract_metainfo(len_limit=120)
        for element in expression(subtree, labels):
            content = tm.trim(" ".join(element.itertext()))
            if content and 2 < len(content) < 120:
                return tm.normalize_authors(None, content)
    return None


class _SetXPath:
    """A trafilatura metadata XPath whose attribute tests are set tests.

    lxml calls Python's `re.search` once per element for each `re:test`
    (about 3 ms per expression on a news page). Here each test becomes
    `@attr = $vN` (`transforms.set_xpath.rewrite`), $vN holding the page's
    distinct `attr` values that the test finds (`AttributeValues`): the same
    elements, in the same order. An expression of `_ATTRIBUTE_FORMS` is
    evaluated in its form there, and one of the form `//step//a[@href]` can be
    asked about given links only (`among`). A page with a value no XPath node
    can carry (a control character) gets the original expression.
    """

    _LINKS_IN = re.compile(r"//([^/]+)//a\[@href\]")

    def __init__(self, xpath: etree.XPath):
        from trafilatura.xpaths import REGEXP_NS

        self._original = xpath
        path, self._tests = rewrite(xpath.path)
        links = self._LINKS_IN.fullmatch(path.strip())
        if links and not re.search(r"\[\s*\d|position\(|last\(", links[1]):  # no positions
            self._among = etree.XPath(f"$links[ancestor::{links[1]}]")
        else:
            self._among = None
        path = _ATTRIBUTE_FORMS.get(" ".join(xpath.path.split()), path)
        self._xpath = etree.XPath(path, namespaces={"re": REGEXP_NS})

    def _variables(self, labels: AttributeValues) -> dict[str, list]:
        """$vN for each test (raises ValueError, see `AttributeValues.matching`)."""
        return {f"v{n}": labels.matching(test) for n, test in enumerate(self._tests)}

    def __call__(self, tree, labels: AttributeValues) -> list:
        try:
            variables = self._variables(labels)
        except ValueError:
            return self._original(tree)
        return self._xpath(tree, **variables)

    def among(self, tree, labels: AttributeValues, links: list) -> list:
        """What the expression finds among `links`, for one of the form `//step//a[@href]`.

        `links`: `a` elements of the page with an href, in document order. The
        expression's `a` elements that are in `links` are those of `links` with an
        ancestor its step selects; another expression is evaluated in full.
        """
        try:
            variables = self._variables(labels)
        except ValueError:
            variables = None
        if self._among is None or variables is None:
            kept = set(links)
            return [el for el in self(tree, labels) if el in kept]
        return self._among(tree, links=links, **variables)


# trafilatura's author XPaths (keys: their text, white space collapsed) written as tests
# of attribute nodes whose parents are then kept: libxml2 then tests each attribute once
# where the original form tests every element against every clause (3x faster). Same
# elements in document order; $vN is the N-th `re:test` of the original, as a set test.
_IS = "[self::a or self::address or self::div or self::link or self::p or self::span or self::strong]"
_ATTRIBUTE_FORMS = {
    "//*[self::a or self::address or self::div or self::link or self::p or self::span or self::strong]"
    "[ @rel='author' or @id='author' or @class='author' or @itemprop='author name' or rel='me' or "
    "@data-testid='AuthorCard' or @data-testid='AuthorURL' or "
    "re:test(@class, 'author-?name|AuthorName|authorName')]|//author":
        "(/descendant::*/@rel[. = 'author'] | /descendant::*/@id[. = 'author']"
        " | /descendant::*/@class[. = 'author' or . = $v0] | /descendant::*/@itemprop[. = 'author name']"
        " | /descendant::*/@data-testid[. = 'AuthorCard' or . = 'AuthorURL'] | /descendant::rel[. = 'me'])"
        f"/parent::*{_IS} | /descendant::author",
    "//*[self::a or self::div or self::h3 or self::h4 or self::p or self::span][ @class='byline' or "
    "@class='username' or @class='byl' or @class='BBL' or contains(@itemprop, 'author') or "
    "re:test(@id, 'author|zuozhe|bianji|xiaobian') or re:test(@class, 'author|channel-name|zuozhe|"
    "bianji|xiaobian|submitted-by|posted-by|journalist-name')]":
        "(/descendant::*/@class[. = 'byline' or . = 'username' or . = 'byl' or . = 'BBL' or . = $v1]"
        " | /descendant::*/@itemprop[contains(., 'author')] | /descendant::*/@id[. = $v0])"
        "/parent::*[self::a or self::div or self::h3 or self::h4 or self::p or self::span]",
    "//*[ contains(@data-component, 'Byline') or contains(@itemprop, 'author') or "
    "re:test(@id, '[Aa]uthor') or re:test(@class, '[Aa]uthor|screenname|writer|[Bb]yline')]":
        "(/descendant::*/@data-component[contains(., 'Byline')]"
        " | /descendant::*/@itemprop[contains(., 'author')] | /descendant::*/@id[. = $v0]"
        " | /descendant::*/@class[. = $v1])/parent::*",
    ".//*[self::a or self::div or self::section or self::span][ @id='comments' or @class='comments' or "
    "@class='title' or @class='date' or re:test(@id, '^comments|comment-?list|ProductReviews') or "
    "re:test(@class, '^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|"
    "article-(?:share|support)|print|category|meta-date|meta-reviewer') or "
    "contains(@data-component, 'Figure')]":
        "(./descendant::*/@id[. = 'comments' or . = $v0]"
        " | ./descendant::*/@class[. = 'comments' or . = 'title' or . = 'date' or . = $v1]"
        " | ./descendant::*/@data-component[contains(., 'Figure')])"
        "/parent::*[self::a or self::div or self::section or self::span]",
}


def _set_xpaths(name: str) -> list[_SetXPath]:
    from trafilatura import xpaths

    return [_SetXPath(xpath) for xpath in getattr(xpaths, name)]


_AUTHOR_XPATHS = _set_xpaths("AUTHOR_XPATHS")
_AUTHOR_DISCARD_XPATHS = _set_xpaths("AUTHOR_DISCARD_XPATHS")
_CATEGORIES_XPATHS = _set_xpaths("CATEGORIES_XPATHS")
_TAGS_XPATHS = _set_xpaths("TAGS_XPATHS")


def _meta_json(tree, found):
    """trafilatura's `extract_meta_json`, its regex fallback bounded in length.

    A block without a backslash or a '<' is read from its white space
    collapsed, unminified: trafilatura's normalisation of such a block only
    collapses white space, and where the collapsed text is valid JSON, its
    minified form (the same text without the spaces between tokens) parses to
    the same value. Any other block, or one that does not parse so, is read
    exactly as trafilatura reads it.
    """
    import json

    from trafilatura import metadata as tm

    for elem in tree.iterdescendants("script"):
        if elem.get("type") not in _JSON_SCRIPT_TYPES or not elem.text:
            continue
        raw = elem.text
        if "\\" not in raw and "<" not in raw:
            try:
                data = json.loads(" ".join(raw.split()), strict=False)
            except json.JSONDecodeError:
                pass
            else:
                found = tm.extract_json(data, found)
                continue
        text = _normalize_json(_minify_json(raw))
        try:
            found = tm.extract_json(json.loads(text, strict=False), found)
        except json.JSONDecodeError:
            found = tm.extract_json_parse_error(text[:JSON_FALLBACK_MAX_CHARS], found)
    return found


def _minify_json(text: str) -> str:
    """trafilatura's `JSON_MINIFY.sub(r"\\1", text)`, in one C pass."""
    return "".join(_JSON_KEPT.findall(text))


def _normalize_json(text: str) -> str:
    """trafilatura's `normalize_json`, surrogates dropped by a regex instead of per character."""
    from trafilatura.utils import HTML_STRIP_TAGS

    if "\\" in text:
        text = text.replace("\\n", "").replace("\\r", "").replace("\\t", "")
        text = _JSON_UNICODE.sub(lambda match: chr(int(match[1], 16)), text)
        text = _SURROGATES.sub("", text)
        text = html.unescape(text)
    return " ".join(HTML_STRIP_TAGS.sub("", text).split()).strip()
