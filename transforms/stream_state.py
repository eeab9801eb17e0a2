"""Keyed state of the streaming pipeline, with timers that expire it.

Batch dedup compares a run with the dataset it reads back; a streaming run
instead remembers what it saw in keyed state, so that the keys (URL keys,
content hashes) spread over workers, and sets an event-time timer per key at
`first seen + horizon` that clears the key's state: memory stays bounded by
what arrives within one horizon (default 7 days).

- `FirstSeen`: FeedEntry -> FeedEntry, the first entry per URL key only.
- `FirstPerKey`: the generic stateful DoFn under it, for any (key, value).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import apache_beam as beam
from apache_beam import coders
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (ReadModifyWriteStateSpec, TimerSpec, on_timer)
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.common import counter

__all__ = ["DEFAULT_HORIZON", "FirstPerKey", "FirstSeen", "expiry_time"]

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
