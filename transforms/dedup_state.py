"""Cross-run dedup state: a state folder beside the dataset.

Layout, under `<output_dir>/_state/dedup/`:

    seen/<run_id>-<shard>.jsonl.gz
        one line per article written by a run: {"id": article_id,
        "keys": [url_key of its URL and canonical URL]}. Every run reads all
        of it (about 120 bytes an article): `FilterSeen` skips feed entries
        whose URL key is in it, `Deduplicate` drops articles whose id is.
    docs/day=YYYY-MM-DD/<run_id>-<shard>.jsonl.gz
        one line per *original* article (not a near-copy) written by a run on
        that (UTC) day: id, story_id, publication day, order, content hash,
        MinHash values and shingle count, story vector (feature hashes and
        weights, base64) and block features. `Deduplicate` reads
        the last `state_days` days only, which bounds the read: a copy of an
        article from that window gets its id as `duplicate_of`, an article on
        one of its stories gets its `story_id`.

Files are written under `_state/dedup/.tmp/<run_id>/` and renamed into place
(`FileSystems.rename`), so a reader never sees half a file. All paths go
through Beam's FileSystems (local, gs://, s3://).
"""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from typing import Any, Iterable, Optional

import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.similarity import Signature
from transforms.story import CompactVector, StoryDoc

__all__ = ["state_root", "seen_pattern", "docs_patterns", "seen_path", "docs_path",
           "seen_record", "doc_record", "parse_seen", "parse_doc", "OldDoc",
           "write_lines_atomically", "read_lines", "remove_empty_dir"]


def state_root(output_dir: str) -> str:
    return FileSystems.join(output_dir, "_state", "dedup")


def seen_pattern(output_dir: str) -> str:
    return FileSystems.join(state_root(output_dir), "seen", "*.jsonl.gz")


def docs_patterns(output_dir: str, now: dt.datetime, days: int) -> list[str]:
    """Glob patterns of the docs state of the `days` UTC days up to `now`."""
    today = now.astimezone(dt.timezone.utc).date()
    return [FileSystems.join(state_root(output_dir), "docs",
                             f"day={(today - dt.timedelta(days=i)).isoformat()}", "*.jsonl.gz")
            for i in range(days)]


def seen_path(output_dir: str, run_id: str, shard: int) -> str:
    return FileSystems.join(state_root(output_dir), "seen", f"{run_id}-{shard:05d}.jsonl.gz")


def docs_path(output_dir: str, run_id: str, shard: int, now: dt.datetime) -> str:
    day = now.astimezone(dt.timezone.utc).date().isoformat()
    return FileSystems.join(state_root(output_dir), "docs", f"day={day}",
                            f"{run_id}-{shard:05d}.jsonl.gz")


def seen_record(doc_id: str, keys: Iterable[str]) -> str:
    return json.dumps({"id": doc_id, "keys": sorted(set(keys))}, ensure_ascii=False)


def parse_seen(line: str) -> dict[str, Any]:
    return json.loads(line)


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.asarray(array, dtype=dtype).tobytes()).decode()


def _array(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def doc_record(story: StoryDoc, signature: Signature, content_hash: Optional[str],
               features: Iterable[str] = ()) -> str:
    """The docs-state line of an original article (story.vector is a CompactVector)."""
    return json.dumps({
        "id": story.doc_id,
        "story_id": story.story_id,
        "day": story.day,
        "time": story.time,
        "order": list(story.order[1:]),
        "hash": content_hash,
        "minhash": _b64(signature.hashvalues, "<u8"),
        "size": signature.size,
        "vector_ids": _b64(story.vector.ids, "<i8"),
        "vector_weights": _b64(story.vector.weights, "<f4"),
        "features": list(features),
    }, ensure_ascii=False)


class OldDoc:
    """An article of an earlier run, parsed from the docs state."""

    __slots__ = ("story", "signature", "content_hash", "features")

    def __init__(self, story: StoryDoc, signature: Signature, content_hash: Optional[str],
                 features: list[str]):
        self.story = story
        self.signature = signature
        self.content_hash = content_hash
        self.features = features


def parse_doc(line: str) -> OldDoc:
    """An OldDoc; its order sorts before every article of the current run."""
    d = json.loads(line)
    vector = CompactVector.from_arrays(_array(d["vector_ids"], "<i8").astype(np.int64),
                                       _array(d["vector_weights"], "<f4").astype(np.float32))
    story = StoryDoc(doc_id=d["id"], vector=vector, day=d.get("day"),
                     order=(0, *d.get("order", [])), story_id=d["story_id"], time=d.get("time"))
    signature = Signature(_array(d["minhash"], "<u8").astype(np.uint64), int(d["size"]))
    return OldDoc(story, signature, d.get("hash"), list(d.get("features", [])))


_GZIP_LEVEL = 6     # docs state: 0.3% larger files than at level 9, in a quarter of the CPU time


def write_lines_atomically(path: str, lines: Iterable[str], tmp_dir: str) -> int:
    """Writes gzip'd lines to `tmp_dir`, then renames the file to `path`."""
    data = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), compresslevel=_GZIP_LEVEL)
    # Unique per attempt: state files of different kinds share base names
    # (seen/<run>-<shard> and docs/day=.../<run>-<shard>) and may be written at once.
    tmp = FileSystems.join(tmp_dir, f"{uuid.uuid4().hex}-{path.rsplit('/', 1)[-1]}")
    for folder in (tmp_dir, path.rsplit("/", 1)[0]):
        if not FileSystems.exists(folder):
            try:
                FileSystems.mkdirs(folder)
            except IOError:
                pass  # created meanwhile by another worker, or an object store
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])
    return len(data)


def read_lines(readable_file) -> Iterable[str]:
    """The lines of a state file (a `fileio.ReadableFile`)."""
    with readable_file.open(compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            yield line


def remove_empty_dir(path: str) -> bool:
    """Deletes the folder `path` if it holds no file (a run's temporary folder); True if gone."""
    try:
        if not FileSystems.exists(path):
            return True
        if FileSystems.match([FileSystems.join(path, "*")])[0].metadata_list:
            return False
        FileSystems.delete([path])
        return True
    except (IOError, OSError):
        return False        # left for a later run; never fails the pipeline
