"""XPath tests of attribute values as set tests: the same elements, no Python call per element.

lxml answers an EXSLT `re:test(@class, 'regex')` with a call into Python's `re`
for every element it tests. On a news page trafilatura's pruning expressions make
thousands of such calls. `SetTestXPath` rewrites each test (and each `contains`
or `starts-with` of an attribute) as `@class = $vN`, $vN holding the distinct
values of the attribute that the test finds, read once per page
(`AttributeValues`), and skips an expression outright when one of its predicates
can hold for no value of the page. `install()` puts such expressions
in trafilatura's text-extraction lists, in place; `page_values()` hands them the
class and id values the extraction stage has already read.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import threading
from typing import Iterator, Optional, Sequence

from lxml import etree

__all__ = ["AttributeValues", "SetTestXPath", "install", "installed", "page_values",
           "TRAFILATURA_TEXT_XPATHS"]

# trafilatura's lists of text-extraction XPaths (trafilatura.xpaths) that `install` rewrites.
TRAFILATURA_TEXT_XPATHS = (
    "BODY_XPATH", "COMMENTS_XPATH", "REMOVE_COMMENTS_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH",
    "RAW_TREE_PRUNE_XPATH", "OVERALL_DISCARD_XPATH", "PRECISION_DISCARD_XPATH",
    "COMMENTS_DISCARD_XPATH", "DISCARD_IMAGE_ELEMENTS", "TEASER_DISCARD_XPATH")
# `re:test(@a, 'regex')`, `re:test(@a|@b, 'regex', 'i')`, `contains(@a, 'text')`,
# `starts-with(@a|@b, 'text')`: function, attributes, argument, flags.
_ATTRIBUTE_TEST = re.compile(
    r"(re:test|contains|starts-with)\((@[\w-]+(?:\|@[\w-]+)*), '([^']*)'(?:, '([a-z]*)')?\)")
# A rewritten test, as a whole term of a predicate: its variable's name.
_SET_TERM = re.compile(r"\s*(?:@[\w-]+|\(@[\w-]+(?:\|@[\w-]+)*\)\[1\]) = \$(v\d+)\s*")
_OR = re.compile(r"\s+or\s+")
_PAGE = threading.local()
_CACHE_LIMIT = 100_000  # regex answers remembered per test, across pages
_installed = False


@dataclasses.dataclass(frozen=True)
class AttributeTest:
    """`re:test(ATTRS, regex)`: does the regex find the first of `attributes` an element has."""

    attributes: tuple[str, ...]
    pattern: re.Pattern


class AttributeValues:
    """The distinct values of attributes on a page, read once, and those a regex finds.

    Values may be given (the class and id values the caller has read already);
    others are read from `tree` over the whole document, a superset of those of
    any subtree of it.
    """

    def __init__(self, tree, given: Optional[dict[str, Sequence[str]]] = None):
        self._tree = tree
        self._given = given or {}
        self._values: dict[str, list[str]] = {}
        self._found: dict[tuple[tuple[str, ...], re.Pattern], list] = {}

    def values(self, attribute: str) -> list[str]:
        """The distinct values of `attribute`."""
        if attribute not in self._values:
            values = self._given.get(attribute)
            if values is None:
                values = _attribute_xpath(attribute)(self._tree)
            self._values[attribute] = list(set(values))
        return self._values[attribute]

    def matching(self, attributes: str | tuple[str, ...], pattern: re.Pattern,
                 answers: Optional[dict[str, bool]] = None) -> list:
        """The values of `attributes` that `pattern.search` finds, as XPath nodes.

        Args:
          answers: remembered `pattern.search` answers by value, read and filled.

        Raises:
          ValueError: a found value has a character no XPath node can carry.
        """
        attributes = (attributes,) if isinstance(attributes, str) else attributes
        key = (attributes, pattern)
        if key not in self._found:
            box = etree.Element("values")
            for value in dict.fromkeys(v for name in attributes for v in self.values(name)):
                found = answers.get(value) if answers is not None else None
                if found is None:
                    found = pattern.search(value) is not None
                    if answers is not None:
                        answers[value] = found
                if found:
                    etree.SubElement(box, "v").text = value
            self._found[key] = list(box)
        return self._found[key]


@functools.lru_cache(maxsize=None)
def _attribute_xpath(attribute: str) -> etree.XPath:
    return etree.XPath(f"/descendant-or-self::*/@{attribute}", smart_strings=False)


def rewrite(path: str) -> tuple[str, list[AttributeTest]]:
    """`path` with each test of attribute values as a set test `... = $vN`.

    `re:test(@a, r)`, `contains(@a, s)` and `starts-with(@a, s)` become
    `@a = $vN`; with `@a|@b` they become `(@a|@b)[1] = $vN` (XPath and EXSLT
    take the string value of the node set's first node in document order). A
    test that holds for the empty string (true for an element without the
    attribute) or has a flag other than `i` is kept.
    """
    tests: list[AttributeTest] = []

    def as_set_test(match: re.Match) -> str:
        function, attributes, argument, flags = match[1], match[2], match[3], match[4] or ""
        if set(flags) - {"i"} or (flags and function != "re:test"):
            return match[0]
        regex = {"re:test": argument, "contains": re.escape(argument),
                 "starts-with": "^" + re.escape(argument)}[function]
        pattern = re.compile(regex, re.IGNORECASE if flags else 0)
        if pattern.search(""):
            return match[0]
        tests.append(AttributeTest(tuple(a[1:] for a in attributes.split("|")), pattern))
        name = f"$v{len(tests) - 1}"
        return f"{attributes} = {name}" if "|" not in attributes else f"({attributes})[1] = {name}"

    return _ATTRIBUTE_TEST.sub(as_set_test, path), tests


def required_tests(path: str) -> list[tuple[str, ...]]:
    """Groups of variables of which one must be non-empty for `path` to select anything.

    For a path `.//*[P1][P2]...`, each predicate made only of set tests joined
    by `or` gives one group (its variables).
    """
    text = path.strip()
    if not text.startswith(".//*["):
        return []
    predicates, depth, start, quote = [], 0, 0, ""
    for i in range(4, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            start = i + 1 if depth == 0 else start
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                predicates.append(text[start:i])
        elif depth == 0 and not char.isspace():
            return []  # a union or a further step: not a single filtered step
    groups = []
    for predicate in predicates:
        terms = [_SET_TERM.fullmatch(term) for term in _OR.split(predicate)]
        if all(terms):  # `T or T or ...`, each T a set test and nothing else
            groups.append(tuple(term[1] for term in terms))
    return groups


class SetTestXPath:
    """An XPath whose `re:test`s of attributes are set tests (see `rewrite`).

    Called like the `etree.XPath` it wraps, it finds the same elements in the
    same order. It reads the page's class and id values from `page_values()`
    when the caller gives them, and other attributes' values from the tree. A
    page with a value no XPath node can carry gets the original expression.
    """

    def __init__(self, xpath: etree.XPath):
        self.original = xpath
        self.path = xpath.path
        path, self._tests = rewrite(xpath.path)
        self._required = required_tests(path)
        self._xpath = etree.XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})
        self._answers: list[dict[str, bool]] = [{} for _ in self._tests]

    def __call__(self, tree, values: Optional[AttributeValues] = None) -> list:
        if not self._tests:
            return self.original(tree)
        values = values or AttributeValues(tree, getattr(_PAGE, "values", None))
        try:
            variables = {f"v{n}": values.matching(test.attributes, test.pattern, self._answers_of(n))
                         for n, test in enumerate(self._tests)}
        except ValueError:
            return self.original(tree)
        if any(not any(variables[name] for name in group) for group in self._required):
            return []
        return self._xpath(tree, **variables)

    def _answers_of(self, n: int) -> dict[str, bool]:
        if len(self._answers[n]) > _CACHE_LIMIT:
            self._answers[n] = {}
        return self._answers[n]


@contextlib.contextmanager
def page_values(values: Optional[dict[str, Sequence[str]]]) -> Iterator[None]:
    """Within the block, SetTestXPaths read these attribute values (by name) of the page.

    They must hold every value the attributes have in the trees the expressions
    see: the values of the page a trafilatura call copies its trees from.
    """
    previous = getattr(_PAGE, "values", None)
    _PAGE.values = values
    try:
        yield
    finally:
        _PAGE.values = previous


def install() -> None:
    """Rewrites trafilatura's text-extraction XPaths as SetTestXPaths, in place (idempotent)."""
    global _installed
    if _installed:
        return
    from trafilatura import xpaths

    _installed = True
    for name in TRAFILATURA_TEXT_XPATHS:
        expressions = getattr(xpaths, name, None)
        for i, xpath in enumerate(expressions or ()):
            if isinstance(xpath, etree.XPath) and rewrite(xpath.path)[1]:
                expressions[i] = SetTestXPath(xpath)


def installed() -> bool:
    """True when trafilatura's text-extraction XPaths are SetTestXPaths."""
    from trafilatura import xpaths

    return any(isinstance(x, SetTestXPath) for name in TRAFILATURA_TEXT_XPATHS
               for x in getattr(xpaths, name, ()))
