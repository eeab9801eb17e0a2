"""Title choice: affixes, kickers and agreement between sources, on invented snippets."""
from __future__ import annotations

import pytest

from transforms import titles

KEYS = titles.site_keys(["Le Quotidien"], "https://quotidien.example/a")
HEADLINE = "Le conseil municipal vote le budget des écoles"


def choose(*candidates, sections=()):
    return titles.choose_title(list(candidates), KEYS, sections)


@pytest.mark.parametrize("suffix", [
    " (Le Petit Journal)",          # a site in parentheses
    " : 12.03.2025, 10.19 Uhr",     # a time stamp after ' : '
    " / Le Petit Journal",
])
def test_a_suffix_after_a_separator_supports_the_bare_headline(suffix):
    longer = HEADLINE + suffix
    assert choose(("og", longer), ("twitter", longer), ("trafilatura", longer),
                  ("title_tag", longer), ("h1", HEADLINE)) == HEADLINE


def test_words_added_without_a_separator_are_content_not_an_affix():
    full = HEADLINE + " malgré la grève des enseignants"
    assert choose(("jsonld", full), ("h1", full), ("og", HEADLINE), ("trafilatura", HEADLINE)) \
        == full


def test_titles_with_the_same_letters_agree_and_the_most_given_spelling_wins():
    chosen = choose(("jsonld", "Budget: " + HEADLINE), ("og", "Budget - " + HEADLINE),
                    ("trafilatura", "Budget - " + HEADLINE),
                    ("h1", "Autre chose entièrement différente"))
    assert chosen == "Budget - " + HEADLINE


def test_h1_glued_to_its_kicker_agrees_with_the_title_that_keeps_the_kicker():
    chosen = choose(("og", "Écoles / " + HEADLINE), ("h1", "Écoles" + HEADLINE),
                    ("jsonld", "Un titre écrit pour les moteurs de recherche"),
                    ("title_tag", "Écoles " + HEADLINE + " - Le Quotidien"))
    assert chosen == "Écoles / " + HEADLINE


def test_h1_glued_to_its_kicker_votes_for_the_headline_another_source_gives_alone():
    chosen = choose(("og", "Écoles / " + HEADLINE), ("h1", "Écoles" + HEADLINE),
                    ("jsonld", HEADLINE))
    assert chosen == HEADLINE


def test_kicker_in_the_h1_gives_its_vote_to_the_headline_without_it():
    with_kicker = "Séance du lundi: " + HEADLINE
    chosen = choose(("jsonld", with_kicker), ("h1", with_kicker), ("og", HEADLINE),
                    ("trafilatura", HEADLINE), ("title_tag", with_kicker + " | Le Quotidien"))
    assert chosen == HEADLINE


def test_h1_made_of_two_titles_votes_for_the_headline_part():
    label = "Budget municipal"
    chosen = choose(("jsonld", HEADLINE), ("h1", f"{label} {HEADLINE}"), ("og", label),
                    ("twitter", label), ("trafilatura", label), ("title_tag", label))
    assert chosen == HEADLINE


def test_a_kicker_in_the_metadata_titles_is_kept_when_they_agree():
    with_kicker = "Séance du lundi: " + HEADLINE
    assert choose(("jsonld", with_kicker), ("og", with_kicker), ("twitter", with_kicker),
                  ("h1", HEADLINE)) == with_kicker


def test_two_sources_with_different_kickers_agree_on_the_headline_behind_them():
    quoted = "«Nous ne fermerons aucune école cette année»"
    chosen = choose(("og", "Budget municipal: " + quoted), ("twitter", "Budget municipal: " + quoted),
                    ("h1", "Conseil de lundi - " + quoted))
    assert chosen == quoted


def test_no_shared_headline_when_a_variant_is_confirmed_by_two_strong_sources():
    long_kicker = "Conseil de lundi à la mairie: " + HEADLINE
    chosen = choose(("jsonld", long_kicker), ("h1", long_kicker),
                    ("og", "Conseil de lundi: " + HEADLINE))
    assert chosen == long_kicker


def test_a_declared_section_glued_to_the_end_is_stripped():
    raw = HEADLINE + "-Politique | Le Quotidien"
    assert titles.strip_site_affixes(raw, KEYS, ["Politique"]) == HEADLINE
    assert titles.strip_site_affixes(raw, KEYS) == HEADLINE + "-Politique"
    assert choose(("og", raw), ("twitter", raw), ("jsonld", HEADLINE), sections=["Politique"]) \
        == HEADLINE
