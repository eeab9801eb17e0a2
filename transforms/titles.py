"""Titles: site-name affixes stripped, and the headline chosen by agreement.

Every source (feed title, JSON-LD headline, og:title, `<h1>`, trafilatura's
title, `<title>`) is a candidate. Site names (`| Le Monde`, `BBC News -`) and
section labels next to them are stripped; then each candidate is supported by
the other sources that give the same normalised text, or the same text with an
affix still attached, or a truncated form of it. The best supported candidate
wins, ties going to the more reliable source.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Optional, Sequence

__all__ = ["normalise_title", "site_keys", "is_site_name", "strip_site_affixes",
           "choose_title", "TITLE_SOURCES"]

# Sources from most to least reliable (ties in the vote go to the earlier one).
TITLE_SOURCES = ("jsonld", "og", "h1", "feed", "twitter", "trafilatura", "title_tag")
# Votes per source. twitter:title and trafilatura's title mostly copy og:title or
# <title>, so they weigh little; JSON-LD is the publisher's declared headline.
SOURCE_WEIGHTS = {"jsonld": 1.5, "og": 1.0, "h1": 1.0, "feed": 1.5, "twitter": 0.25,
                  "trafilatura": 0.25, "title_tag": 0.25}

_SEPARATOR = re.compile(r"(\s*ㅣ\s*|\s+[|–—•·»›~/]\s+|\s+-{1,2}\s+|\s*\|\s*|\s+::\s+|\s+:\s+(?=[A-Z]))")
_QUOTES = str.maketrans({c: "" for c in "\"“”„‟«»‹›″"} | {c: "'" for c in "‘’‚‛′`´"}
                        | {c: "-" for c in "‐‑‒–—―−"})
_FORMAT_CHARS = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_ELLIPSIS = re.compile(r"\s*(\.{3}|…)\s*$")
_GENERIC = re.compile(r"^(home|homepage|accueil|startseite|inicio|news|nachrichten|"
                      r"actualités|untitled|page not found|404)$", re.I)
_MAX_AFFIX_WORDS = 6
_SECOND_LEVEL = {"co", "com", "org", "net", "gov", "ac", "ne", "or", "go", "gv", "edu"}
_SUFFIX_AFFIX = re.compile(r"^\s*(?:[|–—•·»›]|-{1,2})\s")
_SEP_CHARS = set("|-–—•·»›~/:")


def normalise_title(value: Optional[str]) -> str:
    """Casefolded, NFKC, double quotes dropped, apostrophes/dashes unified,
    invisible characters dropped, spaces collapsed, trailing punctuation dropped."""
    if not value:
        return ""
    value = _FORMAT_CHARS.sub("", unicodedata.normalize("NFKC", value)).translate(_QUOTES)
    return re.sub(r"\s+", " ", value).strip().casefold().rstrip(" .:;,!")


def _key(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in value if ch.isalnum())


def site_keys(site_names: Iterable[Optional[str]], url: Optional[str] = None) -> set[str]:
    """Comparison keys of the site's names and of its host's labels ('lemonde')."""
    keys = {_key(n) for n in site_names if n}
    if url:
        host = re.sub(r"^[a-z]+://", "", url.lower()).split("/")[0].split(":")[0]
        labels = [l for l in host.split(".") if l not in ("www", "m", "amp", "edition", "web")]
        if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
            labels = labels[:-2] + [labels[-2] + labels[-1]]
        if len(labels) >= 2:
            keys.add(_key(labels[-2]))
            keys.add(_key("".join(labels[-2:])))
    return {k for k in keys if len(k) >= 2}


def is_site_name(value: str, keys: set[str]) -> bool:
    """True if `value` names the site: equal to a site key, or a host label
    plus short decoration ('BBC News', 'derStandard.at', 'Le Monde.fr')."""
    k = _key(value)
    if not k or not keys:
        return False
    if k in keys:
        return True
    for site in keys:
        if len(site) >= 3 and (k.startswith(site) or k.endswith(site)) and len(k) <= len(site) + 16:
            return True
        if len(k) >= 4 and site.startswith(k) and len(k) >= len(site) - 6:
            return True
    return False


def _segments(title: str) -> list[str]:
    return [s for s in _SEPARATOR.split(title)]


def strip_site_affixes(title: Optional[str], keys: set[str],
                       sections: Iterable[str] = ()) -> Optional[str]:
    """The title without site-name (and adjacent section label) prefixes/suffixes.

    Args:
      title: a candidate title.
      keys: `site_keys(...)` of the site.
      sections: section labels the page declares, stripped when next to a site name.
    """
    if not title:
        return title
    title = re.sub(r"\s+", " ", title).strip()
    parts = _segments(title)
    texts, seps = parts[0::2], parts[1::2]
    section_keys = {_key(s) for s in sections if s}
    if len(texts) < 2:
        return title

    def short(text: str) -> bool:
        return len(text.split()) <= _MAX_AFFIX_WORDS

    def label(text: str) -> bool:
        return _key(text) in section_keys or len(text.split()) <= 2

    # Suffix: from the first site-name segment on, when everything after it is short.
    for i in range(1, len(texts)):
        if is_site_name(texts[i], keys) and all(short(t) for t in texts[i:]):
            texts, seps = texts[:i], seps[:i - 1]
            # "Headline - Panorama - derStandard.at": a section label before the site.
            while len(texts) > 1 and label(texts[-1]) and len(texts[0].split()) >= 3:
                texts.pop()
                seps.pop()
            break
    # Prefix: up to the last site-name segment, when everything before it is short.
    for j in range(len(texts) - 2, -1, -1):
        if is_site_name(texts[j], keys) and all(short(t) for t in texts[:j + 1]):
            texts, seps = texts[j + 1:], seps[j + 1:]
            break
    while len(texts) > 1 and _key(texts[-1]) in section_keys:
        texts.pop()
        seps.pop()
    while len(texts) > 1 and _key(texts[0]) in section_keys:
        texts.pop(0)
        seps.pop(0)
    out = texts[0]
    for sep, text in zip(seps, texts[1:]):
        out += sep + text
    return out.strip() or title


def _supports(other: str, mine: str, other_truncated: bool = False) -> bool:
    """Whether the normalised title `other` vouches for `mine`."""
    if other == mine:
        return True
    if other_truncated and len(other) >= 15 and mine.startswith(other) and len(mine) > len(other):
        return True
    if len(mine) >= 10 and other.startswith(mine):
        rest = other[len(mine):]
        if _SUFFIX_AFFIX.match(rest) and len(rest.split()) <= 10:
            return True
    return False


def choose_title(candidates: Sequence[tuple[str, Optional[str]]], keys: set[str],
                 sections: Iterable[str] = ()) -> Optional[str]:
    """The title most sources agree on.

    Args:
      candidates: (source, raw title) pairs; sources from TITLE_SOURCES.
      keys: `site_keys(...)` of the site.
      sections: section labels the page declares.

    Returns:
      The winning candidate, site affixes stripped, as the best source spells it.
    """
    sections = list(sections)
    rank = {s: i for i, s in enumerate(TITLE_SOURCES)}
    cleaned: list[tuple[int, str, str, str]] = []  # (rank, source, text, normalised raw)
    truncated: set[str] = set()
    for source, raw in candidates:
        if not raw or not raw.strip():
            continue
        raw = re.sub(r"\s+", " ", raw).strip()
        text = strip_site_affixes(raw, keys, sections)
        if not text or _GENERIC.match(text.strip()) or is_site_name(text, keys) \
                or len(_key(text)) < 2:
            continue
        cleaned.append((rank.get(source, len(rank)), source, text, normalise_title(raw)))
        if _ELLIPSIS.search(text):
            truncated.add(source)
    if not cleaned:
        return None
    best = None
    for r, source, text, _ in cleaned:
        mine = normalise_title(text)
        supporters = {source} | {
            s for _, s, t, raw_n in cleaned if s != source and
            (_supports(normalise_title(t), mine, s in truncated) or _supports(raw_n, mine))}
        score = (round(sum(SOURCE_WEIGHTS.get(s, 0.5) for s in supporters), 6), -r)
        if best is None or score > best[0]:
            best = (score, text)
    return best[1]
