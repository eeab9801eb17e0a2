"""Typed records passed between pipeline stages.

Data moves one way: FeedEntry -> FetchedPage -> Article -> Parquet row.
Any stage may emit a Reject instead. Timestamps are timezone-aware UTC
`datetime`s throughout.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Optional


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass
class FeedEntry:
    """One entry of an RSS/Atom feed, as the feed describes it."""

    feed_url: str
    url: str
    title: Optional[str] = None
    published: Optional[dt.datetime] = None
    updated: Optional[dt.datetime] = None
    authors: list[str] = dataclasses.field(default_factory=list)
    summary: Optional[str] = None
    feed_language: Optional[str] = None
    feed_title: Optional[str] = None
    entry_id: Optional[str] = None


@dataclasses.dataclass
class FetchedPage:
    """An HTML page fetched for a feed entry, decoded to text."""

    entry: FeedEntry
    final_url: str
    status: int
    headers: dict[str, str]
    html: str
    fetched_at: dt.datetime
    attempts: int = 1


@dataclasses.dataclass
class Article:
    """An article as it moves through extract, clean, metadata, language, dedup.

    Fields map one to one onto the columns of `schemas.article.ARTICLE_SCHEMA`,
    except `page_meta` and `extracted_meta`: evidence gathered from the HTML at
    extraction time for the metadata stage, never written.
    """

    url: str
    feed_url: Optional[str]
    fetched_at: dt.datetime
    text: str
    article_id: Optional[str] = None
    canonical_url: Optional[str] = None
    source_domain: Optional[str] = None
    site_name: Optional[str] = None
    title: Optional[str] = None
    authors: list[str] = dataclasses.field(default_factory=list)
    agencies: list[str] = dataclasses.field(default_factory=list)
    description: Optional[str] = None
    image_url: Optional[str] = None
    section: Optional[str] = None
    topics: list[str] = dataclasses.field(default_factory=list)
    dateline: Optional[str] = None
    word_count: int = 0
    language: Optional[str] = None
    language_probability: Optional[float] = None
    published_at: Optional[dt.datetime] = None
    updated_at: Optional[dt.datetime] = None
    content_hash: Optional[str] = None
    duplicate_of: Optional[str] = None
    duplicate_similarity: Optional[float] = None
    story_id: Optional[str] = None
    quality_flags: list[str] = dataclasses.field(default_factory=list)
    removed_blocks: list[dict[str, str]] = dataclasses.field(default_factory=list)
    http_status: Optional[int] = None
    run_id: Optional[str] = None
    # Evidence for later stages; not written to Parquet.
    entry: Optional[FeedEntry] = None
    page_meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    extracted_meta: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Reject:
    """One failure: the URL (or feed) that failed, where, and why."""

    url: Optional[str]
    stage: str
    reason: str
    feed_url: Optional[str] = None
    http_status: Optional[int] = None
    attempts: Optional[int] = None
    error: Optional[str] = None
    rejected_at: dt.datetime = dataclasses.field(default_factory=utcnow)
    run_id: Optional[str] = None
