"""Titles: site-name affixes stripped, and the headline chosen by agreement.

Every source (feed title, JSON-LD headline, og:title, `<h1>`, trafilatura's
title, `<title>`) is a candidate. Site names (`| Le Monde`, `BBC News -`) and
section labels next to them are stripped. An `<h1>` that glues a kicker to
another source's headline counts as that headline. Each candidate is then
supported by the sources that give the same title (same letters and digits),
a truncated form of it, it plus a suffix after a separator, or it plus a short
tag only one headline source adds; a headline two sources give behind different
kickers is a candidate too. The best supported candidate wins, ties going to the
more reliable source, spelled as most of its sources spell it. docs/metadata.md
has the rules and what each is worth on the evaluation data.
"""
from __future__ import annotations

import dataclasses
import functools
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
_NOT_ALNUM = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")
_SCHEME = re.compile(r"^[a-z]+://")
_FORMAT_CHARS = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_ELLIPSIS = re.compile(r"\s*(\.{3}|…)\s*$")
_GENERIC = re.compile(r"^(home|homepage|accueil|startseite|inicio|news|nachrichten|"
                      r"actualités|untitled|page not found|404)$", re.I)
_MAX_AFFIX_WORDS = 6
_DATE_SEGMENT = re.compile(r"^\s*(\d{1,2}[./]\d{1,2}[./](\d{2}|\d{4})|\d{4}-\d{2}-\d{2})\s*$")
# A separator left at the end with nothing after it ('Headline -').
_DANGLING_SEPARATOR = re.compile(r"\s+(?:[|–—•·»›~/]|-{1,2})$")
_SECOND_LEVEL = {"co", "com", "org", "net", "gov", "ac", "ne", "or", "go", "gv", "edu"}
# A suffix starts with a separator: ' | Site', ' - Section', ' » Tagline', ' (Site)', ' : date'.
_AFFIX_START = re.compile(r"^(?:\s*(?:[|–—•·»›~/]|-{1,2}|::)\s|\s+:\s|\s+\()")
_MAX_SUFFIX_WORDS = 10
# A kicker ends with a separator: 'Kicker: ', 'Kicker - ', 'Kicker | ', 'Kicker / '.
_KICKER_END = re.compile(r"(?:\s*[:|/ㅣ]\s*|\s+[-–—•·»›]\s+|\s+-{2}\s+)$")
_MAX_KICKER_WORDS = 8
_MAX_TAG_WORDS = 3
# Words a headline does not end with: a title ending with one was cut off.
_DANGLING_WORDS = frozenset(
    "and or the a an of to for with by und oder der die das des dem den ein eine einer mit von "
    "zu für et ou le la les de du au aux pour avec y o el los las del con para por e il di da "
    "per che het een van".split())
# Sources that state a headline of their own (the others mostly copy one of these).
_STRONG = frozenset({"jsonld", "og", "h1", "feed"})
# The string functions below are pure and called many times with the same few values
# per article (each candidate is compared with every other): their answers are kept.
_CACHE_SIZE = 8192


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalise_title(value: Optional[str]) -> str:
    """Casefolded, NFKC, double quotes dropped, apostrophes/dashes unified,
    invisible characters dropped, spaces collapsed, trailing punctuation dropped."""
    if not value:
        return ""
    value = _FORMAT_CHARS.sub("", unicodedata.normalize("NFKC", value)).translate(_QUOTES)
    return _SPACES.sub(" ", value).strip().casefold().rstrip(" .:;,!")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _key(value: str) -> str:
    """Letters and digits only (`str.isalnum`: `\\w` without "_"), casefolded, NFKD."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKD", value.casefold()))


def site_keys(site_names: Iterable[Optional[str]], url: Optional[str] = None) -> set[str]:
    """Comparison keys of the site's names and of its host's labels ('lemonde')."""
    keys = {_key(n) for n in site_names if n}
    if url:
        host = _SCHEME.sub("", url.lower()).split("/")[0].split(":")[0]
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
    title = _SPACES.sub(" ", title).strip()
    parts = _segments(title)
    texts, seps = parts[0::2], parts[1::2]
    sections = [s.strip() for s in sections if s and s.strip()]
    section_keys = {_key(s) for s in sections}
    if len(texts) < 2:
        return _strip_glued_section(_DANGLING_SEPARATOR.sub("", title), sections) or title

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
    # A date segment at either end ('08.11.2021 | Headline') dates the page, not the story.
    if len(texts) > 1 and _DATE_SEGMENT.match(texts[-1]):
        texts.pop()
        seps.pop()
    if len(texts) > 1 and _DATE_SEGMENT.match(texts[0]):
        texts.pop(0)
        seps.pop(0)
    out = texts[0]
    for sep, text in zip(seps, texts[1:]):
        out += sep + text
    out = _DANGLING_SEPARATOR.sub("", out.strip())
    return _strip_glued_section(out, sections) or title


def _strip_glued_section(title: str, sections: list[str]) -> str:
    """'Headline-Politik' -> 'Headline': a declared section label at the end, after a dash."""
    for section in sections:
        if len(title) > len(section) and title.casefold().endswith(section.casefold()):
            head = title[:-len(section)].rstrip()
            if head[-1:] in ("-", "–", "—", "|", "·") and len(head[:-1].split()) >= 3:
                return head[:-1].rstrip()
    return title


@dataclasses.dataclass
class _Candidate:
    source: str
    rank: int
    text: str             # site affixes stripped, as the source spells it
    norm: str             # normalise_title(text)
    key: str              # letters and digits only: the comparison key
    raw_norm: str         # normalise_title of the raw value (affixes still on)
    truncated: bool


def _affix_rest(longer: str, shorter: str) -> Optional[str]:
    """What `longer` adds after `shorter` when it starts with it at a word boundary."""
    if len(shorter) < 10 or len(longer) <= len(shorter) or not longer.startswith(shorter):
        return None
    rest = longer[len(shorter):]
    return rest if _AFFIX_START.match(rest) else None


def _kicker(longer: str, shorter: str, glued: bool = False,
            known: frozenset[str] = frozenset()) -> Optional[str]:
    """The kicker `longer` puts before `shorter` ('Kicker: Headline'), if that is all it adds.

    Args:
      glued: also accept a kicker without a separator, as in an `<h1>` whose kicker is
        an element of its own that text extraction glues to the headline: with no
        space between ('Große DemoDer Streik beginnt…'), or with a space when the kicker
        is itself a title another source gives (`known`, comparison keys).
    """
    if len(shorter) < 15 or len(longer) <= len(shorter) or not longer.endswith(shorter):
        return None
    head = longer[:-len(shorter)]
    match = _KICKER_END.search(head)
    if match:
        kicker = head[:match.start()]
    elif glued and (not head[-1].isspace() or _key(head) in known):
        kicker = head
    else:
        return None
    if not kicker or not kicker.strip() or len(kicker.split()) > _MAX_KICKER_WORDS:
        return None
    return kicker


def _names_the_site(cand: _Candidate, cands: list[_Candidate], keys: set[str]) -> bool:
    """Whether a candidate is the site's name rather than a headline.

    A name with decoration ('Le Monde.fr', 'BBC News') is one, unless two sources
    that state headlines of their own give it: then it is a headline that names
    the site ('15 years of example.org').
    """
    if cand.key in keys:
        return True
    if not is_site_name(cand.text, keys):
        return False
    givers = {c.source for c in cands if c.key == cand.key and c.source in _STRONG}
    return len(givers) < 2


def _supports(other: _Candidate, mine: _Candidate) -> bool:
    """Whether the candidate `other` vouches for `mine`.

    It does when it is the same title (same letters and digits), a truncated form
    of it (`…`), or the same title plus a short suffix after a separator (a site,
    section or tagline: ' | Site', ' (Site)', ' : date').
    """
    if other.key == mine.key:
        return True
    if other.truncated:
        stem = _ELLIPSIS.sub("", other.norm)
        if len(stem) >= 15 and mine.norm.startswith(stem) and len(mine.norm) > len(stem):
            return True
    for longer in {other.norm, other.raw_norm}:
        rest = _affix_rest(longer, mine.norm)
        if rest is not None and len(rest.split()) <= _MAX_SUFFIX_WORDS:
            return True
    return False


def _tag_along(other: _Candidate, mine: _Candidate, cands: list[_Candidate]) -> bool:
    """Whether `other` is `mine` plus a few words a single headline source adds.

    'Apple cake Recipe', 'Apple cake by jane', 'Apple cake, Berlin': when a headline
    source gives the shorter form and no two headline sources give the longer one,
    the added words are a tag, not part of the headline. A shorter form that looks
    cut off (ends with '…' or with a word like 'and', 'der', 'de') is no headline.
    """
    if mine.source not in _STRONG or mine.truncated or _looks_truncated(mine.norm):
        return False
    if not other.norm.startswith(mine.norm + " ") and not other.norm.startswith(mine.norm + ", "):
        return False
    rest = other.norm[len(mine.norm):].strip(" ,")
    if not rest or len(rest.split()) > _MAX_TAG_WORDS:
        return False
    return len({c.source for c in cands if c.key == other.key and c.source in _STRONG}) < 2


def _looks_truncated(norm: str) -> bool:
    words = norm.split()
    return bool(_ELLIPSIS.search(norm)) or (len(words) > 1 and words[-1] in _DANGLING_WORDS)


def _drop_h1_kickers(cands: list[_Candidate]) -> list[_Candidate]:
    """`<h1>` candidates that are a kicker plus another source's headline become that headline.

    Pages often render the kicker ('Parteitag in Bern:') as its own
    element inside the `<h1>`; its text then glues kicker and headline together.
    The metadata titles that leave the kicker out show where the headline starts.
    """
    known = frozenset(c.key for c in cands if c.source != "h1")
    out = []
    for c in cands:
        if c.source == "h1":
            inner = next((o for o in cands if o.source != "h1" and o.key != c.key
                          and _kicker(c.norm, o.norm, True, known)), None)
            if inner is not None:
                c = dataclasses.replace(inner, source=c.source, rank=c.rank)
        out.append(c)
    return out


def _shared_headlines(cands: list[_Candidate]) -> list[_Candidate]:
    """Headlines that two sources give behind different kickers.

    'Iran attack: «X»' and 'Escalation - «X»' agree on «X»: the kickers are
    labels, the shared part is the headline. Returned as extra candidates
    (source 'shared', without a vote of their own).
    """
    out: dict[str, _Candidate] = {}
    strong = [c for c in cands if c.source in _STRONG]
    for i, a in enumerate(strong):
        for b in strong[i + 1:]:
            if a.key == b.key or any(c is not a and c.key == a.key or c is not b and c.key == b.key
                                     for c in strong):
                continue  # a variant another strong source confirms is not a mere label
            tail = _common_tail(a.norm, b.norm)
            if not tail or tail in out:
                continue
            if _kicker(a.norm, tail, a.source == "h1") and _kicker(b.norm, tail, b.source == "h1"):
                text = _tail_text(a.text, tail)
                out[tail] = _Candidate("shared", len(TITLE_SOURCES), text, tail, _key(tail),
                                       tail, False)
    return list(out.values())


def _common_tail(a: str, b: str) -> Optional[str]:
    """The longest common end of two texts, from a word on, if long enough for a headline."""
    n = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        n += 1
    tail = a[len(a) - n:] if n else ""
    if n < len(a) and tail[:1].isalnum() and a[len(a) - n - 1].isalnum():
        tail = tail.split(" ", 1)[1] if " " in tail else ""  # started mid-word
    tail = tail.lstrip(" -–—|/:·•»›")
    return tail if len(tail) >= 15 else None


def _tail_text(text: str, tail_norm: str) -> str:
    """The end of `text` (as spelled there) whose normalised form is `tail_norm`."""
    for start in range(len(text)):
        if normalise_title(text[start:]) == tail_norm:
            return text[start:].strip()
    return tail_norm


def _spelling(group: list[_Candidate]) -> str:
    """The spelling most sources give, among candidates with the same key; ties go
    to the heavier, then the more reliable sources."""
    votes: dict[str, list[float]] = {}
    best_rank: dict[str, tuple[int, str]] = {}
    for c in group:
        vote = votes.setdefault(c.norm, [0, 0.0])
        vote[0] += 1
        vote[1] += SOURCE_WEIGHTS.get(c.source, 0.0)
        best_rank[c.norm] = min(best_rank.get(c.norm, (c.rank, c.text)), (c.rank, c.text))
    norm = max(votes, key=lambda n: (votes[n][0], round(votes[n][1], 6), -best_rank[n][0]))
    return best_rank[norm][1]


def choose_title(candidates: Sequence[tuple[str, Optional[str]]], keys: set[str],
                 sections: Iterable[str] = ()) -> Optional[str]:
    """The title most sources agree on.

    Args:
      candidates: (source, raw title) pairs; sources from TITLE_SOURCES.
      keys: `site_keys(...)` of the site.
      sections: section labels the page declares.

    Returns:
      The winning title, site affixes stripped, spelled as most of the sources
      that give it spell it.
    """
    sections = list(sections)
    rank = {s: i for i, s in enumerate(TITLE_SOURCES)}
    cands: list[_Candidate] = []
    for source, raw in candidates:
        if not raw or not raw.strip():
            continue
        raw = _SPACES.sub(" ", raw).strip()
        text = strip_site_affixes(raw, keys, sections)
        if not text or _GENERIC.match(text.strip()) or len(_key(text)) < 2:
            continue
        cands.append(_Candidate(source, rank.get(source, len(rank)), text, normalise_title(text),
                                _key(text), normalise_title(raw), bool(_ELLIPSIS.search(text))))
    cands = [c for c in cands if not _names_the_site(c, cands, keys)]
    if not cands:
        return None
    cands = _drop_h1_kickers(cands)
    best = None
    for mine in cands + _shared_headlines(cands):
        supporters = {mine.source} | {o.source for o in cands if o.source != mine.source and (
            _supports(o, mine) or _tag_along(o, mine, cands) or (
                mine.source == "shared" and _kicker(o.norm, mine.norm, o.source == "h1")))}
        score = (round(sum(SOURCE_WEIGHTS.get(s, 0.0) for s in supporters), 6), -mine.rank)
        if best is None or score > best[0]:
            best = (score, mine)
    winner = best[1]
    return _spelling([c for c in cands if c.key == winner.key]) if winner.source != "shared" \
        else winner.text
