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
