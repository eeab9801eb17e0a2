"""The Parquet schemas of the dataset, with a description for every column.

This module is the one source of the column contract: `docs/schema.md`, the
BigQuery schema and the Parquet file metadata are all derived from it.
Within a major `SCHEMA_VERSION`, only new nullable columns may be added.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import pyarrow as pa

from schemas.records import Article, Reject

SCHEMA_VERSION = "1.0"

_TS = pa.timestamp("us", tz="UTC")
_REMOVED_BLOCK = pa.struct([("kind", pa.string()), ("text", pa.string())])


def _f(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


ARTICLE_FIELDS = [
    _f("article_id", pa.string(), "Stable identifier: hex digest of the canonical URL key. One id per article, whatever URL variant it was reached by.", False),
    _f("url", pa.string(), "The URL the feed entry pointed to.", False),
    _f("canonical_url", pa.string(), "Canonical URL: rel=canonical or og:url when the page gives one, else the fetched URL; tracking parameters stripped, scheme and host normalised."),
    _f("feed_url", pa.string(), "The feed this article was found in."),
    _f("source_domain", pa.string(), "Registered host of the canonical URL, without a leading www."),
    _f("site_name", pa.string(), "Publisher name (og:site_name, JSON-LD publisher, or the feed title)."),
    _f("title", pa.string(), "Headline, with site-name prefixes and suffixes stripped."),
    _f("authors", pa.list_(pa.string()), "Person names of the authors, normalised and de-duplicated. Never a site name or an agency."),
    _f("agencies", pa.list_(pa.string()), "News agencies credited (AFP, Reuters, dpa, ...)."),
    _f("description", pa.string(), "Summary or standfirst (meta description, og:description or the feed summary)."),
    _f("image_url", pa.string(), "Lead image URL (og:image or JSON-LD image)."),
    _f("section", pa.string(), "Section of the site the article belongs to, when the page says so."),
    _f("topics", pa.list_(pa.string()), "Topics or keywords the page declares."),
    _f("dateline", pa.string(), "Dateline moved out of the text (for example 'WASHINGTON')."),
    _f("text", pa.string(), "Main text after extraction and boilerplate cleaning; paragraphs separated by newlines."),
    _f("word_count", pa.int32(), "Number of words in `text`."),
    _f("language", pa.string(), "ISO 639-1 language code of the text, or 'und' when undetermined."),
    _f("language_probability", pa.float64(), "Probability of `language` given by the detector (0-1)."),
    _f("published_at", _TS, "Publication time in UTC, from the best available evidence (feed, JSON-LD, meta tags, htmldate)."),
    _f("updated_at", _TS, "Last modification time in UTC, when the page gives one distinct from publication."),
    _f("fetched_at", _TS, "Time the page was fetched, UTC.", False),
    _f("content_hash", pa.string(), "SHA-256 hex digest of the normalised cleaned text: equal hashes mean the same text."),
    _f("duplicate_of", pa.string(), "article_id of the earlier article this one copies (same text or near-copy); null for originals."),
    _f("duplicate_similarity", pa.float64(), "Estimated Jaccard similarity to `duplicate_of` (1.0 for identical text); null for originals."),
    _f("story_id", pa.string(), "Identifier shared by all articles reporting the same event."),
    _f("quality_flags", pa.list_(pa.string()), "Warnings about the text that was kept (e.g. mt_garbage, short_text, link_heavy)."),
    _f("removed_blocks", pa.list_(_REMOVED_BLOCK), "What the cleaning stage removed from the extracted text, with the kind of each block."),
    _f("http_status", pa.int32(), "HTTP status of the final response."),
    _f("run_id", pa.string(), "Identifier of the run that wrote this row."),
    _f("schema_version", pa.string(), "Version of this schema (major.minor).", False),
    _f("pipeline_version", pa.string(), "Version of newsbeam that wrote this row.", False),
]

REJECT_FIELDS = [
    _f("url", pa.string(), "The URL (page or feed) that failed."),
    _f("feed_url", pa.string(), "The feed the URL came from."),
    _f("stage", pa.string(), "Pipeline stage where it failed: feeds, fetch, extract, clean, metadata, language, dedup, write.", False),
    _f("reason", pa.string(), "Short machine-readable reason, e.g. http_404, not_html, blocked_address, empty_text.", False),
    _f("http_status", pa.int32(), "HTTP status, when a response was received."),
    _f("attempts", pa.int32(), "Number of HTTP attempts made."),
    _f("error", pa.string(), "Human-readable error text."),
    _f("rejected_at", _TS, "Time of the failure, UTC.", False),
    _f("run_id", pa.string(), "Identifier of the run."),
    _f("schema_version", pa.string(), "Version of this schema (major.minor).", False),
    _f("pipeline_version", pa.string(), "Version of newsbeam that wrote this row.", False),
]


def _schema(fields: list[pa.Field], name: str) -> pa.Schema:
    return pa.schema(fields, metadata={
        "newsbeam.schema": name,
        "newsbeam.schema_version": SCHEMA_VERSION,
        "newsbeam.descriptions": json.dumps(
            {f.name: f.metadata[b"description"].decode() for f in fields}, ensure_ascii=False),
    })


ARTICLE_SCHEMA = _schema(ARTICLE_FIELDS, "articles")
REJECT_SCHEMA = _schema(REJECT_FIELDS, "rejects")


@functools.lru_cache(maxsize=1)
def pipeline_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("newsbeam")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _row(record: Any, schema: pa.Schema) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name, None) for f in dataclasses.fields(record)}
    row = {name: values.get(name) for name in schema.names}
    row["schema_version"] = SCHEMA_VERSION
    row["pipeline_version"] = pipeline_version()
    return row


def article_to_row(article: Article) -> dict[str, Any]:
    """The Parquet row of an article: exactly the columns of ARTICLE_SCHEMA."""
    return _row(article, ARTICLE_SCHEMA)


def reject_to_row(reject: Reject) -> dict[str, Any]:
    """The Parquet row of a reject: exactly the columns of REJECT_SCHEMA."""
    return _row(reject, REJECT_SCHEMA)
