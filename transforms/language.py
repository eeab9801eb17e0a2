"""Language stage: the language of each article's text, with its probability.

langdetect runs on a bounded sample of the text. The page's `<html lang>` and
the feed's language are hints: they settle a text the detector is unsure
about, never overrule a confident detection. A short text the detector is unsure
about, with no hint agreeing, is `und`.
"""
from __future__ import annotations

import dataclasses
import re
import threading
import unicodedata
from typing import Iterable, Optional

import apache_beam as beam

from schemas.records import Article
from transforms.common import ParDoWithRejects, counter

__all__ = ["UNDETERMINED", "detect_language", "normalise_language_code",
           "supported_languages", "DetectLanguage"]

STAGE = "language"
UNDETERMINED = "und"
# Sample size: on fundus as accurate as the whole text (96.0%) or 3000 chars, at
# 5.0 ms a text instead of 13.9 and 8.8 (docs/performance.md).
DEFAULT_MAX_CHARS = 1000
CONFIDENT = 0.90       # a detection at least this sure stands whatever the hints say
HINT_SUPPORT = 0.10    # a hint wins an unsure detection if it has this much probability
MIN_LETTERS = 10       # below this, langdetect is often sure and wrong ('Hi' -> nl): only hints
SHORT_LETTERS = 25     # texts with fewer letters than this are "short" ...
SHORT_CONFIDENT = 0.95  # ... and need this much certainty without an agreeing hint
MIN_PROBABILITY = 0.50  # below this, even a long text stays undetermined

_LOCK = threading.Lock()
_FACTORY = None
_URL = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+")
_NOT_LETTER = re.compile(r"[\d_]+")
# "Mathematical bold" letters and full-width Latin: read as the letters they style.
_STYLED = re.compile(r"[\U0001D400-\U0001D7FF\uFF21-\uFF3A\uFF41-\uFF5A]+")
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "nb": "no", "nn": "no",
            "zh-cn": "zh", "zh-tw": "zh", "zh-hans": "zh", "zh-hant": "zh"}


def _factory():
    """langdetect's profile factory, loaded once per process (seeded: deterministic)."""
    global _FACTORY
    if _FACTORY is None:
        with _LOCK:
            if _FACTORY is None:
                from langdetect import detector_factory
                detector_factory.DetectorFactory.seed = 0
                detector_factory.init_factory()
                _FACTORY = detector_factory._factory
    return _FACTORY


def supported_languages() -> frozenset[str]:
    """The ISO 639-1 codes langdetect can return (Chinese variants merged)."""
    return frozenset(normalise_language_code(lang) for lang in _factory().get_lang_list())


def normalise_language_code(code: Optional[str]) -> Optional[str]:
    """'fr-FR', 'fr_fr', 'FR' -> 'fr'; 'zh-cn' -> 'zh'; old codes mapped; None stays None."""
    if not code:
        return None
    code = code.strip().lower().replace("_", "-")
    if code in _ALIASES:
        return _ALIASES[code]
    base = code.split("-")[0]
    if not re.fullmatch(r"[a-z]{2,3}", base):
        return None
    return _ALIASES.get(base, base)


def _sample(text: str, max_chars: int) -> str:
    """Up to max_chars of text: start, middle and end thirds when it is longer."""
    if len(text) <= max_chars:
        return text
    third = max_chars // 3
    middle = len(text) // 2 - third // 2
    return " ".join((text[:third], text[middle:middle + third], text[-third:]))


def _probabilities(text: str) -> list[tuple[str, float]]:
    from langdetect.lang_detect_exception import LangDetectException
    detector = _factory().create()
    detector.set_max_text_length(len(text) + 1)
    detector.append(text)
    try:
        found = detector.get_probabilities()
    except LangDetectException:
        return []
    merged: dict[str, float] = {}
    for item in found:
        code = normalise_language_code(item.lang)
        merged[code] = merged.get(code, 0.0) + item.prob
    return sorted(merged.items(), key=lambda kv: -kv[1])


def detect_language(text: str, *, html_lang: Optional[str] = None,
                    feed_lang: Optional[str] = None,
                    max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, float]:
    """The language of a text, as (ISO 639-1 code or 'und', probability).

    Args:
      text: the text; only a sample of at most `max_chars` characters is read.
      html_lang: the page's `<html lang>` value, a hint.
      feed_lang: the feed's language, a hint.
      max_chars: size of the sample given to the detector.

    Returns:
      (code, probability). A confident detection stands; an unsure one goes to a
      hint the detector gives some probability to (or any hint when the detector
      cannot know the language); otherwise a short text is 'und'.
    """
    cleaned = _STYLED.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text or "")
    cleaned = _NOT_LETTER.sub(" ", _URL.sub(" ", _sample(cleaned, max_chars)))
    letters = sum(ch.isalpha() for ch in cleaned)
    hints = [h for h in (normalise_language_code(html_lang), normalise_language_code(feed_lang)) if h]
    if letters == 0:
        return UNDETERMINED, 0.0
    ranked = _probabilities(cleaned)
    if not ranked:
        return UNDETERMINED, 0.0
    top, p = ranked[0]
    short = letters < SHORT_LETTERS
    if letters >= MIN_LETTERS and p >= (SHORT_CONFIDENT if short else CONFIDENT):
        return top, round(p, 4)
    probability = dict(ranked)
    for hint in hints:
        if probability.get(hint, 0.0) >= HINT_SUPPORT:
            return hint, round(probability[hint], 4)
    known = supported_languages()
    for hint in hints:
        if hint not in known:
            return hint, round(1.0 - p, 4)
    if letters < MIN_LETTERS and hints:
        return hints[0], round(probability.get(hints[0], 0.0), 4)
    if short or p < MIN_PROBABILITY:
        return UNDETERMINED, round(p, 4)
    return top, round(p, 4)


class _DetectLanguageDoFn(beam.DoFn):
    def __init__(self, max_chars: int):
        self._max_chars = max_chars

    def setup(self):
        _factory()
        self._detected = counter(STAGE, "detected")
        self._undetermined = counter(STAGE, "undetermined")

    def process(self, article: Article) -> Iterable[Article]:
        entry = article.entry
        language, probability = detect_language(
            article.text,
            html_lang=(article.page_meta or {}).get("html_lang"),
            feed_lang=entry.feed_language if entry is not None else None,
            max_chars=self._max_chars)
        (self._undetermined if language == UNDETERMINED else self._detected).inc()
        yield dataclasses.replace(article, language=language,
                                  language_probability=probability)


class DetectLanguage(beam.PTransform):
    """Article -> Article with `language` and `language_probability` set.

    Args:
      run_id: identifier of the run, copied onto rejects.
      max_chars: size of the text sample given to the detector.
    """

    def __init__(self, run_id: Optional[str] = None, max_chars: int = DEFAULT_MAX_CHARS):
        super().__init__()
        self._run_id = run_id
        self._max_chars = max_chars

    def expand(self, articles):
        return articles | "Detect" >> ParDoWithRejects(
            _DetectLanguageDoFn(self._max_chars), STAGE, self._run_id)
