"""Extraction: the same text and metadata as trafilatura's own calls, with less work."""
import datetime as dt
import html
import importlib.util
import json
from pathlib import Path

import apache_beam as beam
import lxml.html
import pytest
from lxml import etree
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from trafilatura import bare_extraction
from trafilatura.core import load_html
from trafilatura.metadata import extract_author, extract_metadata
from trafilatura.metadata import extract_json_parse_error
from trafilatura.settings import Document

from schemas.records import Article, FeedEntry, FetchedPage, Reject
from tests.support.golden import article_page, eval_pages, load_golden
from transforms.set_xpath import AttributeValues, rewrite
from transforms.extract import (_INVALID_XML_CHARS, EXTRACTION_SETTINGS, FULL_EXTRACTION_BELOW_CHARS,
                                FULL_EXTRACTION_BELOW_SHARE, JSON_FALLBACK_MAX_CHARS,
                                TRAFILATURA_OPTIONS, ExtractArticles, _needs_full_pass, _repair_html,
                                extract_document, load_page, paragraph_chars, trafilatura_metadata)
from transforms.trafilatura_meta import (_AUTHOR_DISCARD_XPATHS, _AUTHOR_XPATHS, _CATEGORIES_XPATHS,
                                         _TAGS_XPATHS, _author, _catstags, _meta_json,
                                         _SetXPath)

URL = "http://127.0.0.1/articles/story.html"
SENTENCE = ("The regional council approved the new budget on Tuesday after a long debate "
            "about school buildings, public transport and the cost of heating. ")


def _page(body: str, head: str = "") -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>A story | Example News"
            f"</title>{head}</head><body><nav><a href='/'>Home</a></nav><article>{body}</article>"
            f"<footer>Contact</footer></body></html>")


def _paragraphs(n: int) -> str:
    return "".join(f"<p>{html.escape(SENTENCE * 2)}</p>" for _ in range(n))


JSONLD = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                     "headline": "Council approves the budget", "datePublished": "2025-03-18T09:00:00Z",
                     "author": [{"@type": "Person", "name": "Jane Miller"}],
                     "publisher": {"@type": "Organization", "name": "Example News"},
                     "articleSection": "Politics", "keywords": "budget, council"})
PAGES = {
    "jsonld": _page(_paragraphs(8), f"<script type='application/ld+json'>{JSONLD}</script>"
                    "<meta property='og:title' content='Council approves the budget'>"
                    "<meta name='description' content='The budget passed.'>"),
    "meta_only": _page(_paragraphs(8), "<meta name='author' content='John Smith'>"
                       "<meta property='article:published_time' content='2025-03-17T08:00:00Z'>"
                       "<link rel='canonical' href='http://127.0.0.1/articles/canonical.html'>"),
    "byline_in_body": _page("<div class='byline'>By Anna Berg</div>" + _paragraphs(6)),
    "broken_jsonld": _page(_paragraphs(8), "<script type='application/ld+json'>"
                           '{"@type": "NewsArticle", "author": {"@type": "Person", "name": "Jane Miller"} '
                           '"headline": "Broken but readable"}</script>'),
    "short": _page(f"<p>{SENTENCE}</p>"),
    "section_meta": _page(_paragraphs(6), "<meta property='article:section' content='Politics'>"),
    "tag_and_category_links": _page(
        "<div class='entry-meta'><a href='/category/politics/'>Politics</a></div>" + _paragraphs(6)
        + "<div class='tags'><a href='/tag/budget/'>Budget</a><a href='/tags/council/'>Council</a></div>"),
    "author_class_outside_comments": _page(
        "<div class='comments'><span class='author-name'>A Commenter</span></div>"
        "<p class='article-author'>By <a rel='author'>Jane <time>today</time>Miller</a>, Paris</p>"
        + _paragraphs(6)),
    "author_id_with_figure": _page(
        "<div id='authorBox'><figure>Photo</figure>Anna <span>Berg</span>tail</div>" + _paragraphs(6)),
    "author_in_sidebar_only": _page(_paragraphs(6) + "<div class='sidebar'><span class='writer'>Someone "
                                    "Else</span></div><span class='postAuthor'>Lars Olsen</span>"),
    "meta_classes_with_category_links": _page(
        "<div class='post-meta'><a href='/categories/local/'>Local</a><a href='/x/'>X</a></div>"
        "<div class='tagcloud'><a href='/tags/rain/'>Rain</a></div>" + _paragraphs(6)),
    "tag_like_links_in_tag_blocks": _page(
        "<div class='tags'><a href='/tagesthemen/'>Tagesthemen</a><a href='/categorie'>C</a></div>"
        + _paragraphs(6)),
    "tag_links_outside_tag_blocks": _page(_paragraphs(6) + "<a href='/tag/other/'>Other</a>",
                                          "<meta name='subject' content='Budget'>"),
}


def _expected_meta(tree, url):
    """trafilatura's own metadata, as bare_extraction(fast=True, with_metadata=True) takes it."""
    found = extract_metadata(tree, url, None, True).as_dict()
    keys = ("title", "author", "date", "sitename", "description", "categories", "tags", "image",
            "hostname", "url", "pagetype", "language")
    return {k: found[k] for k in keys if found.get(k) not in (None, "", [])}


@pytest.fixture(scope="module")
def golden_pages():
    return {doc["slug"]: article_page(doc) for doc in load_golden()}


def _all_pages(golden_pages):
    return {**PAGES, **{f"golden-{k}": v for k, v in golden_pages.items()}}


def test_metadata_is_trafilaturas(golden_pages):
    for name, page in _all_pages(golden_pages).items():
        tree = load_html(page)
        assert trafilatura_metadata(tree, URL) == _expected_meta(load_html(page), URL), name
    links = trafilatura_metadata(load_html(PAGES["tag_and_category_links"]), URL)
    assert links["categories"] == ["Politics"] and links["tags"] == ["Budget", "Council"]
    assert trafilatura_metadata(load_html(PAGES["section_meta"]), URL)["categories"] == ["Politics"]
    meta = trafilatura_metadata(load_html(PAGES["jsonld"]), URL)
    assert meta["author"] == "Jane Miller" and meta["title"] == "Council approves the budget"
    assert meta["date"] == "2025-03-18"


def test_metadata_from_the_page_evidence_values_is_the_same(golden_pages):
    from transforms.page_meta import attribute_values
    for name, page in _all_pages(golden_pages).items():
        tree = load_html(page)
        expected = trafilatura_metadata(tree, URL)
        assert trafilatura_metadata(tree, URL, attribute_values(tree)) == expected, name
    tree = load_html(PAGES["author_in_sidebar_only"])  # 'postAuthor': found by a regex test
    values = dict(attribute_values(tree), **{"class": []})  # the class values are taken as given
    assert trafilatura_metadata(tree, URL).get("author") == "Lars Olsen"
    assert trafilatura_metadata(tree, URL, values).get("author") is None


def test_text_is_trafilaturas_fast_text_or_its_full_text(golden_pages):
    for name, page in _all_pages(golden_pages).items():
        fast = bare_extraction(load_html(page), url=URL, **TRAFILATURA_OPTIONS)
        fast_text = (fast.text or "").strip() if fast is not None else ""
        paragraphs = paragraph_chars(load_html(page))
        got = extract_document(page, URL)
        if len(fast_text) >= FULL_EXTRACTION_BELOW_CHARS or (
                paragraphs and len(fast_text) >= FULL_EXTRACTION_BELOW_SHARE * paragraphs):
            assert got.text == fast_text, name
        else:
            full = bare_extraction(load_html(page), url=URL, **dict(TRAFILATURA_OPTIONS, fast=False))
            assert got.text == (((full.text or "").strip() if full is not None else "") or fast_text), name
        assert got.extracted_meta == _expected_meta(load_html(page), URL), name


LOADER_CASES = {
    "plain": _page(_paragraphs(2)),
    "control characters": _page("<p>a\x00b\x08c\x0bd\x1fe\ufffef\uffffg\tx\ry</p>" + _paragraphs(1)),
    "xhtml doctype": '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/'
                     'xhtml1/DTD/xhtml1-strict.dtd">\n<html><body><p>text</p></body></html>',
    "xhtml doctype, one line": '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "a/b"><html><body>'
                               "<p>text</p></body></html>",
    "doctype, one line": "<!DOCTYPE html><html><body><p>text</p></body></html>",
    "doctype, crlf": "<!doctype html>\r\n<html><body><p>x</p><p>y</p></body></html>\r\n",
    "doctype with a slash on line two": "<!DOCTYPE html>\n<!-- a/b --><html><body><p>x</p></body></html>",
    "self-closing html": "<!DOCTYPE html>\n<html lang='en'/>\n<body><p>text</p></body></html>",
    "xml declaration": '<?xml version="1.0" encoding="utf-8"?>\n<html><body><p>t\u00e9</p></body></html>',
    "fragment": "<p>only a paragraph</p>",
    "two blocks, no html": "<div>one</div><div>two</div>",
    "empty": "",
    "text": "just some text",
    "lone surrogate": _page("<p>a\ud800b</p>" + _paragraphs(1)),
    "latin-1 charset": "<html><head><meta charset='iso-8859-1'></head><body><p>Caf\u00e9 \u20ac</p>"
                       "</body></html>",
}


@pytest.mark.parametrize("name", sorted(LOADER_CASES))
def test_load_page_gives_trafilaturas_tree(name):
    page = LOADER_CASES[name]
    expected, got = load_html(page), load_page(page)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert etree.tostring(got) == etree.tostring(expected)
    beginning = page[:50].lower()
    from trafilatura.utils import repair_faulty_html
    assert _repair_html(page, beginning) == repair_faulty_html(page, beginning)


def test_load_page_reads_bytes_as_trafilatura_does():
    page = LOADER_CASES["plain"].encode("utf-8")
    assert etree.tostring(load_page(page)) == etree.tostring(load_html(page))


def test_page_parser_gives_every_element_htmlelement_and_keeps_trafilaturas_options():
    from lxml.html import HtmlElement
    page = _page("<form action='/s'><label>q</label><input name='q'><select><option>a</option>"
                 "</select><textarea>t</textarea></form><!-- a comment -->" + _paragraphs(2))
    tree = load_page(page)
    kinds = {type(element) for element in tree.iter()}
    assert kinds == {HtmlElement}  # lxml.html's own parser gives FormElement, InputElement, ...
    assert {type(element) for element in load_html(page).iter()} > {HtmlElement}
    assert etree.tostring(tree) == etree.tostring(load_html(page))  # comments removed, as trafilatura
    assert load_page(page).text_content() == load_html(page).text_content()


def test_the_invalid_characters_are_those_of_trafilaturas_regex():
    from trafilatura.utils import INVALID_XML_CHARS
    assert set(_INVALID_XML_CHARS) == {chr(c) for c in range(0x10000) if INVALID_XML_CHARS.match(chr(c))}


def test_load_page_gives_trafilaturas_tree_on_real_pages():
    for page, url in eval_pages("fundus", 40) + eval_pages("scrapinghub-aeb", 20):
        assert etree.tostring(load_page(page)) == etree.tostring(load_html(page)), url


SET_XPATHS = {"author": _AUTHOR_XPATHS, "author discard": _AUTHOR_DISCARD_XPATHS,
              "categories": _CATEGORIES_XPATHS, "tags": _TAGS_XPATHS}


def _regex_xpaths(name: str):
    from trafilatura import xpaths
    return getattr(xpaths, {"author": "AUTHOR_XPATHS", "author discard": "AUTHOR_DISCARD_XPATHS",
                            "categories": "CATEGORIES_XPATHS", "tags": "TAGS_XPATHS"}[name])


@pytest.mark.parametrize("name", sorted(SET_XPATHS))
def test_set_xpaths_find_what_trafilaturas_regex_xpaths_find(name, golden_pages):
    found = 0
    for page in list(_all_pages(golden_pages).values()) + list(LOADER_CASES.values())[:1]:
        tree = load_html(page)
        labels = AttributeValues(tree)
        for mine, theirs in zip(SET_XPATHS[name], _regex_xpaths(name), strict=True):
            assert mine(tree, labels) == theirs(tree)
            found += len(theirs(tree))
    assert found  # the pages exercise the expressions
    assert all("re:test" not in xpath._xpath.path for xpath in SET_XPATHS[name])


ODD_AUTHOR_MARKUP = (
    "<div><rel>me</rel>Jane Doe</div><span><rel>you</rel>Not Her</span><author>John Roe</author>"
    "<div class='title' data-component='FigureX'>t<span itemprop='reauthor'>x</span></div>"
    "<section id='comments-2'><a class='author-name'>Commenter</a></section>"
    "<h3 id='zuozhe'>Li Wei</h3><h4 class='byl'>Byl</h4><i data-component='SmallByline'>Bylined</i>")


def test_the_attribute_forms_find_what_trafilaturas_author_xpaths_find():
    from copy import deepcopy
    from transforms.trafilatura_meta import _ATTRIBUTE_FORMS
    forms = set(_ATTRIBUTE_FORMS.values())
    assert {x._xpath.path for x in _AUTHOR_XPATHS + _AUTHOR_DISCARD_XPATHS[:1]} <= forms
    page = load_html(_page(ODD_AUTHOR_MARKUP + _paragraphs(2)))
    inner = deepcopy(page.find(".//div[@class='title']"))  # a tree whose root matches
    for tree in (page, inner):
        for mine, theirs in zip(_AUTHOR_XPATHS + _AUTHOR_DISCARD_XPATHS, _regex_xpaths("author")
                                + _regex_xpaths("author discard"), strict=True):
            assert mine(tree, AttributeValues(tree)) == theirs(tree)
    assert [el.tag for el in _AUTHOR_XPATHS[0](page, AttributeValues(page))] == ["div", "author", "a"]
    assert inner not in _AUTHOR_DISCARD_XPATHS[0](inner, AttributeValues(inner))
    assert _author(page, AttributeValues(page)) == extract_author(page)


@pytest.mark.parametrize("name", ["categories", "tags"])
def test_link_searches_among_some_links_find_what_the_full_search_keeps(name, golden_pages):
    from transforms.trafilatura_meta import _link_elements
    assert all(xpath._among is not None for xpath in SET_XPATHS[name])
    pages = list(_all_pages(golden_pages).values()) + [page for page, _ in eval_pages("fundus", 30)]
    kept = 0
    for page in pages:
        tree = load_html(page)
        hrefs = [str(href) for href in tree.xpath("//a/@href")]
        for some in (hrefs, hrefs[::3], [h for h in hrefs if "/tag" in h or "/categor" in h]):
            links = _link_elements(tree, some)
            wanted = set(links)
            for mine, theirs in zip(SET_XPATHS[name], _regex_xpaths(name), strict=True):
                expected = [el for el in theirs(tree) if el in wanted]
                assert mine.among(tree, AttributeValues(tree), links) == expected
                kept += len(expected)
    assert kept


def test_link_searches_read_links_no_xpath_node_can_carry_in_full():
    from trafilatura.metadata import extract_catstags
    from transforms.trafilatura_meta import _link_elements
    page = _page("<div class='tags'><a href='/tags/x&#1;y/'>XY</a><a href='/tags/z/'>Z</a></div>"
                 + _paragraphs(4))
    tree = load_html(page)
    assert _link_elements(tree, ["/tags/x\x01y/"]) is None
    links = ["/tags/x\x01y/", "/tags/z/"]
    assert _catstags("tag", tree, links, AttributeValues(tree)) == extract_catstags("tag", tree) == ["XY", "Z"]


def test_a_set_xpath_takes_the_regex_xpath_on_a_value_no_xpath_node_can_carry():
    tree = load_html(_page("<span class='author-name&#1;'>Jane Miller</span>" + _paragraphs(4)))
    with pytest.raises(ValueError):
        AttributeValues(tree).matching(rewrite("re:test(@class, 'author-?name')")[1][0])
    assert [el.text for el in _AUTHOR_XPATHS[0](tree, AttributeValues(tree))] == ["Jane Miller"]
    assert _author(tree, AttributeValues(tree)) == extract_author(tree) == "Jane Miller"


def test_a_set_xpath_keeps_the_regex_of_each_test():
    from trafilatura.xpaths import REGEXP_NS
    xpath = _SetXPath(etree.XPath("//*[re:test(@id, '^a') or re:test(@class, 'b$')]",
                                  namespaces={"re": REGEXP_NS}))
    tree = load_html("<html><body><p id='ax' class='q'>1</p><p id='xa' class='ba'>2</p>"
                     "<p class='cb'>3</p><p id='' class=''>4</p></body></html>")
    assert [el.text for el in xpath(tree, AttributeValues(tree))] == ["1", "3"]
    assert xpath(tree, AttributeValues(tree)) == xpath._original(tree)


def test_author_and_catstags_are_trafilaturas_on_real_pages():
    from trafilatura.metadata import extract_catstags
    authors = 0
    for page, url in eval_pages("fundus", 30) + eval_pages("scrapinghub-aeb", 10):
        tree = load_html(page)
        expected = extract_author(tree)
        assert _author(tree, AttributeValues(tree)) == expected, url
        authors += bool(expected)
        links = [str(link) for link in tree.xpath("//a/@href")]
        assert _catstags("tag", tree, links, AttributeValues(tree)) == extract_catstags("tag", tree), url
        assert _catstags("category", tree, links, AttributeValues(tree)) == extract_catstags("category", tree), url
    assert authors > 10


def _tree(paragraph_text: str, div_text: str = ""):
    return load_html(f"<html><body><div>{div_text}</div><p>{paragraph_text}</p><p> </p></body></html>")


def test_paragraph_chars_counts_the_text_of_p_elements():
    assert paragraph_chars(_tree("one  two\n three", div_text="not counted")) == len("one two three")
    assert paragraph_chars(load_html("<html><body><div>no paragraph</div></body></html>")) == 0


def test_the_full_pass_is_for_short_texts_missing_most_paragraphs():
    page = _tree("x" * 1000)
    assert _needs_full_pass("y" * 400, page)                      # short, misses most <p> text
    assert not _needs_full_pass("y" * 600, page)                  # short, holds most of it
    assert not _needs_full_pass("y" * FULL_EXTRACTION_BELOW_CHARS, _tree("x" * 10_000))
    assert _needs_full_pass("", load_html("<html><body><div>text</div><div>in divs</div></body></html>"))
    assert _needs_full_pass("y" * 600, load_html("<html><body><div>a</div><div>b</div></body></html>"))


def test_the_parsed_page_is_left_unchanged():
    tree = load_html(PAGES["jsonld"])
    before = lxml.html.tostring(tree)
    trafilatura_metadata(tree, URL)
    assert lxml.html.tostring(tree) == before


def test_a_long_unparseable_jsonld_block_is_read_up_to_the_bound():
    updates = ",".join('{"@type": "BlogPosting", "author": {"@type": "Person", "name": "Reporter %d Smith"}, '
                       '"articleBody": "%s"}' % (i, SENTENCE) for i in range(2000))
    raw = ('{"@type": "LiveBlogPosting", "headline": "Live updates", '
           '"author": [{"@type": "Person", "name": "Lucy Thornton"}] "liveBlogUpdate": [' + updates + "]}")
    assert len(raw) > 10 * JSON_FALLBACK_MAX_CHARS
    page = _page(_paragraphs(4), f"<script type='application/ld+json'>{raw}</script>")
    found = _meta_json(load_html(page), Document())
    # exactly trafilatura's reading of the block's start
    tree = load_html(page)
    from trafilatura.metadata import JSON_MINIFY
    from trafilatura.json_metadata import normalize_json
    text = normalize_json(JSON_MINIFY.sub(r"\1", tree.xpath("//script")[0].text))
    expected = extract_json_parse_error(text[:JSON_FALLBACK_MAX_CHARS], Document())
    assert (found.author, found.title) == (expected.author, expected.title)
    assert found.author and found.title == "Live updates"


def test_a_page_that_is_not_html_has_no_text():
    document = extract_document("", URL)
    assert (document.text, document.page_meta, document.extracted_meta) == ("", {}, {})


def test_settings_cover_every_choice_and_key_the_evaluation_cache():
    assert EXTRACTION_SETTINGS["full_extraction_below_chars"] == FULL_EXTRACTION_BELOW_CHARS
    assert EXTRACTION_SETTINGS["json_fallback_max_chars"] == JSON_FALLBACK_MAX_CHARS
    assert EXTRACTION_SETTINGS["full_extraction_below_share"] == FULL_EXTRACTION_BELOW_SHARE
    assert all(EXTRACTION_SETTINGS[k] == v for k, v in TRAFILATURA_OPTIONS.items())
    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_extraction.py"
    spec = importlib.util.spec_from_file_location("eval_extraction_for_key", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    name, options, _ = module._extractor()
    assert name == "extract_document" and options["settings"] == EXTRACTION_SETTINGS


def _fetched(url: str, body: str) -> FetchedPage:
    entry = FeedEntry(feed_url="http://127.0.0.1/feed.xml", url=url)
    return FetchedPage(entry=entry, final_url=url, status=200, headers={}, html=body,
                       fetched_at=dt.datetime(2025, 3, 19, tzinfo=dt.timezone.utc))


def test_extract_articles_stage():
    pages = [_fetched("http://127.0.0.1/a", PAGES["jsonld"]),
             _fetched("http://127.0.0.1/b", "<html><body></body></html>")]

    def check_good(got):
        assert len(got) == 1 and isinstance(got[0], Article)
        article = got[0]
        assert article.url == "http://127.0.0.1/a" and SENTENCE.strip()[:40] in article.text
        assert article.extracted_meta["author"] == "Jane Miller"
        assert article.page_meta["final_url"] == "http://127.0.0.1/a"

    def check_rejects(got):
        assert [(r.url, r.stage, r.reason) for r in got] == [
            ("http://127.0.0.1/b", "extract", "empty_extraction")]
        assert isinstance(got[0], Reject)

    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create(pages) | ExtractArticles(run_id="r1")
        assert_that(result.good, check_good, label="good")
        assert_that(result.rejects, check_rejects, label="rejects")


@pytest.mark.parametrize("raw", [
    JSONLD,
    '{"headline": "A  title\\nwith \\u00e9 and \\ud83d\\ude00", "x": [1, 2,\n 3]}',
    '{"a": "unterminated \\" x  y',           # a quote that opens no complete string
    '"a\\\nb"  c',                             # an escaped newline inside a string
    ' " \\" " {"t":"<b>bold</b> &amp; more"} ',
    '""  ""',
    '"a \\',                                    # a backslash ending the text inside a string
    '{"a": "b\\\\"  , "c": "d\\\\\\"e"}',          # escaped backslashes before quotes
])
def test_json_minify_and_normalise_are_trafilaturas(raw):
    from trafilatura.json_metadata import normalize_json
    from trafilatura.metadata import JSON_MINIFY

    from transforms.trafilatura_meta import _minify_json, _normalize_json
    assert _minify_json(raw) == JSON_MINIFY.sub(r"\1", raw)
    assert _normalize_json(_minify_json(raw)) == normalize_json(JSON_MINIFY.sub(r"\1", raw))


@pytest.mark.parametrize("raw", [
    JSONLD,
    json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                "headline": "Two  spaces\tand a tab", "keywords": ["a  b", "c"],
                "author": {"@type": "Person", "name": "Jane   Miller"}}, indent=4),
    # parses only minified:
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Spaces\u00a0around",'
    ' "x": tr ue}',
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "A title"} trailing',
    '{"@context": "https://schema.org",\u00a0"@type":\u3000"NewsArticle", "headline": "No-break spaces"}',
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "unterminated',
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "1 < 2 <b>bold</b>"}',
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "a <", "x": "> b"}',
    '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Caf\\u00e9 \\"quoted\\""}',
    '[{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "First"},'
    ' {"@type": "WebPage", "name": "Second"}]',
])
def test_json_metadata_is_trafilaturas(raw):
    from trafilatura.metadata import extract_meta_json
    page = _page(_paragraphs(2), "<script type='application/ld+json'>" + raw
                 + "</script><script type='application/settings+json'>{\"title\":  \"T\"}</script>"
                 "<script type='text/json'>{\"headline\": \"not read\"}</script>")
    def fields(doc):
        return {k: v for k, v in doc.as_dict().items() if k not in ("body", "commentsbody")}
    expected = fields(extract_meta_json(load_html(page), Document()))
    assert fields(_meta_json(load_html(page), Document())) == expected
    assert any(expected.values()), expected


def test_bench_stages_times_every_stage_and_part(golden_pages):
    spec = importlib.util.spec_from_file_location(
        "bench_stages_for_test", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_stages.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pages = [(page, URL) for page in list(golden_pages.values())[:2]] + [("<html><body></body></html>", URL)]
    result = bench.run(pages)
    assert (result["pages"], result["articles"]) == (3, 2)
    assert set(result["stages"]) == set(bench.STAGES) and all(v > 0 for v in result["stages"].values())
    assert result["baseline"]["trafilatura"] > 0
    assert {"parse (load_html)", "trafilatura metadata", "trafilatura text, fast",
            "quality flags (inside clean)"} <= set(result["parts"])
    report = bench.report(result)
    assert all(stage in report for stage in bench.STAGES) and "bare_extraction" in report
