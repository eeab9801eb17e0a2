"""Quality flags: warnings about text the pipeline keeps.

A flag never removes text; it tells a reader what to be careful with:

- `mt_garbage`: machine-translation artefacts, i.e. a letter sequence repeated
  inside a word (`FrastrastrastRastrast`), the `XNUMX` placeholder, or a word
  stuttered three times (`Wich Wich Wich`).
- `short_text`: fewer than `SHORT_TEXT_WORDS` words.
- `link_heavy`: most of the words sit in list items or short link-like lines.

Detection works on NFKC-normalised text, so styled letters cannot hide anything.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["quality_flags", "mt_garbage", "is_short", "is_link_heavy", "word_count",
           "SHORT_TEXT_WORDS"]

SHORT_TEXT_WORDS = 50
# A unit of 3+ letters repeated 3+ times in a row, e.g. "rastrastrast".
_REPEATED_UNIT = re.compile(r"([^\W\d_]{3,})\1{2,}")
# The placeholder some translation engines leave for numbers.
_XNUMX = re.compile(r"\bXNUMX\b")
# The same word three times in a row; the third may run on ("Wich Wich Wichoff").
_STUTTER = re.compile(r"\b([^\W\d_]{2,})(?:\s+\1){2}")
_BULLET = re.compile(r"^\s*(?:[-*•·▪►▸◦–—]|\d{1,2}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?…:;\"'»”)。！？」』]\s*$")
_LINK_LINE_WORDS = 10
# Scripts written without spaces: two characters count as one word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]")
_MIN_LINES_FOR_LINK_HEAVY = 5


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def word_count(text: str) -> int:
    """Words in a text: whitespace-separated words, CJK and Thai counted as 2 characters a word."""
    unspaced = len(_UNSPACED.findall(text))
    if not unspaced:
        return len(text.split())
    return len(_UNSPACED.sub(" ", text).split()) + (unspaced + 1) // 2


def mt_garbage(text: str) -> bool:
    """True when the text carries machine-translation artefacts."""
    norm = _nfkc(text)
    if _XNUMX.search(norm):
        return True
    folded = norm.casefold()
    return bool(_REPEATED_UNIT.search(folded) or _STUTTER.search(folded))


def is_short(text: str) -> bool:
    """True when the text has fewer than `SHORT_TEXT_WORDS` words."""
    return word_count(_nfkc(text)) < SHORT_TEXT_WORDS


def _link_like(line: str) -> bool:
    if _BULLET.match(line):
        return True
    return word_count(line) <= _LINK_LINE_WORDS and not _SENTENCE_END.search(line)


def is_link_heavy(text: str) -> bool:
    """True when most words are in list items or short lines without sentence ends."""
    lines = [line.strip() for line in _nfkc(text).splitlines() if line.strip()]
    if len(lines) < _MIN_LINES_FOR_LINK_HEAVY:
        return False
    total = sum(word_count(line) for line in lines)
    linky = sum(word_count(line) for line in lines if _link_like(line))
    return linky > total / 2


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
