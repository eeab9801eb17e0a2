"""Pieces every stage shares: the stage result pair and the rejects conversion."""
from __future__ import annotations

import functools
import pickle
import struct
import traceback
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from schemas.records import Article, FeedEntry, FetchedPage, Reject

__all__ = ["StageResult", "ParDoWithRejects", "REJECTS_TAG", "ToRejects", "url_of", "counter",
           "pack_record", "unpack_record"]

NAMESPACE = "newsbeam"


class StageResult(NamedTuple):
    """What a stage returns: the records that went on, and the failures."""

    good: beam.PCollection
    rejects: beam.PCollection


def counter(stage: str, name: str):
    """A Beam counter named `<stage>.<name>` in the newsbeam namespace."""
    return Metrics.counter(NAMESPACE, f"{stage}.{name}")


_SIZE = struct.Struct("<I")


@functools.lru_cache(maxsize=None)
def _zstd() -> pa.Codec:
    return pa.Codec("zstd", compression_level=1)


def pack_record(record: Any) -> bytes:
    """A record as compressed bytes, for where many wait in a grouping.

    Runners may hold the values of a `GroupByKey` as objects (the in-process
    FnApiRunner keeps every value decoded until the group is read): packed,
    an article waits as about 3.7 KB of bytes instead of a 12 KB object.
    The pickle is compressed with zstd level 1 (pyarrow's codec), behind its
    length: as small as zlib level 1, in a third of the time.
    """
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    return _SIZE.pack(len(data)) + _zstd().compress(data, asbytes=True)


def unpack_record(data: bytes) -> Any:
    """The record `pack_record` packed."""
    size, = _SIZE.unpack_from(data)
    return pickle.loads(_zstd().decompress(memoryview(data)[_SIZE.size:], decompressed_size=size,
                                           asbytes=True))


def url_of(element: Any) -> tuple[Optional[str], Optional[str]]:
    """The (url, feed_url) of any record a stage may receive."""
    if isinstance(element, Article):
        return element.url, element.feed_url
    if isinstance(element, FetchedPage):
        return element.entry.url, element.entry.feed_url
    if isinstance(element, FeedEntry):
        return element.url, element.feed_url
    if isinstance(element, str):
        return element, None
    return None, None


def _exception_to_reject(failed: Any, stage: str, run_id: Optional[str]) -> Reject:
    element, (exc_type, exc_value, tb) = failed
    url, feed_url = url_of(element)
    name = getattr(exc_type, "__name__", str(exc_type))
    if isinstance(tb, list):
        tb = "".join(tb)
    elif tb is not None and not isinstance(tb, str):
        tb = "".join(traceback.format_tb(tb))
    return Reject(
        url=url,
        feed_url=feed_url,
        stage=stage,
        reason=f"crash:{name}",
        error=f"{name}: {exc_value}\n{tb or ''}"[:4000],
        run_id=run_id,
    )


class ToRejects(beam.PTransform):
    """Turns the dead letters of `with_exception_handling()` into Reject records."""

    def __init__(self, stage: str, run_id: Optional[str] = None):
        super().__init__()
        self._stage = stage
        self._run_id = run_id

    def expand(self, failed):
        return failed | "ToReject" >> beam.Map(
            _exception_to_reject, self._stage, self._run_id)


REJECTS_TAG = "rejects"


class ParDoWithRejects(beam.PTransform):
    """Applies a DoFn that yields good records and `TaggedOutput("rejects", Reject)`.

    Exceptions escaping the DoFn are caught by `with_exception_handling()` and
    become Reject records of the same stage, so one bad document never loses
    the others. Returns StageResult(good, rejects); with `side_outputs`,
    (StageResult, {tag: PCollection}) for the DoFn's other tagged outputs.
    """

    def __init__(self, dofn: beam.DoFn, stage: str, run_id: Optional[str] = None, *,
                 side_outputs: tuple[str, ...] = (), **exception_handling_args):
        super().__init__()
        self._dofn = dofn
        self._stage = stage
        self._run_id = run_id
        self._side_outputs = tuple(side_outputs)
        self._exception_handling_args = exception_handling_args

    def expand(self, pcoll):
        side = self._side_outputs
        results = pcoll | "Process" >> beam.ParDo(self._dofn).with_output_types(
            Any, **{REJECTS_TAG: Reject}, **{tag: Any for tag in side}).with_outputs(
            REJECTS_TAG, *side, main="good").with_exception_handling(
                dead_letter_tag="crashes", **self._exception_handling_args)
        crashes = results["crashes"] | "CrashesToRejects" >> ToRejects(self._stage, self._run_id)
        rejects = (results[REJECTS_TAG], crashes) | "FlattenRejects" >> beam.Flatten()
        if side:
            return StageResult(results.good, rejects), {tag: results[tag] for tag in side}
        return StageResult(results.good, rejects)
