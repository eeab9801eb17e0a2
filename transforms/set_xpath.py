"""XPath tests of attribute values as set tests: the same elements, no Python call per element.

lxml answers an EXSLT `re:test(@class, 'regex')` with a call into Python's `re`
for every element it tests. On a news page trafilatura's pruning expressions make
thousands of such calls. `SetTestXPath` rewrites each test (and each `contains`
or `starts-with` of an attribute) as `@class = $vN`, $vN holding the distinct
values of the attribute that the test finds, read once per page
(`AttributeValues`), and skips an expression outright when one of its predicates
can hold for no value of the page. Which values each pattern finds is
remembered across pages (`PATTERNS`): a site's pages share most of their values.
`install()` puts such expressions in trafilatura's text-extraction lists, in
place; `page_values()` tells them the page their trees are copied from, and the
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

__all__ = ["AttributeValues", "PAGE_WIDE_ATTRIBUTES", "SetTestXPath", "install", "installed", "page_values",
           "rewrite", "uninstall",
           "TRAFILATURA_TEXT_XPATHS", "TRAFILATURA_TEXT_XPATH_GLOBALS"]

# trafilatura's lists of text-extraction XPaths (trafilatura.xpaths) that `install` rewrites.
TRAFILATURA_TEXT_XPATHS = (
    "BODY_XPATH", "COMMENTS_XPATH", "REMOVE_COMMENTS_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH",
    "RAW_TREE_PRUNE_XPATH", "OVERALL_DISCARD_XPATH", "PRECISION_DISCARD_XPATH",
    "COMMENTS_DISCARD_XPATH", "DISCARD_IMAGE_ELEMENTS", "TEASER_DISCARD_XPATH")
# ... and single expressions, as (module, global) read at call time.
TRAFILATURA_TEXT_XPATH_GLOBALS = (("trafilatura.baseline", "BASIC_CLEAN_XPATH"),)
# `re:test(@a, 'regex')`, `re:test(@a|@b, 'regex', 'i')`, `contains(@a, 'text')`,
# `starts-with(@a|@b, 'text')`: function, attributes, argument, flags.
_ATTRIBUTE_TEST = re.compile(
    r"(re:test|contains|starts-with)\((@[\w-]+(?:\|@[\w-]+)*), '([^']*)'(?:, '([a-z]*)')?\)")
# A rewritten test, as a whole term of a predicate: its variable's name.
_SET_TERM = re.compile(r"\s*(?:@[\w-]+|\(@[\w-]+(?:\|@[\w-]+)*\)\[1\]) = \$(v\d+)\s*")
_OR = re.compile(r"\s+or\s+")
_PAGE = threading.local()
_ANSWERS_LIMIT = 50_000  # attribute values whose answers are remembered, across pages (a few MB)
# Attributes trafilatura writes into its trees: their values are read from the tree
# an expression is called on, never from the page (which need not hold them).
WRITTEN_BY_TRAFILATURA = frozenset({"alt", "href", "rend", "role", "src", "target", "title", "type"})
# Attributes whose values the extraction stage reads anyway (`page_meta.attribute_values`)
# and gives to the set tests.
PAGE_WIDE_ATTRIBUTES = ("class", "id")
_installed = False


@dataclasses.dataclass(frozen=True)
class AttributeTest:
    """`re:test(ATTRS, regex)`: does the regex find the first of `attributes` an element has.

    `index`: the pattern's place in `PATTERNS`.
    """

    attributes: tuple[str, ...]
    pattern: re.Pattern
    index: int


class _Patterns:
    """Every pattern of the set tests, and which of them each value seen so far satisfies.

    A value's answers are two integers, the patterns asked (bit i for pattern i)
    and those that found it: a page costs one look-up per distinct value, and a
    regex search only for a pattern never asked about that value before.
    """

    def __init__(self):
        self._index: dict[tuple[str, int], int] = {}
        self._patterns: list[re.Pattern] = []
        self._of_attribute: dict[str, int] = {}  # attribute -> bits of the patterns testing it
        self._answers: dict[str, tuple[int, int]] = {}  # value -> (asked, found)

    def register(self, pattern: re.Pattern, attributes: tuple[str, ...]) -> int:
        """The pattern's index (its bit), for a test of `attributes`."""
        key = (pattern.pattern, pattern.flags)
        if key not in self._index:
            self._index[key] = len(self._patterns)
            self._patterns.append(pattern)
        index = self._index[key]
        for attribute in attributes:
            self._of_attribute[attribute] = self._of_attribute.get(attribute, 0) | 1 << index
        return index

    def forget(self) -> None:
        """Drops the remembered answers (they are found again on demand)."""
        self._answers.clear()

    def found(self, value: str, attribute: str) -> int:
        """The bits of the patterns testing `attribute` that find `value`."""
        need = self._of_attribute.get(attribute, 0)
        asked, found = self._answers.get(value, (0, 0))
        missing = need & ~asked
        if missing:
            for i, pattern in enumerate(self._patterns):
                if missing >> i & 1 and pattern.search(value):
                    found |= 1 << i
            if len(self._answers) >= _ANSWERS_LIMIT:
                self._answers.clear()
            self._answers[value] = (asked | missing, found)
        return found & need


PATTERNS = _Patterns()


class AttributeValues:
    """The distinct values of attributes on a page, read once, and those each test finds.

    Values come from `given` (the class and id values the caller has read
    already) or are read from `tree` over the whole document: a superset of the
    values of any tree copied from it, for attributes trafilatura does not write.
    """

    def __init__(self, tree, given: Optional[dict[str, Sequence[str]]] = None):
        self._tree = tree
        self._given = given or {}
        self._satisfying: dict[str, list[tuple[str, int]]] = {}
        self._found: dict[tuple[tuple[str, ...], int], list] = {}

    def reads(self, attribute: str) -> bool:
        """True when the values of `attribute` are given or readable from the page."""
        return attribute in self._given or (self._tree is not None and attribute not in WRITTEN_BY_TRAFILATURA)

    def values(self, attribute: str) -> list[str]:
        """The values of `attribute`, one per element that has it."""
        values = self._given.get(attribute)
        return values if values is not None else _attribute_xpath(attribute)(self._tree)

    def matching(self, test: AttributeTest) -> list:
        """The values of the test's attributes that its pattern finds, as XPath nodes.

        Raises:
          ValueError: a found value has a character no XPath node can carry.
        """
        key = (test.attributes, test.index)
        if key not in self._found:
            bit = 1 << test.index
            box = etree.Element("values")
            for value in dict.fromkeys(value for name in test.attributes
                                       for value, bits in self._satisfying_values(name) if bits & bit):
                etree.SubElement(box, "v").text = value
            self._found[key] = list(box)
        return self._found[key]

    def _satisfying_values(self, attribute: str) -> list[tuple[str, int]]:
        """The distinct values of `attribute` that some pattern finds, with their answers."""
        if attribute not in self._satisfying:
            found = PATTERNS.found
            self._satisfying[attribute] = [(value, bits) for value in set(self.values(attribute))
                                           if (bits := found(value, attribute))]
        return self._satisfying[attribute]


@functools.lru_cache(maxsize=None)
def _attribute_xpath(attribute: str) -> etree.XPath:
    return etree.XPath(f"/descendant-or-self::*/@{attribute}", smart_strings=False)


def rewrite(path: str) -> tuple[str, list[AttributeTest]]:
    """`path` with each test of attribute values as a set test `... = $vN`.

    `re:test(@a, r)` becomes `@a = $vN`, and so do `contains(@a, s)` and
    `starts-with(@a, s)` of class and id values (read for the page anyway);
    with `@a|@b` they become `(@a|@b)[1] = $vN` (XPath and EXSLT take the
    string value of the node set's first node in document order). A test that
    holds for the empty string (true for an element without the attribute) or
    has a flag other than `i` is kept.
    """
    tests: list[AttributeTest] = []

    def as_set_test(match: re.Match) -> str:
        function, attributes, argument, flags = match[1], match[2], match[3], match[4] or ""
        if set(flags) - {"i"} or (flags and function != "re:test"):
            return match[0]
        if function != "re:test" and not set(attributes.replace("@", "").split("|")) <= set(PAGE_WIDE_ATTRIBUTES):
            return match[0]  # libxml2's own test is cheaper than reading the attribute's values
        regex = {"re:test": argument, "contains": re.escape(argument),
                 "starts-with": "^" + re.escape(argument)}[function]
        pattern = re.compile(regex, re.IGNORECASE if flags else 0)
        if pattern.search(""):
            return match[0]
        names = tuple(a[1:] for a in attributes.split("|"))
        tests.append(AttributeTest(names, pattern, PATTERNS.register(pattern, names)))
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
    """An XPath whose tests of attribute values are set tests (see `rewrite`).

    Called like the `etree.XPath` it wraps, it finds the same elements in the
    same order. It reads the page's values from `page_values()` when the caller
    gives them, otherwise from the tree it is called on. A page with a value no
    XPath node can carry gets the original expression.
    """

    def __init__(self, xpath: etree.XPath):
        self.original = xpath
        self.path = xpath.path
        path, self.tests = rewrite(xpath.path)
        self._required = required_tests(path)
        self._xpath = etree.XPath(path, namespaces={"re": "http://exslt.org/regular-expressions"})

    def __call__(self, tree) -> list:
        if not self.tests:
            return self.original(tree)
        page: Optional[AttributeValues] = getattr(_PAGE, "values", None)
        here = None
        variables = {}
        try:
            for n, test in enumerate(self.tests):
                if page is not None and all(page.reads(name) for name in test.attributes):
                    variables[f"v{n}"] = page.matching(test)
                else:
                    here = here or AttributeValues(tree)
                    variables[f"v{n}"] = here.matching(test)
        except ValueError:
            return self.original(tree)
        if any(not any(variables[name] for name in group) for group in self._required):
            return []
        return self._xpath(tree, **variables)


@contextlib.contextmanager
def page_values(page=None, given: Optional[dict[str, Sequence[str]]] = None) -> Iterator[None]:
    """Within the block, SetTestXPaths read the values of attributes from this page.

    Args:
      page: the parsed page that the trees the expressions see are copied from
        (trafilatura copies the tree it is given); None: read each tree.
      given: values of attributes of the page already read, by name (`values`
        of `AttributeValues`), e.g. `page_meta.attribute_values`' class and id.
    """
    previous = getattr(_PAGE, "values", None)
    _PAGE.values = AttributeValues(page, given) if page is not None or given else None
    try:
        yield
    finally:
        _PAGE.values = previous


def install() -> None:
    """Rewrites trafilatura's text-extraction XPaths as SetTestXPaths, in place (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    for holder, key in _trafilatura_xpaths():
        xpath = _read(holder, key)
        if isinstance(xpath, etree.XPath):
            wrapped = SetTestXPath(xpath)
            if wrapped.tests:
                _write(holder, key, wrapped)


def uninstall() -> None:
    """Puts trafilatura's own expressions back."""
    global _installed
    _installed = False
    for holder, key in _trafilatura_xpaths():
        xpath = _read(holder, key)
        _write(holder, key, getattr(xpath, "original", xpath))


def installed() -> bool:
    """True when trafilatura's text-extraction XPaths are SetTestXPaths."""
    return any(isinstance(_read(holder, key), SetTestXPath) for holder, key in _trafilatura_xpaths())


def _trafilatura_xpaths() -> Iterator[tuple[object, int | str]]:
    """(list, index) of each expression of TRAFILATURA_TEXT_XPATHS, and (module, name) of the others."""
    import importlib

    from trafilatura import xpaths

    for name in TRAFILATURA_TEXT_XPATHS:
        expressions = getattr(xpaths, name, None) or []
        yield from ((expressions, i) for i in range(len(expressions)))
    for module, name in TRAFILATURA_TEXT_XPATH_GLOBALS:
        holder = importlib.import_module(module)
        if hasattr(holder, name):
            yield holder, name


def _read(holder, key):
    return holder[key] if isinstance(holder, list) else getattr(holder, key)


def _write(holder, key, value) -> None:
    if isinstance(holder, list):
        holder[key] = value
    else:
        setattr(holder, key, value)
