"""Keyed state of the streaming pipeline, with timers that expire it.

Batch dedup compares a run with the dataset it reads back; a streaming run
instead remembers what it saw in keyed state, so that the keys (URL keys,
content hashes) spread over workers, and sets an event-time timer per key at
`first seen + horizon` that clears the key's state: memory stays bounded by
what arrives within one horizon (default 7 days).

- `FirstSeen`: FeedEntry -> FeedEntry, the first entry per URL key only.
- `FirstPerKey`: the generic stateful DoFn under it, for any (key, value).
- `MarkCopies`: exact copies, keyed by content hash.
- `MatchEarlierArticles`: near-copies and stories, keyed by the LSH bands of
  `transforms.similarity` and the blocking keys of `transforms.story`.
- `StreamDeduplicate`: Article -> StageResult, the streaming counterpart of
  `transforms.dedup.Deduplicate`: the same identities, keys and similarity,
  computed by the same pure functions, matched against keyed state instead
  of the dataset.
- `RecordSeen`: records the articles of each committed file in the dedup
  state batch uses too (`transforms.dedup_state`): a restart skips them and
  later runs continue their stories.
- `EarlierRuns`: reads that state back, to seed the copy and story state.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import apache_beam as beam
import numpy as np
from apache_beam import coders
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (ReadModifyWriteStateSpec, TimerSpec, on_timer)
from apache_beam.utils import shared
from apache_beam.utils.timestamp import Duration, Timestamp

from schemas.records import Article
from transforms.common import StageResult, counter

__all__ = ["DEFAULT_HORIZON", "EarlierRuns", "FirstPerKey", "FirstSeen", "MarkCopies",
           "MatchEarlierArticles", "RecordSeen", "StreamDeduplicate", "assign_stories",
           "best_story_match", "doc_lines_of", "earliest_near_copy", "expiry_time", "identify",
           "resolve_copy", "seen_lines_of", "story_doc_of"]

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


_SHARED_RARITY = shared.Shared()  # one TermRarity (word tables) per worker process
_SEEN_BEFORE = "seen"  # marker value: an earlier run wrote this URL key
_WRITTEN_BEFORE = -1  # first-seen value of such a key


class _FirstSeenDoFn(beam.DoFn):
    """(url key, FeedEntry | marker) -> the first FeedEntry per key, unless a marker says written.

    An entry is held until the watermark reaches its timestamp, so that the
    markers read from the dataset (a bounded input, done before then) are in
    state first: a restart never lets an already-written entry through.
    """

    SEEN = ReadModifyWriteStateSpec("first_seen", coders.VarIntCoder())  # micros
    PENDING = ReadModifyWriteStateSpec("pending", coders.PickleCoder())
    RELEASE = TimerSpec("release", TimeDomain.WATERMARK)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon: float):
        self._horizon = horizon

    def setup(self):
        self._first = counter("stream", "first_seen")
        self._repeats = counter("stream", "repeated")
        self._already = counter("dedup", "already_seen")
        self._expired = counter("stream", "state_expired")

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                seen=beam.DoFn.StateParam(SEEN), pending=beam.DoFn.StateParam(PENDING),
                release=beam.DoFn.TimerParam(RELEASE), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, value = element
        first = seen.read()
        if isinstance(value, str):  # _SEEN_BEFORE
            if first is None:
                seen.write(_WRITTEN_BEFORE)
                expiry.set(expiry_time(timestamp, self._horizon))
            return
        if first == _WRITTEN_BEFORE:
            self._already.inc()
        elif first is not None or pending.read() is not None:
            self._repeats.inc()
        else:
            pending.write(value)
            release.set(timestamp)

    @on_timer(RELEASE)
    def release(self, fired=beam.DoFn.TimestampParam, seen=beam.DoFn.StateParam(SEEN),
                pending=beam.DoFn.StateParam(PENDING), expiry=beam.DoFn.TimerParam(EXPIRY)):
        entry = pending.read()
        pending.clear()
        if entry is None:
            return
        if seen.read() is not None:
            self._already.inc()
            return
        seen.write(fired.micros)
        expiry.set(expiry_time(fired, self._horizon))
        self._first.inc()
        yield entry

    @on_timer(EXPIRY)
    def expire(self, seen=beam.DoFn.StateParam(SEEN)):
        seen.clear()
        self._expired.inc()


class _SeenKeys(beam.PTransform):
    """PBegin -> (url key, marker) for every key the dedup seen state of `output_dir` holds."""

    def __init__(self, output_dir: str, at: float):
        super().__init__()
        self._output_dir = output_dir
        self._at = at

    def expand(self, pbegin):
        from apache_beam.io import fileio
        from apache_beam.transforms.window import TimestampedValue

        from transforms.dedup_state import parse_seen, read_lines, seen_pattern

        at = self._at
        return (pbegin
                | "Pattern" >> beam.Create([seen_pattern(self._output_dir)])
                | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
                | "Open" >> fileio.ReadMatches()
                | "Lines" >> beam.FlatMap(read_lines)
                | "Keys" >> beam.FlatMap(lambda line: parse_seen(line).get("keys", []))
                | "Markers" >> beam.Map(lambda k: TimestampedValue((k, _SEEN_BEFORE), at))
                .with_output_types(tuple[str, Any]))


class FirstSeen(beam.PTransform):
    """FeedEntry -> FeedEntry: each URL key goes downstream once within the horizon.

    Entries listed by several feeds, or again after they left a feed, are
    dropped (counted in `stream.repeated`); with `output_dir`, so are entries
    an earlier run wrote (`dedup.already_seen`, from the seen state that
    `RecordSeen` and batch `Deduplicate` keep): the streaming counterpart of
    `transforms.dedup.FilterSeen`. Keyed by `transforms.canonical.url_key`.

    Args:
        horizon: seconds a URL key is remembered (default 7 days).
        output_dir: the dataset whose seen state is read at start; None for none.
        key: url -> key; the canonical URL key by default.
    """

    def __init__(self, horizon: float = DEFAULT_HORIZON, output_dir: Optional[str] = None,
                 key: Optional[Callable[[str], str]] = None):
        super().__init__()
        if horizon <= 0:
            raise ValueError("horizon must be positive")
        self._horizon = horizon
        self._output_dir = output_dir
        self._key = key or _default_url_key

    def expand(self, entries):
        import time

        key = self._key
        keyed = entries | "KeyByUrl" >> beam.Map(lambda e: (key(e.url), e)).with_output_types(tuple[str, Any])
        if self._output_dir:
            seen = (entries.pipeline
                    | "SeenBefore" >> _SeenKeys(self._output_dir, time.time()))
            keyed = (keyed, seen) | "WithSeenBefore" >> beam.Flatten()
        return keyed | "First" >> beam.ParDo(_FirstSeenDoFn(self._horizon)).with_input_types(tuple[str, Any])


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
        if isinstance(article, str):  # seed: the article_id of an earlier run's original
            if first is None:
                original.write(article)
                expiry.set(expiry_time(timestamp, self._horizon))
            return
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

    Args:
        horizon: seconds a hash is remembered.
        seeds: optional (content_hash, article_id) of earlier runs' originals.
    """

    def __init__(self, horizon: float = DEFAULT_HORIZON, seeds: Optional[beam.PCollection] = None):
        super().__init__()
        self._horizon = horizon
        self._seeds = seeds

    def expand(self, articles):
        hashed, unhashed = (articles | "HasHash" >> beam.Partition(
            lambda a, _: 0 if a.content_hash else 1, 2))
        keyed = hashed | "KeyByHash" >> beam.Map(lambda a: (a.content_hash, a)).with_output_types(tuple[str, Any])
        if self._seeds is not None:
            keyed = (keyed, self._seeds) | "WithSeeds" >> beam.Flatten()
        marked = keyed | "Mark" >> beam.ParDo(_MarkCopiesDoFn(self._horizon)).with_input_types(tuple[str, Any])
        return (marked, unhashed) | "All" >> beam.Flatten()


# --- stories ------------------------------------------------------------------------

@dataclasses.dataclass
class _BlockMember:
    """An earlier article remembered by one blocking key."""

    doc_id: str
    vector: Any  # story.CompactVector
    day: Optional[float]
    features: tuple[str, ...]  # its block features (story.block_features)
    expires: int  # micros


@dataclasses.dataclass
class _Block:
    members: list[_BlockMember] = dataclasses.field(default_factory=list)
    saturated_until: int = 0  # micros; a block past max_block is not distinctive


def best_story_match(doc: "StoryDoc", features: tuple[str, ...], members: list[_BlockMember],
                     params: "StoryParams") -> Optional[tuple[float, str]]:
    """(similarity, doc_id) of the most similar earlier member at or above the threshold.

    As in batch, a member is a candidate only when it shares at least
    `min_shared_features` block features with the article; the similarity is
    `story.story_similarity`. Pure; ties go to the smaller doc id.
    """
    from transforms.story import StoryDoc, story_similarity

    mine = set(features)
    best = None
    for member in members:
        if member.doc_id == doc.doc_id or len(mine.intersection(member.features)) < params.min_shared_features:
            continue
        sim = story_similarity(doc, StoryDoc(doc_id=member.doc_id, vector=member.vector, day=member.day),
                               params)
        if sim >= params.threshold and (best is None or (-sim, member.doc_id) < (-best[0], best[1])):
            best = (sim, member.doc_id)
    return best


class _StoryBlockDoFn(beam.DoFn):
    """(block key, (StoryDoc, features)) -> (doc_id, (similarity, earlier doc_id)): the best match.

    The block remembers each article until `horizon` after it arrived; a
    block that grows past `max_block` members is too common to tell stories
    apart and stops matching, as in batch. Docs that carry a story id are
    earlier runs' articles (seeds): remembered, never matched.
    """

    BLOCK = ReadModifyWriteStateSpec("block", coders.PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon: float, params):
        self._horizon = horizon
        self._params = params

    def setup(self):
        self._matches = counter("stream", "story_matches")
        self._saturated = counter("stream", "story_blocks_saturated")

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                block_state=beam.DoFn.StateParam(BLOCK), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, (doc, features) = element
        block = block_state.read() or _Block()
        if block.saturated_until > timestamp.micros:
            return
        best = None if doc.story_id else best_story_match(doc, features, block.members, self._params)
        if best is not None:
            self._matches.inc()
            yield doc.doc_id, best
        expires = expiry_time(timestamp, self._horizon).micros
        block.members.append(_BlockMember(doc.doc_id, doc.vector, doc.day, tuple(features), expires))
        if len(block.members) > self._params.max_block:
            self._saturated.inc()
            block = _Block(saturated_until=expires)
        block_state.write(block)
        expiry.set(Timestamp(micros=min([m.expires for m in block.members] or [block.saturated_until])))

    @on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, block_state=beam.DoFn.StateParam(BLOCK),
               expiry=beam.DoFn.TimerParam(EXPIRY)):
        block = block_state.read()
        if block is None:
            return
        now = fired.micros
        members = [m for m in block.members if m.expires > now]
        saturated = block.saturated_until if block.saturated_until > now else 0
        if not members and not saturated:
            block_state.clear()
            return
        block_state.write(_Block(members, saturated))
        expiry.set(Timestamp(micros=min([m.expires for m in members] or [saturated])))


def _block_entries(doc, features, params) -> list[tuple[str, Any]]:
    """(block key, (StoryDoc, features)) for each block feature, `story.bucketed` by time."""
    from transforms.story import bucketed

    return [(key, (doc, tuple(features))) for feature in features
            for key in bucketed(feature, doc.time, params.block_window_days)]


def story_doc_of(article: Article, vector: dict[str, float], story_id: Optional[str] = None):
    """The StoryDoc of an article (compact vector), as batch dedup builds it."""
    from transforms.story import CompactVector, StoryDoc

    first = article.published_at or article.fetched_at
    return StoryDoc(doc_id=article.article_id, vector=CompactVector(vector),
                    day=article.published_at.timestamp() / 86400.0 if article.published_at else None,
                    order=(1, first.timestamp(), article.fetched_at.timestamp(), article.article_id),
                    story_id=story_id, time=first.timestamp() / 86400.0)


class _StoryDocDoFn(beam.DoFn):
    """Article -> (block key, (StoryDoc, block features)) for each of its block keys."""

    def __init__(self, params):
        self._params = params

    def setup(self):
        from transforms.story import TermRarity
        self._rarity = _SHARED_RARITY.acquire(TermRarity)

    def process(self, article: Article):
        from transforms.story import block_features, story_vector

        vector = story_vector(article.text or "", article.language, self._rarity,
                              title=article.title, max_features=self._params.max_features)
        doc = story_doc_of(article, vector)
        yield from _block_entries(doc, block_features(vector, self._params.block_keys), self._params)


def assign_stories(links: list[tuple[Any, str, Optional[str]]],
                   known: dict[str, str]) -> dict[str, str]:
    """Story ids of a window's articles: each joins the story of its best earlier match.

    Pure. `links` are (order, doc_id, best earlier doc_id or None); `known`
    maps doc ids of earlier windows and runs to their story ids. Links are
    resolved in order, an earlier article of the same window first, so a
    chain a <- b <- c of one window ends in one story. An article without a
    match, or whose match is unknown (expired, or not decided yet), starts
    the story `story.story_id_for` of that article or match.

    Returns:
        doc_id -> story_id for the linked articles and for the unknown matches
        they named (so that those join the same story when they come).
    """
    from transforms.story import story_id_for

    match_of = {doc: match for _, doc, match in links}
    result: dict[str, str] = {}

    def story_of(doc: str, visiting: frozenset) -> str:
        if doc in result:
            return result[doc]
        if doc in known:
            return known[doc]
        match = match_of.get(doc)
        if match is None or match in visiting:
            story = story_id_for(doc)
        elif match in known or match in match_of:
            story = story_of(match, visiting | {doc})
        else:
            story = result[match] = story_id_for(match)
        result[doc] = story
        return story

    for _, doc, _ in sorted(links, key=lambda link: (link[0], link[1])):
        story_of(doc, frozenset())
    return result


_STORY_KEY = "stories"


class _StoryRegistryDoFn(beam.DoFn):
    """("stories", links of one window | seed) -> (doc_id, story_id) for the window's articles.

    One key: the registry of doc id -> story id is what makes every article
    of a story carry one id, whichever block linked it. Only ids travel here
    (the comparisons run per block, spread over workers); entries are dropped
    `horizon` after they were set, by a timer.
    """

    STORIES = ReadModifyWriteStateSpec("stories", coders.PickleCoder())  # doc -> (story, expires)
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon: float):
        self._horizon = horizon

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                stories=beam.DoFn.StateParam(STORIES), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, payload = element
        registry: dict[str, tuple[str, int]] = stories.read() or {}
        expires = expiry_time(timestamp, self._horizon).micros
        if payload[0] == "seed":
            _, doc, story = payload
            registry.setdefault(doc, (story, expires))
        else:
            links = payload[1]
            assigned = assign_stories(links, {d: v[0] for d, v in registry.items()})
            linked = {doc for _, doc, _ in links}
            for doc, story in assigned.items():
                registry[doc] = (story, expires)
                if doc in linked:
                    yield doc, story
        stories.write(registry)
        expiry.set(Timestamp(micros=min(v[1] for v in registry.values())))

    @on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, stories=beam.DoFn.StateParam(STORIES),
               expiry=beam.DoFn.TimerParam(EXPIRY)):
        registry = {d: v for d, v in (stories.read() or {}).items() if v[1] > fired.micros}
        if not registry:
            stories.clear()
            return
        stories.write(registry)
        expiry.set(Timestamp(micros=min(v[1] for v in registry.values())))


# --- near-copies ----------------------------------------------------------------------

@dataclasses.dataclass
class _BandMember:
    doc_id: str
    hashvalues: bytes  # uint32: datasketch MinHash values are below 2**32
    size: int
    arrived: int  # micros
    expires: int  # micros


class _SignatureDoFn(beam.DoFn):
    """Article -> (band key, (doc_id, Signature, False)) for each LSH band of its MinHash."""

    def __init__(self, params):
        self._params = params

    def setup(self):
        from transforms.similarity import NearCopyHasher
        self._hasher = NearCopyHasher(self._params)

    def process(self, article: Article):
        signature = self._hasher.signature(article.text or "")
        if signature.size < self._params.min_shingles:
            return  # short texts are only ever exact copies (MarkCopies)
        for key in self._hasher.band_keys(signature):
            yield key, (article.article_id, signature, False)


def earliest_near_copy(doc_id: str, signature, members: list[_BandMember], params,
                       ) -> Optional[tuple[tuple, str, float]]:
    """(order, doc_id, similarity) of the earliest earlier member `signature` nearly copies."""
    from transforms.similarity import Signature, is_near_copy

    found = []
    for member in members:
        if member.doc_id == doc_id:
            continue
        values = np.frombuffer(member.hashvalues, np.uint32).astype(np.uint64)
        sim = is_near_copy(signature, Signature(values, member.size), params)
        if sim is not None:
            found.append(((member.arrived, member.doc_id), member.doc_id, sim))
    return min(found, key=lambda c: (c[0], c[1])) if found else None


def _pack_signature(signature) -> bytes:
    values = np.asarray(signature.hashvalues)
    if values.size and int(values.max()) >= 2 ** 32:
        raise ValueError("MinHash values above 32 bits")
    return values.astype(np.uint32).tobytes()


class _CopyBandDoFn(beam.DoFn):
    """(band key, (doc_id, Signature, seed)) -> (doc_id, (order, original_id, similarity)).

    A band remembers its last `max_candidates` articles, each until `horizon`
    after it arrived. Seeds (articles of earlier runs) are remembered only.
    """

    BAND = ReadModifyWriteStateSpec("band", coders.PickleCoder())
    EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)

    def __init__(self, horizon: float, params):
        self._horizon = horizon
        self._params = params

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                band=beam.DoFn.StateParam(BAND), expiry=beam.DoFn.TimerParam(EXPIRY)):
        _, (doc_id, signature, seed) = element
        members: list[_BandMember] = band.read() or []
        match = None if seed else earliest_near_copy(doc_id, signature, members, self._params)
        if match is not None:
            yield doc_id, match
        expires = expiry_time(timestamp, self._horizon).micros
        members = (members + [_BandMember(doc_id, _pack_signature(signature), signature.size,
                                          timestamp.micros, expires)])[-self._params.max_candidates:]
        band.write(members)
        expiry.set(Timestamp(micros=min(m.expires for m in members)))

    @on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, band=beam.DoFn.StateParam(BAND),
               expiry=beam.DoFn.TimerParam(EXPIRY)):
        members = [m for m in (band.read() or []) if m.expires > fired.micros]
        if not members:
            band.clear()
            return
        band.write(members)
        expiry.set(Timestamp(micros=min(m.expires for m in members)))


def _old_story_entries(old, params):
    """OldDoc -> (block key, (StoryDoc with its story_id, features)): seeds of the story blocks."""
    return _block_entries(old.story, old.features, params)


class _OldBandsDoFn(beam.DoFn):
    """OldDoc -> (band key, (doc_id, Signature, True)): a seed of the LSH bands."""

    def __init__(self, params):
        self._params = params

    def setup(self):
        from transforms.similarity import NearCopyHasher
        self._hasher = NearCopyHasher(self._params)

    def process(self, old):
        if old.signature.size < self._params.min_shingles:
            return
        for key in self._hasher.band_keys(old.signature):
            yield key, (old.story.doc_id, old.signature, True)


class EarlierRuns(beam.PTransform):
    """PBegin -> the `dedup_state.OldDoc`s of the last `days` days of docs state.

    The originals that earlier runs (batch or stream) recorded under
    `DIR/_state/dedup/docs/`, timestamped `at` (the start of this run).
    """

    def __init__(self, output_dir: str, days: int, at: float):
        super().__init__()
        self._output_dir = output_dir
        self._days = days
        self._at = at

    def expand(self, pbegin):
        import datetime as dt

        from apache_beam.io import fileio
        from apache_beam.transforms.window import TimestampedValue

        from transforms.dedup_state import docs_patterns, parse_doc, read_lines

        at = self._at
        now = dt.datetime.fromtimestamp(at, dt.timezone.utc)
        return (pbegin
                | "Patterns" >> beam.Create(docs_patterns(self._output_dir, now, self._days))
                | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
                | "Open" >> fileio.ReadMatches()
                | "Lines" >> beam.FlatMap(read_lines)
                | "Parse" >> beam.Map(lambda line: TimestampedValue(parse_doc(line), at)))


# --- matching an article with earlier ones -------------------------------------------

def resolve_copy(article: Article, copy_matches: list[tuple[tuple, str, float]]) -> Article:
    """The article with the earliest near-copy original as `duplicate_of`, if any.

    Pure. An exact copy already marked (`duplicate_of` set) stays as it is.
    """
    from transforms.similarity import earliest_copy

    copy = earliest_copy(copy_matches)
    if copy is None or article.duplicate_of:
        return article
    return dataclasses.replace(article, duplicate_of=copy[0], duplicate_similarity=copy[1])


_LINKS = "links"


def _gather(element):
    """(doc_id, {article, story, copy}) -> (doc_id, article); tagged link for the registry."""
    doc_id, grouped = element
    matches = list(grouped["story"])
    best = min(matches, key=lambda m: (-m[0], m[1]))[1] if matches else None
    for article in grouped["article"]:
        article = resolve_copy(article, list(grouped["copy"]))
        order = ((article.published_at or article.fetched_at).timestamp(), doc_id)
        yield doc_id, article
        yield beam.pvalue.TaggedOutput(_LINKS, (_STORY_KEY, (order, doc_id, best)))


def _with_story(element):
    doc_id, grouped = element
    stories = list(grouped["story"])
    for article in grouped["article"]:
        yield dataclasses.replace(article, story_id=stories[0] if stories else None)


class MatchEarlierArticles(beam.PTransform):
    """Article -> Article with `story_id` and near-copy `duplicate_of`, from keyed state.

    Near-copies: each article is compared, within each LSH band of its MinHash
    (`transforms.similarity`), with the last articles of the band
    (`is_near_copy`); the earliest one it copies becomes its `duplicate_of`.

    Stories: each article is compared, within each of its blocking keys
    (`transforms.story.blocking_keys`), with the articles of the last
    `horizon` sharing the key (`story_similarity`); its most similar earlier
    article at or above the threshold is its link. A registry of doc id ->
    story id (one key, ids only) then gives it the story of its link, or a
    new one (`story_id_for`): single-link clustering in arrival order, never
    re-clustered later (batch runs average linkage over whole components).

    The matches of one article meet its record in CoGroupByKeys over fixed
    windows of `window` seconds, so articles come out windowed.

    Args:
        window: seconds of the windows the matches are gathered in.
        horizon: seconds an article stays in its blocks, bands and the registry.
        story_params: `transforms.story.StoryParams`; defaults when None.
        copy_params: `transforms.similarity.NearCopyParams`; defaults when None.
        earlier: optional PCollection of `dedup_state.OldDoc` (earlier runs'
            originals, `EarlierRuns`): remembered in the blocks, bands and
            registry, so that new articles continue their stories and copy them.
    """

    def __init__(self, window: float, horizon: float = DEFAULT_HORIZON, story_params=None,
                 copy_params=None, earlier: Optional[beam.PCollection] = None):
        super().__init__()
        from transforms.similarity import NearCopyParams
        from transforms.story import StoryParams

        self._window = window
        self._horizon = horizon
        self._story_params = story_params or StoryParams()
        self._copy_params = copy_params or NearCopyParams()
        self._earlier = earlier

    def expand(self, articles):
        from apache_beam.transforms.window import FixedWindows, GlobalWindows

        windows = FixedWindows(self._window)
        docs = (articles
                | "StoryDocs" >> beam.ParDo(_StoryDocDoFn(self._story_params))
                .with_output_types(tuple[str, Any]))
        bands = (articles
                 | "Signatures" >> beam.ParDo(_SignatureDoFn(self._copy_params))
                 .with_output_types(tuple[str, Any]))
        seeds = None
        if self._earlier is not None:
            old_docs = (self._earlier
                        | "EarlierStoryDocs" >> beam.FlatMap(_old_story_entries, self._story_params)
                        .with_output_types(tuple[str, Any]))
            old_bands = (self._earlier
                         | "EarlierSignatures" >> beam.ParDo(_OldBandsDoFn(self._copy_params))
                         .with_output_types(tuple[str, Any]))
            seeds = (self._earlier
                     | "EarlierStories" >> beam.Map(
                         lambda d: (_STORY_KEY, ("seed", d.story.doc_id, d.story.story_id)))
                     .with_output_types(tuple[str, Any]))
            docs = (docs, old_docs) | "WithEarlierDocs" >> beam.Flatten()
            bands = (bands, old_bands) | "WithEarlierBands" >> beam.Flatten()
        links = (docs
                 | "MatchInBlocks" >> beam.ParDo(_StoryBlockDoFn(self._horizon, self._story_params))
                 .with_input_types(tuple[str, Any])
                 | "LinkWindows" >> beam.WindowInto(windows))
        copies = (bands
                  | "MatchInBands" >> beam.ParDo(_CopyBandDoFn(self._horizon, self._copy_params))
                  .with_input_types(tuple[str, Any])
                  | "CopyWindows" >> beam.WindowInto(windows))
        keyed = (articles
                 | "KeyById" >> beam.Map(lambda a: (a.article_id, a))
                 | "ArticleWindows" >> beam.WindowInto(windows))
        gathered = ({"article": keyed, "story": links, "copy": copies}
                    | "Gather" >> beam.CoGroupByKey()
                    | "Resolve" >> beam.FlatMap(_gather).with_outputs(_LINKS, main="articles"))
        window_links = (gathered[_LINKS]
                        | "LinksOfWindow" >> beam.GroupByKey()
                        | "Batch" >> beam.MapTuple(lambda key, batch: (key, ("links", sorted(batch))))
                        .with_output_types(tuple[str, Any])
                        | "ToRegistry" >> beam.WindowInto(GlobalWindows()))
        if seeds is not None:
            window_links = (window_links, seeds) | "WithSeeds" >> beam.Flatten()
        stories = (window_links
                   | "Registry" >> beam.ParDo(_StoryRegistryDoFn(self._horizon))
                   .with_input_types(tuple[str, Any])
                   | "StoryWindows" >> beam.WindowInto(windows))
        return ({"article": gathered.articles, "story": stories}
                | "JoinStories" >> beam.CoGroupByKey()
                | "WithStory" >> beam.FlatMap(_with_story))


# --- the stage ------------------------------------------------------------------------

def identify(article: Article) -> Article:
    """article_id, canonical_url, source_domain and content_hash, as batch dedup sets them."""
    from transforms.canonical import article_id, canonical_url, source_domain
    from transforms.similarity import content_hash

    canonical = article.canonical_url or canonical_url(article.url, article.page_meta)
    return dataclasses.replace(
        article,
        canonical_url=canonical,
        article_id=article.article_id or article_id(canonical),
        source_domain=article.source_domain or source_domain(canonical),
        content_hash=article.content_hash or content_hash(article.text or ""))


class StreamDeduplicate(beam.PTransform):
    """Article -> StageResult(articles, rejects): dedup with keyed, expiring state.

    1. identities (`identify`): article_id, canonical URL, content hash;
    2. one row per article_id within the horizon: the same article reached
       again through another URL variant is dropped;
    3. exact copies, keyed by content hash (`MarkCopies`);
    4. near-copies and stories, keyed by LSH band and blocking key
       (`MatchEarlierArticles`).

    Articles come out in fixed windows of `window` seconds.

    Args:
        run_id: the run id.
        window: seconds of the output windows.
        horizon: seconds each key is remembered (default 7 days).
        near_threshold: estimated Jaccard similarity from which an article is
            a near-copy (`NearCopyParams.near_threshold` when None).
        output_dir: the dataset whose docs state (earlier runs' originals, the
            days the horizon covers) seeds the copy and story state at start.
    """

    def __init__(self, run_id: Optional[str] = None, window: float = 600.0,
                 horizon: float = DEFAULT_HORIZON, near_threshold: Optional[float] = None,
                 output_dir: Optional[str] = None):
        super().__init__()
        self._run_id = run_id
        self._window = window
        self._horizon = horizon
        self._near_threshold = near_threshold
        self._output_dir = output_dir

    def expand(self, articles):
        import math
        import time

        earlier = hashes = None
        if self._output_dir:
            days = max(1, math.ceil(self._horizon / 86400.0))
            earlier = articles.pipeline | "EarlierRuns" >> EarlierRuns(self._output_dir, days, time.time())
            hashes = (earlier
                      | "EarlierHashes" >> beam.FlatMap(
                          lambda d: [(d.content_hash, d.story.doc_id)] if d.content_hash else [])
                      .with_output_types(tuple[str, Any]))
        identified = articles | "Identify" >> beam.Map(identify)
        firsts = (identified
                  | "KeyById" >> beam.Map(lambda a: (a.article_id, a)).with_output_types(tuple[str, Any])
                  | "OnePerArticle" >> FirstPerKey("dedup", self._horizon))
        marked = firsts | "MarkCopies" >> MarkCopies(self._horizon, seeds=hashes)
        copy_params = None
        if self._near_threshold is not None:
            from transforms.similarity import NearCopyParams
            copy_params = NearCopyParams(near_threshold=self._near_threshold)
        storied = marked | "MatchEarlier" >> MatchEarlierArticles(
            self._window, self._horizon, copy_params=copy_params, earlier=earlier)
        no_rejects = articles.pipeline | "NoRejects" >> beam.Create([])
        return StageResult(storied, no_rejects)


# --- what a restart must skip ----------------------------------------------------------

_STATE_COLUMNS = ["article_id", "url", "canonical_url", "text", "title", "language", "published_at",
                  "fetched_at", "story_id", "duplicate_of", "content_hash"]


def seen_lines_of(rows: list[dict[str, Any]]) -> list[str]:
    """Seen-state lines (`dedup_state.seen_record`) of written article rows."""
    from transforms.canonical import url_key
    from transforms.dedup_state import seen_record

    return [seen_record(r["article_id"], [url_key(u) for u in (r["url"], r["canonical_url"]) if u])
            for r in rows]


def doc_lines_of(rows: list[dict[str, Any]], rarity, hasher, story_params) -> list[str]:
    """Docs-state lines (`dedup_state.doc_record`) of the originals among written rows.

    The story vector, block features and MinHash signature are recomputed
    from the written text with the dedup stage's functions, as batch
    `Deduplicate` records them.
    """
    from transforms.dedup_state import doc_record
    from transforms.story import CompactVector, StoryDoc, block_features, story_vector

    lines = []
    for r in rows:
        if r["duplicate_of"] or not r["text"]:
            continue
        first = r["published_at"] or r["fetched_at"]
        vector = story_vector(r["text"], r["language"], rarity, title=r["title"],
                              max_features=story_params.max_features)
        doc = StoryDoc(doc_id=r["article_id"], vector=CompactVector(vector),
                       day=r["published_at"].timestamp() / 86400.0 if r["published_at"] else None,
                       order=(1, first.timestamp(), r["fetched_at"].timestamp(), r["article_id"]),
                       story_id=r["story_id"], time=first.timestamp() / 86400.0)
        lines.append(doc_record(doc, hasher.signature(r["text"]), r["content_hash"],
                                block_features(vector, story_params.block_keys)))
    return lines


class _RecordSeenDoFn(beam.DoFn):
    def __init__(self, output_dir: str, run_id: str):
        self._output_dir = output_dir
        self._run_id = run_id

    def setup(self):
        from transforms.similarity import NearCopyHasher
        from transforms.story import StoryParams, TermRarity

        self._rarity = _SHARED_RARITY.acquire(TermRarity)
        self._hasher = NearCopyHasher()
        self._story_params = StoryParams()
        self._records = counter("stream", "seen_records")

    def process(self, parquet_path: str):
        import datetime as dt

        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        from transforms.dedup_state import docs_path, seen_path, state_root, write_lines_atomically

        with FileSystems.open(parquet_path) as handle:
            rows = pq.read_table(handle, columns=_STATE_COLUMNS).to_pylist()
        if not rows:
            return
        name = parquet_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        tmp = FileSystems.join(state_root(self._output_dir), ".tmp", self._run_id)
        docs = doc_lines_of(rows, self._rarity, self._hasher, self._story_params)
        if docs:
            now = dt.datetime.now(dt.timezone.utc)
            write_lines_atomically(docs_path(self._output_dir, name, 0, now), docs, tmp)
        target = seen_path(self._output_dir, name, 0)
        write_lines_atomically(target, seen_lines_of(rows), tmp)
        self._records.inc(len(rows))
        yield target


class RecordSeen(beam.PTransform):
    """Paths of written article files -> the dedup state of their articles, one file each.

    Reads back what a file committed and records, under `DIR/_state/dedup/`,
    its article ids and URL keys (`seen/`, read by `FilterSeen` and
    `FirstSeen` when a run starts: a restarted stream or a batch run skips
    those entries) and its originals' signatures and story vectors (`docs/`,
    read by `Deduplicate` and `StreamDeduplicate`: later runs continue their
    stories and find copies of them). Written only after the article file is
    in place, so a crash can repeat the last window on restart but never
    skip an article that was not written.
    """

    def __init__(self, output_dir: str, run_id: str):
        super().__init__()
        self._output_dir = output_dir
        self._run_id = run_id

    def expand(self, paths):
        return paths | "RecordSeen" >> beam.ParDo(_RecordSeenDoFn(self._output_dir, self._run_id))
