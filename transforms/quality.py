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

import re
import unicodedata

__all__ = ["quality_flags", "mt_garbage", "is_short", "is_link_heavy", "word_count",
           "SHORT_TEXT_WORDS"]

SHORT_TEXT_WORDS = 50
# A unit of 3+ letters (not all the same) repeated 3+ times in a row: "rastrastrast".
_REPEATED_UNIT = re.compile(r"([^\W\d_]{3,12})\1{2,}")
# The placeholder some translation engines leave for numbers.
_XNUMX = re.compile(r"\bXNUMX\b")
# The same capitalised word three times in a row on one line; the third may run
# on ("Wich Wich Wichoff"). Lower-case repetition ("really really really") is emphasis.
_STUTTER = re.compile(r"\b([^\W\d_]{3,})(?: \1){2}")
_BULLET = re.compile(r"^\s*(?:[-*•·▪►▸◦–—]|\d{1,2}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?…:;\"'»”)。！？」』]\s*$")
_LINK_LINE_WORDS = 10
_WORD = re.compile(r"[^\W_]\S*")  # a token from its first letter or digit
_LONG_RUN = re.compile(r"[^\W\d_]{9,}")
# Scripts written without spaces: two characters count as one word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]")
_MIN_LINES_FOR_LINK_HEAVY = 5
LINK_HEAVY_SHARE = 0.6


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def word_count(text: str) -> int:
    """Words in a text: whitespace-separated tokens with a letter or digit; CJK and Thai
    characters count two to a word."""
    unspaced = len(_UNSPACED.findall(text))
    spaced = _UNSPACED.sub(" ", text) if unspaced else text
    return len(_WORD.findall(spaced)) + (unspaced + 1) // 2


def mt_garbage(text: str) -> bool:
    """True when the text carries machine-translation artefacts."""
    norm = _nfkc(text)
    if _XNUMX.search(norm):
        return True
    if any(m.group(1)[0].isupper() for m in _STUTTER.finditer(norm)):
        return True
    return any(len(set(m.group(1))) > 1 for run in _LONG_RUN.findall(norm.casefold())
               for m in _REPEATED_UNIT.finditer(run))


def is_short(text: str) -> bool:
    """True when the text has fewer than `SHORT_TEXT_WORDS` words."""
    return word_count(_nfkc(text)) < SHORT_TEXT_WORDS


def _link_like(line: str) -> bool:
    if _BULLET.match(line):
        return True
    return word_count(line) <= _LINK_LINE_WORDS and not _SENTENCE_END.search(line)


def is_link_heavy(text: str) -> bool:
    """True when most words are in list items or short lines without a sentence end."""
    lines = [line.strip() for line in _nfkc(text).splitlines() if line.strip()]
    if len(lines) < _MIN_LINES_FOR_LINK_HEAVY:
        return False
    total = sum(word_count(line) for line in lines)
    linky = sum(word_count(line) for line in lines if _link_like(line))
    return linky > total * LINK_HEAVY_SHARE


def quality_flags(text: str) -> list[str]:
    """The quality flags of a text, in a fixed order."""
    flags = []
    if mt_garbage(text):
        flags.append("mt_garbage")
    if is_short(text):
        flags.append("short_text")
    if is_link_heavy(text):
        flags.append("link_heavy")
    return flags
