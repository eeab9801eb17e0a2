"""Extraction: main text and page metadata from fetched HTML, one parse per page.

The page is parsed once with lxml. Page-level evidence (JSON-LD, meta tags,
`<h1>`, `<html lang>`, canonical links) is collected from that tree first;
trafilatura then extracts the main text and its own metadata from the same tree.

For speed, trafilatura first runs in its `fast` mode (no readability/jusText
comparison): about 40% less extraction time. When that text is shorter than
`FULL_EXTRACTION_BELOW_CHARS`, where the comparison is what rescues
under-extracted pages, the text comes from a second, full pass on the same
tree (without metadata, already taken). On the extraction evaluation this
keeps F1 within 0.05 points of the full mode (docs/performance.md).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional

import apache_beam as beam

from schemas.records import Article, FetchedPage, Reject
from transforms.common import REJECTS_TAG, ParDoWithRejects, counter

__all__ = ["TRAFILATURA_OPTIONS", "FULL_EXTRACTION_BELOW_CHARS", "EXTRACTION_SETTINGS",
           "ExtractedDocument", "extract_document", "ExtractArticles"]

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
# A fast extraction shorter than this is redone in full mode (about 8% of news pages).
FULL_EXTRACTION_BELOW_CHARS = 1500
# Everything that decides the extracted text, for evaluations to key their caches on.
EXTRACTION_SETTINGS: dict[str, Any] = dict(
    TRAFILATURA_OPTIONS, full_extraction_below_chars=FULL_EXTRACTION_BELOW_CHARS)

_META_KEYS = ("title", "author", "date", "sitename", "description", "categories",
              "tags", "image", "hostname", "url", "pagetype", "language")


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


def _collect_page_meta(tree, url: Optional[str]) -> dict[str, Any]:
    try:
        from transforms.page_meta import collect_page_meta
    except ImportError:  # the metadata module is optional for extraction alone
        return {}
    return collect_page_meta(tree, url)


def extract_document(html: str, url: Optional[str] = None) -> ExtractedDocument:
    """Extracts main text and metadata from an HTML string.

    Args:
      html: the decoded page.
      url: the page URL, used to resolve links and as metadata evidence.

    Returns:
      An ExtractedDocument; its text is empty when trafilatura found no main text.
    """
    from trafilatura.core import load_html

    tree = load_html(html)
    if tree is None:
        return ExtractedDocument(text="", page_meta={}, extracted_meta={})
    page_meta = _collect_page_meta(tree, url)
    text, meta = _trafilatura(tree, url, TRAFILATURA_OPTIONS)
    if TRAFILATURA_OPTIONS.get("fast") and len(text) < FULL_EXTRACTION_BELOW_CHARS:
        full_text, full_meta = _trafilatura(
            tree, url, dict(TRAFILATURA_OPTIONS, fast=False, with_metadata=not meta))
        text, meta = full_text or text, meta or full_meta
    return ExtractedDocument(text=text, page_meta=page_meta, extracted_meta=meta)


def _trafilatura(tree, url: Optional[str], options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(main text, metadata) of one trafilatura pass over a parsed page (left unchanged)."""
    from trafilatura import bare_extraction

    document = bare_extraction(tree, url=url, **options)
    if document is None:
        return "", {}
    values = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    meta = {k: values.get(k) for k in _META_KEYS if values.get(k) not in (None, "", [])}
    return (values.get("text") or "").strip(), meta


class _ExtractDoFn(beam.DoFn):
    def __init__(self, run_id: Optional[str]):
        self._run_id = run_id

    def setup(self):
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
