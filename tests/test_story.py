"""Same-story detection (pure, no Beam) on the golden documents."""
import dataclasses
import datetime as dt
import random

import pytest

from tests.support.golden import load_golden
from transforms.story import (StoryDoc, StoryParams, TermRarity, assign_story_ids, blocking_keys,
                              cluster_component, connected_components, group_stories,
                              story_id_for, story_similarity, story_vector, time_factor)


@pytest.fixture(scope="module")
def rarity():
    return TermRarity()


@pytest.fixture(scope="module")
def golden_docs(rarity):
    docs = []
    for d in load_golden():
        published = dt.datetime.fromisoformat(d["published"].replace("Z", "+00:00"))
        docs.append((d, StoryDoc(d["slug"], story_vector(d["text"], "fr", rarity, title=d["title"]),
                                 published.timestamp() / 86400, (1, published.timestamp(), d["slug"]))))
    return docs


def test_golden_story_grouping(golden_docs):
    stories = group_stories([doc for _, doc in golden_docs])
    expected = {d["slug"]: d["expect"]["story"] for d, _ in golden_docs}
    for a in expected:
        for b in expected:
            assert (stories[a] == stories[b]) == (expected[a] == expected[b]), (a, b)
    assert len(set(stories.values())) == 2


def test_golden_grouping_does_not_depend_on_input_order(golden_docs):
    docs = [doc for _, doc in golden_docs]
    first = group_stories(docs)
    shuffled = list(docs)
    random.Random(1).shuffle(shuffled)
    assert group_stories(shuffled) == first
    # the story is named after its first article (earliest publication): 003 at 17:05
    assert first["000"] == story_id_for("003")


def test_french_entities_and_numbers_are_features(golden_docs):
    vector = dict(golden_docs[0][1].vector)
    for feature in ("e:poutine", "e:trump", "e:kremlin", "n:30"):
        assert feature in vector, feature
    # sentence-initial common words are not names, function words carry no weight
    assert "e:quelques" not in vector and "w:les" not in vector and "w:avec" not in vector


def test_time_separates_the_later_call(golden_docs):
    params = StoryParams()
    by_slug = {doc.doc_id: doc for _, doc in golden_docs}
    same_day = story_similarity(by_slug["000"], by_slug["003"], params)
    later = story_similarity(by_slug["000"], by_slug["002"], params)
    assert same_day >= params.threshold
    assert later < params.threshold
    assert time_factor(0.0, 62.0, params) < 0.01
    assert time_factor(0.0, 2.0, params) == 1.0
    assert time_factor(None, 62.0, params) == 1.0


def test_blocking_keys_are_distinctive(golden_docs):
    keys = blocking_keys(golden_docs[0][1].vector, 12)
    assert len(keys) == 12
    assert not any(k in ("w:president", "w:que", "w:dans") for k in keys)


def test_todays_article_joins_yesterdays_story(golden_docs):
    by_slug = {doc.doc_id: doc for _, doc in golden_docs}
    old = dataclasses.replace(by_slug["000"], order=(0, 0.0, "000"), story_id="yesterdays-story")
    old_other = dataclasses.replace(by_slug["002"], order=(0, 0.0, "002"), story_id="may-story")
    stories = group_stories([old, old_other, by_slug["001"], by_slug["004"]])
    assert stories == {"001": "yesterdays-story", "004": "yesterdays-story"}


def test_cohesion_splits_two_events_of_one_kind():
    # two tight groups bridged by weak links: average linkage alone would merge them at 0.15
    def doc(i, group):
        vec = {f"{group}:{k}": 1.0 for k in range(3)}
        vec.update({"shared:quake": 1.0, "shared:magnitude": 1.0})
        return StoryDoc(f"{group}{i}", _norm(vec), None, (1, i, f"{group}{i}"))
    docs = [doc(i, "a") for i in range(4)] + [doc(i, "b") for i in range(4)]
    params = StoryParams(threshold=0.3, cohesion=0.7)
    clusters = cluster_component(docs, params)
    assert sorted(sorted(d.doc_id for d in c) for c in clusters) == [
        ["a0", "a1", "a2", "a3"], ["b0", "b1", "b2", "b3"]]
    merged = cluster_component(docs, dataclasses.replace(params, cohesion=0.0))
    assert len(merged) == 1


def _norm(vec):
    n = sum(v * v for v in vec.values()) ** 0.5
    return {k: v / n for k, v in vec.items()}


def test_assign_story_ids_prefers_known_story():
    old = StoryDoc("old", {}, None, (0, 0.0, "old"), story_id="s-old")
    new = [StoryDoc(f"n{i}", {}, None, (1, float(i), f"n{i}")) for i in range(3)]
    assert assign_story_ids(new + [old]) == {"n0": "s-old", "n1": "s-old", "n2": "s-old"}
    assert assign_story_ids(new) == {f"n{i}": story_id_for("n0") for i in range(3)}


def test_connected_components():
    comps = connected_components("abcde", [("a", "b"), ("c", "b"), ("d", "e")])
    assert comps == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d"}


def test_rarity_table_gives_wordfreqs_zipf(rarity):
    import pickle

    import wordfreq
    for lang, words in {"en": ["the", "president", "ceasefire", "kremlin"],
                        "fr": ["le", "président", "cessez", "poutine"]}.items():
        for word in words:
            assert rarity.zipf(word, lang) == wordfreq.zipf_frequency(word, lang), (lang, word)
        assert rarity.zipfs(words, lang) == [rarity.zipf(w, lang) for w in words]
    assert rarity.zipf("qzxwvqzxwv", "fr") == rarity.unknown_zipf
    assert rarity.rarity("le", "fr") == 0.0 and rarity.rarity("qzxwvqzxwv", "fr") == 5.0
    assert rarity.zipf("the", "xx-unknown") == rarity.zipf("the", "en")      # default language
    clone = pickle.loads(pickle.dumps(rarity))          # word hashes are per process: not pickled
    assert clone._tables == {} and clone.zipf("président", "fr") == rarity.zipf("président", "fr")


def test_table_is_compact(rarity):
    table = rarity._table("en")
    assert len(table.hashes) > 100_000
    assert table.hashes.nbytes + table.buckets.nbytes < 12 * len(table.hashes)


def test_word_cache_gives_the_same_tables(tmp_path):
    import numpy as np
    fresh = TermRarity(cache_dir=None)
    filling = TermRarity(cache_dir=str(tmp_path))
    for lang in ("fr", "de"):
        filling._table(lang)
    files = sorted(p.name for p in tmp_path.glob("wordfreq-*/*.npz"))
    assert files == [f"de-{fresh._last + 1}-k1.npz", f"fr-{fresh._last + 1}-k1.npz"]
    assert not list(tmp_path.glob("wordfreq-*/.*"))          # no temporary file left
    cached = TermRarity(cache_dir=str(tmp_path))
    for lang in ("fr", "de"):
        assert cached._word_cache().read(lang) is not None
        a, b = fresh._table(lang), cached._table(lang)
        assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.buckets, b.buckets)
    words = ["président", "poutine", "qzxwvqzxwv", "le"]
    assert cached.zipfs(words, "fr") == fresh.zipfs(words, "fr")


def test_word_cache_falls_back_when_unusable(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    rarity = TermRarity(cache_dir=str(blocked))          # cannot create a folder in a file
    assert rarity.zipf("président", "fr") == TermRarity(cache_dir=None).zipf("président", "fr")
    good = TermRarity(cache_dir=str(tmp_path / "cache"))
    good._table("fr")
    [path] = (tmp_path / "cache").glob("wordfreq-*/fr-*.npz")
    path.write_bytes(b"truncated")                       # a broken file is rebuilt, not trusted
    again = TermRarity(cache_dir=str(tmp_path / "cache"))
    assert again._word_cache().read("fr") is None
    assert again.zipf("président", "fr") == good.zipf("président", "fr")
    assert again._word_cache().read("fr") is not None
    import numpy as np
    np.savez(path, hashes=np.array([3, 2], dtype=np.int64), buckets=np.array([0, 1], dtype=np.uint16))
    again = TermRarity(cache_dir=str(tmp_path / "cache"))
    assert again._word_cache().read("fr") is None               # unsorted keys: not a table
    good._table("de")
    [path] = (tmp_path / "cache").glob("wordfreq-*/de-*.npz")
    path.write_bytes(path.read_bytes()[:5000])                  # a zip cut short
    assert TermRarity(cache_dir=str(tmp_path / "cache"))._word_cache().read("de") is None


def test_rarity_with_its_cache_survives_pickling(tmp_path, monkeypatch):
    import pickle
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    clone = pickle.loads(pickle.dumps(TermRarity()))
    assert clone.zipf("président", "fr") == TermRarity(cache_dir=None).zipf("président", "fr")
    assert list(tmp_path.glob("newsbeam/wordfreq-*/fr-*-k1.npz"))    # the default folder, filled


def test_word_keys_are_equal_exactly_when_str_hashes_are():
    import itertools

    import numpy as np
    import wordfreq

    from transforms.story import word_keys
    # CPython hashes a str's raw bytes: 'ab' (Latin-1) and U+6261 (UCS-2) share them
    words = ["ab", "\u6261", "d0", "つ", "\u0100", "\x01", "\x01\x00", "a", "\U0001F600", "\ud800",
             "é", "ÿ", "\u00ff\u0100", "", "président", "Київ", "北京市"]
    keys = word_keys(words).tolist()
    for (i, a), (j, b) in itertools.product(enumerate(words), repeat=2):
        assert (keys[i] == keys[j]) == (hash(a) == hash(b)), (a, b)
    assert word_keys(words[:3]).tolist() == keys[:3] and word_keys([]).tolist() == []
    assert word_keys(words, chunk=4).tolist() == keys
    listed = list(itertools.chain.from_iterable(wordfreq.get_frequency_list("ja")[:751]))
    groups = {}
    for word, key in zip(listed, word_keys(listed).tolist()):
        groups.setdefault(key, []).append(word)
    by_hash = {}
    for word in listed:
        by_hash.setdefault(hash(word), []).append(word)
    assert sorted(g for g in groups.values() if len(g) > 1) == sorted(g for g in by_hash.values() if len(g) > 1)
    assert len(groups) == len(by_hash) and np.unique(word_keys(listed)).size == len(by_hash)


def test_rarity_table_equal_hashes_keep_the_first_bucket():
    from transforms.story import _RarityTable
    table = _RarityTable(["x", "\u6261", "y", "ab", "x"], [1, 1, 1, 2])
    assert table.lookup(["ab", "\u6261", "x", "y", "z"]).tolist() == [1, 1, 0, 2, -1]
    assert len(table.hashes) == 3


def test_tokens_and_sentence_starts():
    from transforms.story import _SENTENCE, _TOKEN, _tokens
    text = ("Le 1 000e jour. «Kiev» a dit: 3,5 %!\n\nÉlan-vital  d’Ukraine… 12\u00a0000 morts\n"
            "Fin.  Mots\u202f2024_x ²³ 1.\u00a0000 5 000\n")
    sentences = [_TOKEN.findall(s) for s in _SENTENCE.split(text)]
    tokens, starts = _tokens(text)
    assert tokens == [t for s in sentences for t in s]
    expected, at = {0}, 0
    for s in sentences:
        expected.add(at)
        at += len(s)
    assert starts == expected
    assert _tokens("") == ([], {0})


def test_compact_vector_is_sorted_by_feature_hash():
    import hashlib

    from transforms.story import CompactVector
    vector = {"w:kiev": 0.5, "e:poutine": 0.7, "n:2024": 0.1, "E:vladimir_poutine": 0.5}
    pairs = sorted((int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little",
                                   signed=True), w) for f, w in vector.items())
    compact = CompactVector(vector)
    assert compact.ids.tolist() == [i for i, _ in pairs]
    assert compact.weights.tolist() == [float(__import__("numpy").float32(w)) for _, w in pairs]
    assert len(CompactVector({})) == 0


def test_folded_words_are_one_feature_named_by_the_first_plain_one(rarity):
    vector = story_vector("Élan. Un élan rare, puis un elan plus rare et élan.", "fr", rarity)
    assert "w:elan" in vector and sum(f.startswith("w:elan") for f in vector) == 1
    alone = story_vector("Un élan rare, puis un élan plus rare et élan.", "fr", rarity)
    assert "w:elan" in alone
