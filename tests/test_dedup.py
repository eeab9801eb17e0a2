"""The Deduplicate and FilterSeen transforms on FnApiRunner, one run and two runs."""
import datetime as dt
import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that

from schemas.records import Article, FeedEntry
from tests.support.golden import load_golden
from transforms.canonical import article_id
from transforms.dedup import Deduplicate, FilterSeen
from transforms.story import story_id_for

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def golden():
    docs = load_golden()
    for d in docs:
        d["published_at"] = dt.datetime.fromisoformat(d["published"].replace("Z", "+00:00"))
        d["url"] = f"https://site{d['slug']}.example/monde/{d['slug']}.html"
    return {d["slug"]: d for d in docs}


def _article(doc, url=None, text=None, published=None, canonical=None):
    published = published or doc["published_at"]
    return Article(url=url or doc["url"], feed_url="https://feeds.example/rss", text=text or doc["text"],
                   title=doc["title"], language="fr", published_at=published,
                   fetched_at=published + dt.timedelta(minutes=30), site_name=doc["site_name"],
                   page_meta={"canonical": canonical} if canonical else {})


def _wire_copy(text):
    """The same article republished elsewhere: other chrome, a few edits."""
    edited = text.replace("Trump", "Donald Trump", 2).replace("mardi", "ce mardi", 1)
    return "Le Courrier du Soir — International\n" + edited + "\nPartager : Facebook X E-mail\n© Le Courrier"


def _by_url(articles):
    return {a.url: a for a in articles}


def test_one_run_ids_copies_and_stories(golden, tmp_path):
    copy_url = "https://courrier.example/intl/trump-poutine"
    variant = "https://www.site001.example/monde/001.html?utm_source=rss&fbclid=x"
    articles = [_article(d) for d in golden.values()]
    articles.append(_article(golden["000"], url=copy_url, text=_wire_copy(golden["000"]["text"]),
                             published=golden["000"]["published_at"] + dt.timedelta(hours=2)))
    articles.append(_article(golden["001"], url=variant))
    ids = {slug: article_id(d["url"]) for slug, d in golden.items()}

    def check_articles(out):
        got = _by_url(out)
        assert len(out) == 6 and variant not in got
        for slug, d in golden.items():
            a = got[d["url"]]
            assert a.article_id == ids[slug] and a.duplicate_of is None and a.duplicate_similarity is None
            assert a.source_domain == f"site{slug}.example" and a.canonical_url == d["url"]
            assert len(a.content_hash) == 64
        story = {slug: got[d["url"]].story_id for slug, d in golden.items()}
        assert story["000"] == story["001"] == story["003"] == story["004"] != story["002"]
        copy = got[copy_url]
        assert copy.duplicate_of == ids["000"]
        assert 0.5 <= copy.duplicate_similarity < 1.0
        assert copy.story_id == story["000"]

    def check_rejects(rejects):
        assert [(r.url, r.stage, r.reason) for r in rejects] == [(variant, "dedup", "same_article")]

    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        result = (p | beam.Create(articles)
                  | Deduplicate(str(tmp_path), "run1", now=dt.datetime(2025, 3, 19, 12, tzinfo=UTC)))
        assert_that(result.good, check_articles, label="articles")
        assert_that(result.rejects, check_rejects, label="rejects")
    assert list((tmp_path / "_state" / "dedup" / "seen").glob("run1-*.jsonl.gz"))
    assert list((tmp_path / "_state" / "dedup" / "docs" / "day=2025-03-19").glob("run1-*.jsonl.gz"))
    assert not (tmp_path / "_state" / "dedup" / ".tmp" / "run1").exists()    # temp folder removed


def test_exact_copies_point_to_their_texts_first_article_or_its_original(golden, tmp_path):
    """A copy of a near-copy gets the near-copy's original and similarity; a copy of an
    original gets the original with similarity 1.0; a text's first copy wins whatever the
    input order."""
    base = golden["000"]
    hours = lambda h: base["published_at"] + dt.timedelta(hours=h)  # noqa: E731
    wire = _wire_copy(base["text"])
    urls = {name: f"https://{name}.example/a.html" for name in ("near", "near_again", "exact", "late")}
    articles = [
        _article(base, url=urls["late"], text=base["text"], published=hours(9)),
        _article(base, url=urls["near_again"], text=wire, published=hours(5)),
        _article(base),
        _article(base, url=urls["near"], text=wire, published=hours(2)),
        _article(base, url=urls["exact"], text=base["text"], published=hours(3)),
    ]
    got, _, metrics = _run(articles, str(tmp_path), "run1", dt.datetime(2025, 3, 19, 12, tzinfo=UTC))
    by_url = _by_url(got)
    original = by_url[base["url"]]
    assert original.duplicate_of is None
    near, near_again = by_url[urls["near"]], by_url[urls["near_again"]]
    assert near.duplicate_of == original.article_id and 0.5 <= near.duplicate_similarity < 1.0
    assert (near_again.duplicate_of, near_again.duplicate_similarity) == (
        original.article_id, near.duplicate_similarity)
    for name in ("exact", "late"):
        assert (by_url[urls[name]].duplicate_of, by_url[urls[name]].duplicate_similarity) == (
            original.article_id, 1.0)
    assert {a.story_id for a in got} == {original.story_id}
    assert _counter(metrics, "dedup.exact_copies") == 2
    assert _counter(metrics, "dedup.near_copies") == 2


def test_first_of_text_and_text_copies():
    from transforms.dedup import _text_copies, first_of_text

    wire = lambda order: ("u", None, order)  # noqa: E731  (only the order is read)
    members = [("b", wire((1, 5.0))), ("a", wire((1, 9.0))), ("c", wire((0, 7.0)))]
    first, copies = first_of_text(members)
    assert first[0] == "c" and sorted(copies) == ["a", "b"]
    assert first_of_text([("x", wire((1, 1.0)))]) == (("x", wire((1, 1.0))), [])
    assert sorted(_text_copies(("c", {"copies": ["a", "b"], "dup": []}))) == [
        ("a", ("c", 1.0)), ("b", ("c", 1.0))]
    assert list(_text_copies(("c", {"copies": ["a"], "dup": [("o", 0.8)]}))) == [("a", ("o", 0.8))]


def _save(items, path):
    with open(path, "wb") as f:
        pickle.dump(list(items), f)


def _run(articles, output, run_id, now, entries=()):
    """Runs Deduplicate (and FilterSeen on `entries`); returns (articles, kept urls, metrics)."""
    saved = os.path.join(output, f"test-{run_id}.pickle")
    p = beam.Pipeline(runner="FnApiRunner")
    result = p | "Articles" >> beam.Create(articles) | Deduplicate(output, run_id, now=now)
    kept = (p | "Entries" >> beam.Create(list(entries)) | FilterSeen(output)
            | "EntryUrls" >> beam.Map(lambda e: ("entry", e.url)))
    ((result.good | "Tag" >> beam.Map(lambda a: ("article", a)), kept)
     | beam.Flatten() | beam.combiners.ToList() | beam.Map(_save, saved))
    run = p.run()
    run.wait_until_finish()
    with open(saved, "rb") as f:
        items = pickle.load(f)
    os.remove(saved)
    return ([a for kind, a in items if kind == "article"],
            sorted(u for kind, u in items if kind == "entry"), run.metrics())


def _counter(metrics, name):
    found = metrics.query(MetricsFilter().with_name(name))["counters"]
    return sum(c.committed or 0 for c in found)


def test_second_run_uses_first_runs_state(golden, tmp_path):
    out = str(tmp_path)
    day1 = dt.datetime(2025, 3, 18, 23, tzinfo=UTC)
    first, _, _ = _run([_article(golden["000"]), _article(golden["002"])], out, "run1", day1)
    assert len(first) == 2
    old_story = {a.url: a.story_id for a in first}
    assert old_story[golden["000"]["url"]] == story_id_for(article_id(golden["000"]["url"]))

    copy_url = "https://courrier.example/intl/trump-poutine"
    second_run = [
        _article(golden["000"], url=golden["000"]["url"] + "?utm_medium=social"),   # same article again
        _article(golden["000"], url=copy_url, text=_wire_copy(golden["000"]["text"]),
                 published=golden["000"]["published_at"] + dt.timedelta(hours=20)),
        _article(golden["001"]),
        _article(golden["003"]),
    ]
    entries = [FeedEntry(feed_url="https://feeds.example/rss", url="http://www.site000.example/monde/000.html#top"),
               FeedEntry(feed_url="https://feeds.example/rss", url=golden["004"]["url"])]
    got, kept, metrics = _run(second_run, out, "run2", day1 + dt.timedelta(days=1), entries)
    by_url = _by_url(got)
    assert set(by_url) == {copy_url, golden["001"]["url"], golden["003"]["url"]}
    assert by_url[copy_url].duplicate_of == article_id(golden["000"]["url"])
    assert by_url[copy_url].story_id == old_story[golden["000"]["url"]]
    assert by_url[golden["001"]["url"]].story_id == old_story[golden["000"]["url"]]
    assert by_url[golden["003"]["url"]].story_id == old_story[golden["000"]["url"]]
    assert by_url[golden["001"]["url"]].duplicate_of is None
    assert kept == [golden["004"]["url"]]
    assert _counter(metrics, "dedup.already_seen") == 2     # one article, one feed entry

    # a third run re-ingesting the same articles adds nothing
    again, _, _ = _run(second_run, out, "run3", day1 + dt.timedelta(days=1))
    assert again == []
    assert not list((tmp_path / "_state" / "dedup" / ".tmp").iterdir())      # no run folder left behind


def _propagate(edges, rounds):
    """Dedup's label propagation run in memory: node -> label after `rounds` hops."""
    from collections import defaultdict

    from transforms.dedup import _first_messages, _min_label, _spread_label

    adjacency = defaultdict(list)
    for a, b in edges:
        adjacency[a].append(b)
        adjacency[b].append(a)

    def group(pairs):
        grouped = defaultdict(list)
        for key, value in pairs:
            grouped[key].append(value)
        return grouped.items()

    messages = [m for item in adjacency.items() for m in _first_messages(item, rounds > 0)]
    for _ in range(1, rounds):
        messages = [m for item in group(messages) for m in _spread_label(item)]
    return {node: _min_label(values) for node, values in group(messages)}


def test_label_propagation_reaches_min_within_rounds():
    chain = [(f"n{i:02d}", f"n{i + 1:02d}") for i in range(12)]            # n00 - n01 - ... - n12
    star = [("s0", f"t{i}") for i in range(5)] + [("t4", "u")]
    for rounds in (0, 1, 3, 8):
        labels = _propagate(chain + star, rounds)
        for i in range(13):
            assert labels[f"n{i:02d}"] == f"n{max(0, i - rounds):02d}", (rounds, i)
        if rounds >= 2:
            assert {labels[n] for n in ["s0", "t0", "t4", "u"]} == {"s0"}


def test_bucket_pairs_pair_each_exact_copy_with_the_first_copy_only():
    from transforms.dedup import bucket_pairs

    new = lambda n: (1, n)  # noqa: E731  (an order of this run)
    copies = [(new(n), f"c{n}", "h") for n in range(30)]
    other = [((1, -1), "x", "g")]           # a different text, earlier than every copy
    pairs = set(bucket_pairs(copies + other, max_candidates=20))
    # every copy: the earlier different text and the first copy; never a later copy
    assert pairs == {("c0", "x")} | {(f"c{n}", "x") for n in range(1, 30)} | {
        (f"c{n}", "c0") for n in range(1, 30)}
    # without content hashes every earlier member within the window is a candidate
    plain = [(new(n), f"c{n}", "") for n in range(5)]
    assert set(bucket_pairs(plain, max_candidates=20)) == {
        (f"c{j}", f"c{i}") for j in range(5) for i in range(j)}
    # an earlier run's article is never the later one of a pair
    assert set(bucket_pairs([((0, 5), "old", "h"), (new(1), "n", "h")], 20)) == {("n", "old")}


def test_pardo_with_rejects_side_outputs_and_crashes():
    """The side output of a stage DoFn (dedup's prepared articles) next to good and rejects."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.common import ParDoWithRejects

    class Split(beam.DoFn):
        def process(self, n):
            if n == 3:
                raise ValueError("bad document")
            yield n
            yield beam.pvalue.TaggedOutput("side", -n)

    with TestPipeline(runner="FnApiRunner") as p:
        result, side = (p | beam.Create([1, 2, 3])
                        | ParDoWithRejects(Split(), "dedup", "run-1", side_outputs=("side",)))
        assert_that(result.good, equal_to([1, 2]), label="good")
        assert_that(side["side"], equal_to([-1, -2]), label="side")
        assert_that(result.rejects | beam.Map(lambda r: (r.stage, r.reason.startswith("crash"))),
                    equal_to([("dedup", True)]), label="rejects")


def test_bucket_members_travel_as_one_bytes_object_each_and_give_the_same_pairs():
    from transforms.dedup import _band_entries, _bucket_pairs, _Doc, bucket_pairs
    from transforms.similarity import NearCopyParams

    params = NearCopyParams()
    minhash = bytes(range(256))[:8 * params.num_perm] * 4
    members = [((1, 1.7e9 + i % 3, 1.7e9 + i, f"{i:032x}"), f"{i:032x}", "h%d" % (i % 2)) for i in range(12)]
    members.append(((0, 1600000000, 1600000001, "old"), "old", ""))      # an earlier run's doc
    packed = []
    for order, doc_id, chash in members:
        wire = tuple(_Doc("", None, order, minhash[:8 * params.num_perm], 10, chash or None,
                          b"", b"", (), None, None))
        entries = list(_band_entries((doc_id, wire), params))
        assert len(entries) == params.bands and len({id(value) for _, value in entries}) == 1
        packed.append(entries[0][1])
    assert all(isinstance(p, bytes) and len(p) < 130 for p in packed)
    got = [pair for pair, _ in _bucket_pairs((b"band", packed), 5)]
    assert got == list(bucket_pairs(members, 5))
    assert got
