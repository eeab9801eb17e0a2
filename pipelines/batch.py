"""The batch pipeline: a list of feeds -> deduplicated, partitioned Parquet."""
from __future__ import annotations

import dataclasses
from typing import Optional

import apache_beam as beam

from pipelines.options import NewsbeamOptions, http_config_from_options
from schemas.records import Article
from transforms.clean import CleanBoilerplate
from transforms.dedup import Deduplicate, FilterSeen
from transforms.entries import DistinctEntries
from transforms.extract import ExtractArticles
from transforms.feeds import ReadFeeds
from transforms.fetch import FetchPages
from transforms.language import DetectLanguage
from transforms.metadata import ResolveMetadata
from transforms.summary import CountArticles, CountRejects
from transforms.write import WriteArticles, WriteRejects

__all__ = ["IngestArticles", "build_batch", "drop_evidence", "warm_up"]

# Page evidence the stages after language detection still read (canonical URLs).
_KEPT_EVIDENCE = ("canonical", "og_url", "final_url")


def drop_evidence(article: Article) -> Article:
    """The article without the extraction evidence that only earlier stages need.

    Keeps the records that travel through dedup's joins small.
    """
    return dataclasses.replace(
        article, entry=None, extracted_meta={},
        page_meta={k: article.page_meta[k] for k in _KEPT_EVIDENCE if k in article.page_meta})


class IngestArticles(beam.PTransform):
    """FeedEntry -> StageResult(articles, rejects): every stage after reading feeds.

    Shared by the batch and the streaming pipelines.

    Args:
        options: the pipeline's NewsbeamOptions.
        run_id: the run id.
        dedup: the Article -> StageResult dedup transform; the batch
            `Deduplicate` when None (streaming passes its stateful one).
        skip_seen: the FeedEntry -> FeedEntry filter of entries earlier runs
            wrote; the batch `FilterSeen` when None (streaming passes its
            stateful one).
    """

    def __init__(self, options: NewsbeamOptions, run_id: str, dedup: Optional[beam.PTransform] = None,
                 skip_seen: Optional[beam.PTransform] = None):
        super().__init__()
        self._options = options
        self._run_id = run_id
        self._dedup = dedup
        self._skip_seen = skip_seen

    def expand(self, entries):
        o, run_id = self._options, self._run_id
        dedup_args = {}
        if o.near_duplicate_threshold is not None:
            dedup_args["near_threshold"] = o.near_duplicate_threshold
        fetched = (entries
                   | "SkipSeen" >> (self._skip_seen or FilterSeen(o.output))
                   | "FetchPages" >> FetchPages(http_config_from_options(o), run_id))
        extracted = fetched.good | "ExtractArticles" >> ExtractArticles(run_id)
        resolved = extracted.good | "ResolveMetadata" >> ResolveMetadata(run_id)
        cleaned = resolved.good | "CleanBoilerplate" >> CleanBoilerplate(run_id)
        detected = cleaned.good | "DetectLanguage" >> DetectLanguage(run_id)
        slim = detected.good | "DropEvidence" >> beam.Map(drop_evidence)
        dedup = self._dedup or Deduplicate(o.output, run_id, **dedup_args)
        deduped = slim | "Deduplicate" >> dedup
        rejects = ((fetched.rejects, extracted.rejects, resolved.rejects, cleaned.rejects,
                    detected.rejects, deduped.rejects)
                   | "FlattenRejects" >> beam.Flatten())
        return deduped.good, rejects


def warm_up() -> None:
    """Loads what the stages load on their first page (langdetect's profiles,
    trafilatura's lazily built state: about 0.25 s of CPU), for worker processes
    forked afterwards (pipelines/warm_workers.py)."""
    from transforms.extract import extract_document
    from transforms.language import detect_language

    document = extract_document("<html><head><title>Bonjour</title></head><body><article>"
                                "<p>Une phrase en français, pour que tout soit chargé.</p>"
                                "</article></body></html>", "http://127.0.0.1/")
    detect_language(document.text or "Une phrase en français, pour que tout soit chargé.")


def warm_up_worker() -> None:
    """Imports, in a forked worker process waiting for the runner, what the end of the
    run would import on first use: scipy's clustering and sparse matrices for the
    story clusters (transforms/story.py; about 0.25 s, which the dedup tail then
    spent with the other worker idle)."""
    import importlib

    for module in ("scipy.cluster.hierarchy", "scipy.sparse", "scipy.spatial.distance"):
        importlib.import_module(module)


# Stages whose input the in-process runner deals to its workers in shrinking parts
# (pipelines/local_runner.py): the one that fetches, extracts, cleans and detects.
BALANCED_STAGES = ("Ingest/FetchPages/Fetch/Process",)


def build_batch(pipeline: beam.Pipeline, feed_urls: list[str], run_id: str) -> None:
    """Adds the batch ingest to `pipeline`: feeds -> stages -> Parquet sinks."""
    o = pipeline.options.view_as(NewsbeamOptions)
    feeds = (pipeline
             | "FeedUrls" >> beam.Create(sorted(set(feed_urls)))
             | "ReadFeeds" >> ReadFeeds(http_config_from_options(o), run_id))
    entries = feeds.good | "DistinctEntries" >> DistinctEntries()
    articles, rejects = entries | "Ingest" >> IngestArticles(o, run_id)
    all_rejects = (feeds.rejects, rejects) | "AllRejects" >> beam.Flatten()
    _ = articles | "WriteArticles" >> WriteArticles(
        o.output, run_id, o.target_file_bytes, o.row_group_bytes)
    _ = articles | "Summary" >> CountArticles()
    _ = all_rejects | "RejectSummary" >> CountRejects()
    _ = all_rejects | "WriteRejects" >> WriteRejects(
        o.output, run_id, o.target_file_bytes, o.row_group_bytes)
