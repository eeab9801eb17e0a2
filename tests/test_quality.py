"""Quality flags: machine-translation garbage, short text, link-heavy text."""
import pytest

from tests.support.golden import load_golden
from transforms.clean import clean_text
from transforms.quality import (SHORT_TEXT_WORDS, is_link_heavy, is_short, mt_garbage,
                                quality_flags, word_count)

PROSE = ("Le gouvernement a présenté mardi un projet de loi sur l'énergie, qui prévoit de "
         "nouvelles aides pour les ménages et une taxe sur les profits exceptionnels. ") * 4


@pytest.mark.parametrize("text", [
    "la construction TrontrontrontronTrontronTrontron de la centrale",
    "environ 1,300 XNUMX kilomètres carrés",
    "Steve Wich Wich Wichoff est arrivé à Moscou",
    "Der Gesandte Wich Wich Wich traf Putin",
])
def test_mt_garbage_is_found(text):
    assert mt_garbage(text)


@pytest.mark.parametrize("text", [
    "I also write really really really slow.",
    "das ist oder oder oder nichts",
    "nöööööööööö, sagte sie",
    "What is a pirate's favorite letter? Arrrrrrrrrr!",
    "Bora Bora et New York New York",
    "reklama\nreklama\nreklama",
    "environ 1 300 kilomètres carrés, XNUMXL n'est pas un mot",
])
def test_mt_garbage_spares_real_text(text):
    assert not mt_garbage(text)


def test_styled_letters_cannot_hide_the_placeholder():
    assert mt_garbage("environ 1,300 ＸＮＵＭＸ kilomètres")  # full-width letters


def test_short_text():
    assert is_short("Trois mots seulement")
    assert not is_short(" ".join(["mot"] * SHORT_TEXT_WORDS))
    assert quality_flags("Trois mots seulement") == ["short_text"]


def test_words_of_unspaced_scripts_are_counted():
    assert word_count("東京女子医大の新校舎建設工事") == 7
    assert word_count("Tokyo 東京") == 2
    assert not is_short("気象庁は13日、午後9時19分ごろ、日向灘で震度5弱の地震があったと発表した。" * 3)


def test_link_heavy_text():
    links = "\n".join(f"- Titre d'un autre article numéro {i}" for i in range(8))
    one_paragraph = PROSE[:PROSE.index(". ") + 1]
    assert is_link_heavy(one_paragraph + "\n" + links)
    assert not is_link_heavy(PROSE + "\n" + links)
    assert "link_heavy" in quality_flags(links)
    assert not is_link_heavy(PROSE + "\n" + "\n".join(["Un sous-titre", PROSE] * 3))


def test_clean_prose_has_no_flag():
    assert quality_flags(PROSE) == []


def test_golden_quality_flags():
    for doc in load_golden():
        result = clean_text(doc["text"], title=doc["title"], site_name=doc["site_name"])
        expected = doc["expect"].get("quality_flagged")
        if expected is not None:
            assert bool(result.quality_flags) == expected, (doc["file"], result.quality_flags)
        assert "short_text" not in result.quality_flags, doc["file"]
        if doc["file"].startswith(("001", "003")):
            assert "mt_garbage" in result.quality_flags
