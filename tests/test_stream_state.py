"""TestStream tests of the streaming state: first-per-key, its expiry, and windowing."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as BeamTestStream
from apache_beam.testing.util import assert_that, equal_to, equal_to_per_window
from apache_beam.transforms.window import FixedWindows, IntervalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.records import FeedEntry
from transforms.stream_state import FirstPerKey, FirstSeen, expiry_time

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
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        entries = p | stream | FirstSeen(horizon=HORIZON, key=lambda u: u)
        assert_that(entries | beam.Map(lambda e: (e.url, e.feed_url)),
                    equal_to([(urls[0], "http://feeds.test/a.xml"), (urls[1], "http://feeds.test/a.xml")]))


def test_first_seen_uses_the_canonical_url_key_by_default():
    pytest.importorskip("transforms.canonical")
    stream = (BeamTestStream()
              .add_elements([TimestampedValue(_entry("https://www.news.test/x?utm_source=rss"), 1)])
              .add_elements([TimestampedValue(_entry("https://www.news.test/x"), 2)])
              .advance_watermark_to_infinity())
    with _streaming_pipeline() as p:
        entries = p | stream | FirstSeen(horizon=HORIZON)
        assert_that(entries | beam.combiners.Count.Globally(), equal_to([1]))


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

