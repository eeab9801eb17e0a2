"""Keyed state of the streaming pipeline, with timers that expire it.

Batch dedup compares a run with the dataset it reads back; a streaming run
instead remembers what it saw in keyed state, so that the keys (URL keys,
content hashes) spread over workers, and sets an event-time timer per key at
`first seen + horizon` that clears the key's state: memory stays bounded by
what arrives within one horizon (default 7 days).

- `FirstSeen`: FeedEntry -> FeedEntry, the first entry per URL key only.
- `FirstPerKey`: the generic stateful DoFn under it, for any (key, value).
- `StreamDeduplicate`: Article -> StageResult, the streaming counterpart of
  `transforms.dedup.Deduplicate`: the same identities and keys, computed by
  the dedup stage's pure functions, matched against keyed state instead of
  the dataset.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import apache_beam as beam
from apache_beam import coders
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (ReadModifyWriteStateSpec, TimerSpec, on_timer)
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas.records import Article
from transforms.common import StageResult, counter

__all__ = ["DEFAULT_HORIZON", "FirstPerKey", "FirstSeen", "MarkCopies", "StreamDeduplicate",
           "expiry_time"]

DEFAULT_HORIZON = 7 * 24 * 3600.0


def expiry_time(first_seen: Timestamp, horizon: float) -> Timestamp:
    """When the state of a key first seen at `first_seen` is dropped."""
    return Timestamp.of(first_seen) + Duration.of(horizon)


class _FirstPerKeyDoFn(beam.DoFn):
    """(key, value) -> value, for the first value of each key within the horizon."""

    SEEN = ReadModifyWriteStateSpec("first_seen", coders.VarIntCoder())  # micros of first sighting
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, stage: str, horizon: float):
        self._stage = stage
        self._horizon = horizon

    def setup(self):
        self._first = counter(self._stage, "first_seen")
        self._repeats = counter(self._stage, "repeated")
        self._expired = counter(self._stage, "state_expired")

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                seen=beam.DoFn.StateParam(SEEN), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, value = element
        if seen.read() is not None:
            self._repeats.inc()
            return
        seen.write(timestamp.micros)
        expiry.set(expiry_time(timestamp, self._horizon))
        self._first.inc()
        yield value

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()
        self._expired.inc()


class FirstPerKey(beam.PTransform):
    """PCollection[(str key, value)] -> PCollection[value]: first value per key.

    The state of a key is cleared `horizon` seconds (event time) after its
    first value, so a key seen again after that passes again; keep the
    horizon longer than the time a value can keep coming back.

    Args:
        stage: counter prefix (`<stage>.first_seen`, `.repeated`, `.state_expired`).
        horizon: seconds a key is remembered.
    """

    def __init__(self, stage: str, horizon: float = DEFAULT_HORIZON):
        super().__init__()
        if horizon <= 0:
            raise ValueError("horizon must be positive")
        self._stage = stage
        self._horizon = horizon

    def expand(self, keyed):
        return keyed | "FirstPerKey" >> beam.ParDo(
            _FirstPerKeyDoFn(self._stage, self._horizon)).with_input_types(tuple[str, Any])


def _default_url_key(url: str) -> str:
    from transforms.canonical import url_key
    return url_key(url)


class FirstSeen(beam.PTransform):
    """FeedEntry -> FeedEntry: each URL key goes downstream once within the horizon.

    Entries listed by several feeds, or again after they left a feed, are
    dropped (counted in `stream.repeated`). Keyed by
    `transforms.canonical.url_key`, the key batch dedup uses.

    Args:
        horizon: seconds a URL key is remembered (default 7 days).
        key: url -> key; the canonical URL key by default.
    """

    def __init__(self, horizon: float = DEFAULT_HORIZON, key: Optional[Callable[[str], str]] = None):
        super().__init__()
        self._horizon = horizon
        self._key = key or _default_url_key

    def expand(self, entries):
        key = self._key
        return (entries
                | "KeyByUrl" >> beam.Map(lambda e: (key(e.url), e)).with_output_types(tuple[str, Any])
                | "First" >> FirstPerKey("stream", self._horizon))


class _MarkCopiesDoFn(beam.DoFn):
    """(content_hash, Article) -> Article: later articles with a known text become copies."""

    ORIGINAL = ReadModifyWriteStateSpec("original", coders.StrUtf8Coder())  # article_id
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon: float):
        self._horizon = horizon

    def setup(self):
        self._copies = counter("dedup", "exact_copies")

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                original=beam.DoFn.StateParam(ORIGINAL), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, article = element
        first = original.read()
        if first is None:
            original.write(article.article_id)
            expiry.set(expiry_time(timestamp, self._horizon))
            yield article
        elif first == article.article_id:
            yield article
        else:
            self._copies.inc()
            yield dataclasses.replace(article, duplicate_of=first, duplicate_similarity=1.0)

    @on_timer(EXPIRY)
    def expire(self, original=beam.DoFn.StateParam(ORIGINAL)):
        original.clear()


class MarkCopies(beam.PTransform):
    """Article -> Article: the first article with a content hash is the original.

    Later articles with the same `content_hash` get `duplicate_of` (the
    original's article_id) and `duplicate_similarity` 1.0. Articles without
    a hash pass unchanged. State per hash expires after `horizon` seconds.
    """

    def __init__(self, horizon: float = DEFAULT_HORIZON):
        super().__init__()
        self._horizon = horizon

    def expand(self, articles):
        hashed, unhashed = (articles | "HasHash" >> beam.Partition(
            lambda a, _: 0 if a.content_hash else 1, 2))
        marked = (hashed
                  | "KeyByHash" >> beam.Map(lambda a: (a.content_hash, a)).with_output_types(tuple[str, Any])
                  | "Mark" >> beam.ParDo(_MarkCopiesDoFn(self._horizon)).with_input_types(tuple[str, Any]))
        return (marked, unhashed) | "All" >> beam.Flatten()


def _identify_with_dedup_stage(article: Article) -> Article:
    """article_id, canonical URL and content hash, as the batch dedup stage computes them."""
    from transforms.dedup import identify_article
    return identify_article(article)


class StreamDeduplicate(beam.PTransform):
    """Article -> StageResult(articles, rejects): dedup with keyed, expiring state.

    1. identities (article_id, canonical_url, content_hash) from the dedup
       stage's pure functions;
    2. one row per article_id: the same article reached again (another URL
       variant, a restart within the run) is dropped (`dedup.already_seen`);
    3. exact copies: keyed by content hash (`MarkCopies`).

    Args:
        run_id: the run id.
        horizon: seconds each key is remembered (default 7 days).
        near_threshold: similarity above which an article is a near-copy.
        identify: Article -> Article filling the identities; the dedup stage's by default.
    """

    def __init__(self, run_id: Optional[str] = None, horizon: float = DEFAULT_HORIZON,
                 near_threshold: Optional[float] = None,
                 identify: Optional[Callable[[Article], Article]] = None):
        super().__init__()
        self._run_id = run_id
        self._horizon = horizon
        self._near_threshold = near_threshold
        self._identify = identify or _identify_with_dedup_stage

    def expand(self, articles):
        identified = articles | "Identify" >> beam.Map(self._identify)
        firsts = (identified
                  | "KeyById" >> beam.Map(lambda a: (a.article_id, a)).with_output_types(tuple[str, Any])
                  | "OnePerArticle" >> FirstPerKey("dedup_stream", self._horizon))
        marked = firsts | "MarkCopies" >> MarkCopies(self._horizon)
        no_rejects = articles.pipeline | "NoRejects" >> beam.Create([])
        return StageResult(marked, no_rejects)
