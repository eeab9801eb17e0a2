"""TestStream tests of the streaming state: first-per-key, its expiry, and windowing."""
from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to, equal_to_per_window
from apache_beam.transforms.window import FixedWindows, IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.records import Article, FeedEntry
from tests.support.golden import load_golden
from tests.test_stream_support import article_text
from transforms.similarity import content_hash
from transforms.story import story_id_for
from transforms.stream_state import (FirstPerKey, FirstSeen, MarkCopies, MatchEarlierArticles,
                                     assign_stories, doc_lines_of, expiry_time, resolve_copy)

HORIZON = 100.0


def _streaming_pipeline() -> BeamTestPipeline:
    # TestStream makes the DirectRunner pick its BundleBasedDirectRunner: no Prism download.
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return BeamTestPipeline(runner="DirectRunner", options=options)


def _entry(url: str, feed: str = "http://feeds.test/a.xml") -> FeedEntry:
    return FeedEntry(feed_url=feed, url=url, title=url.rsplit("/", 1)[-1])


def test_expiry_time_is_first_sighting_plus_horizon():
    assert expiry_time(Timestamp(10), 3600) == Timestamp(3610)


def test_repeats_within_the_horizon_are_dropped_and_expired_keys_pass_again():
    stream = (BeamTestStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(("a", "a@10"), 10), TimestampedValue(("b", "b@12"), 12)])
              .add_elements([TimestampedValue(("a", "a@20"), 20)])
              .advance_watermark_to(50)
              .add_elements([TimestampedValue(("a", "a@60"), 60), TimestampedValue(("b", "b@61"), 61)])
              # a's state (first seen at 10) expires at 110; b's (12) at 112
              .advance_watermark_to(111)
              .add_elements([TimestampedValue(("a", "a@115"), 115), TimestampedValue(("b", "b@116"), 116)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        firsts = p | stream | FirstPerKey("t", horizon=HORIZON)
        # a passes again at 115: its state was cleared at 110. b's state (until 112) still
        # held at watermark 111, so b@116 arrives before the timer fires and is dropped.
        assert_that(firsts, equal_to(["a@10", "b@12", "a@115"]))


def test_first_seen_drops_an_entry_listed_by_two_feeds():
    urls = ["http://news.test/1", "http://news.test/2"]
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_entry(urls[0]), 1), TimestampedValue(_entry(urls[1]), 1)])
              .add_elements([TimestampedValue(_entry(urls[0], "http://feeds.test/b.xml"), 5)])
              .advance_watermark_to(10)
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        entries = p | stream | FirstSeen(horizon=HORIZON, key=lambda u: u)
        assert_that(entries | beam.Map(lambda e: (e.url, e.feed_url)),
                    equal_to([(urls[0], "http://feeds.test/a.xml"), (urls[1], "http://feeds.test/a.xml")]))


def test_first_seen_uses_the_canonical_url_key_by_default():
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_entry("https://www.news.test/x?utm_source=rss"), 1)])
              .add_elements([TimestampedValue(_entry("https://www.news.test/x"), 2)])
              .advance_watermark_to(10)
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        entries = p | stream | FirstSeen(horizon=HORIZON)
        assert_that(entries | beam.Map(lambda e: e.url), equal_to(["https://www.news.test/x?utm_source=rss"]))


def test_state_in_the_global_window_feeds_fixed_output_windows():
    """Dedup state spans windows; the output is cut into the writer's fixed windows."""
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(("a", "a"), 5), TimestampedValue(("b", "b"), 8)])
              .advance_watermark_to(10)
              .add_elements([TimestampedValue(("a", "a-again"), 12), TimestampedValue(("c", "c"), 14)])
              .advance_watermark_to(20)
              .add_elements([TimestampedValue(("d", "d"), 25)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        windowed = (p | stream | FirstPerKey("t", horizon=HORIZON)
                    | beam.WindowInto(FixedWindows(10))
                    | beam.Map(lambda v: ("all", v)) | beam.GroupByKey()
                    | beam.MapTuple(lambda _, vs: sorted(vs)))
        assert_that(windowed, equal_to_per_window({
            IntervalWindow(0, 10): [["a", "b"]],
            IntervalWindow(10, 20): [["c"]],
            IntervalWindow(20, 30): [["d"]],
        }))


def test_horizon_must_be_positive():
    with pytest.raises(ValueError):
        FirstPerKey("t", horizon=0)



# --- copies and stories --------------------------------------------------------------

def _article(doc_id: str, text: str, *, title: str = "", lang: str = "en", published=None) -> Article:
    return Article(url=f"http://news.test/{doc_id}", feed_url="http://news.test/feed.xml",
                   fetched_at=dt.datetime(2025, 3, 19, tzinfo=dt.timezone.utc), text=text,
                   article_id=doc_id, title=title or None, language=lang, published_at=published,
                   content_hash=content_hash(text))


def _summary(articles):
    return articles | beam.Map(lambda a: (a.article_id, a.duplicate_of, a.story_id))


def test_exact_copies_point_to_the_first_article_with_the_text():
    text = article_text(1)
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_article("a", text), 1)])
              .add_elements([TimestampedValue(_article("b", text.upper()), 2),
                             TimestampedValue(_article("c", article_text(2)), 3)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        marked = p | stream | MarkCopies(horizon=HORIZON)
        assert_that(marked | beam.Map(lambda a: (a.article_id, a.duplicate_of, a.duplicate_similarity)),
                    equal_to([("a", None, None), ("b", "a", 1.0), ("c", None, None)]))


def test_resolve_copy_takes_the_earliest_and_keeps_exact_copies():
    article = _article("x", "text")
    resolved = resolve_copy(article, [((5, "b"), "b", 0.7), ((3, "a"), "a", 0.55)])
    assert (resolved.duplicate_of, resolved.duplicate_similarity) == ("a", 0.55)
    assert resolve_copy(article, []).duplicate_of is None
    exact = dataclasses.replace(article, duplicate_of="z", duplicate_similarity=1.0)
    assert resolve_copy(exact, [((1, "a"), "a", 0.9)]).duplicate_of == "z"


def test_assign_stories_follows_links_in_order_across_windows():
    known = {"old": "story-old"}
    links = [((3, "c"), "c", "b"), ((1, "a"), "a", None), ((2, "b"), "b", "a"),
             ((4, "d"), "d", "old"), ((5, "e"), "e", "gone"), ((6, "f"), "f", "e")]
    stories = assign_stories(links, known)
    assert stories["a"] == stories["b"] == stories["c"] == story_id_for("a")
    assert stories["d"] == "story-old"
    # a match the registry does not know (expired, later window) names the story; it joins it later
    assert stories["e"] == stories["f"] == stories["gone"] == story_id_for("gone")
    # a cycle (each found the other earlier in some block) ends, in one story
    cyclic = assign_stories([((1, "p"), "p", "q"), ((1, "q"), "q", "p")], {})
    assert cyclic["p"] == cyclic["q"]


def test_near_copy_found_through_shared_lsh_bands():
    original = article_text(7, paragraphs=8)
    edited = original.replace("council", "assembly", 2) + "\nA correction was appended later."
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_article("orig", original), 1)])
              .add_elements([TimestampedValue(_article("edit", edited), 2),
                             TimestampedValue(_article("other", article_text(8, paragraphs=8)), 3)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        out = p | stream | MatchEarlierArticles(window=10, horizon=HORIZON)
        assert_that(out | beam.Map(lambda a: (a.article_id, a.duplicate_of)),
                    equal_to([("orig", None), ("edit", "orig"), ("other", None)]))


def test_golden_stories_form_online_as_in_batch():
    """The five golden documents arrive one by one: 000, 001, 003, 004 share a story, 002 not."""
    docs = load_golden()
    events = BeamTestStream()
    for i, doc in enumerate(sorted(docs, key=lambda d: d["published"])):
        when = dt.datetime.fromisoformat(doc["published"].replace("Z", "+00:00"))
        article = _article(doc["slug"], doc["text"], title=doc["title"], lang="fr", published=when)
        events = events.add_elements([TimestampedValue(article, 10 + i)])
    events = events.advance_watermark_to_infinity()
    expected_groups = {}
    for doc in docs:
        expected_groups.setdefault(doc["expect"]["story"], set()).add(doc["slug"])

    def check(rows):
        story_of = {doc_id: story for doc_id, _, story in rows}
        assert len(story_of) == len(docs), rows
        for members in expected_groups.values():
            assert len({story_of[m] for m in members}) == 1, (members, story_of)
        firsts = [story_of[next(iter(m))] for m in expected_groups.values()]
        assert len(set(firsts)) == len(firsts), story_of
        assert all(dup is None for _, dup, _ in rows), rows

    with _streaming_pipeline() as p:
        out = p | events | MatchEarlierArticles(window=1000, horizon=90 * 86400.0)
        assert_that(_summary(out), check)


def test_first_seen_skips_what_an_earlier_run_recorded(tmp_path):
    """The restart path: keys in DIR/_state/dedup/seen are held back before any entry goes on."""
    from transforms.canonical import url_key
    from transforms.dedup_state import seen_path, seen_record, write_lines_atomically

    output = str(tmp_path)
    written = ["https://news.test/old-1", "https://news.test/old-2"]
    write_lines_atomically(seen_path(output, "earlier-run", 0),
                           [seen_record(f"id{i}", [url_key(u)]) for i, u in enumerate(written)],
                           str(tmp_path / "_state" / "dedup" / ".tmp"))
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_entry(u), 1) for u in
                             written + ["https://news.test/new-1"]])
              .add_elements([TimestampedValue(_entry("https://www.news.test/old-1?utm_medium=x"), 2)])
              .advance_watermark_to(10)
              .add_elements([TimestampedValue(_entry("https://news.test/new-2"), 11)])
              .advance_watermark_to(20)
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        entries = p | stream | FirstSeen(horizon=HORIZON, output_dir=output)
        assert_that(entries | beam.Map(lambda e: e.url),
                    equal_to(["https://news.test/new-1", "https://news.test/new-2"]))


def test_earlier_runs_seed_copies_and_stories(tmp_path):
    """An article of an earlier run (docs state) is the original of a copy and keeps its story."""
    from transforms.dedup_state import parse_doc
    from transforms.similarity import NearCopyHasher
    from transforms.story import StoryParams, TermRarity

    original = article_text(11, paragraphs=8)
    published = dt.datetime(2025, 3, 18, tzinfo=dt.timezone.utc)
    row = {"article_id": "old", "url": "http://news.test/old", "canonical_url": "http://news.test/old",
           "text": original, "title": "Old", "language": "en", "published_at": published,
           "fetched_at": published, "story_id": "story-old", "duplicate_of": None,
           "content_hash": content_hash(original)}
    [line] = doc_lines_of([row], TermRarity(), NearCopyHasher(), StoryParams())
    old = parse_doc(line)
    assert old.story.story_id == "story-old" and old.signature.size > 20

    edited = original.replace("council", "assembly", 3)
    exact = _article("same", original, published=published)
    near = _article("near", edited, published=published)
    golden = load_golden()[0]  # French, another subject: neither a copy nor the same story
    other = _article("other", golden["text"], lang="fr", published=published)
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(("old", old), 1)])
              .advance_watermark_to(3)
              .add_elements([TimestampedValue(("new", a), 5) for a in (exact, near, other)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        events = p | stream
        earlier = events | "Old" >> beam.FlatMap(lambda e: [e[1]] if e[0] == "old" else [])
        new = events | "New" >> beam.FlatMap(lambda e: [e[1]] if e[0] == "new" else [])
        hashes = earlier | beam.Map(lambda d: (d.content_hash, d.story.doc_id))
        marked = new | MarkCopies(horizon=HORIZON, seeds=hashes)
        out = marked | MatchEarlierArticles(window=10, horizon=HORIZON, earlier=earlier)
        assert_that(_summary(out), equal_to([("same", "old", "story-old"), ("near", "old", "story-old"),
                                              ("other", None, story_id_for("other"))]))
