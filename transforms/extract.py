"""Extraction: main text and page metadata from fetched HTML, one parse per page.

The page is parsed once with lxml. Page-level evidence (JSON-LD, meta tags,
`<h1>`, `<html lang>`, canonical links) is collected from that tree first;
trafilatura then extracts the main text and its own metadata from the same tree.

For speed, trafilatura first runs in its `fast` mode (no readability/jusText
comparison): about 40% less extraction time. When that text is shorter than
`FULL_EXTRACTION_BELOW_CHARS` and holds less than `FULL_EXTRACTION_BELOW_SHARE`
of the text of the page's `<p>` elements (or the page has none), where the
comparison is what rescues under-extracted pages, the text comes from a
second, full pass on the same tree. A short text that already holds most of
the page's paragraphs is what the page has: the full pass would not add to it.
On the extraction evaluation this keeps F1 within 0.1 points of the full mode
(docs/performance.md).

trafilatura's metadata is taken once, by `trafilatura_metadata`
(transforms/trafilatura_meta.py: its own steps, for less work), from the page's
attribute values read once with the page evidence's. The text passes run
without metadata. Text and metadata are trafilatura's, with less work.

The page is parsed by `load_page` (trafilatura's `load_html`, the same tree
for less work).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable, Optional

import apache_beam as beam

from schemas.records import Article, FetchedPage, Reject
from transforms.common import REJECTS_TAG, ParDoWithRejects, counter
from transforms import set_xpath
from transforms.memory import freeze_loaded_objects
from transforms.trafilatura_meta import JSON_FALLBACK_MAX_CHARS, trafilatura_metadata

__all__ = ["TRAFILATURA_OPTIONS", "FULL_EXTRACTION_BELOW_CHARS", "FULL_EXTRACTION_BELOW_SHARE",
           "JSON_FALLBACK_MAX_CHARS", "EXTRACTION_SETTINGS", "ExtractedDocument",
           "extract_document", "load_page", "page_parser", "trafilatura_metadata", "paragraph_chars",
           "ExtractArticles"]

STAGE = "extract"

# The trafilatura settings the pipeline uses; evaluations import them from here.
TRAFILATURA_OPTIONS: dict[str, Any] = dict(
    with_metadata=True,
    include_comments=False,
    include_tables=True,
    include_images=False,
    include_links=False,
    favor_precision=False,
    favor_recall=False,
    deduplicate=False,
    fast=True,
)
# A fast extraction shorter than this is redone in full mode (about 8% of news pages) ...
FULL_EXTRACTION_BELOW_CHARS = 1500
# ... when it holds less than this share of the page's paragraph text (3.5% of news pages).
FULL_EXTRACTION_BELOW_SHARE = 0.5
# trafilatura's attribute tests as set tests, wherever this module is used (same output).
set_xpath.install()
# The characters trafilatura's INVALID_XML_CHARS removes (C0 controls but tab, LF, CR; U+FFFE, U+FFFF).
_INVALID_XML_CHARS = tuple(chr(c) for c in (*range(0x20), 0xFFFE, 0xFFFF) if chr(c) not in "\t\n\r")
# Everything that decides the extracted text, for evaluations to key their caches on.
EXTRACTION_SETTINGS: dict[str, Any] = dict(
    TRAFILATURA_OPTIONS, full_extraction_below_chars=FULL_EXTRACTION_BELOW_CHARS,
    full_extraction_below_share=FULL_EXTRACTION_BELOW_SHARE,
    json_fallback_max_chars=JSON_FALLBACK_MAX_CHARS)


@dataclasses.dataclass
class ExtractedDocument:
    """What extraction found in one page."""

    text: str
    page_meta: dict[str, Any]
    extracted_meta: dict[str, Any]

    @property
    def title(self) -> Optional[str]:
        return self.extracted_meta.get("title")

    @property
    def sitename(self) -> Optional[str]:
        return self.extracted_meta.get("sitename")

    @property
    def author(self) -> Optional[str]:
        return self.extracted_meta.get("author")

    @property
    def date(self) -> Optional[str]:
        return self.extracted_meta.get("date")


def load_page(html: str):
    """trafilatura's `load_html`: the same tree, from a cheaper repair and parse.

    trafilatura removes the characters XML forbids with a regex over the whole
    page and rebuilds the string around its first line to drop a broken
    DOCTYPE. Here the regex runs only when one of those characters is there
    (a test of each, in C, is about 3x cheaper than the regex scan), and the
    string is rebuilt only when its first line has such a DOCTYPE (or the page
    has no line break, where trafilatura's rebuild appends one).

    trafilatura parses the string, and its UTF-8 bytes when that fails or
    gives an empty tree; here the bytes come first (libxml2 reads UTF-8
    without converting it; the same parser, whose encoding is UTF-8, gives
    the same tree: checked on every evaluation page), with `page_parser`.
    A string with lone surrogates, which UTF-8 cannot encode, takes
    trafilatura's order. Same rejection of dubious HTML; non-string input
    goes to trafilatura's loader.

    Args:
      html: the decoded page.

    Returns:
      The lxml tree, or None where trafilatura's loader gives None.
    """
    from trafilatura import utils as tu

    if not isinstance(html, str):
        return tu.load_html(html)
    beginning = html[:50].lower()
    dubious = tu.is_dubious_html(beginning)
    html = _repair_html(html, beginning)
    try:
        data = html.encode("utf-8")
    except UnicodeEncodeError:
        tree = _parse_string_first(html)
    else:
        try:
            tree = tu.fromstring(data, parser=page_parser())
        except Exception as err:  # noqa: BLE001 - as trafilatura's fromstring_bytes
            tu.LOGGER.error("lxml parser bytestring %s", err)
            tree = None
    if tree is not None and dubious and len(tree) < 2:
        tu.LOGGER.error("parsed tree length: %s, wrong data type or not valid HTML", len(tree))
        tree = None
    return tree


@functools.lru_cache(maxsize=None)
def page_parser():
    """trafilatura's HTML parser, with lxml.html's element classes chosen in C.

    lxml.html picks each element's Python class with a Python callback (a
    special class for form, input, select, textarea and label, `HtmlElement`
    for the rest), called every time Python touches an element: about 3,000
    calls a page during trafilatura's extraction. This copy of trafilatura's
    parser gives every element `HtmlElement` without the callback: the same
    tree and methods; trafilatura uses none of the form classes' extras.
    About 3% of the extraction's CPU (docs/performance.md).
    """
    from lxml import etree, html as lxml_html
    from trafilatura import utils as tu

    parser = tu.HTML_PARSER.copy()
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction, entity=lxml_html.HtmlEntity))
    return parser


def _parse_string_first(html: str):
    """trafilatura's parse of a repaired page: the string, then its bytes."""
    from trafilatura import utils as tu

    tree, fallback = None, False
    try:
        tree = tu.fromstring(html, parser=tu.HTML_PARSER)
    except ValueError:  # "Unicode strings with encoding declaration are not supported."
        tree, fallback = tu.fromstring_bytes(html), True
    except Exception as err:  # noqa: BLE001 - pragma: no cover, as trafilatura
        tu.LOGGER.error("lxml parsing failed: %s", err)
    if (tree is None or len(tree) < 1) and not fallback:
        tree = tu.fromstring_bytes(html)
    return tree


def _repair_html(html: str, beginning: str) -> str:
    """trafilatura's `repair_faulty_html(html, beginning)`, without copies when nothing changes."""
    from trafilatura import utils as tu

    if any(char in html for char in _INVALID_XML_CHARS):
        html = tu.INVALID_XML_CHARS.sub("", html)
    if "doctype" in beginning:
        end = html.find("\n")
        if end < 0 or tu.DOCTYPE_TAG.search(html, 0, end):
            firstline, _, rest = html.partition("\n")
            html = tu.DOCTYPE_TAG.sub("", firstline, count=1) + "\n" + rest
    for line in html[:4096].splitlines()[:4]:
        if "<html" in line and line.endswith("/>"):
            html = tu.FAULTY_HTML.sub(r"\1>", html, count=1)
            break
    return html


def _collect_page_meta(tree, url: Optional[str],
                       values: Optional[dict[str, list[str]]] = None) -> dict[str, Any]:
    try:
        from transforms.page_meta import collect_page_meta
    except ImportError:  # the metadata module is optional for extraction alone
        return {}
    return collect_page_meta(tree, url, values)


def _attribute_values(tree) -> Optional[dict[str, list[str]]]:
    """The page's class, id, ... values, read once for the page evidence and trafilatura's metadata."""
    try:
        from transforms.page_meta import attribute_values
    except ImportError:  # the metadata module is optional for extraction alone
        return None
    return attribute_values(tree)


def extract_document(html: str, url: Optional[str] = None) -> ExtractedDocument:
    """Extracts main text and metadata from an HTML string.

    Args:
      html: the decoded page.
      url: the page URL, used to resolve links and as metadata evidence.

    Returns:
      An ExtractedDocument; its text is empty when trafilatura found no main text.
    """
    tree = load_page(html)
    if tree is None:
        return ExtractedDocument(text="", page_meta={}, extracted_meta={})
    values = _attribute_values(tree)
    page_meta = _collect_page_meta(tree, url, values)
    meta = trafilatura_metadata(tree, url, values) if TRAFILATURA_OPTIONS.get("with_metadata") else {}
    text = _main_text(tree, url, TRAFILATURA_OPTIONS, values)
    if TRAFILATURA_OPTIONS.get("fast") and _needs_full_pass(text, tree):
        text = _main_text(tree, url, dict(TRAFILATURA_OPTIONS, fast=False), values) or text
    return ExtractedDocument(text=text, page_meta=page_meta, extracted_meta=meta)


def _needs_full_pass(fast_text: str, tree) -> bool:
    """True for a short fast text that misses most of the page's paragraph text."""
    if len(fast_text) >= FULL_EXTRACTION_BELOW_CHARS:
        return False
    paragraphs = paragraph_chars(tree)
    return not paragraphs or len(fast_text) < FULL_EXTRACTION_BELOW_SHARE * paragraphs


def paragraph_chars(tree) -> int:
    """Characters of text in the page's `<p>` elements, whitespace collapsed."""
    total = 0
    for paragraph in tree.iter("p"):
        try:
            total += len(" ".join(paragraph.text_content().split()))
        except ValueError:  # lxml: text that is not valid XML
            continue
    return total


def _main_text(tree, url: Optional[str], options: dict[str, Any],
               values: Optional[dict[str, list[str]]] = None) -> str:
    """The main text of one trafilatura pass over a parsed page (left unchanged).

    trafilatura's attribute tests run as set tests (`transforms.set_xpath`) over
    the values of this page (its class and id `values` when given).
    """
    from trafilatura import bare_extraction

    given = {name: values[name] for name in set_xpath.PAGE_WIDE_ATTRIBUTES} if values else None
    with set_xpath.page_values(tree, given):
        document = bare_extraction(tree, url=url, **dict(options, with_metadata=False))
    return (document.text or "").strip() if document is not None else ""


class _ExtractDoFn(beam.DoFn):
    def __init__(self, run_id: Optional[str]):
        self._run_id = run_id

    def setup(self):
        freeze_loaded_objects()  # trafilatura and lxml are loaded now (transforms/memory.py)
        self._extracted = counter(STAGE, "extracted")
        self._empty = counter(STAGE, "empty")

    def process(self, page: FetchedPage) -> Iterable[Any]:
        document = extract_document(page.html, page.final_url)
        entry = page.entry
        if not document.text:
            self._empty.inc()
            yield beam.pvalue.TaggedOutput(REJECTS_TAG, Reject(
                url=entry.url, feed_url=entry.feed_url, stage=STAGE,
                reason="empty_extraction", http_status=page.status,
                attempts=page.attempts, error="no main text found in the page",
                run_id=self._run_id))
            return
        self._extracted.inc()
        yield Article(
            url=entry.url,
            feed_url=entry.feed_url,
            fetched_at=page.fetched_at,
            text=document.text,
            http_status=page.status,
            run_id=self._run_id,
            entry=entry,
            page_meta={**document.page_meta, "final_url": page.final_url},
            extracted_meta=document.extracted_meta,
        )


class ExtractArticles(beam.PTransform):
    """FetchedPage -> Article with raw main text and metadata evidence."""

    def __init__(self, run_id: Optional[str] = None):
        super().__init__()
        self._run_id = run_id

    def expand(self, pages):
        return pages | "Extract" >> ParDoWithRejects(
            _ExtractDoFn(self._run_id), STAGE, self._run_id)
