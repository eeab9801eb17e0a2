"""Metadata resolution: titles, authors, agencies, dates, datelines, on snippets written here."""
from __future__ import annotations

import datetime as dt

import lxml.html
import pytest

from schemas.records import Article, FeedEntry
from transforms import authors, dates, titles
from transforms.metadata import resolve_metadata, split_dateline
from transforms.page_meta import collect_page_meta

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def _article(html: str = "<html><body></body></html>", *, text: str = "Du texte.",
             entry: FeedEntry | None = None, extracted: dict | None = None,
             url: str = "https://quotidien.example/monde/a.html") -> Article:
    page = collect_page_meta(lxml.html.document_fromstring(html), url)
    return Article(url=url, feed_url=entry.feed_url if entry else None, fetched_at=NOW,
                   text=text, entry=entry, page_meta=page, extracted_meta=extracted or {})


def _entry(**kw) -> FeedEntry:
    return FeedEntry(feed_url="https://quotidien.example/rss", url="https://quotidien.example/monde/a.html", **kw)


# ------------------------------------------------------------------ titles

@pytest.mark.parametrize("raw, site, url, expected", [
    ("Trump et Poutine | Le Monde", "Le Monde", "https://www.lemonde.fr/a", "Trump et Poutine"),
    ("Ukraine war latest - BBC News", "BBC News", "https://www.bbc.co.uk/news/1", "Ukraine war latest"),
    ("Le Monde - Trump et Poutine s'accordent", "Le Monde", None, "Trump et Poutine s'accordent"),
    ("Nach Kalifat-Rufen: Sind wir zu sanft? - Panorama - derStandard.at › Panorama",
     "DER STANDARD", "https://www.derstandard.at/story/1", "Nach Kalifat-Rufen: Sind wir zu sanft?"),
    ("Trump - Putin | CNN", "CNN", None, "Trump - Putin"),
    ("Un titre sans suffixe", "Le Monde", None, "Un titre sans suffixe"),
])
def test_site_suffixes_and_prefixes_are_stripped(raw, site, url, expected):
    assert titles.strip_site_affixes(raw, titles.site_keys([site], url)) == expected


def test_a_title_that_is_only_the_site_name_is_no_candidate():
    keys = titles.site_keys(["Le Monde"])
    assert titles.choose_title([("title_tag", "Le Monde"), ("h1", "Le vrai titre ici")], keys) \
        == "Le vrai titre ici"


def test_title_is_chosen_by_agreement_not_by_source_order():
    keys = titles.site_keys(["Le Quotidien"])
    chosen = titles.choose_title([
        ("jsonld", "Un titre pour les moteurs de recherche"),
        ("og", "Le titre que tout le monde montre"),
        ("h1", "Le titre que tout le monde montre"),
        ("feed", "Le titre que tout le monde montre"),
        ("title_tag", "Le titre que tout le monde montre | Le Quotidien"),
    ], keys)
    assert chosen == "Le titre que tout le monde montre"


def test_agreement_ignores_case_quotes_and_spacing_and_keeps_best_spelling():
    keys = titles.site_keys(["Le Quotidien"])
    chosen = titles.choose_title([
        ("og", "«Un  titre» cité"), ("h1", "« Un titre » cité"), ("feed", "UN TITRE CITÉ"),
        ("title_tag", "Autre chose entièrement"),
    ], keys)
    assert chosen == "«Un  titre» cité".replace("  ", " ")


def test_truncated_title_supports_the_full_one():
    keys = set()
    full = "Trump et Poutine s'accordent sur un cessez-le-feu limité à l'énergie"
    chosen = titles.choose_title([("og", "Autre titre du réseau social"),
                                  ("jsonld", "Trump et Poutine s'accordent sur un cessez…"),
                                  ("h1", full)], keys)
    assert chosen == full


def test_normalised_title():
    assert titles.normalise_title("  « Le\u00a0Titre » – ici\u200b. ") == "le titre - ici"


# ------------------------------------------------------------------ authors

def _credits(*values, keys=frozenset()):
    got = authors.person_names(values, set(keys))
    return got.persons, got.agencies


def test_names_are_split_normalised_and_deduplicated():
    assert _credits("By Anna Fink and JOHN SMITH", "anna fink") == (["Anna Fink", "John Smith"], [])
    assert _credits("Von Birgit Baumann, Jan Michael Marchart") == (
        ["Birgit Baumann", "Jan Michael Marchart"], [])


def test_agencies_are_never_persons():
    assert _credits("AFP") == ([], ["AFP"])
    assert _credits("dpa/AFP") == ([], ["dpa", "AFP"])
    assert _credits("Anna Fink (Reuters)") == (["Anna Fink"], ["Reuters"])
    assert _credits("The Associated Press") == ([], ["AP"])


@pytest.mark.parametrize("credit", ["La rédaction", "LA REDACTION", "L’équipe de rédaction",
                                    "Redaktion", "Staff", "Newsroom", "admin"])
def test_newsrooms_are_never_persons(credit):
    assert _credits(credit) == ([], [])


def test_site_name_is_never_a_person():
    keys = titles.site_keys(["Le Quotidien"], "https://quotidien.example/a")
    assert _credits("Le Quotidien", "Quotidien", keys=keys) == ([], [])


def test_jsonld_organisation_author_is_not_a_person():
    got = authors.jsonld_credits([{"author": [{"@type": "Organization", "name": "Reuters"},
                                              {"@type": "Person", "givenName": "Anna",
                                               "familyName": "Fink"}]}], set())
    assert (got.persons, got.agencies) == (["Anna Fink"], ["Reuters"])


@pytest.mark.parametrize("line, persons, agencies", [
    ("Jennifer Jacobs et Haley Ott ont contribué à ce rapport.", ["Jennifer Jacobs", "Haley Ott"], []),
    ("Reporting by Gopal Sharma; Editing by Jane Doe", ["Gopal Sharma"], []),
    ("Additional reporting by Tom Lee and Ana Díaz.", ["Tom Lee", "Ana Díaz"], []),
    ("Maria Lopez contributed reporting.", ["Maria Lopez"], []),
    ("Mit Material von dpa und AFP", [], ["dpa", "AFP"]),
    ("Anna Fink hat zu diesem Bericht beigetragen.", ["Anna Fink"], []),
    ("Con información de EFE.", [], ["EFE"]),
])
def test_contributor_lines_in_french_english_german_spanish(line, persons, agencies):
    text = "Premier paragraphe.\nDeuxième paragraphe.\nTroisième paragraphe.\n" + line
    got = authors.contributor_credits(text, set())
    assert (got.persons, got.agencies) == (persons, agencies)


def test_a_sentence_starting_with_par_is_no_credit():
    got = authors.contributor_credits("Un.\nDeux.\nPar ailleurs, le président a parlé.", set())
    assert got.persons == [] and got.agencies == []


def test_structured_authors_win_over_later_sources():
    article = _article("""<html><head><meta name="author" content="Anne Martin"></head>
        <body><p class="byline">Paul Durand</p></body></html>""",
                       text="Un.\nDeux.\nJean Dupont a contribué à cet article.")
    assert resolve_metadata(article).authors == ["Anne Martin"]


def test_the_first_byline_that_names_someone_is_used():
    label = _article("""<html><body><span class="author-label">Von</span>
        <span class="author-name">Anna Fink</span></body></html>""")
    assert resolve_metadata(label).authors == ["Anna Fink"]
    site = """<html><head><meta property="og:site_name" content="Le Quotidien">{}</head><body>
        <span class="byline">Le Quotidien</span><span class="byline">Anna Fink</span></body></html>"""
    assert resolve_metadata(_article(site.format(""))).authors == ["Anna Fink"]
    # The page's own author fields credit the site: the next byline is not trusted.
    credited = site.format('<meta name="author" content="Le Quotidien">')
    assert resolve_metadata(_article(credited)).authors == []


# ------------------------------------------------------------------ dates

def test_utc_normalisation_of_offsets_and_formats():
    parsed, has_time = dates.parse_datetime("2025-03-18T22:30:00+01:00")
    assert has_time and parsed.astimezone(UTC) == dt.datetime(2025, 3, 18, 21, 30, tzinfo=UTC)
    parsed, _ = dates.parse_datetime("Tue, 18 Mar 2025 17:30:00 -0400")
    assert parsed.astimezone(UTC) == dt.datetime(2025, 3, 18, 21, 30, tzinfo=UTC)
    parsed, has_time = dates.parse_datetime("2025-03-18")
    assert not has_time and dates.DateCandidate("x", parsed, False).utc == \
        dt.datetime(2025, 3, 18, 12, 0, tzinfo=UTC)
    assert dates.parse_datetime("not a date") is None


def test_future_dates_are_refused():
    html = """<html><head><meta property="article:published_time" content="2031-01-01T10:00:00Z">
        </head><body></body></html>"""
    assert resolve_metadata(_article(html)).published_at is None
    future = dates.DateCandidate("meta", dt.datetime(2025, 3, 21, tzinfo=UTC))
    assert not dates.acceptable(future, NOW, None)


def test_dates_far_from_the_feed_date_are_refused():
    html = """<html><head><meta property="article:published_time" content="2019-02-05T16:07:00Z">
        </head><body></body></html>"""
    feed_date = dt.datetime(2025, 3, 18, 21, 30, tzinfo=UTC)
    resolved = resolve_metadata(_article(html, entry=_entry(published=feed_date)))
    assert resolved.published_at == feed_date
    far = dates.DateCandidate("jsonld", dt.datetime(2025, 3, 10, tzinfo=UTC))
    assert not dates.acceptable(far, NOW, feed_date)
    near = dates.DateCandidate("jsonld", dt.datetime(2025, 3, 18, 9, 0, tzinfo=UTC))
    assert dates.acceptable(near, NOW, feed_date)


def test_structured_page_dates_outvote_a_bare_day():
    html = """<html><head>
        <script type="application/ld+json">{"@type": "NewsArticle",
          "datePublished": "2024-04-25T19:30:04+02:00"}</script>
        <meta name="date" content="2024-04-26"></head><body></body></html>"""
    resolved = resolve_metadata(_article(html, extracted={"date": "2024-04-26"}))
    assert resolved.published_at == dt.datetime(2024, 4, 25, 17, 30, 4, tzinfo=UTC)


def test_updated_at_is_kept_apart_from_published_at():
    html = """<html><head>
        <meta property="article:published_time" content="2025-03-18T21:30:00+01:00">
        <meta property="article:modified_time" content="2025-03-19T08:00:00+01:00">
        </head><body></body></html>"""
    resolved = resolve_metadata(_article(html))
    assert resolved.published_at == dt.datetime(2025, 3, 18, 20, 30, tzinfo=UTC)
    assert resolved.updated_at == dt.datetime(2025, 3, 19, 7, 0, tzinfo=UTC)
    assert resolved.published_at.tzinfo == UTC and resolved.updated_at.tzinfo == UTC


def test_no_updated_at_when_it_is_the_publication_time():
    html = """<html><head>
        <meta property="article:published_time" content="2025-03-18T21:30:00Z">
        <meta property="article:modified_time" content="2025-03-18T21:30:00Z">
        </head><body></body></html>"""
    assert resolve_metadata(_article(html)).updated_at is None


# ------------------------------------------------------------------ datelines

@pytest.mark.parametrize("text, dateline, agency, rest", [
    ("WASHINGTON – Le président a parlé.", "WASHINGTON", None, "Le président a parlé."),
    ("NEW YORK, 18 mars (AFP) - Les marchés ont chuté.", "NEW YORK, 18 mars", "AFP",
     "Les marchés ont chuté."),
    ("Berlin (dpa) - Die Regierung hat entschieden.", "Berlin", "dpa", "Die Regierung hat entschieden."),
    ("Le président a parlé – longuement.", None, None, "Le président a parlé – longuement."),
    ("Sahelpresse\nDERNIÈRES NOUVELLES\nLe texte.", None, None, "Sahelpresse\nDERNIÈRES NOUVELLES\nLe texte."),
    ("Paris - Une phrase ordinaire.", None, None, "Paris - Une phrase ordinaire."),
])
def test_dateline_is_split_from_the_text(text, dateline, agency, rest):
    assert split_dateline(text) == (dateline, agency, rest)


def test_dateline_after_a_headline_line():
    text = "Le titre\nPARIS – Le texte commence ici."
    assert split_dateline(text, "Le titre") == ("PARIS", None, "Le titre\nLe texte commence ici.")


def test_resolve_moves_the_dateline_and_credits_its_agency():
    resolved = resolve_metadata(_article(text="PARIS (AFP) – Le texte.\nSuite."))
    assert resolved.dateline == "PARIS"
    assert resolved.text == "Le texte.\nSuite."
    assert resolved.agencies == ["AFP"] and resolved.authors == []


# ------------------------------------------------------------------ page facts

def test_description_image_section_topics_and_site_name():
    html = """<html><head>
        <meta property="og:site_name" content="Le Quotidien">
        <meta property="og:description" content="Le résumé.">
        <meta property="og:image" content="/img/une.jpg">
        <meta property="article:section" content="Monde">
        <meta property="article:tag" content="Ukraine"><meta property="article:tag" content="Russie">
        <meta name="keywords" content="ukraine, Énergie">
        </head><body></body></html>"""
    resolved = resolve_metadata(_article(html))
    assert resolved.site_name == "Le Quotidien"
    assert resolved.description == "Le résumé."
    assert resolved.image_url == "https://quotidien.example/img/une.jpg"
    assert resolved.section == "Monde"
    assert resolved.topics == ["Ukraine", "Russie", "Énergie"]


def test_feed_evidence_is_used_when_the_page_has_none():
    entry = _entry(title="Un titre du flux", published=dt.datetime(2025, 3, 18, 21, 30, tzinfo=UTC),
                   authors=["Anne Martin"], summary="<p>Le résumé du flux.</p>", feed_title="Le Flux")
    resolved = resolve_metadata(_article(entry=entry))
    assert resolved.title == "Un titre du flux"
    assert resolved.authors == ["Anne Martin"]
    assert resolved.description == "Le résumé du flux."
    assert resolved.site_name == "Le Flux"
    assert resolved.published_at == dt.datetime(2025, 3, 18, 21, 30, tzinfo=UTC)


def test_resolution_is_pure():
    article = _article(text="WASHINGTON – Le texte.")
    resolve_metadata(article)
    assert article.text == "WASHINGTON – Le texte." and article.dateline is None


def test_resolve_metadata_stage_turns_a_crash_into_a_reject():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.metadata import ResolveMetadata

    good_article = _article(text="WASHINGTON – Le texte.")
    broken = _article()
    broken.page_meta = {"jsonld": "not a list of dicts"}  # type: ignore[assignment]
    with TestPipeline(runner="FnApiRunner") as p:
        good, rejects = p | beam.Create([good_article, broken]) | ResolveMetadata(run_id="r1")
        assert_that(good | beam.Map(lambda a: (a.dateline, a.text)),
                    equal_to([("WASHINGTON", "Le texte.")]), label="good")
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason.split(":")[0], r.run_id)),
                    equal_to([("metadata", "crash", "r1")]), label="rejects")
