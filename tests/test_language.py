"""Language detection: langdetect on a bounded sample, hints, 'und', determinism, the stage."""
from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.records import Article, FeedEntry
from transforms import language
from transforms.language import DetectLanguage, detect_language, normalise_language_code

FR = ("Le président américain et son homologue russe ont convenu mardi, lors d'un long appel "
      "téléphonique, de rechercher un cessez-le-feu limité aux infrastructures énergétiques.")
DE = ("Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen, das die Mieten in den "
      "großen Städten für die nächsten fünf Jahre begrenzen soll.")
EN = ("The central bank left interest rates unchanged on Wednesday, saying inflation was "
      "still too high and that it would wait for more data before acting.")


def test_detects_clear_languages_with_high_probability():
    for text, code in ((FR, "fr"), (DE, "de"), (EN, "en")):
        lang, p = detect_language(text)
        assert lang == code and p > 0.9


def test_short_unsure_text_is_und():
    assert detect_language("Hello")[0] == "und"
    assert detect_language("OK 2025")[0] == "und"
    assert detect_language("") == ("und", 0.0)
    assert detect_language("12345 — 678") == ("und", 0.0)


def test_hints_settle_a_short_unsure_text():
    lang, p = detect_language("Bonjour", html_lang="fr-FR")
    assert lang == "fr" and 0 < p <= 1
    assert detect_language("Merci beaucoup", feed_lang="fr")[0] == "fr"


def test_hints_never_overrule_a_confident_detection():
    assert detect_language(DE, html_lang="en", feed_lang="en")[0] == "de"


def test_short_text_whose_trials_disagree_is_und_unless_a_hint_settles_it():
    # 17 letters; 3 of langdetect's 7 trials say something else than the first choice.
    assert detect_language("Obrigado pela ajuda") == ("und", 0.5706)
    assert detect_language("Obrigado pela ajuda", feed_lang="pt")[0] == "pt"
    # The same length, all trials agreeing: answered.
    assert detect_language("Gracias por todo")[0] == "es"


def test_a_script_only_one_language_writes_settles_a_short_text():
    assert detect_language("안녕하세요")[0] == "ko"
    assert detect_language("ありがとう")[0] == "ja"
    assert detect_language("Γειά σου")[0] == "el"
    # Cyrillic and Han are written by several languages: too short to tell.
    assert detect_language("Привет")[0] == "und"
    assert detect_language("中国")[0] == "und"


def test_letters_count_indic_vowel_signs_and_cjk_twice():
    assert language._letter_count("मैं घर जा रहा हूँ") == 13  # 7 letters + 6 vowel signs
    assert language._letter_count("中华人民") == 8
    assert language._letter_count("Hello, 2025!") == 5


URDU = "پاکستان کے وزیر اعظم نے آج اسلام آباد میں ایک اہم اجلاس کی صدارت کی"


def test_latin_chrome_around_another_script_is_dropped():
    chrome = "Read More Politics Latest News from Lahore in Urdu Share to Twitter Share to Facebook "
    assert language._probabilities(chrome + URDU)[0][0] == "en"  # langdetect alone
    assert detect_language(chrome + URDU)[0] == "ur"
    # A few words of another script inside a Latin text change nothing.
    text = EN + " Both sides met in 北京 last week."
    assert language._without_latin_chrome(text) == text
    assert detect_language(text)[0] == "en"


def test_quick_look_settles_only_a_text_that_agrees_with_a_hint():
    cleaned = language._prepared(FR * 3, language.DEFAULT_MAX_CHARS)
    assert language._quick_look(cleaned, ["fr"])[0] == "fr"
    assert language._quick_look(cleaned, ["en", "de"]) is None
    assert detect_language(FR * 3, html_lang="fr-FR") == ("fr", 1.0)
    mixed = DE * 3 + " " + EN * 6  # the quick look's 300 characters are mostly English
    assert detect_language(mixed, html_lang="en")[0] == detect_language(mixed)[0] == "en"


def test_only_a_bounded_sample_is_read():
    # The middle of the text is German; a sample of the start and end sees French only.
    text = FR * 3 + " " + DE * 40 + " " + FR * 3
    assert detect_language(text, max_chars=len(FR) * 3)[0] == "fr"
    assert detect_language(text, max_chars=10 ** 9)[0] == "de"


def test_detection_is_deterministic():
    text = "Ciao, come stai? Tutto bene, grazie mille."
    results = {detect_language(text) for _ in range(5)}
    assert len(results) == 1


def test_language_codes_are_normalised():
    assert normalise_language_code("fr-FR") == "fr"
    assert normalise_language_code("zh-cn") == "zh"
    assert normalise_language_code("iw") == "he"
    assert normalise_language_code("") is None
    assert normalise_language_code("x-klingon-123") is None
    assert "fr" in language.supported_languages() and "zh" in language.supported_languages()


def _article(text: str, html_lang=None, feed_lang=None) -> Article:
    entry = FeedEntry(feed_url="https://f.example/rss", url=f"https://f.example/{hash(text)}",
                      feed_language=feed_lang)
    return Article(url=entry.url, feed_url=entry.feed_url,
                   fetched_at=dt.datetime(2025, 3, 20, tzinfo=dt.timezone.utc), text=text,
                   entry=entry, page_meta={"html_lang": html_lang} if html_lang else {})


def test_detect_language_stage_sets_language_and_probability():
    articles = [_article(FR), _article(DE, html_lang="de"), _article("Bonjour", feed_lang="fr"),
                _article("Hi")]
    with TestPipeline(runner="FnApiRunner") as p:
        good, rejects = p | beam.Create(articles) | DetectLanguage(run_id="r1")
        assert_that(good | beam.Map(lambda a: (a.text[:7], a.language,
                                                a.language_probability is not None)),
                    equal_to([(FR[:7], "fr", True), (DE[:7], "de", True),
                              ("Bonjour", "fr", True), ("Hi", "und", True)]), label="good")
        assert_that(rejects, equal_to([]), label="rejects")


def test_stage_turns_a_crash_into_a_reject():
    broken = dataclasses.replace(_article(FR), text=None)
    broken.page_meta = None  # type: ignore[assignment]
    broken = dataclasses.replace(broken, entry=object())  # no feed_language attribute
    with TestPipeline(runner="FnApiRunner") as p:
        good, rejects = p | beam.Create([broken]) | DetectLanguage(run_id="r1")
        assert_that(good, equal_to([]), label="good")
        assert_that(rejects | beam.Map(lambda r: (r.stage, r.reason.split(":")[0], r.run_id)),
                    equal_to([("language", "crash", "r1")]), label="rejects")


def test_detector_matches_langdetect_bit_for_bit():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    DetectorFactory.seed = 0
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    profiles = language._profiles()
    assert profiles.langs == tuple(factory.langlist)
    texts = (FR, DE, EN, "NATO und EU: Die GROSSE Koalition", "Tiếng Việt có dấu",
             "Ştiinţa și țara", "日本語のテキストです。カタカナ", "中华人民共和国", "مرحبا بالعالم",
             "Привет, мир", "a  b\n\nc d", "Hi", "Read More News in Urdu بلاول زرداری کی")
    for text in texts:
        reference = factory.create()
        reference.set_max_text_length(len(text) + 1)
        reference.append(text)
        reference._detect_block()
        assert profiles.probabilities(text).tolist() == reference.langprob, text
    assert profiles.probabilities("12345 !!") is None


# --- short cuts give the plain answers --------------------------------------

def _plain_word_ngrams(profiles, word):
    """langdetect's NGram buffer, character by character (the former implementation)."""
    ids, grams, capital_word = [], " ", False
    for ch in word:
        last = grams[-1]
        if last == " ":
            grams, capital_word = " ", False
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += ch
        capital_word = (capital_word or last.isupper()) if ch.isupper() else False
        if capital_word:
            continue
        for n in range(1, min(3, len(grams)) + 1):
            row = profiles.index.get(grams[-n:])
            if row is not None and grams[-n:] != " ":
                ids.append(row)
    return ids


def test_word_ngrams_are_the_ngram_buffer_ones():
    profiles = language._profiles()
    words = ["a", "a ", "ab", "ab ", "abc ", "NATO ", "NATOs", "GROSSE", "UnD ", "McDonald ",
             "ÉTÉ ", "été", "日本語 ", "Привет", "ÀÉÎ", "x" * 40 + " ", "ǅemal ", "A", "AB "]
    for word in words:
        profiles._words.pop(word, None)
        assert profiles._word_ngrams(word) == _plain_word_ngrams(profiles, word), word


def test_styled_letters_fold_to_one_character_each():
    import unicodedata
    styled = [chr(c) for c in range(0x110000) if language._STYLED.fullmatch(chr(c))]
    assert len(styled) > 1000
    assert all(len(unicodedata.normalize("NFKC", c)) == 1 for c in styled)
    # so sampling before folding reads the same characters as folding before sampling
    text = ("𝐓𝐡𝐞 𝐛𝐚𝐧𝐤 " + EN + " ＦＵＬＬ ") * 20
    folded = language._STYLED.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    assert language._prepared(text, 1000) == language._prepared(folded, 1000)


def test_addresses_are_removed_as_the_full_pattern_removes_them():
    for text in ["see https://example.org/a?b=1 now", "www.example.org and more", "a@b.cd",
                 "mail anna.fink@example.org or http://x.y", "no address here", "http", "x@y",
                 "wwwxexample", "@handle at www.", "HTTPS://EXAMPLE.ORG"]:
        assert language._without_addresses(text) == language._URL.sub(" ", text), text


def test_long_and_mixed_texts_match_langdetect_bit_for_bit():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    DetectorFactory.seed = 0
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    profiles = language._profiles()
    for text in (FR + " " + DE + " " + EN, (FR + " ") * 8, "EU UND NATO " * 30, DE[:40]):
        for n_trial in (3, 7):
            reference = factory.create()
            reference.n_trial = n_trial
            reference.set_max_text_length(len(text) + 1)
            reference.append(text)
            reference._detect_block()
            assert profiles.probabilities(text, n_trial=n_trial).tolist() == reference.langprob
