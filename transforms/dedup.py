"""The dedup stage: article ids, exact and near copies, stories, across runs.

`Deduplicate` sets on every article `article_id`, `canonical_url`,
`source_domain`, `content_hash`, `duplicate_of`, `duplicate_similarity` and
`story_id`, and drops articles an earlier run already wrote. `FilterSeen`
drops feed entries an earlier run already wrote, before they are fetched.

Everything is grouped with GroupByKey / CoGroupByKey, nothing is collected in
the driver and nothing is compared all-pairs:

1. near-copies: MinHash LSH band keys -> buckets -> (later, earlier)
   candidates -> verified on the signatures -> each copy points to its
   earliest original (`transforms.similarity`);
2. stories, for originals only (a copy shares its original's story):
   blocks (heaviest features x time bucket) -> similarity edges found inside
   each block -> connected components by label propagation (`cc_rounds`
   rounds) -> average-linkage clustering inside each component
   (`transforms.story`).

Articles of earlier runs come from the state folder (`transforms.dedup_state`)
and take part in both steps with their ids and stories fixed. Within a run the
first article is the one with the earliest `published_at` (else `fetched_at`),
then `fetched_at`, then `article_id`, whatever the runner's bundle order.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from typing import Iterable, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils import shared

from schemas.records import Article, Reject
from transforms import dedup_state as state
from transforms.canonical import article_id, canonical_url, source_domain, url_key
from transforms.common import REJECTS_TAG, ParDoWithRejects, StageResult, counter
from transforms.similarity import (NearCopyHasher, NearCopyParams, Signature, band_keys,
                                   content_hash, is_near_copy)
from transforms.story import (CompactVector, StoryDoc, StoryParams, TermRarity,
                              assign_story_ids, block_edges, block_features, block_member,
                              cluster_component, story_id_for, story_vector)

__all__ = ["Deduplicate", "FilterSeen", "DEFAULT_NEAR_THRESHOLD", "DEFAULT_STATE_DAYS"]

STAGE = "dedup"
DEFAULT_NEAR_THRESHOLD = NearCopyParams().near_threshold
DEFAULT_STATE_DAYS = 7
_STATE_DOC = "state_doc"


@dataclasses.dataclass
class _Doc:
    """An article of this run with everything dedup computed for it."""

    article: Article
    signature: Signature
    story: StoryDoc          # vector: a CompactVector
    features: list[str]      # block features


def _day(when: Optional[dt.datetime]) -> Optional[float]:
    return None if when is None else when.timestamp() / 86400.0


def _order(article: Article, doc_id: str) -> tuple:
    first = article.published_at or article.fetched_at
    return (1, first.timestamp(), article.fetched_at.timestamp(), doc_id)


class _PrepareDoFn(beam.DoFn):
    """Article -> _Doc: ids, hash, MinHash signature, story vector."""

    def __init__(self, near: NearCopyParams, story: StoryParams):
        self._near = near
        self._story = story

        self._shared_rarity = shared.Shared()

    def setup(self):
        self._hasher = NearCopyHasher(self._near)
        self._rarity = self._shared_rarity.acquire(TermRarity)   # one per worker process
        self._prepared = counter(STAGE, "articles_in")

    def process(self, article: Article):
        canonical = canonical_url(article.url, article.page_meta)
        doc_id = article_id(canonical)
        text = article.text or ""
        prepared = dataclasses.replace(
            article, article_id=doc_id, canonical_url=canonical,
            source_domain=source_domain(canonical), content_hash=content_hash(text),
            duplicate_of=None, duplicate_similarity=None, story_id=None)
        vector = story_vector(text, article.language, self._rarity, title=article.title,
                              max_features=self._story.max_features)
        self._prepared.inc()
        yield _Doc(prepared, self._hasher.signature(text),
                   StoryDoc(doc_id, CompactVector(vector), _day(article.published_at),
                            _order(article, doc_id),
                            time=_day(article.published_at or article.fetched_at)),
                   block_features(vector, self._story.block_keys))


class _FirstUnseenDoFn(beam.DoFn):
    """(id, {new, seen}) -> the first new article of an id no earlier run wrote."""

    def __init__(self, run_id: Optional[str]):
        self._run_id = run_id

    def setup(self):
        self._already_seen = counter(STAGE, "already_seen")
        self._same_article = counter(STAGE, "same_article")

    def process(self, element):
        doc_id, groups = element
        docs = sorted(groups["new"], key=lambda d: d.story.order)
        if not docs:
            return
        if list(groups["seen"]):
            self._already_seen.inc(len(docs))
            return
        yield docs[0]
        for other in docs[1:]:
            self._same_article.inc()
            yield TaggedOutput(REJECTS_TAG, Reject(
                url=other.article.url, feed_url=other.article.feed_url, stage=STAGE,
                reason="same_article", error=f"same canonical URL as {docs[0].article.url}",
                run_id=self._run_id))


def _band_entries(item, params: NearCopyParams):
    doc_id, (order, signature, _hash) = item
    for key in band_keys(signature, params):
        yield key, (order, doc_id)


def _bucket_pairs(item, max_candidates: int):
    """(band, [(order, id)]) -> ((later id, earlier id), None) for new later articles."""
    _, members = item
    members = sorted(set(members))
    for j in range(1, len(members)):
        if members[j][0][0] == 0:          # an earlier run's article is never the copy
            continue
        for i in range(min(j, max_candidates)):
            yield (members[j][1], members[i][1]), None


def _carry(item):
    """(later, {pair: [earlier...], sig: [x]}) -> (earlier, (later, x))."""
    later, groups = item
    own = list(groups["sig"])
    if not own:
        return
    for earlier in groups["pair"]:
        yield earlier, (later, own[0])


def _verify_copies(item, params: NearCopyParams):
    """(earlier, {cand, sig}) -> (later, (earlier order, earlier, similarity)) for copies."""
    earlier, groups = item
    own = list(groups["sig"])
    if not own:
        return
    order, signature, chash = own[0]
    for later, (_order_l, sig_l, hash_l) in groups["cand"]:
        sim = is_near_copy(signature, sig_l, params, same_hash=bool(chash) and chash == hash_l)
        if sim is not None:
            yield later, (order, earlier, sim)


def _earliest(item):
    later, candidates = item
    order, earlier, sim = min(candidates)
    return later, (earlier, sim)


def _block_entries(node, params: StoryParams):
    """(StoryDoc, block features) -> ('feature|bucket', BlockMember) for each of its blocks."""
    doc, features = node
    member = block_member(doc, features, params)
    for feature in features:
        for bucket in member.buckets:
            yield f"{feature}|{bucket}", member


def _spread_label(item):
    node, groups = item
    labels = list(groups["label"])
    if not labels:
        return
    label = min(labels)
    yield node, label
    for neighbours in groups["adj"]:
        for n in neighbours:
            yield n, label


def _component_or_own(item):
    """(id, {label, doc}) -> component: (label, doc), or single: (id, own story)."""
    doc_id, groups = item
    docs = list(groups["doc"])
    if not docs:
        return
    labels = list(groups["label"])
    if labels:
        yield TaggedOutput("component", (min(labels), docs[0]))
    elif docs[0].story_id is None:
        yield TaggedOutput("single", (doc_id, story_id_for(doc_id)))


def _cluster(item, params: StoryParams):
    _, docs = item
    for cluster in cluster_component(list(docs), params):
        yield from assign_story_ids(cluster).items()


def _copy_stories(item):
    """(original, {copies, story}) -> resolved: (later, story), or unresolved: (original, later)."""
    _, groups = item
    stories = list(groups["story"])
    for later in groups["copies"]:
        if stories:
            yield TaggedOutput("resolved", (later, stories[0]))
        else:
            yield TaggedOutput("unresolved", (item[0], later))


def _resolve_chain(item):
    original, groups = item
    stories = list(groups["story"])
    for later in groups["copies"]:
        yield later, stories[0] if stories else story_id_for(original)


class _FinishDoFn(beam.DoFn):
    """(id, {doc, dup, story}) -> the finished Article, and its state lines."""

    def __init__(self, shards: int):
        self._shards = shards

    def setup(self):
        self._out = counter(STAGE, "articles_out")
        self._copies = counter(STAGE, "near_copies")
        self._exact = counter(STAGE, "exact_copies")

    def process(self, item):
        doc_id, groups = item
        docs = list(groups["doc"])
        if not docs:
            return
        doc = docs[0]
        dups, stories = list(groups["dup"]), list(groups["story"])
        story = stories[0] if stories else story_id_for(doc_id)
        original, similarity = dups[0] if dups else (None, None)
        article = dataclasses.replace(doc.article, duplicate_of=original,
                                      duplicate_similarity=similarity, story_id=story)
        self._out.inc()
        if original:
            (self._exact if similarity == 1.0 else self._copies).inc()
        shard = zlib.crc32(doc_id.encode()) % self._shards
        keys = {url_key(article.url), url_key(article.canonical_url)}
        yield TaggedOutput("seen", (shard, state.seen_record(doc_id, keys)))
        if not original:
            story_doc = dataclasses.replace(doc.story, story_id=story)
            yield TaggedOutput(_STATE_DOC, (shard, state.doc_record(
                story_doc, doc.signature, article.content_hash, doc.features)))
        yield article


def _write_shard(item, path_of, tmp_dir: str):
    shard, lines = item
    path = path_of(shard)
    state.write_lines_atomically(path, sorted(lines), tmp_dir)
    return path


class _ReadState(beam.PTransform):
    """Glob patterns -> the lines of the matching state files (none is fine)."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = patterns

    def expand(self, pbegin):
        return (pbegin
                | "Patterns" >> beam.Create(self._patterns)
                | "Match" >> fileio.MatchAll(EmptyMatchTreatment.ALLOW)
                | "Open" >> fileio.ReadMatches()
                | "Lines" >> beam.FlatMap(state.read_lines))


def _seen_keys(line: str) -> Iterable[tuple[str, bool]]:
    for key in state.parse_seen(line).get("keys", []):
        yield key, True


def _drop_seen(item):
    _, groups = item
    if list(groups["seen"]):
        counter(STAGE, "already_seen").inc(len(list(groups["entry"])))
        return
    yield from groups["entry"]


class FilterSeen(beam.PTransform):
    """PCollection[FeedEntry] -> entries whose URL key no earlier run wrote.

    Reads `<output_dir>/_state/dedup/seen/`; skipped entries are counted in
    `dedup.already_seen`.

    Args:
        output_dir: the dataset folder (local, gs://, s3://).
    """

    def __init__(self, output_dir: str):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, entries):
        seen = (entries.pipeline
                | "ReadSeen" >> _ReadState([state.seen_pattern(self._output_dir)])
                | "SeenKeys" >> beam.FlatMap(_seen_keys))
        keyed = entries | "KeyByUrl" >> beam.Map(lambda e: (url_key(e.url), e))
        return ({"entry": keyed, "seen": seen}
                | "Join" >> beam.CoGroupByKey()
                | "DropSeen" >> beam.FlatMap(_drop_seen))


class Deduplicate(beam.PTransform):
    """PCollection[Article] -> StageResult(articles with ids, copies and stories, rejects).

    Args:
        output_dir: the dataset folder; state lives in `<output_dir>/_state/dedup/`.
        run_id: this run's id (names the state files; default: time-based).
        near_threshold: estimated Jaccard similarity from which an article is a near-copy.
        containment_threshold: share of a shorter text inside a longer one from
            which it is a (truncated) copy.
        story_params: story detection settings (`transforms.story.StoryParams`).
        state_days: days of docs state read (near-copies and stories of that window).
        cc_rounds: label-propagation rounds for the story components (their diameter bound).
        state_shards: files per run and state kind.
        now: the run time (default: now); names the docs-state day.
        write_state: False to leave the state folder untouched.
    """

    def __init__(self, output_dir: str, run_id: Optional[str] = None,
                 near_threshold: float = DEFAULT_NEAR_THRESHOLD,
                 containment_threshold: float = NearCopyParams().containment_threshold,
                 story_params: Optional[StoryParams] = None,
                 state_days: int = DEFAULT_STATE_DAYS, cc_rounds: int = 8,
                 state_shards: int = 4, now: Optional[dt.datetime] = None,
                 write_state: bool = True):
        super().__init__()
        self._output_dir = output_dir
        self._now = now or dt.datetime.now(dt.timezone.utc)
        self._run_id = run_id or self._now.strftime("%Y%m%dT%H%M%S%fZ")
        self._near = NearCopyParams(near_threshold=near_threshold,
                                    containment_threshold=containment_threshold)
        self._story = story_params or StoryParams()
        self._state_days = state_days
        self._cc_rounds = cc_rounds
        self._shards = state_shards
        self._write_state = write_state

    def expand(self, articles):
        p, near, story = articles.pipeline, self._near, self._story
        prepared = articles | "Prepare" >> ParDoWithRejects(
            _PrepareDoFn(near, story), STAGE, self._run_id)
        seen_ids = (p | "ReadSeen" >> _ReadState([state.seen_pattern(self._output_dir)])
                    | "SeenIds" >> beam.Map(lambda line: (state.parse_seen(line)["id"], True)))
        firsts = ({"new": prepared.good | "KeyById" >> beam.Map(lambda d: (d.story.doc_id, d)),
                   "seen": seen_ids}
                  | "JoinSeen" >> beam.CoGroupByKey()
                  | "FirstUnseen" >> beam.ParDo(_FirstUnseenDoFn(self._run_id)).with_outputs(
                      REJECTS_TAG, main="good"))
        docs = firsts.good | "DocsById" >> beam.Map(lambda d: (d.story.doc_id, d))
        old = (p | "ReadDocs" >> _ReadState(state.docs_patterns(
                   self._output_dir, self._now, self._state_days))
               | "ParseDocs" >> beam.Map(state.parse_doc))

        # 1. near-copies
        sigs = ((docs | "NewSigs" >> beam.Map(lambda kv: (kv[0], (
                    kv[1].story.order, kv[1].signature, kv[1].article.content_hash)))),
                (old | "OldSigs" >> beam.Map(lambda o: (o.story.doc_id, (
                    o.story.order, o.signature, o.content_hash)))))
        sigs = sigs | "Sigs" >> beam.Flatten()
        pairs = (sigs
                 | "Bands" >> beam.FlatMap(_band_entries, near)
                 | "Buckets" >> beam.GroupByKey()
                 | "BucketPairs" >> beam.FlatMap(_bucket_pairs, near.max_candidates)
                 | "DistinctPairs" >> beam.CombinePerKey(lambda _: None)
                 | "ByLater" >> beam.Map(lambda kv: kv[0]))
        copies = ({"pair": pairs, "sig": sigs}
                  | "JoinLater" >> beam.CoGroupByKey()
                  | "Carry" >> beam.FlatMap(_carry))
        dup_of = ({"cand": copies, "sig": sigs}
                  | "JoinEarlier" >> beam.CoGroupByKey()
                  | "Verify" >> beam.FlatMap(_verify_copies, near)
                  | "CopiesOf" >> beam.GroupByKey()
                  | "Earliest" >> beam.Map(_earliest))

        # 2. stories of the originals
        originals = ({"doc": docs | "StoryOf" >> beam.Map(
                          lambda kv: (kv[0], (kv[1].story, kv[1].features))),
                      "dup": dup_of}
                     | "JoinCopies" >> beam.CoGroupByKey()
                     | "Originals" >> beam.FlatMap(
                         lambda kv: list(kv[1]["doc"]) if not list(kv[1]["dup"]) else []))
        nodes = ((originals, old | "OldStories" >> beam.Map(lambda o: (o.story, o.features)))
                 | "StoryNodes" >> beam.Flatten())
        vectors = nodes | "VectorsById" >> beam.Map(lambda n: (n[0].doc_id, n[0]))
        edges = (nodes
                 | "BlockMembers" >> beam.FlatMap(_block_entries, story)
                 | "Blocks" >> beam.GroupByKey()
                 | "BlockEdges" >> beam.FlatMap(lambda kv, params: block_edges(kv[0], list(kv[1]), params),
                                                story))
        adjacency = (edges
                     | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                     | "Adjacency" >> beam.GroupByKey())
        labels = adjacency | "OwnLabel" >> beam.Map(lambda kv: (kv[0], kv[0]))
        for r in range(self._cc_rounds):
            labels = ({"label": labels, "adj": adjacency}
                      | f"Round{r}Join" >> beam.CoGroupByKey()
                      | f"Round{r}Spread" >> beam.FlatMap(_spread_label)
                      | f"Round{r}Min" >> beam.CombinePerKey(min))
        grouped = ({"label": labels, "doc": vectors}
                   | "JoinLabels" >> beam.CoGroupByKey()
                   | "ByComponent" >> beam.FlatMap(_component_or_own).with_outputs(
                       "component", "single"))
        clustered = (grouped.component
                     | "Components" >> beam.GroupByKey()
                     | "Cluster" >> beam.FlatMap(_cluster, story))
        new_stories = (clustered, grouped.single) | "NewStories" >> beam.Flatten()

        # 3. copies share their original's story
        known = ((new_stories, old | "OldStoryIds" >> beam.Map(
                     lambda o: (o.story.doc_id, o.story.story_id)))
                 | "KnownStories" >> beam.Flatten())
        by_original = dup_of | "ByOriginal" >> beam.Map(lambda kv: (kv[1][0], kv[0]))
        copy_stories = ({"copies": by_original, "story": known}
                        | "JoinCopyStories" >> beam.CoGroupByKey()
                        | "CopyStories" >> beam.FlatMap(_copy_stories).with_outputs(
                            "resolved", "unresolved"))
        chained = ({"copies": copy_stories.unresolved, "story": copy_stories.resolved}
                   | "JoinChains" >> beam.CoGroupByKey()
                   | "ResolveChains" >> beam.FlatMap(_resolve_chain))
        stories = ((new_stories, copy_stories.resolved, chained)
                   | "AllStories" >> beam.Flatten())

        finished = ({"doc": docs, "dup": dup_of, "story": stories}
                    | "JoinResults" >> beam.CoGroupByKey()
                    | "Finish" >> beam.ParDo(_FinishDoFn(self._shards)).with_outputs(
                        "seen", _STATE_DOC, main="good"))
        if self._write_state:
            self._write(finished)
        rejects = ((prepared.rejects, firsts[REJECTS_TAG]) | "Rejects" >> beam.Flatten())
        return StageResult(finished.good, rejects)

    def _write(self, finished) -> None:
        out, run_id, now = self._output_dir, self._run_id, self._now
        tmp = FileSystems.join(state.state_root(out), ".tmp", run_id)
        _ = (finished.seen
             | "SeenShards" >> beam.GroupByKey()
             | "WriteSeen" >> beam.Map(
                 _write_shard, lambda shard: state.seen_path(out, run_id, shard), tmp))
        _ = (finished[_STATE_DOC]
             | "DocShards" >> beam.GroupByKey()
             | "WriteDocs" >> beam.Map(
                 _write_shard, lambda shard: state.docs_path(out, run_id, shard, now), tmp))
