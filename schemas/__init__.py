"""The record schema of newsbeam, declared once.

`records` holds the typed values that flow between stages; `article` holds the
pyarrow schemas of the two outputs (articles and rejects) with a description
for every field.
"""
from schemas.article import (
    ARTICLE_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    article_to_row,
    reject_to_row,
)
from schemas.records import Article, FeedEntry, FetchedPage, Reject

__all__ = [
    "ARTICLE_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "Article",
    "FeedEntry",
    "FetchedPage",
    "Reject",
    "article_to_row",
    "reject_to_row",
]
