"""Authors: person names from every credit on the page, never a site or an agency.

Credits come from JSON-LD, meta tags, bylines, the feed and contributor lines in
the text (`X et Y ont contribué à ce rapport`, `Reporting by`, `Mit Material
von`, ...). Each credit is split into names, and each name is classified: an
agency (AFP, Reuters, dpa, ... from `agencies.json`) goes to `agencies`; a site
name, a newsroom (`La rédaction`, `Redaktion`, `Staff`) or anything that does
not look like a person's name is dropped; the rest is normalised and
de-duplicated.
"""
from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from transforms.titles import is_site_name

__all__ = ["Credits", "agency_name", "split_credit", "classify_credit", "person_names",
           "jsonld_credits", "contributor_credits", "signature_credits", "resolve_authors", "normalise_person"]

_DATA = Path(__file__).with_name("agencies.json")
_WS = re.compile(r"\s+")
# What `_name_key` drops: all but letters, digits and spaces.
_NOT_NAME_KEY = re.compile(r"[^\w ]+|_+")
_SOURCE_LABEL = re.compile(r"^(?:©|\(c\)|copyright|quelle|source|sources|fuente|fonte|bron|agence|"
                           r"agentur|agency)\s*[:\s]\s*")
_AFTER_HYPHEN = re.compile(r"(?<=[-'’])(\w)")
_SPACE_OR_HYPHEN = re.compile(r"[\s\-]+")
_WORD_SEPARATORS = re.compile(r"[\s\-_.]+")
_HANDLE_SEPARATOR = re.compile(r"[-_.]")
_PREFIX = re.compile(
    r"^(?:(?:text|texte|textes|texto|testo|tekst|autor(?:in|en)?|auteur(?:e|s)?|author(?:s)?|"
    r"autore|reporting|report|reportage|written|posted|published|story|words|"
    r"ein\s+(?:kommentar|gastbeitrag|beitrag|interview|essay)|eine\s+(?:analyse|kolumne|glosse)|"
    r"analyse|kommentar|commentaire|chronique|tribune|interview|par|by|von|vom|por|door|"
    r"av|af|от|автор|written\s+by|reported\s+by|posted\s+by|edited\s+by|"
    r"(?:erstellt|eingestellt|geschrieben|verfasst|gepostet|veröffentlicht|alles|mehr|"
    r"(?:zeige\s+)?(?:alle\s+)?(?:artikel|beitrag|beiträge)|pressemitteilung|zitat|rezept|"
    r"all\s+posts|view\s+all\s+posts|more\s+articles|articles|publié|rédigé)\s*(?:von|by|par|de)|"
    r"deine?|euer|eure|yours|cheers|with|avec|mit|con|com)\b\s*[:.\-–—]?\s*)+", re.I)
_EDITING = re.compile(r"\b(?:editing|edited|writing|compiled|additional reporting|graphics?|"
                      r"photos?|fotos?|bild(?:er)?|images?|illustrations?|montage|bearbeitet|édité|édition|edición|redigiert|"
                      r"übersetzt|translated|traduction|traducción)\b.*$", re.I | re.S)
_SPLIT = re.compile(r"\s*(?:,|;|\||/|&|\+|·|•|\band\b|\bund\b|\bet\b|\by\b|\be\b|\ben\b|"
                    r"\boch\b|\bog\b|\bi\b|\bund\b|\bsowie\b|\bplus\b|\bwith\b|\bmit\b|\bavec\b|"
                    r"\bcon\b|\bи\b|\bта\b|\bі\b|、|，|\s{2,})\s*", re.I)
_PAREN = re.compile(r"\(([^()]{1,40})\)|\[([^\[\]]{1,40})\]")
_EMAIL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|@\w+")
_DIGIT = re.compile(r"\d")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_TRAILING = re.compile(r"\s*[,|–—-]\s*(?:correspondent|correspondant|korrespondent|editor|"
                       r"redakteur(?:in)?|reporter|journalist(?:e|in)?|chef|senior|staff|"
                       r"special|envoy|envoyé|in\s+\w+|à\s+\w+|aus\s+\w+|en\s+\w+).*$", re.I)
_ROLE_CJK = re.compile(r"\s*(?:기자|특파원|통신원|논설위원|선임기자|記者|特派員|編集委員|論説委員|"
                       r"外\s*\d+\s*名|외\s*\d+\s*명).*$")
_DOMAIN = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|de|at|ch|fr|es|it|uk|"
                     r"co|info|news|tv|eu|be|nl|pl|ru)\b", re.I)
# A byline label glued to the name by text_content(): 'AuthorAnna Fink', 'VonJan Roth'.
_GLUED_PREFIX = re.compile(r"^(?:By|Von|Par|Por|Door|Author|Autor|Auteur|Text|Texte)(?=[A-ZÀ-ÖØ-Þ])")
# A weekday or a domain's last label after a name: 'Alex Bozarjian Thursday', 'Bueltge De'.
_TRAILING_WORD = re.compile(r"\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                            r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|"
                            r"com|net|org|de|ch|at|it|fr|info|eu|alle\s+artikel|alle\s+beiträge|"
                            r"all\s+posts|all\s+articles|mehr\s+artikel|more\s+articles|profil|profile)$",
                            re.I)
# Legal forms closing a company name: 'Naturstrom AG', 'Muster GmbH & Co KG'.
_LEGAL_FORM = re.compile(r"\s(?:ag|kg|eg|ev|e\.\s?v|gmbh|mbh|ug|se|sa|sas|sarl|srl|spa|bv|nv|plc|"
                         r"corp|llc|ltd|inc)\.?$", re.I)
_CONVERSATION = re.compile(r"\s+(?:im\s+gespräch\s+mit|in\s+conversation\s+with|"
                           r"en\s+conversation\s+avec|en\s+conversación\s+con)\s+", re.I)
_END_INITIAL = re.compile(r"(?<=\s)(Jr|Sr|[A-Z])$")
# A one-word credit (a pen name or handle: 'gnaddrig', 'Creeny', 'Marianne1').
_HANDLE = re.compile(r"^[^\W\d_][\w.\-]{2,29}$")
# An author profile that is a site account, not a person ('/author/admin/').
_ACCOUNT_URL = re.compile(r"/(?:author|autor|auteur|user|profile)/(?:admin|administrator|"
                          r"redaktion|redaction|editor|editors|staff|team|webmaster)\b", re.I)
_EMAIL_ONLY = re.compile(r"\S+@\S+")
_MID_BY = re.compile(r"^.{1,40}?\s(?:Von|By|by|Par|par|Por|Door)\s+(?=[A-ZÀ-ÖØ-Þ])")
# A date (and time) after the name: 'Bo2man am 29.12.2010, 13:36 Uhr', 'r23 » 21.01.2009'.
_DATE_TAIL = re.compile(r"\s*(?:\b(?:am|on|le|el|il)\s+|[»|•·–—-]\s*)?\d{1,4}[./-]\d{1,2}[./-]\d{2,4}\b.*$", re.S)
_KANA = re.compile(r"[\u3040-\u309f]")  # hiragana: names are written in kanji or katakana
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CJK_NOT_NAMES = ("关注", "關注", "编辑", "編輯", "记者", "記者", "新闻", "新聞", "情報", "ニュース",
                  "フォロー", "뉴스", "기자", "편집", "신문", "구독", "网", "報")
# One-word values of author fields that name no one.
_NOT_HANDLES = frozenset({
    "admin", "administrator", "wordpressadmin", "webadmin", "root", "user", "name", "unknown",
    "anonymous", "anonym", "human", "posted", "post", "by", "von", "par", "autor", "author",
    "auteur", "redakteur", "editor", "gast", "guest", "support", "info", "office", "kontakt",
    "contact", "presse", "press", "redaktion", "redaction", "rédaction", "team", "staff",
    "webmaster", "moderator", "mod", "system", "default", "blog", "blogger", "home", "none",
    "null", "undefined", "n/a", "na", "agencies", "agenturen", "agences", "wire", "wires",
    "newsdesk", "desk", "bureau", "verlag", "impressum", "datum", "date", "zeige", "view",
    "publisher", "herausgeber", "verleger", "éditeur", "editeur", "editorial", "unbenannt",
    "untitled", "anonym", "anonyme", "anónimo", "anonimo", "zvg", "privat", "archiv", "getty",
    "imago", "shutterstock", "istock", "keystone", "journalist", "journalists", "journalisten",
    "journaliste", "journalistes", "autoren", "redakteure", "contributors", "collectif",
    "collective", "kollektiv", "red", "beiträge", "beitrag",
})
_NAME_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das",
                   "du", "la", "le", "ter", "ten", "zu", "y", "al", "el", "bin", "ben", "ibn", "st"}


@functools.lru_cache(maxsize=1)
def _data() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    aliases = {}
    for name, names in raw["agencies"].items():
        aliases[name.casefold()] = name
        for alias in names:
            aliases[alias.casefold()] = name
    return (aliases, frozenset(x.casefold() for x in raw["not_persons"]),
            frozenset(x.casefold() for x in raw["not_person_words"]))


# The string functions below are pure and see the same few credits many times per
# article (each source's credits are split, cleaned and classified): answers are kept.
_CACHE_SIZE = 8192


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _clean(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).replace("\u00ad", "")
    return _WS.sub(" ", value).strip(" \t\n,;:.|–—-•·*\"'«»“”‘’()[]")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def agency_name(value: str) -> Optional[str]:
    """The canonical agency a credit names ('afp' -> 'AFP'), or None."""
    key = _clean(value).casefold()
    key = _SOURCE_LABEL.sub("", key).strip(" .:")
    return _data()[0].get(key)


@functools.lru_cache(maxsize=1)
def _agency_pattern() -> re.Pattern:
    aliases = sorted(_data()[0], key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(a) for a in aliases) + r")(?![\w-])", re.I)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def normalise_person(name: str) -> str:
    """A person's name tidied: spacing, NFC, ALL-CAPS words recased ('ANNA FINK' -> 'Anna Fink')."""
    name = _clean(name)
    letters = [c for c in name if c.isalpha()]
    if letters and all(c.isupper() for c in letters if c.isalpha()) and not _CJK.search(name):
        name = " ".join(w.capitalize() if len(w) > 1 else w for w in name.split(" "))
        name = _AFTER_HYPHEN.sub(lambda m: m.group(1).upper(), name)
    words = name.split()
    if len(words) in (4, 6) and words[:len(words) // 2] == words[len(words) // 2:]:
        name = " ".join(words[:len(words) // 2])  # 'Olivier Minot Olivier Minot'
    name = _END_INITIAL.sub(r"\1.", name)
    return unicodedata.normalize("NFC", name)


def _initials_of_site(name: str, site_keys: set[str]) -> bool:
    """'Deutsche Welle' on dw.com, 'Neue Zürcher Zeitung' on nzz.ch: a name whose
    initials (three letters at least) spell a site key is the site."""
    words = [w for w in _SPACE_OR_HYPHEN.split(name) if w[:1].isalpha()]
    initials = "".join(w[0] for w in words).casefold()
    return len(words) >= 2 and len(initials) >= 3 and initials in site_keys


def _looks_like_person(name: str, site_keys: set[str]) -> bool:
    _, not_persons, not_words = _data()
    key = name.casefold()
    if not name or key in not_persons or _DIGIT.search(name) or _EMAIL.search(name):
        return False
    if site_keys and (is_site_name(name, site_keys) or _initials_of_site(name, site_keys)):
        return False
    if _LEGAL_FORM.search(name):
        return False
    words = name.split()
    if _CJK.search(name):
        compact = name.replace(" ", "")
        if _KANA.search(compact) or any(w in compact for w in _CJK_NOT_NAMES):
            return False
        return 2 <= len(compact) <= (5 if _HANGUL.search(compact) else 6) and len(words) <= 2
    if not 2 <= len(words) <= 5 or len(name) > 60:
        return False
    if any(w.casefold().strip(".") in not_words for w in words):
        return False
    if any(ch in name for ch in "!?:;=<>{}#%/\\|@©®™"):
        return False
    capitalised = [w for w in words if w[:1].isupper() or w.casefold() in _NAME_PARTICLES]
    if len(capitalised) != len(words):
        return False
    return sum(1 for w in words if w[:1].isupper()) >= 2 or len(words) == 2


def _names_organisation(piece: str, site_keys: set[str]) -> bool:
    """The site, a newsroom ('Redaktion', 'Staff') or a name with a media word in it."""
    _, not_persons, not_words = _data()
    key = piece.casefold()
    return (key in not_persons or bool(site_keys and is_site_name(piece, site_keys))
            or any(w in not_words for w in _WORD_SEPARATORS.split(key)))


def _looks_like_handle(name: str, site_keys: set[str]) -> bool:
    """A one-word name a structured author field may carry: a pen name or handle.

    Letters first, 3 to 30 characters, no newsroom, media or UI word, not the
    site, not an agency.
    """
    _, not_persons, not_words = _data()
    key = name.casefold().strip(".")
    if not _HANDLE.match(name) or key in not_persons or key in _NOT_HANDLES:
        return False
    if any(part in not_words or part in _NOT_HANDLES for part in _HANDLE_SEPARATOR.split(key)):
        return False
    if agency_name(name) or (site_keys and is_site_name(name, site_keys)):
        return False
    return not name.isupper() or len(name) > 4


def split_credit(credit: str) -> list[str]:
    """A credit line split into name-sized pieces ('By A and B, AFP' -> ['A', 'B', 'AFP'])."""
    return list(_split_credit(credit))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _split_credit(credit: str) -> tuple[str, ...]:
    credit = _WS.sub(" ", unicodedata.normalize("NFKC", _EMAIL.sub(" ", credit or ""))).strip()
    credit = _EDITING.sub("", credit)
    credit = _CONVERSATION.sub(", ", _GLUED_PREFIX.sub("", credit))
    pieces: list[str] = []
    for m in _PAREN.finditer(credit):
        pieces.extend(p for p in (m.group(1), m.group(2)) if p)
    credit = _PAREN.sub(" ", credit)
    credit = _MID_BY.sub("", _DATE_TAIL.sub("", credit))
    for piece in _SPLIT.split(credit):
        piece = _ROLE_CJK.sub("", _TRAILING.sub("", _PREFIX.sub("", _clean(piece))))
        piece = _clean(_TRAILING_WORD.sub("", _clean(piece)))
        if piece:
            pieces.append(piece)
    return tuple(pieces)


def classify_credit(piece: str, site_keys: set[str]) -> tuple[str, Optional[str]]:
    """('agency', 'AFP') | ('person', 'Anna Fink') | ('other', None) for one piece."""
    agency = agency_name(piece)
    if agency:
        return "agency", agency
    name = normalise_person(piece)
    if _looks_like_person(name, site_keys):
        return "person", name
    return "other", None


class Credits:
    """Persons, one-word names (handles) and agencies gathered from one source, in
    order, without repeats."""

    def __init__(self):
        self.persons: list[str] = []
        self.handles: list[str] = []
        self.agencies: list[str] = []
        self.organisations = 0  # credits naming the site, a newsroom or an organisation
        self.organisation_keys: set[str] = set()  # their names, never persons in a later source

    def add_credit(self, credit: Optional[str], site_keys: set[str], handles: bool = False,
                   agencies_only: bool = False) -> None:
        """Adds the names of one credit line.

        Args:
          credit: the credit as the page gives it ('By A and B, AFP').
          site_keys: `titles.site_keys` of the page: the site is never a person.
          handles: a credit that is one word is a handle ('gnaddrig'); only for
            fields that hold author names (JSON-LD, meta tags, bylines).
          agencies_only: the credit names sources ('With reports from ...'): only
            agencies count.
        """
        if not credit or len(credit) > 300 or (_CJK.search(credit) and len(credit) > 40):
            return
        whole = agency_name(credit)
        if whole:
            self._add(self.agencies, whole)
            return
        # 'Deutsche Welle (www.dw.com)': a credit that gives a web address is an organisation.
        names_domain = bool(_DOMAIN.search(_EMAIL_ONLY.sub(" ", credit)))
        agencies_only = agencies_only or names_domain
        pieces = split_credit(credit)
        for piece in pieces:
            if names_domain:
                self.organisation_keys.add(_name_key(piece))
            kind, value = classify_credit(piece, site_keys)
            if kind == "person" and not agencies_only:
                self._add(self.persons, value)
            elif kind == "agency":
                self._add(self.agencies, value)
            else:
                for agency in _agency_pattern().findall(piece):
                    if agency.isupper() or len(agency) > 4 or agency == agency_name(agency):
                        self._add(self.agencies, agency_name(agency))
                if kind != "other" or agencies_only:
                    continue
                if _names_organisation(piece, site_keys):
                    self.organisations += 1
                    self.organisation_keys.add(_name_key(piece))
                elif handles and len(pieces) == 1 and _looks_like_handle(piece, site_keys):
                    self._add(self.handles, normalise_person(piece))

    def add_organisation(self, value: str) -> None:
        """An author the page types as an Organization: an agency, or no one."""
        agency = agency_name(value)
        if agency:
            self._add(self.agencies, agency)
        else:
            self.organisations += 1
            self.organisation_keys.add(_name_key(value))

    def add_agency(self, value: str) -> None:
        agency = agency_name(value)
        if agency:
            self._add(self.agencies, agency)

    @staticmethod
    def _add(values: list[str], value: Optional[str]) -> None:
        if value and _name_key(value) not in {_name_key(v) for v in values}:
            values.append(value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _name_key(name: str) -> str:
    """Letters, digits and single spaces (`str.isalnum`: `\\w` without "_"), casefolded, NFKD."""
    value = unicodedata.normalize("NFKD", name.casefold())
    return " ".join(_NOT_NAME_KEY.sub("", value).split())


def jsonld_credits(items: Sequence[dict], site_keys: set[str], key: str = "author") -> Credits:
    """Credits from the `author` (or `creator`) of article-like JSON-LD items.

    Persons and handles come from the first item that names any (items come
    best first: a WebPage or VideoObject after the article, whose author may be
    a photographer or a video desk); agencies from all items.
    """
    credits = Credits()

    def visit(node: Any, credits: Credits, depth: int = 0) -> None:
        if depth > 3 or node is None:
            return
        if isinstance(node, list):
            for item in node:
                visit(item, credits, depth + 1)
            return
        if isinstance(node, str):
            if not node.startswith(("http://", "https://")):
                credits.add_credit(node, site_keys, handles=True)
            return
        if not isinstance(node, dict):
            return
        types = node.get("@type")
        types = [str(t).lower() for t in (types if isinstance(types, list) else [types]) if t]
        name = node.get("name")
        if isinstance(name, list):
            name = " ".join(str(n) for n in name)
        if not name and (node.get("givenName") or node.get("familyName")):
            name = f"{node.get('givenName') or ''} {node.get('familyName') or ''}"
        if not isinstance(name, str) or not name.strip():
            return
        url = node.get("url") or node.get("@id")
        organisation = any("organization" in t or "organisation" in t for t in types)
        if ((organisation and "person" not in types)
                or (isinstance(url, str) and _ACCOUNT_URL.search(url))):
            credits.add_organisation(name)
            return
        credits.add_credit(name, site_keys, handles=True)

    for item in items:
        found = Credits()
        visit(item.get(key), found)
        for agency in found.agencies:
            Credits._add(credits.agencies, agency)
        credits.organisations += found.organisations
        credits.organisation_keys |= found.organisation_keys
        if not credits.persons and not credits.handles:
            credits.persons, credits.handles = found.persons, found.handles
        elif not credits.persons and found.persons:
            credits.persons, credits.handles = found.persons, []
    return credits


_CONTRIBUTOR_LINES = [
    # fr
    re.compile(r"^(?P<names>[^.\n]{3,160}?)\s+(?:ont|a)\s+contribué\s+à\s+(?:ce|cet|cette)\s+"
               r"(?:rapport|article|reportage|dépêche|papier|enquête)", re.I),
    re.compile(r"^(?:mit\s+material\s+(?:von|der|des)|material\s+von|quelle\s*:|quellen\s*:)\s*"
               r"(?P<names>[^\n]{2,120}?)\s*\.?$", re.I),
    re.compile(r"^(?:avec|with|mit|con)\s+(?P<names>[^.\n]{2,80}?)\s*\.?$", re.I),
    re.compile(r"^(?:(?:reportage|texte|article|propos recueillis)\s+(?:de|par)|par)\s*:?\s*"
               r"(?P<names>[^.\n]{3,120}?)\s*\.?$", re.I),
    # en
    re.compile(r"^(?:\(?\s*)(?:additional\s+)?reporting\s+by\s+(?P<names>[^\n]{3,200}?)\s*"
               r"(?:;|\.\s|\.$|\)|$)", re.I),
    re.compile(r"^(?P<names>[^.\n]{3,160}?)\s+contributed\s+(?:reporting|to\s+this\s+"
               r"(?:report|article|story))", re.I),
    re.compile(r"^(?:written|reported)\s+by\s+(?P<names>[^.\n]{3,120}?)\s*\.?$", re.I),
    re.compile(r"^(?:autor(?:in)?|author|auteur|autore|autor/in)\s*:\s*(?P<names>[^.\n]{3,80}?)\s*\.?$", re.I),
    re.compile(r"^by\s+(?P<names>[^.\n]{3,120}?)\s*\.?$", re.I),
    # de
    re.compile(r"^(?P<names>[^.\n]{3,160}?)\s+(?:hat|haben)\s+zu\s+diesem\s+(?:bericht|artikel)\s+"
               r"beigetragen", re.I),
    re.compile(r"^(?:(?:ein|eine)\s+(?:kolumne|kommentar|analyse|gastbeitrag|beitrag|glosse|"
               r"essay|interview|reportage)\s+)?von\s+(?P<names>[^.\n]{3,120}?)\s*\.?$", re.I),
    # es / it / pt
    re.compile(r"^(?:con\s+información\s+de|con\s+informaci[oó]n\s+de|información\s+de|"
               r"por|di|a\s+cura\s+di|com\s+informações\s+d[aeo]s?)\s+"
               r"(?P<names>[^.\n]{2,120}?)\s*\.?$", re.I),
    re.compile(r"^(?:source|sources|fuente|fonte|quelle)\s*:\s*(?P<names>[^\n]{2,80}?)\s*\.?$", re.I),
]
# 'With reports from Reforma and El Economista': sources (publications, agencies), not authors.
_SOURCES = re.compile(r"(?:(?:wire\s+|agency\s+)?reports?|information|informations|files|material|"
                      r"dispatches)\s+(?:from|de|des|von|der)\s+", re.I)
_LEAD_AGENCY = re.compile(r"^[^\n]{0,80}?\((?P<agency>[A-Za-zÀ-ÿ./ -]{2,30})\)\s*[–—-]")


@functools.lru_cache(maxsize=2)
def _text_lines(text: str) -> tuple[str, ...]:
    """The stripped non-empty lines of a text (both text scans below read the same text)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def contributor_credits(text: str, site_keys: set[str]) -> Credits:
    """Credits from contributor lines at the start or end of the text."""
    credits = Credits()
    lines = _text_lines(text or "")
    if not lines:
        return credits
    candidates = lines[:3] + lines[-6:] if len(lines) > 9 else lines
    for line in candidates:
        if len(line) > 300:
            continue
        for pattern in _CONTRIBUTOR_LINES:
            m = pattern.search(line)
            if m:
                names = m.group("names")
                sources = _SOURCES.match(names)
                credits.add_credit(names[sources.end():] if sources else names, site_keys,
                                   agencies_only=bool(sources))
                break
    m = _LEAD_AGENCY.search(lines[0])
    if m:
        for piece in re.split(r"[/,]", m.group("agency")):
            credits.add_agency(piece)
    return credits


def signature_credits(text: str, site_keys: set[str]) -> Credits:
    """A bare person's name as the last line of the text (a signature), if any."""
    credits = Credits()
    lines = _text_lines(text or "")
    if len(lines) >= 3 and len(lines[-1]) <= 40 and not lines[-1].endswith((".", "!", "?", ":")):
        name = normalise_person(lines[-1])
        if len(name.split()) <= 4 and _looks_like_person(name, site_keys):
            credits.persons.append(name)
    return credits


def person_names(credits: Iterable[Optional[str]], site_keys: set[str],
                 handles: bool = False) -> Credits:
    """Credits from plain strings (meta tags, feed authors, bylines).

    Args:
      credits: credit strings, best first.
      site_keys: `titles.site_keys` of the page.
      handles: the strings come from author fields, so a one-word credit is a
        handle (see `Credits.add_credit`).
    """
    out = Credits()
    for credit in credits:
        out.add_credit(credit, site_keys, handles=handles)
    return out


def _drop_partial(names: list[str]) -> list[str]:
    """Drops a one-word name when a fuller name contains it ('Fink', 'Anna Fink')."""
    keys = [_name_key(n) for n in names]
    out = []
    for name, key in zip(names, keys):
        if " " not in key and any(key in other.split() for other in keys if other != key):
            continue
        out.append(name)
    return out


def resolve_authors(sources: Sequence[tuple[str, Credits]]) -> tuple[list[str], list[str]]:
    """(authors, agencies) from ranked sources.

    Persons come from the best source that names any, so names from
    related-article bylines do not leak in. When no source names a person, the
    handles of the best source that gives one stand instead ('gnaddrig'), unless
    a better source credits the site, a newsroom or an organisation. A name that a
    better source gives as an organisation ('Deutsche Welle (www.dw.com)', a JSON-LD
    Organization) is no person in a later one.
    Agencies are the union over all sources.
    """
    authors: list[str] = []
    handles: list[str] = []
    agencies: list[str] = []
    handles_open = True
    organisations: set[str] = set()
    for _, credits in sources:
        for agency in credits.agencies:
            Credits._add(agencies, agency)
        persons = [p for p in credits.persons if _name_key(p) not in organisations]
        if not authors and persons:
            authors = persons
        organisations |= credits.organisation_keys
        if handles_open and not handles and credits.handles:
            handles = list(credits.handles)
        handles_open = handles_open and not credits.organisations
    return _drop_partial(authors) or handles, agencies
