"""Run summary counters: languages, duplicates and distinct stories.

The counts travel as Beam metrics, so the driver builds the run manifest from
the pipeline result without collecting any data.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.common import counter

__all__ = ["CountArticles", "CountRejects"]

STAGE = "summary"


class _CountDoFn(beam.DoFn):
    def setup(self):
        self._duplicates = counter(STAGE, "duplicates")

    def process(self, article):
        counter(STAGE, f"lang.{article.language or 'und'}").inc()
        if article.duplicate_of:
            self._duplicates.inc()
        if article.story_id:
            yield article.story_id


class _CountStoriesDoFn(beam.DoFn):
    def setup(self):
        self._stories = counter(STAGE, "stories")

    def process(self, count):
        self._stories.inc(count)


class CountArticles(beam.PTransform):
    """Counts articles per language, duplicates and distinct story_ids as metrics."""

    def expand(self, articles):
        return (articles
                | "CountLanguagesAndDuplicates" >> beam.ParDo(_CountDoFn())
                | "DistinctStories" >> beam.Distinct()
                | "CountStories" >> beam.combiners.Count.Globally().without_defaults()
                | "StoriesCounter" >> beam.ParDo(_CountStoriesDoFn()))


class _CountRejectsDoFn(beam.DoFn):
    def process(self, reject):
        counter("rejects", f"{reject.stage}/{reject.reason}").inc()


class CountRejects(beam.PTransform):
    """Counts rejects by `<stage>/<reason>` as metrics."""

    def expand(self, rejects):
        return rejects | "CountByReason" >> beam.ParDo(_CountRejectsDoFn())
