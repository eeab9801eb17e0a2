"""Author credits: names, handles, agencies and organisations, on credits written here."""
from __future__ import annotations

import pytest

from transforms import authors, titles

KEYS = titles.site_keys(["Le Quotidien"], "https://quotidien.example/a")


def _credits(*values, handles=False, keys=frozenset()):
    got = authors.person_names(values, set(keys), handles=handles)
    return got.persons, got.handles, got.agencies


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("credit, names", [
    ("Perry Bacon Jr", ["Perry Bacon Jr."]),
    ("Joe S", ["Joe S."]),
    ("Miguel A. Herguedas", ["Miguel A. Herguedas"]),
    ("AuthorAndreas Kalt", ["Andreas Kalt"]),
    ("VonJan Roth", ["Jan Roth"]),
    ("Richard David Precht im Gespräch mit Karin Fischer", ["Richard David Precht", "Karin Fischer"]),
    ("By STEVE PEOPLES and AMELIA THOMSON-DEVEAUX",
     ["Steve Peoples", "Amelia Thomson-Deveaux"]),
])
def test_names_are_normalised(credit, names):
    assert _credits(credit)[0] == names


def test_a_credit_with_a_web_address_is_an_organisation():
    assert _credits("Deutsche Welle (www.dw.com)") == ([], [], [])
    assert _credits("Anna Fink, anna.fink@example.org") == (["Anna Fink"], [], [])


# ------------------------------------------------------------------ handles

def test_a_one_word_author_field_is_a_handle():
    assert _credits("gnaddrig", handles=True) == ([], ["gnaddrig"], [])
    assert _credits("Marianne1", handles=True) == ([], ["Marianne1"], [])


def test_handles_only_from_author_fields():
    assert _credits("gnaddrig") == ([], [], [])


@pytest.mark.parametrize("credit", ["admin", "Redaktion", "MM-Redaktion", "publisher", "zvg",
                                    "Posted", "LTO", "AFP", "Quotidien", "ab", "12345"])
def test_words_that_name_no_one_are_no_handles(credit):
    assert _credits(credit, handles=True, keys=KEYS)[:2] == ([], [])


def test_a_one_word_piece_of_a_longer_credit_is_no_handle():
    # 'Von Seb Dumitru, Lille': the one-word piece is a place.
    assert _credits("Von Seb Dumitru, Lille", handles=True) == (["Seb Dumitru"], [], [])
    assert _credits("Harm, Robert", handles=True) == ([], [], [])


def test_handles_stand_only_when_no_source_names_a_person():
    person = authors.person_names(["Anna Fink"], set())
    handle = authors.person_names(["gnaddrig"], set(), handles=True)
    assert authors.resolve_authors([("meta", handle), ("text", person)]) == (["Anna Fink"], [])
    assert authors.resolve_authors([("meta", handle)]) == (["gnaddrig"], [])


def test_no_handle_when_a_better_source_credits_the_site():
    site = authors.jsonld_credits([{"author": {"@type": "Organization", "name": "kicker"}}], set())
    handle = authors.person_names(["amw"], set(), handles=True)
    assert authors.resolve_authors([("jsonld", site), ("trafilatura", handle)]) == ([], [])


# ------------------------------------------------------------------ sources

def test_jsonld_persons_come_from_the_first_item_that_names_any():
    items = [{"@type": "NewsArticle", "author": [{"@type": "Person", "name": "Laura Jedeed"}]},
             {"@type": "WebPage", "author": {"@type": "Person", "name": "Kate Bubacz"}},
             {"@type": "VideoObject", "author": {"@type": "Organization", "name": "Reuters"}}]
    got = authors.jsonld_credits(items, set())
    assert (got.persons, got.agencies) == (["Laura Jedeed"], ["Reuters"])


def test_with_reports_from_names_sources_not_authors():
    text = "Un.\nDeux.\nTrois.\nWith reports from Reforma and El Economista"
    got = authors.contributor_credits(text, set())
    assert (got.persons, got.agencies) == ([], [])
    text = "Un.\nDeux.\nTrois.\nWith reports from Reuters and AP"
    assert authors.contributor_credits(text, set()).agencies == ["Reuters", "AP"]


@pytest.mark.parametrize("credit, names", [
    ("Erstellt von Andri Bryner", ["Andri Bryner"]),
    ("Alles von Martin Junker", ["Martin Junker"]),
    ("Walter von Aachen", ["Walter von Aachen"]),
    ("Alex Bozarjian Thursday", ["Alex Bozarjian"]),
    ("ByJ.R. Stone Thursday", ["J.R. Stone"]),
])
def test_labels_and_trailing_words_are_dropped(credit, names):
    assert _credits(credit)[0] == names


def test_greeting_before_a_handle_is_dropped():
    assert _credits("Euer HansEhrlich", handles=True)[1] == ["HansEhrlich"]


def test_companies_and_site_initials_are_no_persons():
    drk = titles.site_keys([], "https://www.drk.de/a")
    assert _credits("Deutsches Rotes Kreuz", keys=drk) == ([], [], [])
    assert _credits("Naturstrom AG") == ([], [], [])
    assert _credits("Technische Universität Darmstadt") == ([], [], [])
    assert _credits("Bueltge De", "Facebook Com") == ([], [], [])


def test_a_name_given_as_an_organisation_is_no_person_in_a_later_source():
    meta = authors.person_names(["Deutsche Welle (www.dw.com)"], set(), handles=True)
    trafilatura = authors.person_names(["Deutsche Welle"], set(), handles=True)
    assert authors.resolve_authors([("meta", meta), ("trafilatura", trafilatura)]) == ([], [])


def test_jsonld_site_accounts_are_no_persons_but_person_organisations_are():
    admin = authors.jsonld_credits([{"author": {"@type": "Person", "name": "Ilanga D",
                                                "url": "https://news.example/author/admin/"}}], set())
    assert admin.persons == [] and admin.organisations == 1
    both = authors.jsonld_credits([{"author": {"@type": ["Person", "Organization"],
                                               "name": "Kyle Wiggers"}}], set())
    assert both.persons == ["Kyle Wiggers"]


@pytest.mark.parametrize("credit, names, handles", [
    ("Zeige alle Beiträge von Petra Ruland", ["Petra Ruland"], []),
    ("Posted on September 21, 2020 by Adi Tzlil", ["Adi Tzlil"], []),
    ("Johanna Kropfitsch Alle Artikel", ["Johanna Kropfitsch"], []),
    ("Author: Bo2man am 29.12.2010, 13:36 Uhr", [], ["Bo2man"]),
    ("Olivier Minot Olivier Minot", ["Olivier Minot"], []),
    ("Alle Beiträge", [], []),
])
def test_byline_furniture_around_names_is_dropped(credit, names, handles):
    assert _credits(credit, handles=True)[:2] == (names, handles)


def test_an_author_line_at_the_end_of_the_text():
    got = authors.contributor_credits("Un.\nDeux.\nTrois.\nAutor: Sebastian Einbock", set())
    assert got.persons == ["Sebastian Einbock"]


def test_von_lines_in_the_first_three_lines_and_after_a_column_label():
    text = "Titel\nUntertitel\nvon Daniela Obers\n" + "Absatz.\n" * 10
    assert authors.contributor_credits(text, set()).persons == ["Daniela Obers"]
    text = "Eine Kolumne von Nils Pickert\n" + "Absatz.\n" * 10
    assert authors.contributor_credits(text, set()).persons == ["Nils Pickert"]


# ------------------------------------------------------------------ keys and caches

def test_name_key_keeps_letters_digits_and_single_spaces_of_every_code_point():
    import unicodedata
    every = "".join(map(chr, range(0x110000)))
    for start in range(0, len(every), 0x8000):
        chunk = every[start:start + 0x8000] + "  a_b  c "
        folded = unicodedata.normalize("NFKD", chunk.casefold())
        expected = " ".join("".join(c for c in folded if c.isalnum() or c == " ").split())
        assert authors._name_key(chunk) == expected, hex(start)


def test_split_credit_gives_a_new_list_each_call():
    first = authors.split_credit("By Anna Fink and Paul Roe, AFP")
    first.append("changed by the caller")
    assert authors.split_credit("By Anna Fink and Paul Roe, AFP") == ["Anna Fink", "Paul Roe", "AFP"]
