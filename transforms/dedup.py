"""The dedup stage: article ids, exact and near copies, stories, across runs.

`Deduplicate` sets on every article `article_id`, `canonical_url`,
`source_domain`, `content_hash`, `duplicate_of`, `duplicate_similarity` and
`story_id`, and drops articles an earlier run already wrote. `FilterSeen`
drops feed entries an earlier run already wrote, before they are fetched.

Everything is grouped with GroupByKey / CoGroupByKey, nothing is collected in
the driver and nothing is compared all-pairs:

1. exact copies: articles with the same normalised text are grouped by
   their content hash; the earliest is the text's first article and every
   other one is its copy (or, when the first one is itself a near-copy, a
   copy of the same original, with the same similarity);
2. near-copies, between the first articles of each text and earlier runs'
   articles only: MinHash LSH band keys -> buckets -> (later, earlier)
   candidates -> verified on the signatures -> each copy points to its
   earliest original (`transforms.similarity`);
3. stories, for originals only (a copy shares its original's story):
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
import pickle
import zlib
from typing import Iterable, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils import shared

from schemas.records import Article, Reject
from transforms import dedup_state as state
from transforms.canonical import article_id, canonical_url, source_domain, url_key
from transforms.common import (REJECTS_TAG, ParDoWithRejects, StageResult, counter, pack_record,
                               unpack_record)
from transforms.similarity import (NearCopyHasher, NearCopyParams, Signature, band_slices,
                                   is_near_copy)
from transforms.story import (BlockMember, CompactVector, StoryDoc, StoryParams, TermRarity,
                              assign_story_ids, block_edges, block_features, cluster_component,
                              edge_vector, story_id_for, story_vector, time_buckets)

__all__ = ["Deduplicate", "FilterSeen", "DEFAULT_NEAR_THRESHOLD", "DEFAULT_STATE_DAYS"]

STAGE = "dedup"
DEFAULT_NEAR_THRESHOLD = NearCopyParams().near_threshold
DEFAULT_STATE_DAYS = 7
_STATE_DOC = "state_doc"
_ARTICLE = "article"
_KEPT = "kept"
_COPY = "copy"


class _Doc(NamedTuple):
    """What dedup's joins carry for an article: ids, signature, vector; never the Article.

    Shipped as a plain tuple (`tuple(doc)`, rebuilt with `_Doc._make`): Beam's
    fast coder encodes tuples of str, bytes and floats without pickle. Arrays
    travel as bytes: the MinHash values as little-endian uint64, the story
    vector as sorted int64 feature hashes and float32 weights.
    """

    url: str
    feed_url: Optional[str]
    order: tuple
    minhash: bytes
    size: int                  # distinct shingles
    content_hash: Optional[str]
    vector_ids: bytes
    vector_weights: bytes
    features: tuple            # block features
    day: Optional[float]
    time: Optional[float]
    story_id: Optional[str] = None     # set for earlier runs' articles


_ORDER = _Doc._fields.index("order")


class _NearDoc(NamedTuple):
    """The part of a `_Doc` near-copy verification reads: what the pair joins carry."""

    order: tuple
    minhash: bytes
    size: int
    content_hash: Optional[str]


def _near_doc(item) -> tuple[str, tuple]:
    doc_id, wire = item
    doc = _Doc._make(wire)
    return doc_id, (doc.order, doc.minhash, doc.size, doc.content_hash)


def _day(when: Optional[dt.datetime]) -> Optional[float]:
    return None if when is None else when.timestamp() / 86400.0


def _order(article: Article, doc_id: str) -> tuple:
    first = article.published_at or article.fetched_at
    return (1, first.timestamp(), article.fetched_at.timestamp(), doc_id)


def _signature(doc) -> Signature:
    return Signature(np.frombuffer(doc.minhash, dtype="<u8").astype(np.uint64), doc.size)


def _story_doc(doc_id: str, doc: _Doc) -> StoryDoc:
    vector = CompactVector.from_arrays(np.frombuffer(doc.vector_ids, dtype="<i8"),
                                       np.frombuffer(doc.vector_weights, dtype="<f4"))
    return StoryDoc(doc_id, vector, doc.day, doc.order, doc.story_id, doc.time)


def _old_doc(old: state.OldDoc) -> tuple[str, tuple]:
    """(id, wire _Doc) of an earlier run's article read from the docs state."""
    story = old.story
    return story.doc_id, tuple(_Doc(
        "", None, story.order, np.asarray(old.signature.hashvalues, dtype="<u8").tobytes(),
        old.signature.size, old.content_hash, np.asarray(story.vector.ids, dtype="<i8").tobytes(),
        np.asarray(story.vector.weights, dtype="<f4").tobytes(), tuple(old.features), story.day,
        story.time, story.story_id))


class _PrepareDoFn(beam.DoFn):
    """Article -> (id, wire _Doc), and the prepared Article under the 'article' tag.

    The Article itself goes straight to the final join: the joins in between
    carry only the `_Doc`.
    """

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
        chash, signature = self._hasher.hash_and_signature(text)
        prepared = dataclasses.replace(
            article, article_id=doc_id, canonical_url=canonical,
            source_domain=source_domain(canonical), content_hash=chash,
            duplicate_of=None, duplicate_similarity=None, story_id=None)
        vector = story_vector(text, article.language, self._rarity, title=article.title,
                              max_features=self._story.max_features)
        compact = CompactVector(vector)
        self._prepared.inc()
        yield TaggedOutput(_ARTICLE, (doc_id, prepared))
        yield doc_id, tuple(_Doc(
            article.url, article.feed_url, _order(article, doc_id),
            np.asarray(signature.hashvalues, dtype="<u8").tobytes(), signature.size, chash,
            compact.ids.astype("<i8").tobytes(), compact.weights.astype("<f4").tobytes(),
            tuple(block_features(vector, self._story.block_keys)),
            _day(article.published_at), _day(article.published_at or article.fetched_at)))


class _FirstUnseenDoFn(beam.DoFn):
    """(id, {new, seen}) -> the first new doc of an id no earlier run wrote.

    Also emits (id, url) of that doc under 'kept' (what the final join keeps).
    """

    def __init__(self, run_id: Optional[str]):
        self._run_id = run_id

    def setup(self):
        self._already_seen = counter(STAGE, "already_seen")
        self._same_article = counter(STAGE, "same_article")

    def process(self, element):
        doc_id, groups = element
        docs = sorted(map(_Doc._make, groups["new"]), key=lambda d: d.order)
        if not docs:
            return
        if list(groups["seen"]):
            self._already_seen.inc(len(docs))
            return
        yield doc_id, tuple(docs[0])
        yield TaggedOutput(_KEPT, (doc_id, docs[0].url))
        for other in docs[1:]:
            self._same_article.inc()
            yield TaggedOutput(REJECTS_TAG, Reject(
                url=other.url, feed_url=other.feed_url, stage=STAGE,
                reason="same_article", error=f"same canonical URL as {docs[0].url}",
                run_id=self._run_id))


def _text_key(item) -> tuple[str, tuple]:
    """(id, wire _Doc) -> (content hash, (id, wire)).

    An empty text has no LSH bands and is nobody's copy: it gets a key of its
    own ('id:' and its id, which no hex digest can equal).
    """
    doc_id, wire = item
    doc = _Doc._make(wire)
    return (doc.content_hash if doc.size and doc.content_hash else f"id:{doc_id}"), item


def first_of_text(members) -> tuple[tuple[str, tuple], list[str]]:
    """The earliest (id, wire _Doc) of articles with one text, and the ids of the others.

    One pass, keeping one doc: a text repeated many times (a wire story, a
    boilerplate page) holds only its ids.
    """
    first, ids = None, []
    for member in members:
        ids.append(member[0])
        if first is None or member[1][_ORDER] < first[1][_ORDER]:
            first = member
    return first, [doc_id for doc_id in ids if doc_id != first[0]]


def _first_of_text(item):
    """(content hash, [(id, wire)]) -> the text's first doc, and (first id, copy id) under 'copy'."""
    first, copies = first_of_text(item[1])
    yield first
    for copy_id in copies:
        yield TaggedOutput(_COPY, (first[0], copy_id))


def _text_copies(item):
    """(first id, {copies, dup}) -> (copy id, (original, similarity)) for each exact copy.

    A copy's original is the first article's own original when it has one (the
    same text, so the same signature and similarity), else the first article.
    """
    first, groups = item
    dups = list(groups["dup"])
    original = dups[0] if dups else (first, 1.0)
    for copy_id in groups["copies"]:
        yield copy_id, original


def _band_entries(item, params: NearCopyParams):
    """(id, wire _Doc) -> (band key, pickled (order, id, content hash)) for each LSH band.

    Each article is a member of every band (32), and a runner may hold the grouped
    members as objects: one bytes object per member instead of nine keeps the
    buckets small.
    """
    doc_id, wire = item
    doc = _Doc._make(wire)
    member = pickle.dumps((doc.order, doc_id, doc.content_hash or ""), protocol=pickle.HIGHEST_PROTOCOL)
    for key in band_slices(doc.minhash, doc.size, params):
        yield key, member


def bucket_pairs(members, max_candidates: int) -> Iterable[tuple[str, str]]:
    """(later id, earlier id) candidate pairs of one LSH bucket, for new later articles.

    `members` are (order, id, content hash). Each article is paired with the
    earliest `max_candidates` members before it, except the exact copies of it
    after the first: they are later than that one, so they can never be its
    earliest original, and skipping them keeps the pairs linear in the number
    of exact copies (one pair per copy instead of up to `max_candidates`).
    Within a run, exact copies are grouped before LSH (`first_of_text`), so
    same-hash members here are a text's first article and earlier runs'
    articles; the rule keeps the pairs linear for any input.
    """
    members = sorted(set(members))
    for j in range(1, len(members)):
        order, later, chash = members[j]
        if order[0] == 0:          # an earlier run's article is never the copy
            continue
        copy_seen = False
        for i in range(min(j, max_candidates)):
            if chash and members[i][2] == chash:
                if copy_seen:
                    continue
                copy_seen = True
            yield later, members[i][1]


def _bucket_pairs(item, max_candidates: int):
    """(band, [pickled (order, id, hash)]) -> ((later id, earlier id), None)."""
    for pair in bucket_pairs(map(pickle.loads, item[1]), max_candidates):
        yield pair, None


def _pair_roles(item):
    """(id, {doc, later, earlier}) -> (pair, (role, doc)) for each candidate pair of the doc."""
    _, groups = item
    docs = list(groups["doc"])
    if not docs:
        return
    for pair in groups["later"]:
        yield pair, ("later", docs[0])
    for pair in groups["earlier"]:
        yield pair, ("earlier", docs[0])


def _verify_pair(item, params: NearCopyParams):
    """((later, earlier), roles) -> (later, (earlier order, earlier, similarity)) for copies."""
    (later, earlier), roles = item
    docs = dict(roles)
    if "later" not in docs or "earlier" not in docs:
        return
    early, late = _NearDoc._make(docs["earlier"]), _NearDoc._make(docs["later"])
    sim = is_near_copy(_signature(early), _signature(late), params,
                       same_hash=bool(early.content_hash) and early.content_hash == late.content_hash)
    if sim is not None:
        yield later, (early.order, earlier, sim)


def _block_entries(item, params: StoryParams):
    """(id, wire _Doc) -> (feature, wire member) for each of its block features.

    A member goes once to each feature (not once per feature and time bucket):
    `_edges` splits the feature's members into its time-bucket blocks.
    """
    doc_id, wire = item
    doc = _Doc._make(wire)
    edge = edge_vector(_story_doc(doc_id, doc).vector, params.edge_features)
    buckets = tuple(time_buckets(doc.time, params.block_window_days))
    member = (doc_id, doc.order, doc.day, doc.story_id is not None, doc.features, buckets,
              edge.ids.astype("<i8").tobytes(), edge.weights.astype("<f4").tobytes())
    for feature in doc.features:
        yield feature, member


def _member(wire) -> BlockMember:
    doc_id, order, day, old, features, buckets, ids, weights = wire
    return BlockMember(doc_id, order, day, old, features, buckets, CompactVector.from_arrays(
        np.frombuffer(ids, dtype="<i8"), np.frombuffer(weights, dtype="<f4")))


def _edges(item, params: StoryParams):
    """(feature, members) -> story edges of each of its blocks 'feature|bucket'."""
    feature, members = item
    by_bucket: dict[str, list] = {}
    for wire in members:
        for bucket in wire[5]:
            by_bucket.setdefault(bucket, []).append(wire)
    for bucket, block in by_bucket.items():
        if 2 <= len(block) <= params.max_block:
            yield from block_edges(f"{feature}|{bucket}", [_member(m) for m in block], params)


# Label propagation messages: a node's own (label, neighbours), a label sent to
# a neighbour, and (last round only) the node's doc.
_SELF, _LABEL, _NODE = 0, 1, 2


def _first_messages(item, spread: bool):
    """(node, neighbours) -> the messages of label propagation's first step (own labels)."""
    node, neighbours = item
    neighbours = tuple(neighbours)
    yield node, (_SELF, node, neighbours)
    if spread:
        for n in neighbours:
            yield n, (_LABEL, node)


def _labels(messages) -> tuple[Optional[str], Optional[str], tuple]:
    """(new label, own label before, neighbours) of a node from its messages."""
    label, own, neighbours = None, None, ()
    for m in messages:
        if m[0] == _NODE:
            continue
        if label is None or m[1] < label:
            label = m[1]
        if m[0] == _SELF:
            own, neighbours = m[1], m[2]
    return label, own, neighbours


def _min_label(messages) -> Optional[str]:
    return _labels(messages)[0]


def _spread_label(item):
    """(node, messages) -> the next round's messages: its min label to itself and, when it
    changed, to its neighbours.

    A label that did not change reached the neighbours when it last did, and
    labels only decrease, so not sending it again changes no label.
    """
    node, messages = item
    label, own, neighbours = _labels(messages)
    if label is None:
        return
    yield node, (_SELF, label, neighbours)
    if label != own:
        for n in neighbours:
            yield n, (_LABEL, label)


def _component_or_own(item, shards: int):
    """(id, messages + doc) -> component: (label, doc), or single: (id, own story) + state line."""
    doc_id, messages = item
    messages = list(messages)
    docs = [m[1] for m in messages if m[0] == _NODE]
    if not docs:
        return
    label = _min_label(messages)
    if label is not None:
        yield TaggedOutput("component", (label, (doc_id, docs[0])))
        return
    doc = _Doc._make(docs[0])
    if doc.story_id is None:
        story = story_id_for(doc_id)
        yield TaggedOutput("single", (doc_id, story))
        yield TaggedOutput(_STATE_DOC, _doc_line(doc_id, doc, story, shards))


def _doc_line(doc_id: str, doc: _Doc, story: str, shards: int) -> tuple[int, str]:
    """(shard, docs-state line) of an original article of this run and its story."""
    story_doc = dataclasses.replace(_story_doc(doc_id, doc), story_id=story)
    return (zlib.crc32(doc_id.encode()) % shards,
            state.doc_record(story_doc, _signature(doc), doc.content_hash, doc.features))


def _cluster(item, params: StoryParams, shards: int):
    _, members = item
    docs = {doc_id: _Doc._make(wire) for doc_id, wire in members}
    for cluster in cluster_component([_story_doc(i, d) for i, d in docs.items()], params):
        for doc_id, story in assign_story_ids(cluster).items():
            yield doc_id, story
            yield TaggedOutput(_STATE_DOC, _doc_line(doc_id, docs[doc_id], story, shards))


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
    """(id, {article, kept, dup, story}) -> the finished Article, and its seen-state line."""

    def __init__(self, shards: int):
        self._shards = shards

    def setup(self):
        self._out = counter(STAGE, "articles_out")
        self._copies = counter(STAGE, "near_copies")
        self._exact = counter(STAGE, "exact_copies")

    def process(self, item):
        doc_id, groups = item
        kept = list(groups["kept"])     # none: written by an earlier run, or a second URL of one article
        if kept:
            yield from self._finish(doc_id, kept[0], groups)

    def _finish(self, doc_id: str, url: str, groups):
        articles = [unpack_record(packed) for packed in groups["article"]]
        article = next((a for a in articles if a.url == url), articles[0])
        dups, stories = list(groups["dup"]), list(groups["story"])
        story = stories[0] if stories else story_id_for(doc_id)
        original, similarity = dups[0] if dups else (None, None)
        article = dataclasses.replace(article, duplicate_of=original,
                                      duplicate_similarity=similarity, story_id=story)
        self._out.inc()
        if original:
            (self._exact if similarity == 1.0 else self._copies).inc()
        shard = zlib.crc32(doc_id.encode()) % self._shards
        keys = {url_key(article.url), url_key(article.canonical_url)}
        yield TaggedOutput("seen", (shard, state.seen_record(doc_id, keys)))
        yield article


def _write_shard(item, path_of, tmp_dir: str):
    shard, lines = item
    path = path_of(shard)
    state.write_lines_atomically(path, sorted(lines), tmp_dir)
    return path


def _remove_tmp_dir(_written, tmp_dir: str) -> None:
    """Deletes this run's temporary folder once every shard has been moved out of it."""
    state.remove_empty_dir(tmp_dir)


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
        p, near, story, shards = articles.pipeline, self._near, self._story, self._shards
        prepare, side = articles | "Prepare" >> ParDoWithRejects(
            _PrepareDoFn(near, story), STAGE, self._run_id, side_outputs=(_ARTICLE,))
        docs_in, prepared, crashes = prepare.good, side[_ARTICLE], prepare.rejects
        seen_ids = (p | "ReadSeen" >> _ReadState([state.seen_pattern(self._output_dir)])
                    | "SeenIds" >> beam.Map(lambda line: (state.parse_seen(line)["id"], True)))
        firsts = ({"new": docs_in, "seen": seen_ids}
                  | "JoinSeen" >> beam.CoGroupByKey()
                  | "FirstUnseen" >> beam.ParDo(_FirstUnseenDoFn(self._run_id)).with_outputs(
                      REJECTS_TAG, _KEPT, main="good"))
        docs = firsts.good
        old = (p | "ReadDocs" >> _ReadState(state.docs_patterns(
                   self._output_dir, self._now, self._state_days))
               | "ParseDocs" >> beam.Map(lambda line: _old_doc(state.parse_doc(line))))

        # 1. exact copies: one text, one first article; only first articles go on
        texts = (docs
                 | "KeyByText" >> beam.Map(_text_key)
                 | "SameText" >> beam.GroupByKey()
                 | "FirstOfText" >> beam.FlatMap(_first_of_text).with_outputs(_COPY, main="first"))
        firsts_of_text = texts.first
        all_docs = (firsts_of_text, old) | "AllDocs" >> beam.Flatten()

        # 2. near-copies: LSH buckets -> distinct candidate pairs -> both docs -> verified
        pairs = (all_docs
                 | "Bands" >> beam.FlatMap(_band_entries, near)
                 | "Buckets" >> beam.GroupByKey()
                 | "BucketPairs" >> beam.FlatMap(_bucket_pairs, near.max_candidates)
                 | "DistinctPairs" >> beam.CombinePerKey(lambda _: None)
                 | "Pairs" >> beam.Keys())
        near_of = ({"doc": all_docs | "NearDocs" >> beam.Map(_near_doc),
                    "later": pairs | "ByLater" >> beam.Map(lambda pair: (pair[0], pair)),
                    "earlier": pairs | "ByEarlier" >> beam.Map(lambda pair: (pair[1], pair))}
                   | "JoinPairs" >> beam.CoGroupByKey()
                   | "PairRoles" >> beam.FlatMap(_pair_roles)
                   | "PairDocs" >> beam.GroupByKey()
                   | "Verify" >> beam.FlatMap(_verify_pair, near)
                   | "Earliest" >> beam.CombinePerKey(min)
                   | "DupOf" >> beam.Map(lambda kv: (kv[0], (kv[1][1], kv[1][2]))))
        exact_of = ({"copies": texts[_COPY], "dup": near_of}
                    | "JoinTextCopies" >> beam.CoGroupByKey()
                    | "TextCopies" >> beam.FlatMap(_text_copies))
        dup_of = (near_of, exact_of) | "AllCopies" >> beam.Flatten()

        # 3. stories of the originals: blocks -> edges -> components -> clusters
        originals = ({"doc": firsts_of_text, "dup": near_of}
                     | "JoinCopies" >> beam.CoGroupByKey()
                     | "Originals" >> beam.FlatMap(
                         lambda kv: [(kv[0], d) for d in kv[1]["doc"]] if not list(kv[1]["dup"]) else []))
        nodes = (originals, old) | "StoryNodes" >> beam.Flatten()
        adjacency = (nodes
                     | "BlockMembers" >> beam.FlatMap(_block_entries, story)
                     | "Blocks" >> beam.GroupByKey()
                     | "BlockEdges" >> beam.FlatMap(_edges, story)
                     | "BothWays" >> beam.FlatMap(lambda e: [(e[0], e[1]), (e[1], e[0])])
                     | "Adjacency" >> beam.GroupByKey())
        # connected components: min-label propagation over `cc_rounds` hops, one
        # GroupByKey a hop; the last one also brings each node's doc
        messages = adjacency | "OwnLabels" >> beam.FlatMap(_first_messages, self._cc_rounds > 0)
        for r in range(1, self._cc_rounds):
            messages = (messages
                        | f"Round{r}" >> beam.GroupByKey()
                        | f"Round{r}Spread" >> beam.FlatMap(_spread_label))
        grouped = ((messages, nodes | "NodeMessages" >> beam.Map(
                        lambda kv: (kv[0], (_NODE, kv[1]))))
                   | "LabelsAndNodes" >> beam.Flatten()
                   | "Labels" >> beam.GroupByKey()
                   | "ByComponent" >> beam.FlatMap(_component_or_own, shards).with_outputs(
                       "component", "single", _STATE_DOC))
        clustered = (grouped.component
                     | "Components" >> beam.GroupByKey()
                     | "Cluster" >> beam.FlatMap(_cluster, story, shards).with_outputs(
                         _STATE_DOC, main="stories"))
        new_stories = (clustered.stories, grouped.single) | "NewStories" >> beam.Flatten()
        doc_lines = (clustered[_STATE_DOC], grouped[_STATE_DOC]) | "DocLines" >> beam.Flatten()

        # 4. copies share their original's story
        known = ((new_stories, old | "OldStoryIds" >> beam.Map(
                     lambda kv: (kv[0], _Doc._make(kv[1]).story_id)))
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

        # 5. the article, shuffled once (packed: see pack_record): joined with its results
        waiting = prepared | "PackArticles" >> beam.MapTuple(lambda doc_id, a: (doc_id, pack_record(a)))
        finished = ({"article": waiting, "kept": firsts[_KEPT], "dup": dup_of, "story": stories}
                    | "JoinResults" >> beam.CoGroupByKey()
                    | "Finish" >> beam.ParDo(_FinishDoFn(shards)).with_outputs("seen", main="good"))
        if self._write_state:
            self._write(finished.seen, doc_lines)
        rejects = ((crashes, firsts[REJECTS_TAG]) | "Rejects" >> beam.Flatten())
        return StageResult(finished.good, rejects)

    def _write(self, seen_lines, doc_lines) -> None:
        out, run_id, now = self._output_dir, self._run_id, self._now
        tmp = FileSystems.join(state.state_root(out), ".tmp", run_id)
        seen = (seen_lines
                | "SeenShards" >> beam.GroupByKey()
                | "WriteSeen" >> beam.Map(
                    _write_shard, lambda shard: state.seen_path(out, run_id, shard), tmp))
        docs = (doc_lines
                | "DocShards" >> beam.GroupByKey()
                | "WriteDocs" >> beam.Map(
                    _write_shard, lambda shard: state.docs_path(out, run_id, shard, now), tmp))
        _ = ((seen, docs)
             | "Written" >> beam.Flatten()
             | "AllWritten" >> beam.combiners.Count.Globally()
             | "RemoveTmp" >> beam.Map(_remove_tmp_dir, tmp))
