"""The boilerplate cleaner: golden documents, each block kind, positions, Unicode, the stage."""
import datetime as dt
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from schemas.records import Article, Reject
from tests.support.golden import article_page, load_golden
from transforms.clean import (CleanBoilerplate, RULES_PATH, clean_text, load_rules, match_key)

P1 = ("La Maison Blanche et le Kremlin ont tous deux publié des déclarations écrites sur les "
      "conditions du cessez-le-feu à la suite d'un long appel téléphonique.")
P2 = ("Le président américain et son homologue russe ont convenu mardi de rechercher un "
      "cessez-le-feu limité contre les cibles énergétiques et les infrastructures.")
E1 = ("The White House and the Kremlin both issued written statements on the terms of the "
      "ceasefire after a long phone call between the two presidents.")
E2 = ("The two leaders agreed on Tuesday to seek a limited ceasefire against energy targets "
      "and infrastructure in the war, officials said.")


def _doc(*lines: str) -> str:
    return "\n".join(lines)


def _kinds(result) -> list[str]:
    return [b["kind"] for b in result.removed_blocks]


# --- golden documents -----------------------------------------------------

@pytest.fixture(scope="module")
def golden():
    return {doc["file"][:3]: doc for doc in load_golden()}


def _clean(doc):
    return clean_text(doc["text"], title=doc["title"], site_name=doc["site_name"])


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_golden_004_site_chrome_is_removed(golden):
    doc = golden["004"]
    exp = doc["expect"]
    result = _clean(doc)
    assert result.text.startswith(exp["text_must_start_with"])
    assert result.text.endswith(exp["text_must_end_with"])
    for snippet in exp["text_must_not_contain"]:
        assert snippet not in result.text, snippet
    lines = _paragraphs(doc["text"])
    start = next(i for i, l in enumerate(lines) if l.startswith(exp["text_must_start_with"]))
    end = next(i for i, l in enumerate(lines) if l.endswith(exp["text_must_end_with"]))
    assert _paragraphs(result.text) == lines[start:end + 1]  # every article paragraph survives
    assert {"site_name", "navigation", "repeated_headline", "image_labels", "related_links",
            "share_prompts"} <= set(_kinds(result))
    removed = "\n".join(b["text"] for b in result.removed_blocks)
    assert "𝐁𝐮𝐫𝐤𝐢𝐧𝐚" in removed  # recorded with its original characters


def test_golden_000_loses_only_the_stray_plus(golden):
    doc = golden["000"]
    result = _clean(doc)
    assert not result.text.endswith(doc["expect"]["text_must_not_end_with"])
    assert result.removed_blocks == [{"kind": "trailing_links", "text": "Plus"}]
    assert _paragraphs(result.text) == _paragraphs(doc["text"])[:-1]


@pytest.mark.parametrize("key", ["002", "003"])
def test_golden_text_is_kept_whole(golden, key):
    doc = golden[key]
    result = _clean(doc)
    lines = _paragraphs(doc["text"])
    if doc["headline_in_text"]:
        assert lines[0] == doc["title"]
        assert result.removed_blocks == [{"kind": "repeated_headline", "text": doc["title"]}]
        lines = lines[1:]
    else:
        assert result.removed_blocks == []
    assert _paragraphs(result.text) == lines
    for snippet in doc["expect"].get("text_must_contain", []):
        assert snippet in result.text


def test_golden_001_only_loses_its_headline(golden):
    doc = golden["001"]
    result = _clean(doc)
    assert _kinds(result) == ["repeated_headline"]
    assert _paragraphs(result.text) == _paragraphs(doc["text"])[1:]


def test_golden_without_title_or_site_name(golden):
    result = clean_text(golden["004"]["text"])
    for snippet in ("DERNIÈRES NOUVELLES", "Image 1", "EN RELATION", "𝐁𝐮𝐫𝐤𝐢𝐧𝐚", "COMMENTER"):
        assert snippet not in result.text


def test_golden_expectations_hold_through_extraction(golden):
    """Each golden page, served with site chrome, extracted and cleaned as the pipeline does."""
    from transforms.extract import extract_document

    for key, doc in golden.items():
        extracted = extract_document(article_page(doc), f"http://127.0.0.1/articles/{key}.html")
        result = clean_text(extracted.text, title=doc["title"], site_name=doc["site_name"])
        exp, text = doc["expect"], result.text
        assert text.startswith(exp.get("text_must_start_with", "")), (key, text[:100])
        assert text.endswith(exp.get("text_must_end_with", "")), (key, text[-100:])
        if "text_must_not_end_with" in exp:
            assert not text.endswith(exp["text_must_not_end_with"]), key
        for snippet in exp.get("text_must_not_contain", []):
            assert snippet not in text, (key, snippet)
        for snippet in exp.get("text_must_contain", []):
            assert snippet in text, (key, snippet)
        if "quality_flagged" in exp:
            assert bool(result.quality_flags) == exp["quality_flagged"], (key, result.quality_flags)


# --- block kinds ------------------------------------------------------------

@pytest.mark.parametrize("label", ["Image 1 Image 2", "Photo", "Foto: dpa", "Photo : AFP",
                                   "(Photo: Reuters)", "© Reuters", "Bild: picture alliance/dpa",
                                   "Crédits photos : Bestimage", "STR/AFP via Getty Images",
                                   "Imagen 1 de 5", "Immagine 2"])
def test_image_labels(label):
    result = clean_text(_doc(P1, label, P2))
    assert result.text == _doc(P1, P2)
    assert result.removed_blocks == [{"kind": "image_labels", "text": label}]


@pytest.mark.parametrize("header", ["EN RELATION", "À lire aussi", "Lire aussi :", "Sur le même sujet",
                                    "Read more", "Related", "Mehr zum Thema", "Lesen Sie auch",
                                    "Leer más", "Leggi anche", "Noticias relacionadas"])
def test_related_header_takes_the_link_list_until_prose(header):
    links = ["Burkina Faso : la junte annonce un remaniement", "Le point complet en 24 heures"]
    result = clean_text(_doc(P1, header, *links, P2))
    assert result.text == _doc(P1, P2)
    assert result.removed_blocks == [{"kind": "related_links", "text": _doc(header, *links)}]


@pytest.mark.parametrize("teaser", [
    "Lire aussi : Le point complet des opérations en 24 heures",
    "À lire aussi Le point complet des opérations en 24 heures",
    "READ MORE: Europe's lesser-known theme park has terrifying rollercoasters",
    "Lesen Sie auch: Annalena Baerbock und die Folgen",
    "Lee también: El Gobierno aprueba la reforma",
    "Leggi anche: Il governo approva la riforma",
])
def test_teaser_alone_between_paragraphs(teaser):
    result = clean_text(_doc(P1, teaser, P2))
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["related_links"]


@pytest.mark.parametrize("prompt", ["COMMENTER", "Partager", "Share on Facebook", "Facebook Twitter WhatsApp",
                                    "Teilen", "Compartir", "Condividi", "Abonnez-vous", "Subscribe",
                                    "12 commentaires", "Kommentare", "Suivez-nous sur Twitter"])
def test_share_comment_subscribe(prompt):
    result = clean_text(_doc(P1, prompt, P2))
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["share_prompts"]


@pytest.mark.parametrize("credit", ["L’équipe de rédaction", "LA REDACTION", "Redaktion", "La redacción",
                                    "Redazione", "(dmk)", "dpa/AFP", "Staff writer"])
def test_staff_credits(credit):
    result = clean_text(_doc(P1, credit, P2))
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["staff_credit"]


def test_byline_at_the_edges_only():
    assert clean_text(_doc("Von Anna Sleegers, Frankfurt", P1, P2)).text == _doc(P1, P2)
    middle = clean_text(_doc(P1, "Par Jean Dupont", P2))  # between paragraphs: kept
    assert middle.text == _doc(P1, "Par Jean Dupont", P2)


def test_repeated_headline_anywhere():
    title = "Poutine accepte un cessez-le-feu limité"
    result = clean_text(_doc(title, P1, "POUTINE ACCEPTE UN CESSEZ-LE-FEU LIMITÉ !", P2), title=title)
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["repeated_headline", "repeated_headline"]


def test_other_headline_forms():
    text = _doc("Poutine accepte un cessez-le-feu limité | Sahelpresse", "Poutine accepte", P1, P2)
    result = clean_text(text, title="Poutine accepte un cessez-le-feu",
                        other_titles=["Poutine accepte un cessez-le-feu limité | Sahelpresse",
                                      "Poutine accepte"])  # too short to be used
    assert result.text == _doc("Poutine accepte", P1, P2)
    assert _kinds(result) == ["repeated_headline"]


def test_site_name_and_navigation_only_at_the_top():
    text = _doc("Sahelpresse", "DERNIÈRES NOUVELLES", "Accueil > Monde > Europe", P1,
                "Sahelpresse", "Politique", P2)
    result = clean_text(text, site_name="Sahelpresse")
    assert result.text == _doc(P1, "Sahelpresse", "Politique", P2)
    assert _kinds(result) == ["site_name", "navigation"]


def test_stray_link_labels_only_at_the_end():
    for label in ("Plus", "More", "Mehr", "Ver más", "Weiterlesen", "Voir plus", "Altro"):
        result = clean_text(_doc(P1, label, P2, label))
        assert result.text == _doc(P1, label, P2), label
        assert result.removed_blocks == [{"kind": "trailing_links", "text": label}]


@pytest.mark.parametrize("notice", [
    "Inscrivez-vous à notre newsletter pour recevoir l'essentiel de l'actualité",
    "Sign up for our daily newsletter",
    "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten.",
    "Nous utilisons des cookies pour améliorer votre expérience.",
    "Utilizamos cookies propias y de terceros.",
    "Accetta i cookie",
    "Please enable JavaScript to view this content.",
])
def test_newsletter_and_cookie_notices(notice):
    result = clean_text(_doc(P1, notice, P2))
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["notices"]


def test_prose_is_never_removed_on_a_keyword_alone():
    prose = ("Lire aussi les déclarations du Kremlin, publiées mardi soir, permet de comprendre "
             "pourquoi la Russie a accepté un cessez-le-feu limité aux infrastructures énergétiques, "
             "selon plusieurs diplomates européens interrogés par notre rédaction à Bruxelles.")
    cookies = ("The regulator said websites that use cookies to track visitors must now ask for "
               "consent in plain language, a rule that publishers and advertisers have fought for "
               "years because it cuts the share of readers who can be targeted with ads, and the "
               "new guidance gives them six months to comply.")
    for paragraph in (prose, cookies, "Plus de 1 300 kilomètres carrés ont été repris, selon Kyiv."):
        result = clean_text(_doc(P1, paragraph, P2, E1))
        assert result.removed_blocks == [], paragraph


def test_table_rows_are_content():
    table = ["| Année | Premier ministre | Sièges |", "| 2002 | Vladimír Špidla | 30 |"]
    text = _doc(*table, P1, "À lire aussi", *table, P2)
    result = clean_text(text)
    assert result.text == _doc(*table, P1, *table, P2)
    assert result.removed_blocks == [{"kind": "related_links", "text": "À lire aussi"}]


def test_sub_headings_and_short_quotes_survive():
    text = _doc("Fin des négociations entre Trump et Poutine", P1, "L'Iran et Israël", P2,
                "« Nous verrons. »", E1)
    assert clean_text(text).text == text


def test_styled_letters_are_matched_but_kept_lines_keep_them():
    bold_header = "𝐄𝐍 𝐑𝐄𝐋𝐀𝐓𝐈𝐎𝐍"
    fullwidth = "ＣＯＭＭＥＮＴＥＲ"
    styled_prose = "𝐋𝐚 𝐌𝐚𝐢𝐬𝐨𝐧 𝐁𝐥𝐚𝐧𝐜𝐡𝐞 " + P1
    result = clean_text(_doc(styled_prose, bold_header, "Un autre titre", P2, fullwidth))
    assert result.text == _doc(styled_prose, P2)
    assert _kinds(result) == ["related_links", "share_prompts"]
    assert result.removed_blocks[0]["text"] == _doc(bold_header, "Un autre titre")


def test_match_key_folds_case_accents_and_styles():
    assert match_key("  𝐃𝐞́𝐥𝐢𝐭 — l’Équipe  ") == "delit - l'equipe"
    assert match_key("« À LIRE AUSSI » :") == "a lire aussi"
    assert match_key("(Photo: AFP)") == "(photo: afp)"
    assert match_key("© Reuters") == "© reuters"


def test_language_hint_narrows_the_rules():
    text = _doc(P1, "Lesen Sie auch", "Ein anderer Artikel", P2)
    assert clean_text(text).text == _doc(P1, P2)  # no hint: every language
    assert clean_text(text, language="de").text == _doc(P1, P2)
    assert clean_text(text, language="fr").text == text
    assert clean_text(text, language="de-AT").text == _doc(P1, P2)
    assert clean_text(text, language="und").text == _doc(P1, P2)  # undetermined: all


def test_output_is_lines_joined_by_newlines():
    result = clean_text(f"  {P1}  \n\n\n{P2}\n")
    assert result.text == _doc(P1, P2)
    assert clean_text("").text == "" and clean_text("").quality_flags == []


# --- the rule table ---------------------------------------------------------

def test_rule_table_is_well_formed():
    table = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    rules = load_rules()
    assert len(rules) == len(table["rules"])
    kinds = {r.kind for r in rules}
    assert {"image_labels", "related_links", "share_prompts", "staff_credit", "navigation",
            "trailing_links", "notices"} <= kinds
    for rule in rules:
        assert rule.where in {"anywhere", "top", "bottom", "edges"}
        assert rule.max_words > 0
        assert rule.regex(None) is not None
    related = {lang for r in rules if r.kind == "related_links" for lang, _ in r.patterns}
    assert {"fr", "en", "de", "es", "it"} <= related


def test_rule_table_is_extended_by_data(tmp_path):
    table = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    table["rules"].append({"kind": "podcast_promo", "where": "anywhere", "max_words": 8,
                           "patterns": {"fr": ["ecoutez notre podcast(?: [^.!?]{1,40})?"]}})
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    text = _doc(P1, "Écoutez notre podcast « Le Monde en direct »", P2)
    assert clean_text(text).text == text
    result = clean_text(text, rules=load_rules(path))
    assert result.text == _doc(P1, P2)
    assert _kinds(result) == ["podcast_promo"]


# --- the Beam stage -----------------------------------------------------------

def _article(url: str, text: str, **kw) -> Article:
    return Article(url=url, feed_url="http://127.0.0.1/feed.xml",
                   fetched_at=dt.datetime(2025, 3, 19, tzinfo=dt.timezone.utc), text=text, **kw)


def test_clean_boilerplate_stage():
    articles = [
        _article("http://127.0.0.1/a", _doc("Sahelpresse", "Titre", P1, "Image 1 Image 2", P2, "COMMENTER",
                                             "Le titre de la page en entier"),
                 title="Titre", site_name=None, quality_flags=["from_extract"],
                 extracted_meta={"sitename": "Sahelpresse"},
                 page_meta={"h1": ["Le titre de la page en entier"]}),
        _article("http://127.0.0.1/b", _doc("Partager", "Image 1 Image 2")),
    ]

    def check_good(got):
        assert len(got) == 1
        a = got[0]
        assert a.text == _doc(P1, P2)
        assert a.word_count == len(P1.split()) + len(P2.split())
        assert [b["kind"] for b in a.removed_blocks] == [
            "site_name", "repeated_headline", "image_labels", "share_prompts", "repeated_headline"]
        assert a.quality_flags == ["from_extract", "short_text"]

    def check_rejects(got):
        assert len(got) == 1
        r = got[0]
        assert isinstance(r, Reject)
        assert (r.url, r.stage, r.reason) == ("http://127.0.0.1/b", "clean", "empty_text")

    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create(articles) | CleanBoilerplate(run_id="r1")
        assert_that(result.good, check_good, label="good")
        assert_that(result.rejects, check_rejects, label="rejects")
