"""Same-story detection: which articles report the same event.

Pure functions under `transforms.dedup.Deduplicate`, also run in memory by
`scripts/eval_dedup.py` (`group_stories`). Steps:

1. `story_vector`: a sparse, L2-normalised vector of the text's distinctive
   features. Words are weighted by how rare they are in the language
   (`TermRarity`: wordfreq's background frequencies, so the weights do not
   depend on the batch and work on five documents as on fifty thousand);
   named entities (capitalised token runs, single and joined) and numbers
   get their own features and a higher weight.
2. `blocking_keys`: the few heaviest entity/number/word features of a
   document. Only documents sharing a key are compared (`candidate_pairs`);
   there is no all-pairs comparison.
3. `story_similarity`: cosine of the vectors, damped by the gap between
   publication days when both are known (`time_factor`).
4. Edges at or above `threshold` form connected components;
   `cluster_component` runs average-linkage clustering inside each
   component and splits a merge whose between-group similarity is below
   `cohesion` times the weaker group's internal similarity (two events of one
   kind, such as two earthquakes, share vocabulary but not cohesion).
5. `assign_story_ids`: a cluster takes the story id of an article seen in an
   earlier run, else an id derived from its first article.

Cross-language grouping can come later without changing the shape: entity
keys are accent-folded and numbers are language-neutral already, and an alias
table mapping entity keys to language-neutral ids (e.g. 'poutine', 'putin' ->
one id) would let vectors of different languages meet in the same blocks.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import math
import operator
import os
import re
import unicodedata
from collections import Counter, defaultdict
from typing import Iterable, Optional, Sequence, Union

__all__ = ["StoryParams", "StoryDoc", "TermRarity", "word_keys", "story_vector", "blocking_keys",
           "block_features", "bucketed", "time_buckets", "CompactVector", "edge_vector",
           "BlockMember", "block_member", "block_edges",
           "cosine", "time_factor", "story_similarity", "similarity_matrix", "candidate_pairs",
           "connected_components", "cluster_component", "assign_story_ids",
           "story_id_for", "group_stories"]


@dataclasses.dataclass(frozen=True)
class StoryParams:
    """The one setting of story detection (the same for every data set).

    Attributes:
        threshold: average similarity at which two groups are one story.
        cohesion: a merge also needs between >= cohesion * min(within).
        min_split: both groups need this many articles for the cohesion rule.
        grace_days: publication gap with no penalty.
        time_scale_days: e-folding of the penalty beyond the grace.
        max_features: features kept per vector (bounds state size).
        block_keys: blocking keys per document.
        edge_features: features of the (renormalised) vectors that find edges;
            clustering inside components uses the whole vectors.
        min_shared_features: candidates share at least this many block features.
        block_window_days: blocking keys carry a time bucket of this width
            (documents with a time are compared only within about two windows).
        max_block: blocks larger than this are too common to be distinctive.
        max_component: components larger than this are cut in order.
    """

    threshold: float = 0.15
    cohesion: float = 0.7
    min_split: int = 3
    grace_days: float = 3.0
    time_scale_days: float = 7.0
    max_features: int = 150
    block_keys: int = 12
    block_window_days: float = 7.0
    min_shared_features: int = 2
    edge_features: int = 40
    max_block: int = 300
    max_component: int = 1000


@dataclasses.dataclass
class StoryDoc:
    """What story detection knows of an article.

    Attributes:
        doc_id: the article_id.
        vector: `story_vector` of the text.
        day: publication time in days since the epoch (float), or None.
        order: sort key; the first article of a story is the smallest.
        story_id: set for articles of earlier runs (their story is fixed).
        time: days since the epoch used for blocking only (publication, else
            fetch time); None puts the article in the undated bucket.
    """

    doc_id: str
    vector: dict[str, float]
    day: Optional[float] = None
    order: tuple = ()
    story_id: Optional[str] = None
    time: Optional[float] = None


_KEY_BASE = 0x9E3779B97F4A7C15      # odd, so invertible modulo 2**64
_KEY_SEED = 0x2545F4914F6CDD1D
_KEY_POWERS: list = []              # [base**i, base**-i] modulo 2**64, grown on demand


def _key_powers(n: int):
    if not _KEY_POWERS or len(_KEY_POWERS[0]) < n:
        import numpy as np
        size = max(1 << 16, 2 * n)
        powers = []
        for base in (_KEY_BASE, pow(_KEY_BASE, -1, 1 << 64)):
            steps = np.full(size, base, dtype=np.uint64)
            steps[0] = 1
            powers.append(np.multiply.accumulate(steps))      # wraps modulo 2**64
        _KEY_POWERS[:] = powers
    return _KEY_POWERS


def word_keys(words: Sequence[str], chunk: int = 4096):
    """A 64-bit key of each word (int64 numpy array), the same in every process.

    The key is a polynomial hash of the word's raw bytes as CPython stores
    the str (Latin-1, UCS-2 or UCS-4 code units, little-endian), the bytes
    CPython's own `hash(str)` hashes: two words share a key exactly when they
    share a `hash()` (such as 'ab' and U+6261), as in the tables of earlier
    versions, which were keyed on `hash()` (salted per process, so never
    cached). Computed for all words at once with numpy.
    """
    import numpy as np
    if len(words) > chunk:
        return np.concatenate([word_keys(words[i:i + chunk], chunk) for i in range(0, len(words), chunk)])
    if not len(words):
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    joined = "".join(words)
    ends = np.cumsum(lengths)                      # character ends
    try:                                           # Latin-1 only: a byte a character
        values = np.frombuffer(joined.encode("latin-1"), dtype=np.uint8)
        size, end, last = lengths, ends, np.arange(len(values))
    except UnicodeEncodeError:
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)
        widest = np.maximum.reduceat(points, np.minimum(ends - lengths, len(points) - 1))
        unit = np.where(widest < 256, 1, np.where(widest < 65536, 2, 4))
        width = np.repeat(unit, lengths)           # bytes of each character
        size = lengths * unit                      # bytes of each word
        end = np.cumsum(size)
        last = np.cumsum(width) - 1                # index of each character's last byte
        # a character's bytes b0 b1 (b2 b3), little-endian, as one value: sum of b_t * base**(unit-1-t)
        base, byte = np.uint64(_KEY_BASE), np.uint64(0xFF)
        low, high = points & byte, (points >> np.uint64(8)) & byte
        values = np.where(width == 1, points, low * base + high)
        wide = width == 4
        if wide.any():
            third, fourth = (points[wide] >> np.uint64(16)) & byte, points[wide] >> np.uint64(24)
            values[wide] = ((low[wide] * base + high[wide]) * base + third) * base + fourth
    total = int(end[-1])
    up, down = _key_powers(total + 1)
    # sum of byte_i * base**(end - i) over each word's bytes i, from one prefix sum of
    # byte_i * base**-i (a character's bytes together: its value * base**-last)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(values * down[last], dtype=np.uint64, out=prefix[1:])
    keys = (prefix[ends] - prefix[ends - lengths]) * up[end] + np.uint64(_KEY_SEED) * up[size]
    return keys.view(np.int64)


class _RarityTable:
    """One language's list: sorted 64-bit word keys (`word_keys`) and their wordfreq bucket.

    About 10 bytes a word (2-3 MB a language) instead of a dict of strings
    and floats (about 20 MB); the same in every process, so it can be cached
    on disk (`_WordCache`).
    """

    __slots__ = ("hashes", "buckets")

    def __init__(self, words: Sequence[str], sizes: Sequence[int]):
        """`words`: the list's words, bucket after bucket; `sizes`: words per bucket."""
        import numpy as np
        hashes = word_keys(words)
        index = np.repeat(np.arange(len(sizes), dtype=np.uint16), sizes)
        order = np.argsort(hashes)
        ordered = hashes[order]
        first = np.empty(len(ordered), dtype=bool)
        first[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        # equal keys (equal raw bytes, such as 'ab' and U+6261, or a word listed
        # twice): the first-listed word's (most frequent) bucket wins
        starts = np.flatnonzero(first)
        if len(starts) < len(ordered):
            order = np.minimum.reduceat(order, starts)
        self.hashes, self.buckets = ordered[starts], index[order]

    @classmethod
    def from_arrays(cls, hashes, buckets) -> "_RarityTable":
        table = cls.__new__(cls)
        table.hashes, table.buckets = hashes, buckets
        return table

    def lookup(self, words: Sequence[str]):
        """Bucket index of each word; -1 for words not in the list."""
        import numpy as np
        keys = word_keys(words)
        if not len(self.hashes):
            return np.full(len(words), -1, dtype=np.int32)
        at = np.minimum(np.searchsorted(self.hashes, keys), len(self.hashes) - 1)
        found = self.hashes[at] == keys
        return np.where(found, self.buckets[at].astype(np.int32), -1)


def _cache_root() -> str:
    """newsbeam's cache folder: `$XDG_CACHE_HOME/newsbeam`, else `~/.cache/newsbeam`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "newsbeam")


class _WordCache:
    """Built tables as files: `<root>/wordfreq-<version>/<lang>-<buckets>-k1.npz`.

    Each file holds a `_RarityTable`'s sorted keys and buckets (10 bytes a
    word, 1.5-4 MB a language): reading one costs a millisecond or two
    instead of wordfreq's gzip + msgpack and the keys. A missing, unreadable
    or unwritable folder only means the tables are built from wordfreq
    (fresh workers have no cache). Files are written under a temporary name
    and renamed, so readers never see half a file.
    """

    def __init__(self, root: str, buckets: int):
        from importlib.metadata import version
        self.folder = os.path.join(root, f"wordfreq-{version('wordfreq')}")
        self.buckets = buckets

    def _path(self, lang: str) -> str:
        return os.path.join(self.folder, f"{lang}-{self.buckets}-k1.npz")

    def read(self, lang: str) -> Optional[_RarityTable]:
        import numpy as np
        try:
            with np.load(self._path(lang)) as data:
                hashes, buckets = data["hashes"], data["buckets"]
        except Exception:           # missing, unreadable or broken (a bad zip, no such array)
            return None
        if (hashes.dtype != np.int64 or buckets.dtype != np.uint16 or len(hashes) != len(buckets)
                or (len(buckets) and int(buckets.max()) >= self.buckets)
                or not np.all(hashes[1:] > hashes[:-1])):
            return None
        return _RarityTable.from_arrays(hashes, buckets)

    def write(self, lang: str, table: _RarityTable) -> bool:
        import tempfile

        import numpy as np
        tmp = None
        try:
            os.makedirs(self.folder, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.folder, prefix=f".{lang}-", suffix=".tmp",
                                             delete=False) as out:
                tmp = out.name
                np.savez(out, hashes=table.hashes, buckets=table.buckets)
            os.replace(tmp, self._path(lang))
            return True
        except OSError:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False


class TermRarity:
    """Background rarity of words per language, from wordfreq's frequency lists.

    `rarity(word, lang)` is `max(0, cut - zipf)`: 0 for the commonest words,
    `cut - unknown_zipf` for words rarer than `min_zipf` or unknown. Only
    words at or above `min_zipf` are kept (about 180k a language), as a
    compact `_RarityTable` (word keys and buckets, about 2-3 MB a language).
    Tables load lazily per language, from a file cache of built tables when
    there is one (`cache_dir`: a folder; True, the default, for
    `$XDG_CACHE_HOME/newsbeam` or `~/.cache/newsbeam`; None or False for no
    cache), else from wordfreq (and the cache is filled). `lookup` and
    `zipfs` look up many words at once (what `story_vector` uses). Share one
    instance per worker process (`DoFn.setup` with
    `apache_beam.utils.shared.Shared`); pickling drops the tables.
    """

    def __init__(self, cut: float = 6.0, default_language: str = "en", min_zipf: float = 1.5,
                 unknown_zipf: float = 1.0, cache_dir: Union[str, bool, None] = True):
        import numpy as np
        self.cut = cut
        self.default_language = default_language
        self.min_zipf = min_zipf
        self.unknown_zipf = unknown_zipf
        self.cache_dir = cache_dir
        self._last = int(round((9.0 - min_zipf) * 100))     # bucket i holds zipf 9 - i/100
        # zipf of bucket i, then of unknown words (index -1)
        self._zipf_of = np.array([round(9.0 - i / 100.0, 2) for i in range(self._last + 1)]
                                 + [unknown_zipf], dtype=np.float64)
        self._tables: dict[str, _RarityTable] = {}
        self._cache: Optional[_WordCache] = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tables"] = {}       # megabytes: each process loads its own
        state["_cache"] = None
        return state

    def _word_cache(self) -> Optional[_WordCache]:
        if self._cache is None and self.cache_dir:
            root = _cache_root() if self.cache_dir is True else str(self.cache_dir)
            try:
                self._cache = _WordCache(root, self._last + 1)
            except Exception:          # no wordfreq metadata: no cache
                self.cache_dir = None
        return self._cache

    def _table(self, lang: Optional[str]) -> _RarityTable:
        lang = (lang or "").lower().split("-")[0]
        table = self._tables.get(lang)
        if table is None:
            cache = self._word_cache()
            cacheable = cache is not None and lang.isascii() and lang.isalnum()
            table = cache.read(lang) if cacheable else None
            if table is None:
                import wordfreq
                # wordfreq caches every list it reads for good; read around the cache
                read = getattr(wordfreq.get_frequency_list, "__wrapped__", wordfreq.get_frequency_list)
                try:
                    buckets = read(lang)[:self._last + 1]
                except (LookupError, ValueError, KeyError, OSError):
                    if lang == self.default_language:
                        raise
                    table = self._tables[lang] = self._table(self.default_language)
                    return table
                table = _RarityTable(list(itertools.chain.from_iterable(buckets)),
                                     [len(words) for words in buckets])
                if cacheable:
                    cache.write(lang, table)
            self._tables[lang] = table
        return table

    def warm(self, languages: Iterable[str]) -> None:
        """Loads the tables of `languages` now (and so fills the cache, e.g. in an image build)."""
        for lang in languages:
            self._table(lang)

    def lookup(self, words: Sequence[str], lang: Optional[str]):
        """The zipf value of each word as a float64 array (`unknown_zipf` when not listed)."""
        return self._zipf_of[self._table(lang).lookup(words)]

    def zipfs(self, words: Sequence[str], lang: Optional[str]) -> list[float]:
        """The zipf value of each word (`unknown_zipf` when not listed), in one look-up."""
        if not words:
            return []
        return self.lookup(words, lang).tolist()

    def zipf(self, word: str, lang: Optional[str]) -> float:
        return self.zipfs([word], lang)[0]

    def rarity(self, word: str, lang: Optional[str]) -> float:
        return max(0.0, self.cut - self.zipf(word, lang))


_SENTENCE = re.compile(r"(?<=[.!?…»”\"])\s+|\n+")
_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,\u00a0\u202f ]\d{3})*(?:[.,]\d+)?")
_GROUPING = re.compile(r"[.,\u00a0\u202f ](?=\d{3}(?:\D|$))")
_ENTITY_MAX_ZIPF = 4.5     # a capitalised word this common is not a name
_INITIAL_MAX_ZIPF = 3.0    # sentence-initial words must be rarer still
_ENTITY_WEIGHT = 1.5
_NUMBER_WEIGHT = 6.0       # a specific number: 3+ digits, decimals (not a year)
_YEAR_WEIGHT = 3.0
_SMALL_NUMBER_WEIGHT = 2.0  # two digits: days, ages, counts; common, and not a blocking key
_YEAR = re.compile(r"(19|20)\d\d")
_ROUND = re.compile(r"\d?0+")


def _specific_number(body: str) -> bool:
    """Not a year, not a round number (100, 2000, 000), at least three digits."""
    return len(body) >= 3 and not _YEAR.fullmatch(body) and not _ROUND.fullmatch(body)


def _fold(text: str) -> str:
    """Lower case without accents: NFKD, combining marks dropped."""
    return "".join(itertools.filterfalse(unicodedata.combining,
                                         unicodedata.normalize("NFKD", text))).lower()


class _Memo(dict):
    """key -> `make(key)`, computed once per process (emptied at `limit` entries)."""

    def __init__(self, make, limit: int):
        super().__init__()
        self._make, self._limit = make, limit

    def __missing__(self, key):
        if len(self) >= self._limit:
            self.clear()
        value = self[key] = self._make(key)
        return value


_FOLDS = _Memo(_fold, 50_000)     # non-ASCII tokens: folded once per process, not per article


def _key(token: str) -> str:
    """The feature form of a token: lower case, accents folded."""
    return token.lower() if token.isascii() else _FOLDS[token]


_TOKEN_OR_BREAK = re.compile(f"{_TOKEN.pattern}|{_SENTENCE.pattern}")


def _tokens(text: str) -> tuple[list[str], set[int]]:
    """The tokens of a text (`_TOKEN`) and the positions of the sentences' first tokens.

    One scan for tokens and sentence breaks (`_SENTENCE`) together: no token
    contains a break, so these are the tokens of each sentence, in order.
    """
    pieces = _TOKEN_OR_BREAK.findall(text)
    breaks = list(map(str.isspace, pieces))      # tokens are letters or digits, breaks spaces
    starts = {0}
    if not any(breaks):
        return pieces, starts
    for before, at in enumerate(itertools.compress(itertools.count(), breaks)):
        starts.add(at - before)                  # tokens before this break
    return list(itertools.compress(pieces, map(operator.not_, breaks))), starts


def _entity_features(tokens: list[str], lows: list[str], starts: set[int], zipf: dict[str, float],
                     words: Counter) -> tuple[Counter, dict[str, str], list[int]]:
    """Name and number feature counts, the lower-case surface form of each, and their positions.

    Only the tokens that start with a capital or a digit are looked at: a
    capitalised token rare enough (and rarer still at a sentence start) joins
    the current run of names; a run ends at any other token or sentence
    break. The tokens taken as names are taken off `words` (the plain words).
    """
    counts: Counter = Counter()
    surface: dict[str, str] = {}
    consumed: list[int] = []
    special = {t for t in set(tokens) if t[0].isupper() or t[0].isdigit()}
    run: list[str] = []
    last = -2
    for j in itertools.compress(itertools.count(), map(special.__contains__, tokens)):
        token = tokens[j]
        first = j in starts
        if run and (j != last + 1 or first):
            _close_run(run, counts, surface)
        if token[0].isdigit():
            consumed.append(j)
            if run:
                _close_run(run, counts, surface)
            number = _GROUPING.sub("", token).replace(",", ".")
            if len(number) >= 2:
                counts["n:" + number] += 1
            continue
        low = lows[j]
        z = zipf[low]
        if z < _ENTITY_MAX_ZIPF and not (first and z >= _INITIAL_MAX_ZIPF):
            run.append(token)
            last = j
            words[low] -= 1
            consumed.append(j)
        elif run:
            _close_run(run, counts, surface)
    if run:
        _close_run(run, counts, surface)
    return counts, surface, consumed


def _close_run(run: list[str], counts: Counter, surface: dict[str, str]) -> None:
    """Counts a run of capitalised tokens: each token 'e:', the whole run 'E:'."""
    if len(run) == 1:                   # most runs: one name
        token = run[0]
        key = "e:" + _key(token)
        counts[key] += 1
        if key not in surface:
            surface[key] = token.lower()
        run.clear()
        return
    keys = [_key(token) for token in run]
    for token, key in zip(run, keys):
        key = "e:" + key
        counts[key] += 1
        if key not in surface:
            surface[key] = token.lower()
    joined = "E:" + "_".join(keys)
    counts[joined] += 1
    if joined not in surface:
        surface[joined] = "_".join(t.lower() for t in run)
    run.clear()


_NAME, _WEIGHT = operator.itemgetter(0), operator.itemgetter(1)
_LOGS: list = []      # [math.log of 0..m as a float64 array (0 at 0)]


def _log_table(n: int):
    """math.log of 0..n or more (0 at 0) as a float64 array, grown on demand.

    math.log, not numpy's log, so the weights are the bit-exact values of
    `(1 + math.log(tf)) * rarity`.
    """
    if not _LOGS or len(_LOGS[0]) <= n:
        import numpy as np
        size = max(1024, 2 * n + 1)
        _LOGS[:] = [np.array([0.0] + [math.log(i) for i in range(1, size)], dtype=np.float64)]
    return _LOGS[0]


def _word_weights(distinct: list[str], zipfs, words: Counter, lows: list[str],
                  consumed: list[int], cut: float):
    """The 'w:' features: their keys and weights (numpy), the words' rarities as a dict.

    A word is a feature when it occurs outside names, has three letters or
    more and a rarity above 0: weight (1 + ln tf) * rarity, computed for all
    words at once. Words folding to one key ('élan', 'elan') are one feature
    named after the first plain occurrence.
    """
    import numpy as np
    n = len(distinct)
    count = np.fromiter(map(words.__getitem__, distinct), dtype=np.int64, count=n)
    size = np.fromiter(map(len, distinct), dtype=np.int64, count=n)
    rarity = np.where(zipfs < cut, cut - zipfs, 0.0)
    rows = np.flatnonzero((count > 0) & (size >= 3))
    count, word_rarity = count[rows], rarity[rows]
    logs = _log_table(int(count.max(initial=1)))
    weights = np.where(count == 1, word_rarity, (1.0 + logs[count]) * word_rarity)
    plain = [distinct[i] for i in rows.tolist()]
    keys = [low if low.isascii() else _FOLDS[low] for low in plain]
    rarities = dict(zip(distinct, rarity.tolist()))
    if len(set(keys)) < len(keys):
        weights = _merge_folded(keys, plain, count.tolist(), weights, rarities, lows, consumed)
    keep = np.flatnonzero(weights > 0)
    return [keys[i] for i in keep.tolist()], weights[keep], rarities


def _merge_folded(keys, plain, counts, weights, rarities, lows, consumed):
    """Weights when words fold to one key: one feature of the summed count, the others 0."""
    shared = {key for key, n in Counter(keys).items() if n > 1}
    rows: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        if key in shared:
            rows.setdefault(key, []).append(row)
    skip = set(consumed)

    def first_plain(low: str) -> int:
        """Position of the first occurrence of `low` that is neither a name nor a number."""
        at = lows.index(low)
        while at in skip:
            at = lows.index(low, at + 1)
        return at

    weights = weights.copy()
    for members in rows.values():
        name = min((plain[r] for r in members), key=first_plain)
        count = sum(counts[r] for r in members)
        weights[members] = 0.0
        weights[members[0]] = (1.0 + math.log(count)) * rarities[name]
    return weights


def _weight(feature: str, body: str, rarity: dict[str, float]) -> float:
    """The weight of one feature; `rarity` maps lower-cased words to their rarity."""
    kind = feature[0]
    if kind == "n":
        if _specific_number(body):
            return _NUMBER_WEIGHT
        return _YEAR_WEIGHT if _YEAR.fullmatch(body) else _SMALL_NUMBER_WEIGHT
    if kind == "E":
        return max(rarity[part] for part in body.split("_")) * _ENTITY_WEIGHT + 1.0
    if kind == "e":
        return rarity[body] * _ENTITY_WEIGHT
    return rarity[body]


def story_vector(text: str, language: Optional[str], rarity: TermRarity,
                 title: Optional[str] = None, max_features: int = 150) -> dict[str, float]:
    """The L2-normalised feature vector of an article.

    Features: 'w:<word>' (rarity-weighted), 'e:<name>' and 'E:<full_name>'
    for capitalised runs, 'n:<number>'; weight (1 + ln tf) * rarity, the
    `max_features` heaviest kept (ties by name). The text is tokenised once,
    its distinct words looked up in the rarity table together and weighed
    together; names and numbers are looked at one by one, and only the
    features that can make the top get a name.
    """
    import numpy as np
    full = f"{title}\n{text}" if title and title.strip() not in (text or "")[:len(title) + 200] else (text or "")
    tokens, starts = _tokens(full)
    lows = list(map(str.lower, tokens))
    words = Counter(lows)
    distinct = [w for w in words if not w[0].isdigit()]
    zipfs = rarity.lookup(distinct, language) if distinct else np.zeros(0)
    counts, surface, consumed = _entity_features(tokens, lows, starts, dict(zip(distinct, zipfs.tolist())),
                                                 words)
    keys, weights, rarities = _word_weights(distinct, zipfs, words, lows, consumed, rarity.cut)
    others = {}
    log = math.log
    for feature, count in counts.items():
        w = _weight(feature, surface.get(feature, feature[2:]), rarities)
        if w > 0:
            others[feature] = w if count == 1 else (1.0 + log(count)) * w
    if len(keys) + len(others) > max_features:    # name only the candidates: weights >= the k-th largest
        every = np.concatenate((weights, np.fromiter(others.values(), dtype=np.float64, count=len(others))))
        kth = np.partition(every, len(every) - max_features)[len(every) - max_features]
        rows = np.flatnonzero(weights >= kth).tolist()
        keys, weights = [keys[i] for i in rows], weights[rows]
        items = [kv for kv in others.items() if kv[1] >= kth]
    else:
        items = list(others.items())
    items.extend(zip(["w:" + key for key in keys], weights.tolist()))
    names, values = zip(*_ranked(items)[:max_features]) if items else ((), ())
    norm = math.sqrt(sum(map(operator.mul, values, values))) or 1.0
    return dict(zip(names, map(round, map(operator.truediv, values, itertools.repeat(norm)),
                               itertools.repeat(6))))


def _ranked(items) -> list:
    """(feature, weight) pairs by weight, descending, then by name (two stable sorts)."""
    items = sorted(items, key=_NAME)
    items.sort(key=_WEIGHT, reverse=True)
    return items


def block_features(vector: dict[str, float], k: int = 8) -> list[str]:
    """The `k` heaviest features, years and one- or two-digit numbers excepted (too common)."""
    features = []
    for f, _ in _ranked(vector.items()):
        if not f.startswith("n:") or _specific_number(f[2:]):
            features.append(f)
            if len(features) == k:
                break
    return features


def bucketed(feature: str, time: Optional[float], window_days: Optional[float]) -> list[str]:
    """The block keys of one feature: 'feature|b' and 'feature|b+1' for time bucket b.

    Documents less than one window apart always share a bucket, and blocks
    stay bounded as a dataset grows over time; undated documents use 'u'.
    """
    if not window_days:
        return [feature]
    if time is None:
        return [f"{feature}|u"]
    bucket = math.floor(time / window_days)
    return [f"{feature}|{bucket}", f"{feature}|{bucket + 1}"]


def time_buckets(time: Optional[float], window_days: Optional[float]) -> list[str]:
    """The time buckets a document is blocked in: [b, b+1], ['u'] undated, [''] no windows."""
    if not window_days:
        return [""]
    if time is None:
        return ["u"]
    bucket = math.floor(time / window_days)
    return [str(bucket), str(bucket + 1)]


def blocking_keys(vector: dict[str, float], k: int = 8, time: Optional[float] = None,
                  window_days: Optional[float] = None) -> list[str]:
    """Block keys of a document: its `block_features`, each `bucketed` by time."""
    return [key for f in block_features(vector, k) for key in bucketed(f, time, window_days)]


class CompactVector:
    """A story vector as sorted 64-bit feature hashes and float32 weights.

    What the Beam graph ships between workers: a tenth of the size of the
    dict, and a numpy intersection for the cosine.
    """

    __slots__ = ("ids", "weights")

    def __init__(self, vector: dict[str, float]):
        import numpy as np
        blake2b = hashlib.blake2b
        ids = np.frombuffer(b"".join([blake2b(f.encode(), digest_size=8).digest() for f in vector]),
                            dtype="<i8").astype(np.int64)
        weights = np.fromiter(vector.values(), dtype=np.float64, count=len(ids))
        order = np.lexsort((weights, ids))           # by id (then weight, as sorted pairs were)
        self.ids, self.weights = ids[order], weights[order].astype(np.float32)

    @classmethod
    def from_arrays(cls, ids, weights) -> "CompactVector":
        """A CompactVector from the sorted hashes and weights of an earlier one."""
        vector = cls.__new__(cls)
        vector.ids, vector.weights = ids, weights
        return vector

    def __getstate__(self):
        return self.ids, self.weights

    def __setstate__(self, state):
        self.ids, self.weights = state

    def __len__(self):
        return len(self.ids)

    def top(self, k: int) -> "CompactVector":
        """The `k` heaviest features, renormalised."""
        import numpy as np
        if len(self.ids) > k:
            keep = np.sort(np.argsort(-self.weights, kind="stable")[:k])
            ids, weights = self.ids[keep], self.weights[keep]
        else:
            ids, weights = self.ids, self.weights
        norm = float(np.sqrt(np.dot(weights.astype(np.float64), weights))) or 1.0
        return CompactVector.from_arrays(ids, (weights / norm).astype(np.float32))


def edge_vector(vector, k: int) -> CompactVector:
    """The vector used to find edges: the `k` heaviest features, renormalised."""
    if isinstance(vector, dict):
        top = sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        norm = math.sqrt(sum(w * w for _, w in top)) or 1.0
        return CompactVector({f: w / norm for f, w in top})
    return vector.top(k)


@dataclasses.dataclass
class BlockMember:
    """What a document brings into each of its blocks."""

    doc_id: str
    order: tuple
    day: Optional[float]
    old: bool
    features: tuple
    buckets: tuple
    edge: CompactVector


def block_member(doc: StoryDoc, features: Sequence[str], params: StoryParams) -> BlockMember:
    return BlockMember(doc.doc_id, doc.order, doc.day, doc.story_id is not None, tuple(features),
                       tuple(time_buckets(doc.time, params.block_window_days)),
                       edge_vector(doc.vector, params.edge_features))


def block_edges(key: str, members: Sequence[BlockMember], params: StoryParams
                ) -> Iterable[tuple[str, str]]:
    """(earlier, later) story edges found in the block `key` ('feature|bucket').

    A pair is judged only in the block of its smallest shared feature and
    bucket (so once), when it shares `min_shared_features` block features,
    and is an edge when the similarity of the edge vectors, damped by time,
    reaches `threshold`. Earlier runs' articles are never the later one.
    """
    if len(members) < 2 or len(members) > params.max_block:
        return
    feature, bucket = key.rsplit("|", 1)
    members = sorted(members, key=lambda m: m.order)
    features = [frozenset(m.features) for m in members]
    buckets = [frozenset(m.buckets) for m in members]
    sim = None
    for j in range(1, len(members)):
        later = members[j]
        if later.old:
            continue
        for i in range(j):
            shared = features[i] & features[j]
            if len(shared) < params.min_shared_features or min(shared) != feature:
                continue
            if min(buckets[i] & buckets[j]) != bucket:
                continue
            if sim is None:          # the block's edge-vector similarities, all at once
                sim = similarity_matrix([StoryDoc(m.doc_id, m.edge, m.day) for m in members], params)
            if sim[i, j] >= params.threshold:
                yield members[i].doc_id, later.doc_id


def cosine(a, b) -> float:
    """Dot product of two normalised vectors (dicts or CompactVectors)."""
    if isinstance(a, CompactVector):
        import numpy as np
        _, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
        return float(np.dot(a.weights[ia].astype(np.float64), b.weights[ib]))
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(f, 0.0) for f, w in a.items())


def time_factor(day_a: Optional[float], day_b: Optional[float], params: StoryParams) -> float:
    """1 within `grace_days`, then exp(-(gap - grace) / time_scale); 1 when a date is missing."""
    if day_a is None or day_b is None:
        return 1.0
    gap = abs(day_a - day_b) - params.grace_days
    return 1.0 if gap <= 0 else math.exp(-gap / params.time_scale_days)


def story_similarity(a: StoryDoc, b: StoryDoc, params: StoryParams) -> float:
    """Cosine similarity of two articles, damped by their publication gap."""
    return cosine(a.vector, b.vector) * time_factor(a.day, b.day, params)


def candidate_pairs(block: Sequence[StoryDoc], params: StoryParams) -> Iterable[tuple[str, str]]:
    """Pairs (earlier id, later id) inside one block; none for oversized blocks.

    Blocks of earlier runs' articles only yield nothing (already grouped).
    """
    if len(block) < 2 or len(block) > params.max_block:
        return
    members = sorted(block, key=lambda d: d.order)
    for j in range(1, len(members)):
        if members[j].story_id is not None:
            continue
        for i in range(j):
            yield members[i].doc_id, members[j].doc_id


def connected_components(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> smallest node id of its component (union-find; in memory)."""
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in parent}


def _average_linkage(sim: list[list[float]], threshold: float, cohesion: float,
                     min_split: int) -> list[list[int]]:
    import numpy as np
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import squareform

    n = len(sim)
    s = np.asarray(sim, dtype=float)
    dist = np.clip(1.0 - s, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    root = to_tree(linkage(squareform(dist, checks=False), method="average"))

    def within(idx):
        m = s[np.ix_(idx, idx)]
        return (m.sum() - np.trace(m)) / (len(idx) * (len(idx) - 1))

    clusters, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_leaf():
            clusters.append([node.id])
            continue
        between = 1.0 - node.dist
        left, right = node.left.pre_order(), node.right.pre_order()
        if between >= threshold - 1e-9:
            if (len(left) < min_split or len(right) < min_split
                    or between >= cohesion * min(within(left), within(right))):
                clusters.append(left + right)
                continue
        stack.extend([node.right, node.left])
    return [sorted(c) for c in clusters if n]


def similarity_matrix(docs: Sequence[StoryDoc], params: StoryParams):
    """`story_similarity` of every pair of `docs` as one symmetric numpy matrix (diagonal 1).

    One sparse product of the (documents x features) matrix with its
    transpose, times the time factors, instead of a cosine per pair.
    """
    import numpy as np
    from scipy import sparse

    n = len(docs)
    if all(isinstance(d.vector, CompactVector) for d in docs):
        ids = [d.vector.ids for d in docs]
        weights = [np.asarray(d.vector.weights, dtype=np.float64) for d in docs]
        _, columns = np.unique(np.concatenate(ids) if n else np.zeros(0, np.int64), return_inverse=True)
    else:
        index: dict = {}
        ids = [list(d.vector) for d in docs]
        weights = [np.fromiter(d.vector.values(), dtype=np.float64, count=len(d.vector)) for d in docs]
        columns = np.array([index.setdefault(f, len(index)) for fs in ids for f in fs], dtype=np.int64)
    rows = np.repeat(np.arange(n), [len(i) for i in ids])
    data = np.concatenate(weights) if n else np.zeros(0)
    m = sparse.csr_matrix((data, (rows, columns.ravel())), shape=(n, int(columns.max(initial=-1)) + 1))
    sim = np.triu((m @ m.T).toarray(), 1)
    days = np.array([np.nan if d.day is None else d.day for d in docs], dtype=np.float64)
    gap = np.abs(days[:, None] - days[None, :]) - params.grace_days
    with np.errstate(invalid="ignore"):
        factor = np.where(gap > 0, np.exp(-gap / params.time_scale_days), 1.0)   # NaN gap: 1
    sim = sim * factor
    sim = sim + sim.T
    np.fill_diagonal(sim, 1.0)
    return sim


def cluster_component(docs: Sequence[StoryDoc], params: StoryParams) -> list[list[StoryDoc]]:
    """Average-linkage clusters of one component, with the cohesion rule.

    Components above `max_component` articles are cut into consecutive
    chunks in `order` first, which bounds the quadratic work.
    """
    docs = sorted(docs, key=lambda d: d.order)
    out = []
    for start in range(0, len(docs), params.max_component):
        chunk = docs[start:start + params.max_component]
        if len(chunk) == 1:
            out.append(chunk)
            continue
        sim = similarity_matrix(chunk, params)
        for group in _average_linkage(sim, params.threshold, params.cohesion, params.min_split):
            out.append([chunk[i] for i in group])
    return out


def story_id_for(first_doc_id: str) -> str:
    """The id of a new story, derived from its first article's id."""
    return hashlib.sha256(f"story:{first_doc_id}".encode()).hexdigest()[:32]


def assign_story_ids(cluster: Sequence[StoryDoc]) -> dict[str, str]:
    """doc_id -> story_id for the new articles of one cluster.

    A cluster holding articles of earlier runs continues their story (the
    most frequent, ties to the earliest); otherwise the story is named after
    its first article.
    """
    members = sorted(cluster, key=lambda d: d.order)
    known = Counter(d.story_id for d in members if d.story_id)
    if known:
        first_seen = {}
        for d in members:
            if d.story_id and d.story_id not in first_seen:
                first_seen[d.story_id] = len(first_seen)
        story = min(known, key=lambda s: (-known[s], first_seen[s]))
    else:
        story = story_id_for(members[0].doc_id)
    return {d.doc_id: story for d in members if d.story_id is None}


def group_stories(docs: Sequence[StoryDoc], params: StoryParams = StoryParams()) -> dict[str, str]:
    """doc_id -> story_id for the new docs: the whole method in memory.

    Same functions as the Beam transform (blocking, similarity, components,
    clustering), with union-find for the components; for evaluation and tests.
    """
    by_id = {d.doc_id: d for d in docs}
    blocks: dict[str, list[BlockMember]] = defaultdict(list)
    for d in docs:
        features = block_features(d.vector, params.block_keys)
        member = block_member(d, features, params)
        for feature in features:
            for bucket in member.buckets:
                blocks[f"{feature}|{bucket}"].append(member)
    edges = [edge for key in sorted(blocks) for edge in block_edges(key, blocks[key], params)]
    components: dict[str, list[StoryDoc]] = defaultdict(list)
    for doc_id, root in connected_components(by_id, edges).items():
        components[root].append(by_id[doc_id])
    stories = {}
    for members in components.values():
        for cluster in cluster_component(members, params):
            stories.update(assign_story_ids(cluster))
    return stories
