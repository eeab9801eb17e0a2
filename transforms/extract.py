"""Extraction: main text and page metadata from fetched HTML, one parse per page.

The page is parsed once with lxml. Page-level evidence (JSON-LD, meta tags,
`<h1>`, `<html lang>`, canonical links) is collected from that tree first;
trafilatura then extracts the main text and its own metadata from the same tree.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Optional

import apache_beam as beam

from schemas.records import Article, FetchedPage, Reject
from transforms.common import REJECTS_TAG, ParDoWithRejects, counter

__all__ = ["TRAFILATURA_OPTIONS", "ExtractedDocument", "extract_document", "ExtractArticles"]

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
    fast=False,
)

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
    from trafilatura import bare_extraction
    from trafilatura.core import load_html

    tree = load_html(html)
    if tree is None:
        return ExtractedDocument(text="", page_meta={}, extracted_meta={})
    page_meta = _collect_page_meta(tree, url)
    document = bare_extraction(tree, url=url, **TRAFILATURA_OPTIONS)
    if document is None:
        return ExtractedDocument(text="", page_meta=page_meta, extracted_meta={})
    values = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    meta = {k: values.get(k) for k in _META_KEYS if values.get(k) not in (None, "", [])}
    return ExtractedDocument(text=(values.get("text") or "").strip(),
                             page_meta=page_meta, extracted_meta=meta)


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
