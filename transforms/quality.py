"""Quality flags: warnings about text the pipeline keeps.

A flag never removes text; it tells a reader what to be careful with:

- `mt_garbage`: machine-translation artefacts, i.e. a letter sequence repeated
  inside a word (`FrastrastrastRastrast`), the `XNUMX` placeholder, or a word
  stuttered three times (`Wich Wich Wich`).
- `short_text`: fewer than `SHORT_TEXT_WORDS` words.
- `link_heavy`: more than `LINK_HEAVY_SHARE` of the words sit in list items or
  short lines without a sentence end (link titles, menus).

Detection works on NFKC-normalised text, so styled letters cannot hide anything.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

__all__ = ["quality_flags", "quality_flags_of_lines", "mt_garbage", "is_short", "is_link_heavy",
           "word_count", "word_parts", "words_of_parts", "SHORT_TEXT_WORDS"]

SHORT_TEXT_WORDS = 50
# A unit of 3+ letters (not all the same) repeated 3+ times in a row: "rastrastrast".
_REPEATED_UNIT = re.compile(r"([^\W\d_]{3,12})\1{2,}")
# The placeholder some translation engines leave for numbers.
_XNUMX = re.compile(r"\bXNUMX\b")
# The same capitalised word three times in a row on one line; the third may run
# on ("Wich Wich Wichoff"). Lower-case repetition ("really really really") is emphasis.
_STUTTER = re.compile(r"\b([^\W\d_]{3,}+)(?: \1){2}")  # possessive: a whole word
_BULLET = re.compile(r"^\s*(?:[-*•·▪►▸◦–—]|\d{1,2}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?…:;\"'»”)。！？」』]\s*$")
_LINK_LINE_WORDS = 10
_WORD = re.compile(r"[^\W_]\S*")  # a token from its first letter or digit
_ALNUM = re.compile(r"[^\W_]")
_LONG_RUN = re.compile(r"(?<![^\W\d_])[^\W\d_]{9,}")  # from the start of a run only
# Scripts written without spaces: two characters count as one word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]")
_MIN_LINES_FOR_LINK_HEAVY = 5
LINK_HEAVY_SHARE = 0.6


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def word_parts(text: str) -> tuple[int, int]:
    """(spaced words, unspaced characters) of a text: `word_count` before rounding.
    Tokens never cross lines, so a text's parts are the sums of its lines'."""
    unspaced = 0 if text.isascii() else len(_UNSPACED.findall(text))
    spaced = _UNSPACED.sub(" ", text) if unspaced else text
    # A `_WORD` token per whitespace-separated chunk that holds a letter or digit
    # (`[^\W_]`, i.e. str.isalnum); most chunks start with one.
    chunks = spaced.split()
    return len(chunks) - sum(1 for chunk in chunks
                             if not chunk[0].isalnum() and not _ALNUM.search(chunk)), unspaced


def word_count(text: str) -> int:
    """Words in a text: whitespace-separated tokens with a letter or digit; CJK and Thai
    characters count two to a word."""
    spaced, unspaced = word_parts(text)
    return spaced + (unspaced + 1) // 2


def words_of_parts(parts: list[tuple[int, int]]) -> int:
    """`word_count` of the lines whose `word_parts` these are, joined by line breaks."""
    return sum(s for s, _ in parts) + (sum(u for _, u in parts) + 1) // 2


@functools.lru_cache(maxsize=1)
def _bmp_letters() -> tuple[np.ndarray, str]:
    """(is `[^\\W\\d_]`, per code point; a character class of the upper-case ones). Both
    exact in the Basic Multilingual Plane and all-inclusive above it (over-inclusion only
    lets a pre-check pass, never fail)."""
    bmp = "".join(map(chr, range(0x10000)))
    letter = np.ones(0x110000, dtype=bool)
    letter[:0x10000] = False
    upper = []
    for m in re.finditer(r"[^\W\d_]+", bmp):
        letter[m.start():m.end()] = True
        upper += [re.escape(c) for c in m.group() if c.isupper()]
    return letter, "".join(upper) + "\U00010000-\U0010ffff"


@functools.lru_cache(maxsize=1)
def _stutter_hint() -> re.Pattern:
    """A pre-check of an upper-case `_STUTTER` match: the same word thrice from an upper-case
    letter, without the word boundary. It starts with a character class, so the search
    skips to upper-case letters in C instead of trying `\\b` at every position."""
    return re.compile(f"([{_bmp_letters()[1]}][^\\W\\d_]{{2,}}+) \\1 \\1")


_SPREAD = np.arange(1 << 16, dtype=np.uint32) | np.uint32(1 << 31)
_MIX = (np.uint32(0x9E3779B1), np.uint32(0x85EBCA77))


def _repeated_unit_hint(folded: str) -> bool:
    """False when no letter unit of 3-12 letters is repeated three times in a row.

    A necessary condition of `_REPEATED_UNIT` (u u u, |u| = L) checked with numpy: the
    letter trigram at i comes back at i + L and i + 2L. Non-letters get values of their
    own (their position), so no trigram with one can repeat; trigrams are hashed with
    wrap-around, which can only add hits.
    """
    n = len(folded)
    if n < 9:
        return False
    codes = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
    spread = _SPREAD[:n] if n <= len(_SPREAD) else np.arange(n, dtype=np.uint32) | _SPREAD[0]
    values = np.where(_bmp_letters()[0][codes], codes, spread)
    grams = values[:-2] * _MIX[0] + values[1:-1] * _MIX[1] + values[2:]
    for unit in range(3, 13):
        if len(grams) <= 2 * unit:
            break
        same = grams[:-unit] == grams[unit:]
        if (same[:-unit] & same[unit:]).any():
            return True
    return False


def _mt_garbage(norm: str) -> bool:
    # Each test runs behind a cheaper pre-check that any of its matches passes.
    if "XNUMX" in norm and _XNUMX.search(norm):
        return True
    if _stutter_hint().search(norm) and any(
            m.group(1)[0].isupper() for m in _STUTTER.finditer(norm)):
        return True
    folded = norm.casefold()
    if not _repeated_unit_hint(folded):
        return False
    # Long letter runs only (a repeated unit is 9+ letters), searched in one pass.
    runs = " ".join(_LONG_RUN.findall(folded))
    return any(len(set(m.group(1))) > 1 for m in _REPEATED_UNIT.finditer(runs))


def mt_garbage(text: str) -> bool:
    """True when the text carries machine-translation artefacts."""
    return _mt_garbage(_nfkc(text))


def is_short(text: str) -> bool:
    """True when the text has fewer than `SHORT_TEXT_WORDS` words."""
    return word_count(_nfkc(text)) < SHORT_TEXT_WORDS


def _link_heavy(lines: list[str], words: list[int]) -> bool:
    if len(lines) < _MIN_LINES_FOR_LINK_HEAVY:
        return False
    linky = sum(n for line, n in zip(lines, words)
                if _BULLET.match(line) or (n <= _LINK_LINE_WORDS and not _SENTENCE_END.search(line)))
    return linky > sum(words) * LINK_HEAVY_SHARE


def _lines(norm: str) -> tuple[list[str], list[tuple[int, int]]]:
    lines = [line.strip() for line in norm.splitlines() if line.strip()]
    return lines, [word_parts(line) for line in lines]


def is_link_heavy(text: str) -> bool:
    """True when most words are in list items or short lines without a sentence end."""
    lines, counts = _lines(_nfkc(text))
    return _link_heavy(lines, [s + (u + 1) // 2 for s, u in counts])


def quality_flags(text: str) -> list[str]:
    """The quality flags of a text, in a fixed order (one normalisation, one pass over lines)."""
    norm = _nfkc(text)
    return _flags(norm, *_lines(norm))


def quality_flags_of_lines(nfkc_lines: list[str], parts: list[tuple[int, int]]) -> list[str]:
    """`quality_flags("\\n".join(lines))` for lines already NFKC-normalised (and without
    line breaks), given their `word_parts`: what the cleaner has already computed."""
    kept = [(line.strip(), part) for line, part in zip(nfkc_lines, parts) if line.strip()]
    return _flags("\n".join(nfkc_lines), [line for line, _ in kept], [part for _, part in kept])


def _flags(norm: str, lines: list[str], counts: list[tuple[int, int]]) -> list[str]:
    flags = []
    if _mt_garbage(norm):
        flags.append("mt_garbage")
    # Tokens never cross lines, so the text's counts are the sums of its lines'.
    if words_of_parts(counts) < SHORT_TEXT_WORDS:
        flags.append("short_text")
    if _link_heavy(lines, [s + (u + 1) // 2 for s, u in counts]):
        flags.append("link_heavy")
    return flags
