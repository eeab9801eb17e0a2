"""Title choice: affixes, kickers and agreement between sources, on invented snippets."""
from __future__ import annotations

import datetime as dt

import lxml.html
import pytest

from schemas.records import Article
from transforms import titles
from transforms.metadata import resolve_metadata
from transforms.page_meta import collect_page_meta

NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.timezone.utc)

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


def _resolved_title(html: str, extracted: dict) -> tuple[str | None, str | None]:
    url = "https://verein.example/protokolle/2019"
    page = collect_page_meta(lxml.html.document_fromstring(html), url)
    article = Article(url=url, feed_url=None, fetched_at=NOW, text="Du texte.",
                      page_meta=page, extracted_meta=extracted)
    resolved = resolve_metadata(article, now=NOW)
    return resolved.title, resolved.site_name


def test_a_site_name_guessed_from_the_headline_does_not_hide_the_headline():
    headline = "Protokoll der Sitzung vom zehnten Oktober"
    html = (f"<html><head><title>{headline} – Verein</title></head>"
            f"<body><h1>{headline}</h1></body></html>")
    # trafilatura's sitename falls back to a part of <title>: here the headline itself.
    title, site_name = _resolved_title(html, {"title": headline, "sitename": headline})
    assert title == headline
    assert site_name != headline


def test_application_name_equal_to_the_headline_is_no_site_name():
    headline = "Studentenwohnheime sind zu voll, warnen Fachleute"
    html = (f'<html><head><meta name="application-name" content="{headline}">'
            f"<title>{headline}</title></head><body><h1>{headline}</h1></body></html>")
    title, site_name = _resolved_title(html, {"title": headline, "sitename": headline})
    assert (title, site_name) == (headline, None)


def test_a_real_site_name_is_still_stripped_and_dropped():
    html = ('<html><head><meta property="og:site_name" content="Vereinsblatt">'
            "<title>Neuer Vorstand gewählt | Vereinsblatt</title></head>"
            "<body><h1>Vereinsblatt</h1><h1>Neuer Vorstand gewählt</h1></body></html>")
    title, site_name = _resolved_title(html, {"title": "Neuer Vorstand gewählt",
                                              "sitename": "Vereinsblatt"})
    assert (title, site_name) == ("Neuer Vorstand gewählt", "Vereinsblatt")


def test_a_headline_naming_the_site_stays_when_two_headline_sources_give_it():
    keys = titles.site_keys(["Vereinsblatt"], "https://vereinsblatt.example/a")
    assert titles.choose_title([("og", "Zehn Jahre Vereinsblatt"), ("h1", "Zehn Jahre Vereinsblatt"),
                                ("title_tag", "Zehn Jahre Vereinsblatt | Vereinsblatt")], keys) \
        == "Zehn Jahre Vereinsblatt"
    # One source alone naming the site with some decoration is the site, not a headline.
    assert titles.choose_title([("og", "Vereinsblatt Online"), ("h1", "Neuer Vorstand gewählt")],
                               keys) == "Neuer Vorstand gewählt"


@pytest.mark.parametrize("raw", [
    "08.11.2021 | " + HEADLINE,
    HEADLINE + " | 2021-11-08",
    HEADLINE + " -",
])
def test_date_segments_and_dangling_separators_are_stripped(raw):
    assert titles.strip_site_affixes(raw, KEYS) == HEADLINE


def test_a_number_that_is_not_a_date_stays():
    raw = "11.8 | " + HEADLINE
    assert titles.strip_site_affixes(raw, KEYS) == raw


@pytest.mark.parametrize("tag", [" Rezept", " von anna", ", Berlin"])
def test_a_short_tag_one_source_adds_goes(tag):
    cake = "Apfelkuchen mit Streuseln vom Blech"
    tagged = cake + tag
    assert choose(("og", tagged), ("twitter", tagged), ("trafilatura", tagged),
                  ("title_tag", tagged + " | Le Quotidien"), ("h1", cake)) == cake


def test_a_cut_off_title_gets_no_support_from_the_full_one():
    full = "Marathon in der Stadt: Sieger und Zuschauer feiern im Regen"
    cut = "Marathon in der Stadt: Sieger und"
    other = "Kinderlauf am Samstag ohne Eltern an der Startlinie"
    assert choose(("jsonld", other), ("og", cut), ("twitter", cut), ("trafilatura", cut),
                  ("h1", full)) == other
    assert choose(("jsonld", cut + "…"), ("h1", full), ("og", "Un autre titre du réseau")) == full


def test_words_two_headline_sources_give_are_part_of_the_headline():
    short = "Le conseil vote le budget"
    full = short + " des écoles"
    assert choose(("jsonld", full), ("h1", full), ("og", short), ("trafilatura", short)) == full


# ------------------------------------------------------------------ keys

def test_key_keeps_exactly_the_isalnum_characters_of_every_code_point():
    import unicodedata
    every = "".join(map(chr, range(0x110000)))
    for start in range(0, len(every), 0x8000):
        chunk = every[start:start + 0x8000]
        folded = unicodedata.normalize("NFKD", chunk.casefold())
        assert titles._key(chunk) == "".join(ch for ch in folded if ch.isalnum()), hex(start)


def test_cached_title_functions_answer_as_on_the_first_call():
    value = "  ‘Le conseil’ – vote\u00ad le budget !  "
    first = (titles.normalise_title(value), titles._key(value))
    assert first == (titles.normalise_title(value), titles._key(value))
    assert first == ("'le conseil' - vote le budget", "leconseilvotelebudget")
