"""Set tests for trafilatura's text XPaths (`transforms.set_xpath`): the same elements, the same text."""
import contextlib
import importlib

import lxml.html
import pytest
from lxml import etree
from trafilatura import xpaths

from tests.support.golden import article_page, eval_dir, eval_pages, load_golden
from transforms import set_xpath
from transforms.extract import TRAFILATURA_OPTIONS, _attribute_values, _main_text, load_page
from transforms.set_xpath import AttributeValues, SetTestXPath, page_values, required_tests, rewrite

NS = {"re": "http://exslt.org/regular-expressions"}
baseline = importlib.import_module("trafilatura.baseline")  # the module, not the function


def _same(found: list, expected: list) -> bool:
    return len(found) == len(expected) and all(a is b for a, b in zip(found, expected))


@pytest.mark.parametrize("path, expected", [
    ("re:test(@id, 'ab')", "@id = $v0"),
    ("re:test(@id|@class, 'ab')", "(@id|@class)[1] = $v0"),
    ("re:test(@class, 'fulltext', 'i')", "@class = $v0"),
    ("contains(@class, 'x.y')", "@class = $v0"),
    ("starts-with(@id|@class, 'reply-')", "(@id|@class)[1] = $v0"),
    ("re:test(@id, '^|x')", "re:test(@id, '^|x')"),  # finds '': true without the attribute
    ("contains(@id, '')", "contains(@id, '')"),
    ("re:test(@id, 'a', 'g')", "re:test(@id, 'a', 'g')"),
    ("contains(translate(@id, 'T', 't'), 'teaser')", "contains(translate(@id, 'T', 't'), 'teaser')"),
])
def test_rewrite_turns_attribute_tests_into_set_tests(path, expected):
    assert rewrite(path)[0] == expected


def test_rewritten_patterns_keep_the_tests_meaning():
    _, tests = rewrite("re:test(@class, 'fulltext', 'i') or contains(@id, 'a.b') or starts-with(@id, 'x')")
    assert [t.attributes for t in tests] == [("class",), ("id",), ("id",)]
    assert tests[0].pattern.search("FullText") and tests[1].pattern.search("1a.b2")
    assert not tests[1].pattern.search("axb") and not tests[2].pattern.search("ax")


def test_required_tests_are_predicates_made_only_of_set_tests():
    path = ".//*[self::div or self::p][ @id = $v0 or (@id|@class)[1] = $v1][not(.//h1) or @id = $v2]"
    assert required_tests(path) == [("v0", "v1")]
    assert required_tests(".//*[@id = $v0 and @class = $v1]") == []
    assert required_tests(".//*[@id = $v0] | .//article") == []
    assert required_tests("(.//*[@id = $v0])[1]") == []


DOC = """<html><body>
<div class="cookie" id="x">a</div><div id="x" class="cookie">b</div><div class="cookie">c</div>
<div>d</div><section class="Fulltext">e</section><p id="reply-1">f</p><p class="reply-2" id="y">g</p>
<div class="share-bar"><div class="share-bar">h</div></div>
</body></html>"""
EXPRESSIONS = [
    ".//*[re:test(@id|@class, 'cookie')]",
    ".//*[self::div or self::section][re:test(@class, 'fulltext', 'i')]",
    ".//*[starts-with(@id|@class, 'reply-')]",
    ".//*[self::div][contains(@class, 'share')][not(.//h1) or re:test(@id, 'q')]",
    ".//*[re:test(@id, 'nothing-here') or contains(@class, 'absent')]",
    "(.//*[re:test(@class, 'cookie')])[1]",
]


@pytest.mark.parametrize("path", EXPRESSIONS)
@pytest.mark.parametrize("given", [None, "page"])
def test_set_test_xpath_finds_the_originals_elements(path, given):
    tree = lxml.html.fromstring(DOC)
    original = etree.XPath(path, namespaces=NS)
    values = {"class": tree.xpath("//@class"), "id": tree.xpath("//@id")} if given else None
    with page_values(tree if given else None, values):
        found = SetTestXPath(original)(tree)
    expected = original(tree)
    assert _same(found, expected)


def test_only_the_first_of_two_attributes_is_tested():
    tree = lxml.html.fromstring(DOC)
    found = SetTestXPath(etree.XPath(".//*[re:test(@id|@class, 'cookie')]", namespaces=NS))(tree)
    assert [e.text for e in found] == ["a", "c"]  # not "b", whose first attribute is its id


def test_an_expression_no_value_can_satisfy_is_not_evaluated():
    tree = lxml.html.fromstring(DOC)
    expression = SetTestXPath(etree.XPath(EXPRESSIONS[4], namespaces=NS))
    expression._xpath = None  # evaluating it now would fail
    assert expression(tree) == []


def test_a_value_no_xpath_node_can_carry_falls_back_to_the_original():
    tree = lxml.html.fromstring(DOC)
    original = etree.XPath(EXPRESSIONS[0], namespaces=NS)
    with page_values(given={"class": ["cookie", "bad\x01cookie"], "id": ["x"]}):
        assert _same(SetTestXPath(original)(tree), original(tree))


def test_page_values_are_restored_after_the_block():
    with page_values(given={"class": ["a"]}):
        outer = set_xpath._PAGE.values
        assert outer.reads("class") and not outer.reads("id")  # no page tree: other attributes per call
        with page_values(None):
            assert set_xpath._PAGE.values is None
        assert set_xpath._PAGE.values is outer
    assert getattr(set_xpath._PAGE, "values", None) is None


def test_attributes_trafilatura_writes_are_read_from_each_tree():
    tree = lxml.html.fromstring(DOC)
    with page_values(tree):
        page = set_xpath._PAGE.values
        assert page.reads("style") and not page.reads("role") and not page.reads("rend")
    copy = lxml.html.fromstring(DOC)
    copy.find(".//p").set("role", "navigation")  # a value the page does not have
    original = etree.XPath(".//*[re:test(@role, 'nav')]", namespaces=NS)
    with page_values(tree):
        assert [e.get("id") for e in SetTestXPath(original)(copy)] == ["reply-1"]


def test_attribute_values_read_the_whole_document_once():
    tree = lxml.html.fromstring(DOC)
    values = AttributeValues(tree.find(".//p"))
    assert sorted(values.values("class")) == ["Fulltext"] + ["cookie"] * 3 + ["reply-2"] + ["share-bar"] * 2
    _, (test,) = rewrite("re:test(@id|@class, '^reply')")
    assert sorted(v.text for v in values.matching(test)) == ["reply-1", "reply-2"]


def test_each_value_is_searched_once_per_pattern():
    _, (test,) = rewrite("re:test(@class, 'once-only-pattern')")
    patterns = set_xpath.PATTERNS
    bit = 1 << test.index
    assert patterns.found("x once-only-pattern", "class") & bit
    asked, found = patterns._answers["x once-only-pattern"]
    assert asked & bit and found & bit
    assert not patterns.found("x once-only-pattern", "id") & bit  # not a test of id


def test_install_rewrites_trafilaturas_text_xpaths_in_place():
    set_xpath.install()
    assert set_xpath.installed()
    wrapped = [x for name in set_xpath.TRAFILATURA_TEXT_XPATHS for x in getattr(xpaths, name)
               if isinstance(x, SetTestXPath)]
    assert len(wrapped) >= 8 and isinstance(baseline.BASIC_CLEAN_XPATH, SetTestXPath)
    assert not any("re:test(@" in x._xpath.path for x in wrapped)  # every regex test of an attribute
    set_xpath.install()  # idempotent: nothing wrapped twice
    assert not any(isinstance(x.original, SetTestXPath) for x in wrapped)
    set_xpath.uninstall()
    try:
        assert not set_xpath.installed() and type(baseline.BASIC_CLEAN_XPATH) is etree.XPath
        assert xpaths.OVERALL_DISCARD_XPATH[0] is wrapped[[x.path for x in wrapped].index(
            xpaths.OVERALL_DISCARD_XPATH[0].path)].original
    finally:
        set_xpath.install()


@pytest.fixture
def original_xpaths():
    """Puts trafilatura's own expressions back for the block, then the set tests again."""
    set_xpath.install()
    yield _originals
    set_xpath.install()


@contextlib.contextmanager
def _originals():
    set_xpath.uninstall()
    try:
        yield
    finally:
        set_xpath.install()


def test_real_pages_give_trafilaturas_own_text_and_elements(original_xpaths, monkeypatch):
    pages = eval_pages("fundus", 40) + eval_pages("scrapinghub-aeb", 25) + eval_pages("trafilatura-eval", 60)
    pages += [(article_page(doc), f"https://example.fr/{doc['slug']}") for doc in load_golden()]
    calls, skipped = [], []
    call = SetTestXPath.__call__

    def compared(self, tree):
        found = call(self, tree)
        assert _same(found, self.original(tree)), self.path
        calls.append(self.path)
        skipped.extend([self.path] if self._required and not found else [])
        return found

    monkeypatch.setattr(SetTestXPath, "__call__", compared)
    for page, url in pages:
        tree = load_page(page)
        values = _attribute_values(tree)
        for options in (TRAFILATURA_OPTIONS, dict(TRAFILATURA_OPTIONS, fast=False)):
            text = _main_text(tree, url, options, values)
            with original_xpaths():
                assert text == _main_text(tree, url, options, values), url
    assert len(calls) > 5 * len(pages) and skipped  # the set tests ran, and some expressions were skipped


def test_the_set_xpath_benchmark_checks_and_times_real_pages(capsys):
    eval_dir()
    from benchmarks import bench_set_xpath

    assert bench_set_xpath.main(["--datasets", "fundus,scrapinghub-aeb", "--limit", "8", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "16 pages, two passes each: 0 texts differ" in out and ", 0 returned other elements" in out
    assert all(f"  {variant}" in out for variant in bench_set_xpath.VARIANTS)
    assert set_xpath.installed()  # left as the extraction stage uses it
