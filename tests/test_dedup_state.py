"""The cross-run state files: paths, records, atomic writes (no Beam pipeline)."""
import datetime as dt
import gzip

import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata

from transforms import dedup_state as state
from transforms.similarity import NearCopyHasher
from transforms.story import CompactVector, StoryDoc, cosine

NOW = dt.datetime(2025, 3, 19, 23, 59, tzinfo=dt.timezone.utc)


def test_paths_and_bounded_read_window(tmp_path):
    out = str(tmp_path)
    assert state.seen_path(out, "r1", 3).endswith("_state/dedup/seen/r1-00003.jsonl.gz")
    assert state.docs_path(out, "r1", 0, NOW).endswith("_state/dedup/docs/day=2025-03-19/r1-00000.jsonl.gz")
    patterns = state.docs_patterns(out, NOW, 3)
    assert [p.split("/")[-2] for p in patterns] == ["day=2025-03-19", "day=2025-03-18", "day=2025-03-17"]


def test_doc_record_round_trip():
    vector = {"e:poutine": 0.6, "w:cessez": 0.5, "n:300": 0.4, "w:appel": 0.48}
    signature = NearCopyHasher().signature("Trump et Poutine ont parlé au téléphone mardi " * 5)
    story = StoryDoc("abc", CompactVector(vector), 20165.9, (1, 1.0, 2.0, "abc"), "s1", time=20165.9)
    old = state.parse_doc(state.doc_record(story, signature, "h" * 64, ["e:poutine", "n:300"]))
    assert old.story.doc_id == "abc" and old.story.story_id == "s1"
    assert old.story.order[0] == 0 and old.story.order[1:] == (1.0, 2.0, "abc")   # earlier than any new article
    assert old.story.day == old.story.time == 20165.9
    assert np.array_equal(old.signature.hashvalues, signature.hashvalues) and old.signature.size == signature.size
    assert abs(cosine(old.story.vector, CompactVector(vector)) - sum(w * w for w in vector.values())) < 1e-5
    assert old.features == ["e:poutine", "n:300"] and old.content_hash == "h" * 64


def test_write_is_atomic_and_readable(tmp_path):
    path = state.seen_path(str(tmp_path), "r1", 0)
    tmp_dir = str(tmp_path / "_state" / "dedup" / ".tmp" / "r1")
    lines = [state.seen_record("id1", ["example.com/a", "example.com/a"]), state.seen_record("id2", [])]
    state.write_lines_atomically(path, lines, tmp_dir)
    assert not list((tmp_path / "_state" / "dedup" / ".tmp" / "r1").iterdir())    # temp file moved
    raw = gzip.decompress(open(path, "rb").read()).decode().splitlines()
    assert [state.parse_seen(x)["id"] for x in raw] == ["id1", "id2"]
    assert state.parse_seen(raw[0])["keys"] == ["example.com/a"]
    readable = fileio.ReadableFile(FileMetadata(path, 0))     # what the transform reads through
    assert [state.parse_seen(x)["id"] for x in state.read_lines(readable)] == ["id1", "id2"]
    state.write_lines_atomically(path, lines[:1], tmp_dir)      # a retried shard replaces the file
    assert len(list(state.read_lines(readable))) == 1
