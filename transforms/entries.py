"""Feed entries listed by several feeds (or twice in one) are fetched once."""
from __future__ import annotations

import apache_beam as beam

from schemas.records import FeedEntry
from transforms.canonical import url_key
from transforms.common import counter

__all__ = ["DistinctEntries", "pick_entry"]

STAGE = "feeds"


def pick_entry(entries: list[FeedEntry]) -> FeedEntry:
    """The entry kept among those with the same URL key: deterministic on any runner."""
    return min(entries, key=lambda e: (e.feed_url or "", e.url, e.title or ""))


class _PickDoFn(beam.DoFn):
    def setup(self):
        self._repeated = counter(STAGE, "repeated_entries")
        self._entries = counter(STAGE, "entries")

    def process(self, element):
        _, entries = element
        entries = list(entries)
        self._entries.inc()
        self._repeated.inc(len(entries) - 1)
        yield pick_entry(entries)


class DistinctEntries(beam.PTransform):
    """FeedEntry -> FeedEntry, one per URL key (counted in feeds.repeated_entries)."""

    def expand(self, entries):
        return (entries
                | "KeyByUrl" >> beam.Map(lambda e: (url_key(e.url), e))
                | "GroupByUrl" >> beam.GroupByKey()
                | "PickOne" >> beam.ParDo(_PickDoFn()))
