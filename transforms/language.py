"""Language stage: the language of each article's text, with its probability.

langdetect's model runs on a bounded sample of the text. The page's `<html lang>`
and the feed's language are hints: they settle a text the detector is unsure
about, never overrule a confident detection. A short text the detector is unsure
about, with no hint agreeing, is `und`. The rules are in docs/metadata.md.
"""
from __future__ import annotations

import dataclasses
import random
import re
import threading
import unicodedata
from array import array
from typing import Iterable, Optional

import apache_beam as beam

from schemas.records import Article
from transforms.common import ParDoWithRejects, counter

__all__ = ["UNDETERMINED", "detect_language", "normalise_language_code",
           "supported_languages", "DetectLanguage"]

STAGE = "language"
UNDETERMINED = "und"
# Sample size: on fundus as accurate as the whole text or 3000 chars, for a third of the
# n-gram extraction (docs/performance.md).
DEFAULT_MAX_CHARS = 1000
CONFIDENT = 0.90       # a detection at least this sure stands whatever the hints say
HINT_SUPPORT = 0.10    # a hint wins an unsure detection if it has this much probability
MIN_LETTERS = 10       # below this, langdetect is often sure and wrong ('Hi' -> nl): only hints
SHORT_LETTERS = 25     # texts with fewer letters than this are "short" ...
SHORT_CONFIDENT = 0.95  # ... and need this much certainty to overrule a hint
SHORT_UNSURE = 0.70    # ... and are 'und' below this: 3 of langdetect's 7 trials disagreed
SCRIPT_OWNER = 0.95    # a character is a language's if it has this share of its profile mass
OTHER_SCRIPT_SHARE = 1 / 3  # Latin letters are dropped from a text this much in another script
# A quick look first when there is a hint: 3 trials on 300 characters that all agree with
# a hint settle the text (the full detection could only overrule the hint if it were
# confident of another language).
QUICK_CHARS = 300
QUICK_TRIALS = 3
QUICK_AGREEMENT = 0.999

_LOCK = threading.Lock()
_PROFILES = None
_URL = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+")
# _URL without its e-mail branch, for a text without "@" (where that branch never matches).
_WEB_ADDRESS = re.compile(r"https?://\S+|www\.\S+")
_NOT_LETTER = re.compile(r"[\d_]+")
# "Mathematical bold" letters and full-width Latin: read as the letters they style.
_STYLED = re.compile(r"[\U0001D400-\U0001D7FF\uFF21-\uFF3A\uFF41-\uFF5A]+")
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "nb": "no", "nn": "no",
            "zh-cn": "zh", "zh-tw": "zh", "zh-hans": "zh", "zh-hant": "zh"}
# langdetect's Detector.cleaning_text: ASCII letters (its 'A'..'z') against other scripts.
_ASCII_LETTER = re.compile("[A-z]")
_ASCII_LETTERS = re.compile("[A-z]+")
_NON_LATIN = re.compile("[\u0300-\u1dff\u1f00-\U0010ffff]")
_SPACES = re.compile(" {2,}")
_LETTER = re.compile(r"[^\W\d_]")
_LATIN = "A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u1E00-\u1EFF"
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
_LATIN_LETTERS = re.compile(f"[{_LATIN}]+")
_OTHER_LETTER = re.compile(f"[^{_LATIN}\\W\\d_]")
# Scripts whose one character writes a syllable or a morpheme: they count as two letters.
_WIDE_LETTER = re.compile("[\u1100-\u11FF\u3040-\u30FF\u3130-\u318F\u3400-\u4DBF"
                          "\u4E00-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF]")
_WORD_CACHE_SIZE = 200_000


class _NormalisedChars(dict):
    """str.translate table filled on demand with langdetect's NGram.normalize."""

    def __missing__(self, codepoint: int) -> str:
        from langdetect.utils.ngram import NGram
        value = self[codepoint] = NGram.normalize(chr(codepoint))
        return value


def _read_profiles() -> tuple[list[str], dict[str, int], tuple[array, array, array]]:
    """langdetect's profile files as DetectorFactory.load_profile reads them (same order,
    same probabilities), without its dict of one Python list per n-gram (64 MB)."""
    import json
    import os
    from langdetect.detector_factory import PROFILES_DIRECTORY
    langs: list[str] = []
    index: dict[str, int] = {}
    rows, columns, values = array("i"), array("i"), array("d")  # the non-zero cells
    for name in os.listdir(PROFILES_DIRECTORY):
        path = os.path.join(PROFILES_DIRECTORY, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
        column = len(langs)
        langs.append(profile["name"])
        for gram, count in profile["freq"].items():
            row = index.setdefault(gram, len(index))
            if 1 <= len(gram) <= 3:
                rows.append(row)
                columns.append(column)
                values.append(1.0 * count / profile["n_words"][len(gram) - 1])
    return langs, index, (rows, columns, values)


class _Profiles:
    """langdetect's 55 profiles as one matrix, and its detector rewritten over it.

    `probabilities()` returns exactly (bit for bit) what langdetect's
    `Detector.get_probabilities()` computes before its 0.1 cut: the same
    n-grams, the same seeded random draws, the same products. It is 3-4x faster
    because a probability update is one numpy row product instead of a Python
    loop over 55 languages, and a word's n-grams are cached.
    """

    def __init__(self):
        import numpy as np
        langs, self.index, (rows, columns, values) = _read_profiles()
        self.langs = tuple(langs)
        self.codes = tuple(normalise_language_code(lang) for lang in self.langs)
        self.matrix = np.zeros((len(self.index), len(langs)))
        self.matrix[np.frombuffer(rows, dtype=np.int32),
                    np.frombuffer(columns, dtype=np.int32)] = np.frombuffer(values)
        self.known = frozenset(self.codes)
        self.only_language = {}  # non-Latin character -> the language that writes it
        for gram, row in self.index.items():
            if len(gram) == 1 and not _LATIN_LETTER.match(gram):
                share: dict[str, float] = {}
                for i in np.flatnonzero(self.matrix[row]):
                    share[self.codes[i]] = share.get(self.codes[i], 0.0) + self.matrix[row, i]
                language = max(share, key=share.get)
                if share[language] >= SCRIPT_OWNER * sum(share.values()):
                    self.only_language[gram] = language
        self._chars = _NormalisedChars()
        self._words: dict[str, list[int]] = {}
        self._no_space_gram = " " not in self.index  # the n-gram " " is never counted

    def _word_ngrams(self, word: str) -> list[int]:
        """Row numbers of a word's n-grams, as langdetect's NGram buffer emits them.

        A word has no space inside (it may end with one), so the buffer at its k-th
        character is the last three characters of `" " + word[:k + 1]`; the n-grams
        ending at a character are skipped when it and the one before are upper-case
        (langdetect's capital-word rule).
        """
        ids = self._words.get(word)
        if ids is not None:
            return ids
        get, ids = self.index.get, []
        padded = " " + word
        if self._no_space_gram and sum(map(str.isupper, word)) < 2:
            # No two upper-case characters in a row: no n-gram is skipped.
            grams = [padded[end - n:end] for end in range(2, len(padded) + 1)
                     for n in (1, 2, 3) if n <= end]
            ids = [row for row in map(get, grams) if row is not None]
            return self._keep(word, ids)
        upper_before = False
        for end in range(2, len(padded) + 1):
            upper = padded[end - 1].isupper()
            if upper and upper_before:
                continue
            upper_before = upper
            grams = (padded[end - 1:end], padded[end - 2:end], padded[end - 3:end]) \
                if end >= 3 else (padded[end - 1:end], padded[end - 2:end])
            for gram in grams:
                row = get(gram)
                if row is not None and gram != " ":
                    ids.append(row)
        return self._keep(word, ids)

    def _keep(self, word: str, ids: list[int]) -> list[int]:
        if len(self._words) >= _WORD_CACHE_SIZE:
            self._words.clear()
        self._words[word] = ids
        return ids

    def ngrams(self, text: str) -> list[int]:
        """The n-gram rows langdetect's Detector would sample from, in its order."""
        from langdetect.detector import Detector
        from langdetect.utils.ngram import NGram
        if "http" in text:
            text = Detector.URL_RE.sub(" ", text)
        if "@" in text:
            text = Detector.MAIL_RE.sub(" ", text)
        text = _SPACES.sub(" ", NGram.normalize_vi(text))
        non_latin = len(_NON_LATIN.findall(text))
        if non_latin and sum(map(len, _ASCII_LETTERS.findall(text))) * 2 < non_latin:
            text = _ASCII_LETTER.sub("", text)
        words = text.translate(self._chars).split(" ")
        ids: list[int] = []
        for i, word in enumerate(words):
            if word:
                ids.extend(self._word_ngrams(word + " " if i < len(words) - 1 else word))
        return ids

    def probabilities(self, text: str, n_trial: int = 7, seed: int = 0):
        """langdetect's averaged posterior over its languages (numpy array), or None."""
        import numpy as np
        ids = self.ngrams(text)
        if not ids:
            return None
        langs, matrix = len(self.langs), self.matrix
        draw = random.Random(seed)
        getrandbits, count = draw.getrandbits, len(ids)
        bits = count.bit_length()
        total = np.zeros(langs)
        # langdetect multiplies the probabilities by one n-gram's row at a time and
        # normalises after the updates 0, 5, 10, ...: the rows between two normalisations
        # are drawn first (same draws, same order), then multiplied in one reduction,
        # which multiplies each language's value by the rows in order as before.
        block = np.empty((6, langs))
        for _ in range(n_trial):
            prob = np.full(langs, 1.0 / langs)
            weight = (0.5 + draw.gauss(0.0, 1.0) * 0.05) / 10000
            i, size = 0, 1
            while True:
                rows = []
                for _ in range(size):
                    pick = getrandbits(bits)  # random.choice(ids), inlined
                    while pick >= count:
                        pick = getrandbits(bits)
                    rows.append(ids[pick])
                updates = block[:size + 1]
                updates[0] = prob
                np.add(matrix[rows], weight, out=updates[1:])
                prob = np.multiply.reduce(updates, axis=0)
                i += size - 1  # the index of the last update, a multiple of 5
                values = prob.tolist()
                norm = sum(values)  # sequential, like langdetect's sum()
                prob /= norm
                if max(values) / norm > 0.99999 or i >= 1000:
                    break
                i, size = i + 1, 5
            total += prob / n_trial
        return total

    def script_language(self, text: str) -> Optional[str]:
        """The language, if every letter of text is of a script only that language writes."""
        found = None
        for ch in _LETTER.findall(text):
            language = self.only_language.get(ch.translate(self._chars))
            if language is None or found not in (None, language):
                return None
            found = language
        return found


def _profiles() -> _Profiles:
    """langdetect's profiles, loaded once per process."""
    global _PROFILES
    if _PROFILES is None:
        with _LOCK:
            if _PROFILES is None:
                _PROFILES = _Profiles()
    return _PROFILES


def supported_languages() -> frozenset[str]:
    """The ISO 639-1 codes langdetect can return (Chinese variants merged)."""
    return _profiles().known


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


def _without_latin_chrome(text: str) -> str:
    """The text without its Latin letters when at least a third of its letters are of
    another script: Latin navigation, headers or names around a non-Latin text."""
    if not _OTHER_LETTER.search(text):
        return text
    latin = sum(map(len, _LATIN_LETTERS.findall(text)))
    if not latin:
        return text
    other = sum(map(str.isalpha, text)) - latin
    if other >= OTHER_SCRIPT_SHARE * (latin + other):
        return _LATIN_LETTER.sub(" ", text)
    return text


def _letter_count(text: str) -> int:
    """Letters, with the vowel signs of Indic scripts, and CJK and Hangul counted twice."""
    letters = sum(map(str.isalpha, text))
    if letters >= SHORT_LETTERS:  # only a short text needs the exact count
        return letters
    marks = sum(1 for ch in text if unicodedata.category(ch).startswith("M"))
    return letters + marks + len(_WIDE_LETTER.findall(text))


def _probabilities(text: str, n_trial: int = 7) -> list[tuple[str, float]]:
    """(code, probability) pairs, best first, Chinese variants merged."""
    profiles = _profiles()
    found = profiles.probabilities(text, n_trial=n_trial)
    if found is None:
        return []
    merged: dict[str, float] = {}
    for code, prob in zip(profiles.codes, found.tolist()):
        merged[code] = merged.get(code, 0.0) + prob
    return sorted(merged.items(), key=lambda kv: -kv[1])


def _without_addresses(text: str) -> str:
    """`_URL.sub(" ", text)`, the regex run only when the text has what a match needs
    (its branches are slow on every position of ordinary text)."""
    if "@" in text:
        return _URL.sub(" ", text)
    if "http" in text or "www." in text:
        return _WEB_ADDRESS.sub(" ", text)
    return text


def _prepared(text: Optional[str], max_chars: int) -> str:
    """The sample the detector reads: styled letters folded, URLs and digits out, and
    Latin chrome dropped around another script.

    Each styled character folds to one character (tests/test_language.py), so the
    sample is taken first and only its characters are folded.
    """
    sample = _STYLED.sub(lambda m: unicodedata.normalize("NFKC", m.group()),
                         _sample(text or "", max_chars))
    return _without_latin_chrome(_NOT_LETTER.sub(" ", _without_addresses(sample)))


def _quick_look(cleaned: str, hints: list[str]) -> Optional[tuple[str, float]]:
    """A hint that 3 trials on 300 characters all agree with, if any."""
    quick = _probabilities(_sample(cleaned, QUICK_CHARS), n_trial=QUICK_TRIALS)
    if quick and quick[0][0] in hints and quick[0][1] >= QUICK_AGREEMENT:
        return quick[0][0], round(quick[0][1], 4)
    return None


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
      (code, probability). A short text in a script one language writes is that
      language; a confident detection stands; an unsure one goes to a hint the
      detector gives some probability to (or any hint when the detector cannot know
      the language); a text under 10 letters, or a short one the detector's trials
      disagree on, is 'und'; otherwise the detector's language.
    """
    cleaned = _prepared(text, max_chars)
    letters = _letter_count(cleaned)
    hints = [h for h in (normalise_language_code(html_lang), normalise_language_code(feed_lang)) if h]
    if hints and letters >= SHORT_LETTERS and len(cleaned) > QUICK_CHARS:
        settled = _quick_look(cleaned, hints)
        if settled:
            return settled
    ranked = _probabilities(cleaned) if letters else []
    if not ranked:
        return UNDETERMINED, 0.0
    top, p = ranked[0]
    short = letters < SHORT_LETTERS
    if short and _profiles().script_language(cleaned) == top:
        return top, round(p, 4)
    if letters >= MIN_LETTERS and p >= (SHORT_CONFIDENT if short else CONFIDENT):
        return top, round(p, 4)
    probability = dict(ranked)
    for hint in hints:
        if probability.get(hint, 0.0) >= HINT_SUPPORT:
            return hint, round(probability[hint], 4)
    for hint in hints:
        if hint not in _profiles().known:
            return hint, round(1.0 - p, 4)
    if letters < MIN_LETTERS and hints:
        return hints[0], round(probability.get(hints[0], 0.0), 4)
    if letters < MIN_LETTERS or (short and p < SHORT_UNSURE):
        return UNDETERMINED, round(p, 4)
    return top, round(p, 4)


class _DetectLanguageDoFn(beam.DoFn):
    def __init__(self, max_chars: int):
        self._max_chars = max_chars

    def setup(self):
        _profiles()
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
