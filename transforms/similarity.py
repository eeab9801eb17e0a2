"""Same text and near-copies: content hashes, MinHash signatures, LSH bands.

Pure functions under `transforms.dedup.Deduplicate`:

- `content_hash`: SHA-256 of the normalised text (NFKC, case-folded, words
  only, single spaces): equal hashes mean the same text up to case,
  punctuation and spacing.
- `NearCopyHasher`: MinHash (datasketch) over word 5-shingles, split into
  LSH bands. Two articles are candidates when one band is equal; a candidate
  is a near-copy when the estimated Jaccard similarity reaches
  `near_threshold`, or when the shorter text is almost all contained in the
  longer one (`containment_threshold`, for truncated copies).

The default bands (32 bands of 3 rows over 96 permutations) find pairs with
Jaccard 0.5 with probability 0.99, and pairs with Jaccard 0.1 almost never.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from typing import Optional, Sequence

import numpy as np

__all__ = ["normalize_text", "content_hash", "shingles", "NearCopyParams", "NearCopyHasher",
           "Signature", "band_keys", "band_slices", "estimate_jaccard", "containment", "is_near_copy", "earliest_copy"]

_WORD = re.compile(r"[^\W_]+")


def normalize_text(text: str) -> str:
    """NFKC, case-folded words separated by single spaces."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text or "").casefold()))


def content_hash(text: str) -> str:
    """SHA-256 hex digest of `normalize_text(text)`."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def shingles(text: str, size: int = 5) -> set[str]:
    """Word `size`-grams of the normalised text (the whole text when shorter)."""
    words = normalize_text(text).split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


@dataclasses.dataclass(frozen=True)
class NearCopyParams:
    """Near-copy settings.

    Attributes:
        near_threshold: estimated Jaccard similarity from which a pair is a near-copy.
        containment_threshold: share of the shorter text's shingles found in the
            longer one from which a pair is a (truncated) copy.
        min_containment_jaccard: the containment rule needs at least this
            Jaccard (a few equal MinHash values prove nothing).
        min_shingles: texts with fewer shingles are only ever exact copies.
        shingle_size: words per shingle.
        num_perm: MinHash permutations (= bands * rows).
        bands: LSH bands.
        max_candidates: earlier articles of one bucket compared with each article.
    """

    near_threshold: float = 0.5
    containment_threshold: float = 0.65
    min_containment_jaccard: float = 0.25
    min_shingles: int = 20
    shingle_size: int = 5
    num_perm: int = 96
    bands: int = 32
    max_candidates: int = 20

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


@dataclasses.dataclass
class Signature:
    """MinHash values of a text and its number of distinct shingles."""

    hashvalues: np.ndarray
    size: int


_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)     # MurmurHash3's 32-bit finalizer


class NearCopyHasher:
    """Builds MinHash signatures and their LSH band keys; one per worker.

    The signature is datasketch 2.0's `MinHash` (its default 'affine32'
    scheme: SHA-1 of each shingle, MurmurHash3's finalizer, affine
    permutations drawn from `RandomState(seed)`), so the same values as the
    signatures already in the cross-run state; `tests/test_dedup_similarity.py`
    checks them against datasketch itself. It is computed in one batch: the
    text is normalised once (`hash_and_signature` shares it with
    `content_hash`), its shingles are byte slices of the normalised text, and
    the permutations run as one numpy expression (and datasketch is not
    imported at run time).
    """

    def __init__(self, params: NearCopyParams = NearCopyParams(), seed: int = 1):
        if params.num_perm % params.bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.params = params
        self.seed = seed
        # datasketch's affine32 permutations: odd a, any b, both uint32
        gen = np.random.RandomState(seed)
        self._a = gen.randint(0, 1 << 31, params.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        self._b = gen.randint(0, 1 << 32, params.num_perm, dtype=np.uint32)
        # as columns: one row per permutation, so the minimum runs along contiguous rows
        self._a_rows, self._b_rows = self._a[:, None].copy(), self._b[:, None].copy()

    def _grams(self, normalized: str) -> set[bytes]:
        """The distinct word shingles of a normalised text, as UTF-8 byte slices."""
        return self._byte_grams(normalized.encode("utf-8"))

    def _byte_grams(self, data: bytes) -> set[bytes]:
        """The distinct word shingles of a normalised text's UTF-8 bytes, as slices of them."""
        if not data:
            return set()
        spaces = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 32)
        size = self.params.shingle_size
        if len(spaces) < size:                       # the whole text is one shingle
            return {data}
        starts = np.concatenate(([0], spaces[:len(spaces) - size + 1] + 1)).tolist()
        ends = np.concatenate((spaces[size - 1:], [len(data)])).tolist()
        return {data[s:e] for s, e in zip(starts, ends)}

    def _minhash(self, grams: set[bytes]) -> np.ndarray:
        if not grams:
            return np.full(self.params.num_perm, 0xFFFFFFFF, dtype=np.uint64)
        sha1 = hashlib.sha1        # datasketch's sha1_hash32: the first 4 bytes, little-endian
        digests = b"".join([sha1(g).digest() for g in grams])
        hv = np.ndarray((len(grams),), dtype="<u4", buffer=digests, strides=(20,)).astype(np.uint32)
        s1, m1, s2, m2, s3 = _FMIX32
        hv ^= hv >> np.uint32(s1)
        hv *= np.uint32(m1)
        hv ^= hv >> np.uint32(s2)
        hv *= np.uint32(m2)
        hv ^= hv >> np.uint32(s3)
        permuted = self._a_rows * hv                 # (num_perm, shingles), uint32 wrap-around
        permuted += self._b_rows
        return permuted.min(axis=1).astype(np.uint64)

    def hash_and_signature(self, text: str) -> tuple[str, Signature]:
        """`content_hash(text)` and `signature(text)`, normalising (and encoding) the text once."""
        data = normalize_text(text).encode("utf-8")
        grams = self._byte_grams(data)
        return hashlib.sha256(data).hexdigest(), Signature(self._minhash(grams), len(grams))

    def signature(self, text: str) -> Signature:
        return self.hash_and_signature(text)[1]

    def band_keys(self, signature: Signature) -> list[str]:
        return band_keys(signature, self.params)


def band_keys(signature: Signature, params: NearCopyParams) -> list[str]:
    """One LSH key per band: band number + digest of its rows; none for empty texts."""
    if signature.size == 0:
        return []
    rows = params.rows
    values = np.asarray(signature.hashvalues, dtype="<u8")
    return [f"{b}:{hashlib.blake2b(values[b * rows:(b + 1) * rows].tobytes(), digest_size=8).hexdigest()}"
            for b in range(params.bands)]


def band_slices(hashvalues: bytes, size: int, params: NearCopyParams) -> list[bytes]:
    """LSH band keys of a signature given as bytes (little-endian uint64 values).

    Each key is the band number followed by the bytes of its rows: equal keys
    exactly when the rows are equal, with no digest to compute. None for
    empty texts. (`band_keys` gives the same buckets as readable strings.)
    """
    if size == 0:
        return []
    width = 8 * params.rows
    return [b.to_bytes(2, "little") + hashvalues[b * width:(b + 1) * width]
            for b in range(params.bands)]


def estimate_jaccard(a: Signature, b: Signature) -> float:
    """Share of equal MinHash values: an estimate of the shingle-set Jaccard."""
    if a.size == 0 or b.size == 0:
        return 0.0
    return float(np.mean(a.hashvalues == b.hashvalues))


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    """Estimated share of the smaller set found in the larger, from Jaccard and sizes."""
    if min(size_a, size_b) == 0:
        return 0.0
    intersection = jaccard * (size_a + size_b) / (1.0 + jaccard)
    return min(1.0, intersection / min(size_a, size_b))


def is_near_copy(a: Signature, b: Signature, params: NearCopyParams,
                 same_hash: bool = False) -> Optional[float]:
    """The estimated Jaccard when `a` and `b` are near-copies, else None.

    Identical normalised texts (`same_hash`) are copies with similarity 1.0.
    """
    if same_hash:
        return 1.0
    if min(a.size, b.size) < params.min_shingles:
        return None
    jaccard = estimate_jaccard(a, b)
    if jaccard >= params.near_threshold:
        return round(jaccard, 4)
    if (jaccard >= params.min_containment_jaccard
            and containment(jaccard, a.size, b.size) >= params.containment_threshold):
        return round(jaccard, 4)
    return None


def earliest_copy(candidates: Sequence[tuple[tuple, str, float]]) -> Optional[tuple[str, float]]:
    """(article_id, similarity) of the earliest of (order, article_id, similarity) copies."""
    if not candidates:
        return None
    order, doc_id, sim = min(candidates, key=lambda c: (c[0], c[1]))
    return doc_id, sim
