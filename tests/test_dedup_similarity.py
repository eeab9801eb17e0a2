"""Content hashes and near-copy detection (pure, no Beam), on the golden texts."""
import random

import numpy as np
import pytest

from tests.support.golden import load_golden
from transforms.similarity import (NearCopyHasher, NearCopyParams, band_keys, band_slices, containment,
                                   content_hash, estimate_jaccard, is_near_copy, normalize_text,
                                   shingles)


@pytest.fixture(scope="module")
def golden():
    return load_golden()


@pytest.fixture(scope="module")
def hasher():
    return NearCopyHasher()


def test_content_hash_ignores_case_spacing_and_punctuation():
    assert content_hash("Le  président a dit : « oui ».") == content_hash("le président a dit oui")
    assert content_hash("Le président a dit oui") != content_hash("Le président a dit non")
    assert normalize_text("L’Ukraine,\nKiev!") == "l ukraine kiev"


def test_shingles():
    assert shingles("a b c d e f", 5) == {"a b c d e", "b c d e f"}
    assert shingles("a b", 5) == {"a b"}
    assert shingles("", 5) == set()


def test_signature_estimates_jaccard(golden, hasher):
    text = golden[0]["text"]
    words = text.split()
    half = " ".join(words[: len(words) // 2])
    a, b = hasher.signature(text), hasher.signature(half)
    exact = len(shingles(text) & shingles(half)) / len(shingles(text) | shingles(half))
    assert abs(estimate_jaccard(a, b) - exact) < 0.15
    assert containment(estimate_jaccard(a, b), a.size, b.size) > 0.8


def _variants(text: str, rng: random.Random):
    words = text.split()
    edited = list(words)
    for _ in range(len(words) // 50):
        edited[rng.randrange(len(edited))] = "modifié"
    return {
        "chrome": "Accueil | Monde | Politique\n" + text + "\nPartager sur Facebook\n© 2025 Autre Site",
        "edits": " ".join(edited),
        "truncated": " ".join(words[: int(len(words) * 0.6)]) + " Lire la suite",
    }


def test_copies_of_golden_texts_are_near_copies(golden, hasher):
    rng = random.Random(3)
    for doc in golden:
        original = hasher.signature(doc["text"])
        for kind, copy in _variants(doc["text"], rng).items():
            sig = hasher.signature(copy)
            assert set(band_keys(original, hasher.params)) & set(band_keys(sig, hasher.params)), kind
            assert is_near_copy(original, sig, hasher.params) is not None, (doc["file"], kind)


def test_no_two_golden_documents_are_near_copies(golden, hasher):
    sigs = [hasher.signature(d["text"]) for d in golden]
    for i in range(len(sigs)):
        for j in range(i + 1, len(sigs)):
            assert is_near_copy(sigs[i], sigs[j], hasher.params) is None, (i, j)
            assert estimate_jaccard(sigs[i], sigs[j]) < 0.2


def test_same_hash_is_a_copy_even_for_short_texts(hasher):
    a, b = hasher.signature("Breve."), hasher.signature("brève")
    assert is_near_copy(a, b, hasher.params) is None          # too short to judge by shingles
    assert is_near_copy(a, b, hasher.params, same_hash=True) == 1.0


def test_threshold_is_a_setting(golden):
    text = golden[2]["text"]
    words = text.split()
    rng = random.Random(5)
    for _ in range(len(words) // 8):                   # heavy edits: ~12% of the words
        words[rng.randrange(len(words))] = "x"
    strict = NearCopyHasher(NearCopyParams(near_threshold=0.95, containment_threshold=0.99))
    lax = NearCopyHasher(NearCopyParams(near_threshold=0.3))
    a, b = strict.signature(text), strict.signature(" ".join(words))
    assert is_near_copy(a, b, strict.params) is None
    assert is_near_copy(a, b, lax.params) is not None


def test_batched_minhash_is_datasketchs(golden, hasher):
    """The batched signature gives datasketch's own values (those already in the state files)."""
    from datasketch import MinHash
    texts = [d["text"] for d in golden] + ["", "Un mot", "un deux trois quatre cinq", "Été, à l'école !"]
    for text in texts:
        grams = shingles(text, hasher.params.shingle_size)
        reference = MinHash(num_perm=hasher.params.num_perm, seed=hasher.seed)
        if grams:
            reference.update_batch([g.encode("utf-8") for g in grams])
        digest, sig = hasher.hash_and_signature(text)
        assert digest == content_hash(text)
        assert sig.size == len(grams)
        assert sig.hashvalues.dtype == np.uint64
        assert np.array_equal(sig.hashvalues, reference.hashvalues.astype(np.uint64)), text[:40]


def test_band_slices_bucket_like_band_keys(golden, hasher):
    sigs = [hasher.signature(d["text"]) for d in golden]
    sigs.append(hasher.signature(golden[0]["text"] + " Lire la suite"))
    for a in sigs:
        for b in sigs:
            by_digest = set(band_keys(a, hasher.params)) & set(band_keys(b, hasher.params))
            by_slice = (set(band_slices(a.hashvalues.astype("<u8").tobytes(), a.size, hasher.params))
                        & set(band_slices(b.hashvalues.astype("<u8").tobytes(), b.size, hasher.params)))
            assert len(by_digest) == len(by_slice)
    assert band_slices(b"", 0, hasher.params) == []
