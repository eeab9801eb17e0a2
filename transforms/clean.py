"""Boilerplate cleaning: drop the site chrome that extraction leaves in the text.

The text is taken line by line (one line = one paragraph). Each line is matched,
on a normalised key (NFKC, casefolded, accents removed), against the rules of
`boilerplate_rules.json`: a table of block kinds with patterns per language. So
styled letters (mathematical bold, full-width) cannot hide boilerplate, while the
kept lines keep their original characters. Besides the table, two rules use the
article's metadata: a line equal to the title is a `repeated_headline`, and a
line equal to the site name at the top or bottom is the `site_name`; a line made
of the same words twice (a link card) is a related link. Table rows are content.

Position matters: the table says where a rule applies (anywhere, in the top
lines before the first prose paragraph, or in the bottom lines after the last
one), and a line longer than a rule's `max_words` never matches it, so no prose
paragraph is removed on a keyword alone. A related-links header also removes
the short link titles that follow it, up to the next prose paragraph.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import re._constants as sre_constants
import re._parser as sre_parse
import unicodedata
from pathlib import Path
from typing import Iterable, Optional

import apache_beam as beam

from schemas.records import Article, Reject
from transforms.common import REJECTS_TAG, ParDoWithRejects, StageResult, counter
from transforms.quality import quality_flags_of_lines, word_parts, words_of_parts

__all__ = ["CleanResult", "Rule", "clean_text", "load_rules", "match_key", "CleanBoilerplate",
           "RULES_PATH"]

STAGE = "clean"
RULES_PATH = Path(__file__).with_name("boilerplate_rules.json")
# A prose line: this many words ending like a sentence, or PROSE_WORDS_ANY words.
PROSE_WORDS = 8
PROSE_WORDS_ANY = 25
# A link title after a related-links header: at most this many words, not prose.
LINK_TITLE_WORDS = 25
LINK_LIST_MAX_LINES = 15
# Lines longer than this are never matched (no rule or headline is that long).
KEY_MAX_WORDS = 60

# The characters a sentence ends with (the last one that is not a space).
_SENTENCE_END = frozenset(".!?…:;\"'»”)。！？」』")
_FOLD_SOURCE = {"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'",
                "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
                "–": "-", "—": "-", "−": "-", "‐": "-", "‑": "-"}
_FULL_STOP = frozenset(".。")
_AFTER_FULL_STOP = frozenset("\"'»”)")
# Edge punctuation is stripped, except a leading "©" and enclosing brackets.
_LEADING_PUNCT = re.compile(r"[^\w©(\[]+")
_KEPT_AT_END = frozenset("_)]")
# The characters _FOLD_SOURCE changes: text without them is not translated.
_FOLD_CHARS = re.compile("[" + "".join(_FOLD_SOURCE) + "]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_BRACKETED = re.compile(r"^[(\[](.*)[)\]]$")
_TOKEN = re.compile(r"\w+")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—:»/·•]\s+")


@dataclasses.dataclass
class CleanResult:
    """What the cleaner keeps, removes and warns about."""

    text: str                      # kept paragraphs, original characters, joined by "\n"
    removed_blocks: list[dict]     # [{"kind": "image_labels", "text": "Image 1 Image 2"}, ...]
    quality_flags: list[str]       # e.g. ["mt_garbage"], ["short_text"], ["link_heavy"]
    word_count: int = 0            # transforms.quality.word_count(text)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the boilerplate table."""

    kind: str
    where: str                           # anywhere | top | bottom | edges
    max_words: int
    then: Optional[str]                  # "link_list" or None
    not_prose: bool                      # never matches a line that reads like prose
    patterns: tuple[tuple[str, tuple[str, ...]], ...]  # (language or "*", regexes)

    def regex(self, languages: Optional[tuple[str, ...]]) -> Optional[re.Pattern]:
        """The rule's patterns for these languages (None = all) as one regex."""
        return _compile(self, languages)


def _chosen(rule: Rule, languages: Optional[tuple[str, ...]]) -> list[str]:
    return [p for lang, pats in rule.patterns
            if languages is None or lang == "*" or lang in languages for p in pats]


@functools.lru_cache(maxsize=None)
def _compile(rule: Rule, languages: Optional[tuple[str, ...]]) -> Optional[re.Pattern]:
    chosen = _chosen(rule, languages)
    if not chosen:
        return None
    return re.compile("|".join(f"(?:{p})" for p in chosen))


def _alternation(patterns: list[str], prefix: str = "") -> Optional[re.Pattern]:
    return re.compile(prefix + "(?:" + "|".join(f"(?:{p})" for p in patterns) + ")") \
        if patterns else None


_ANY_RUN = (sre_constants.MAX_REPEAT, (0, sre_constants.MAXREPEAT, [(sre_constants.ANY, None)]))


def _plain(node):
    """A parsed regex as nested lists and tuples, comparable with ==."""
    if isinstance(node, sre_parse.SubPattern):
        node = node.data
    if isinstance(node, (list, tuple)):
        return type(node)(_plain(x) for x in node)
    return node


def _inner(pattern: str) -> Optional[str]:
    """X when the pattern is exactly `.*X.*` (X a sequence, no top-level `|`), else None."""
    try:
        items = _plain(sre_parse.parse(pattern))
        if len(items) < 3 or items[0] != _ANY_RUN or items[-1] != _ANY_RUN:
            return None
        inner = pattern[2:-2]
        return inner if _plain(sre_parse.parse(inner)) == items[1:-1] else None
    except (re.error, TypeError, ValueError):
        return None


_ALL_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                sre_constants.POSSESSIVE_REPEAT)
# A pre-check with a string shorter than this would pass nearly every line.
MIN_REQUIRED_CHARS = 3


def _shortest(strings: frozenset[str]) -> int:
    """Length of the shortest string, spaces around it not counted (' the ' is common)."""
    return min(len(s.strip()) for s in strings)


def _narrower(a: Optional[frozenset[str]], b: Optional[frozenset[str]]) -> Optional[frozenset[str]]:
    """Of two sets of required strings, the one with the longer shortest string."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=lambda s: (_shortest(s), -len(s)))


def _required(items, flags: int = 0) -> Optional[frozenset[str]]:
    """Strings one of which every match of a parsed pattern contains; None when unknown.

    Literal runs of the top-level sequence, alternations (one string per branch) and
    groups or repeats taken at least once count; anything case-insensitive does not.
    """
    if flags & sre_constants.SRE_FLAG_IGNORECASE:
        return None
    best, run = None, ""
    for op, av in items:
        if op is sre_constants.LITERAL:
            run += chr(av)
            continue
        if run:
            best, run = _narrower(best, frozenset([run])), ""
        found = None
        if op is sre_constants.SUBPATTERN:
            found = _required(av[3], flags | av[1])
        elif op is sre_constants.ATOMIC_GROUP:
            found = _required(av, flags)
        elif op is sre_constants.BRANCH:
            branches = [_required(branch, flags) for branch in av[1]]
            found = None if None in branches else frozenset().union(*branches)
        elif op in _ALL_REPEATS and av[0] >= 1:
            found = _required(av[2], flags)
        best = _narrower(best, found)
    return _narrower(best, frozenset([run])) if run else best


def _required_strings(pattern: re.Pattern) -> Optional[tuple[str, ...]]:
    """The pre-check of a pattern: strings one of which any key it matches contains, or
    None when no such strings of MIN_REQUIRED_CHARS or more are known."""
    parsed = sre_parse.parse(pattern.pattern)
    found = _required(parsed, parsed.state.flags)
    if not found or _shortest(found) < MIN_REQUIRED_CHARS:
        return None
    # A string that contains another is found only where that one is.
    return tuple(sorted(s for s in found if not any(o != s and o in s for o in found)))


class _Matcher:
    """A rule's `fullmatch`, split for speed; the same answer on a one-line key.

    A pattern `.*X.*` fully matches a line exactly when X is found in it (keys
    have no newline), and a search for X skips the backtracking of the leading
    `.*`. Those starting with `\\b` are searched together behind one `\\b`,
    so positions inside words are skipped at once. Each of the three regexes
    runs only on a key holding one of the strings its every match contains
    (`_required_strings`), instead of trying dozens of alternatives at every
    position of a line that matches none.
    """

    def __init__(self, patterns: list[str]):
        full, bounded, anywhere = [], [], []
        # Patterns with groups stay together: splitting would renumber their backreferences.
        grouped = any(re.compile(p).groups for p in patterns)
        for pattern in patterns:
            inner = None if grouped else _inner(pattern)
            if inner is None:
                full.append(pattern)
            elif inner.startswith("\\b") and _inner(f".*{inner[2:]}.*") == inner[2:]:
                bounded.append(inner[2:])
            else:
                anywhere.append(inner)
        self.full = _alternation(full)
        self.bounded = _alternation(bounded, "\\b")
        self.anywhere = _alternation(anywhere)
        self._checks = []
        for regex in (self.full, self.bounded, self.anywhere):
            if regex:
                required = _required_strings(regex)
                self._checks.append((regex, regex.fullmatch if regex is self.full else regex.search,
                                     None if required is None else frozenset(required)))
        self.required = frozenset().union(*(r for _, _, r in self._checks if r is not None))

    def __call__(self, key: str, present: Optional[set[str]] = None) -> bool:
        """Whether the rule matches the key; `present`: the strings of `self.required`
        the key contains, when already known (`_RequiredFinder`)."""
        for _, match, required in self._checks:
            if required is not None:
                if present is None:
                    present = {s for s in self.required if s in key}
                if required.isdisjoint(present):
                    continue
            if match(key):
                return True
        return False


def _trie_pattern(strings: list[str]) -> str:
    """A regex of the strings as a trie: at each start it matches the longest of them."""
    trie: dict = {}
    for string in strings:
        node = trie
        for char in string:
            node = node.setdefault(char, {})
        node[""] = {}

    def branch(node: dict) -> str:
        children = [re.escape(c) + branch(node[c]) for c in sorted(node) if c]
        if not children:
            return ""
        body = children[0] if len(children) == 1 else "(?:" + "|".join(children) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longer string first
    return branch(trie)


class _RequiredFinder:
    """The strings of a set that a key contains, found in one regex scan.

    The strings form one trie regex that matches, at each start, the longest of
    them there; each match stands for every string of the set it contains (the
    shorter ones starting there, and those inside it). Searching again from the
    next position after each match visits every start, so the answer is exactly
    `{s for s in strings if s in key}` at the cost of about one pass.
    """

    def __init__(self, strings: Iterable[str]):
        strings = sorted(set(strings))
        self._search = re.compile(_trie_pattern(strings)).search if strings else None
        self._within = {s: frozenset(o for o in strings if o in s) for s in strings}

    def __call__(self, key: str) -> set[str]:
        found: set[str] = set()
        match = self._search(key) if self._search else None
        while match:
            found |= self._within[match.group()]
            match = self._search(key, match.start() + 1)
        return found


@functools.lru_cache(maxsize=None)
def _matcher(rule: Rule, languages: Optional[tuple[str, ...]]) -> Optional[_Matcher]:
    chosen = _chosen(rule, languages)
    return _Matcher(chosen) if chosen else None


class _RuleSet:
    """A rule table's matchers for some languages, and one finder of the strings they require."""

    def __init__(self, rules: tuple[Rule, ...], languages: Optional[tuple[str, ...]]):
        self.compiled = [(rule, _matcher(rule, languages)) for rule in rules]
        self.find = _RequiredFinder(s for _, m in self.compiled if m for s in m.required)


@functools.lru_cache(maxsize=64)
def _rule_set(rules: tuple[Rule, ...], languages: Optional[tuple[str, ...]]) -> _RuleSet:
    return _RuleSet(rules, languages)


@functools.lru_cache(maxsize=4)
def load_rules(path: str | Path = RULES_PATH) -> tuple[Rule, ...]:
    """The rules of a boilerplate table file, in file order."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    rules = []
    for row in table["rules"]:
        patterns = tuple((lang, tuple(pats)) for lang, pats in row["patterns"].items())
        rules.append(Rule(kind=row["kind"], where=row.get("where", "anywhere"),
                          max_words=int(row.get("max_words", 10)), then=row.get("then"),
                          not_prose=bool(row.get("not_prose", False)), patterns=patterns))
    return tuple(rules)


def match_key(line: str) -> str:
    """The form rules match on: NFKC, casefolded, accents removed, punctuation folded."""
    text = unicodedata.normalize("NFKC", line).casefold()
    if _FOLD_CHARS.search(text):
        for char, folded in _FOLD_SOURCE.items():  # one character each: str.translate
            if char in text:
                text = text.replace(char, folded)
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return _strip_edges(" ".join(text.split()))


def _strip_edges(text: str) -> str:
    """The text without the punctuation at its edges: `^[^\\w©(\\[]+|[^\\w)\\]]+$` removed."""
    leading = _LEADING_PUNCT.match(text)
    start, end = (leading.end() if leading else 0), len(text)
    while end > start and not (text[end - 1].isalnum() or text[end - 1] in _KEPT_AT_END):
        end -= 1  # `\\w` is str.isalnum() or "_"
    return text[start:end]


def _token_key(text: str) -> str:
    return _tokens(match_key(text))


def _tokens(key: str) -> str:
    return " ".join(_TOKEN.findall(key))


def _title_keys(title: Optional[str]) -> set[str]:
    """The title and, when it has separators, its parts of four words or more."""
    if not title:
        return set()
    keys = {_token_key(title)}
    for part in _TITLE_SEPARATORS.split(title):
        key = _token_key(part)
        if len(key.split()) >= 4:
            keys.add(key)
    return {k for k in keys if k}


def _may_repeat(key: str, title_firsts: set[str]) -> bool:
    """False when the key's tokens can be neither a title key nor `_doubled`: a cheap
    test before the tokens are joined. Both need the first token (`\\w+`) to start a
    title key, or to come back later in the key (the second half starts with it)."""
    first = _TOKEN.search(key)
    if first is None:
        return False  # no token: the empty key is neither
    return first.group() in title_firsts or key.find(first.group(), first.end()) >= 0


def _doubled(key: str) -> bool:
    """True for a line made of the same text twice, such as a link title and its alt text."""
    words = key.split()
    half = len(words) // 2
    return half >= 3 and len(words) % 2 == 0 and words[:half] == words[half:]


def _is_prose(line: str, words: int) -> bool:
    return words >= PROSE_WORDS_ANY or (words >= PROSE_WORDS and line.rstrip()[-1:] in _SENTENCE_END)


def _is_sentence(line: str, words: int) -> bool:
    """Reads like a sentence, not a title: long, or ending with a full stop (a quote or
    bracket may follow it)."""
    if words >= PROSE_WORDS_ANY:
        return True
    end = line.rstrip()[-2:]
    return words >= PROSE_WORDS and (end[-1:] in _FULL_STOP or (
        end[-1:] in _AFTER_FULL_STOP and end[:1] in _FULL_STOP))


def _languages(language: Optional[str]) -> Optional[tuple[str, ...]]:
    """Rule languages to try: the hint plus English (common in site chrome), or all."""
    lang = (language or "").replace("_", "-").split("-")[0].lower()
    if not lang or lang == "und":
        return None
    return (lang, "en")


class _Lines:
    """The lines of a text with what the rules need to know about each."""

    def __init__(self, text: str):
        self.lines = [line.strip() for line in text.splitlines() if line.strip()]
        nfkc = self.nfkc = [unicodedata.normalize("NFKC", line) for line in self.lines]
        self.parts = [word_parts(line) for line in nfkc]
        self.words = [spaced + (unspaced + 1) // 2 for spaced, unspaced in self.parts]
        # Longer lines are prose that no rule may touch: they need no key.
        self.keys = [match_key(line) if n <= KEY_MAX_WORDS else ""
                     for line, n in zip(self.lines, self.words)]
        self.prose = [_is_prose(line, n) for line, n in zip(nfkc, self.words)]
        self.sentence = [_is_sentence(line, n) for line, n in zip(nfkc, self.words)]
        # Table rows ("| a | b |", as extraction writes tables) are content: no rule applies.
        self.table = [line.startswith("|") and line.endswith("|") and line.count("|") >= 3
                      for line in self.lines]
        self.kinds: list[Optional[str]] = [None] * len(self.lines)
        self._bracketed: dict[int, Optional[str]] = {}
        self.find: Optional[_RequiredFinder] = None  # set by clean_text
        self._present: dict[str, set[str]] = {}

    def present(self, key: str) -> Optional[set[str]]:
        """The required strings of the rules that the key contains (None: no finder)."""
        if self.find is None:
            return None
        if key not in self._present:
            self._present[key] = self.find(key)
        return self._present[key]

    def bracketed(self, i: int) -> Optional[str]:
        """The key of the text inside the brackets that enclose line i's key, if they do."""
        if i not in self._bracketed:
            inner = _BRACKETED.match(self.keys[i])
            self._bracketed[i] = match_key(inner.group(1)) if inner else None
        return self._bracketed[i]

    def region(self) -> tuple[int, int]:
        """(first, last) index of a kept prose line; (len, -1) when there is none."""
        kept = [i for i, k in enumerate(self.kinds) if k is None and self.prose[i]]
        return (kept[0], kept[-1]) if kept else (len(self.lines), -1)


def _matches(rule: Rule, matcher: Optional[_Matcher], lines: _Lines, i: int,
             sentence: bool) -> bool:
    if not matcher or lines.words[i] > rule.max_words or (sentence and rule.not_prose):
        return False
    key = lines.keys[i]
    if matcher(key, lines.present(key)):
        return True
    inner = lines.bracketed(i)  # "(Photo: AFP)" also matches as "photo: afp"
    return inner is not None and matcher(inner, lines.present(inner))


def _apply_rules(lines: _Lines, compiled: list, wheres: set[str], top: int, bottom: int) -> None:
    """Marks each unmarked line with the kind of the first rule (in table order) it matches."""
    active = [(rule, matcher) for rule, matcher in compiled if matcher and rule.where in wheres]
    most_words = max((rule.max_words for rule, _ in active), default=-1)
    for i in range(len(lines.lines)):
        words = lines.words[i]
        if lines.kinds[i] is not None or lines.table[i] or words > most_words:
            continue  # longer than any rule allows
        sentence = lines.sentence[i]
        for rule, matcher in active:
            # _matches tests these too; here they skip the call
            if words > rule.max_words or (sentence and rule.not_prose):
                continue
            if rule.where != "anywhere" and not _in_region(rule.where, i, top, bottom):
                continue
            if _matches(rule, matcher, lines, i, sentence):
                lines.kinds[i] = rule.kind
                if rule.then == "link_list":
                    _take_link_list(lines, i, rule.kind, compiled)
                break


def _in_region(where: str, i: int, top: int, bottom: int) -> bool:
    if where == "top":
        return i < top
    if where == "bottom":
        return i > bottom
    if where == "edges":
        return i < top or i > bottom
    return True


def _take_link_list(lines: _Lines, header: int, kind: str, compiled: list) -> None:
    """Marks the link titles after a related-links header, up to the next prose line."""
    for j in range(header + 1, min(len(lines.lines), header + 1 + LINK_LIST_MAX_LINES)):
        if lines.kinds[j] is not None:
            continue
        if lines.prose[j] or lines.table[j] or lines.words[j] > LINK_TITLE_WORDS:
            break
        lines.kinds[j] = next((r.kind for r, regex in compiled if r.where == "anywhere"
                               and _matches(r, regex, lines, j, False)), kind)


def _removed_blocks(lines: _Lines) -> list[dict]:
    """Consecutive removed lines of one kind, as one block each."""
    blocks: list[dict] = []
    previous = None
    for line, kind in zip(lines.lines, lines.kinds):
        if kind is not None and kind == previous:
            blocks[-1]["text"] += "\n" + line
        elif kind is not None:
            blocks.append({"kind": kind, "text": line})
        previous = kind
    return blocks


def clean_text(text: str, *, title: Optional[str] = None, site_name: Optional[str] = None,
               language: Optional[str] = None, rules: Optional[tuple[Rule, ...]] = None,
               other_titles: Iterable[str] = ()) -> CleanResult:
    """Removes boilerplate lines from extracted text and flags doubtful text.

    Args:
        text: extracted main text, one paragraph per line.
        title: the article's headline; lines equal to it are removed.
        site_name: the publisher's name; a line equal to it is removed at the top/bottom.
        language: ISO 639-1 hint; None tries every language's rules.
        rules: a rule table (default: `boilerplate_rules.json`).
        other_titles: more forms of the headline (og:title, <h1>); those of four
            words or more are removed like the title.

    Returns:
        CleanResult with the kept lines joined by "\\n", the removed blocks and
        the quality flags of the kept text.
    """
    rules = load_rules() if rules is None else rules
    rule_set = _rule_set(rules, _languages(language))
    compiled = rule_set.compiled
    lines = _Lines(text or "")
    lines.find = rule_set.find
    titles = _title_keys(title)
    for other in other_titles:
        titles |= {k for k in _title_keys(other) if len(k.split()) >= 4}
    site = _token_key(site_name) if site_name else ""
    title_firsts = {k.split(" ", 1)[0] for k in titles}
    for i, line in enumerate(lines.lines):
        if lines.words[i] > KEY_MAX_WORDS or not _may_repeat(lines.keys[i], title_firsts):
            continue
        key = _tokens(lines.keys[i])
        if titles and key in titles:
            lines.kinds[i] = "repeated_headline"
        elif _doubled(key):
            lines.kinds[i] = "related_links"  # a link card: its title twice on one line
    _apply_rules(lines, compiled, {"anywhere"}, 0, 0)
    top, bottom = lines.region()
    for i, line in enumerate(lines.lines):
        if (lines.kinds[i] is None and site and (i < top or i > bottom)
                and lines.words[i] <= KEY_MAX_WORDS and _tokens(lines.keys[i]) == site):
            lines.kinds[i] = "site_name"
    _apply_rules(lines, compiled, {"top", "bottom", "edges"}, top, bottom)
    for i in range(bottom + 1, len(lines.lines)):
        if lines.kinds[i] is None and lines.words[i] == 0:
            lines.kinds[i] = "trailing_links"  # a lone symbol such as "+" or "→"
    kept = [i for i, kind in enumerate(lines.kinds) if kind is None]
    flags = quality_flags_of_lines([lines.nfkc[i] for i in kept],
                                   [lines.parts[i] for i in kept]) if kept else []
    # Word counts add up over lines; a line NFKC changes is counted again as it is written.
    words = words_of_parts([lines.parts[i] if lines.nfkc[i] == lines.lines[i]
                            else word_parts(lines.lines[i]) for i in kept])
    return CleanResult(text="\n".join(lines.lines[i] for i in kept),
                       removed_blocks=_removed_blocks(lines), quality_flags=flags,
                       word_count=words)


def _other_titles(article: Article) -> list[str]:
    """Headline forms seen in the page besides the resolved title."""
    meta, page = article.extracted_meta or {}, article.page_meta or {}
    found = [meta.get("title"), page.get("og_title"), *(page.get("h1") or [])]
    return [t for t in found if isinstance(t, str) and t and t != article.title]


class _CleanDoFn(beam.DoFn):
    def __init__(self, run_id: Optional[str]):
        self._run_id = run_id

    def setup(self):
        self._rules = load_rules()
        self._cleaned = counter(STAGE, "cleaned")
        self._empty = counter(STAGE, "empty_text")
        self._blocks = counter(STAGE, "removed_blocks")
        self._flagged = counter(STAGE, "flagged")

    def process(self, article: Article) -> Iterable:
        result = clean_text(article.text, title=article.title,
                            site_name=article.site_name or article.extracted_meta.get("sitename"),
                            language=article.language, rules=self._rules,
                            other_titles=_other_titles(article))
        if not result.text:
            self._empty.inc()
            yield beam.pvalue.TaggedOutput(REJECTS_TAG, Reject(
                url=article.url, feed_url=article.feed_url, stage=STAGE, reason="empty_text",
                http_status=article.http_status, error="no text left after boilerplate cleaning",
                run_id=self._run_id))
            return
        self._cleaned.inc()
        self._blocks.inc(len(result.removed_blocks))
        flags = list(article.quality_flags) + [f for f in result.quality_flags
                                               if f not in article.quality_flags]
        if flags:
            self._flagged.inc()
        yield dataclasses.replace(
            article, text=result.text, word_count=result.word_count,
            removed_blocks=list(article.removed_blocks) + result.removed_blocks,
            quality_flags=flags)


class CleanBoilerplate(beam.PTransform):
    """Article -> Article with boilerplate removed, `removed_blocks` and `quality_flags` set.

    An article with no text left is rejected with reason `empty_text`.
    """

    def __init__(self, run_id: Optional[str] = None):
        super().__init__()
        self._run_id = run_id

    def expand(self, articles) -> StageResult:
        return articles | "Clean" >> ParDoWithRejects(_CleanDoFn(self._run_id), STAGE, self._run_id)
