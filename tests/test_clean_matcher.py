"""The cleaner's fast rule matching and the quality flags' single pass give the plain answers."""
import unicodedata

import pytest

from tests.support.golden import load_golden
from transforms.clean import _inner, _Lines, _matcher, load_rules, match_key
from transforms.quality import (is_link_heavy, is_short, mt_garbage, quality_flags,
                                quality_flags_of_lines, word_parts)

# Lines made up to reach the "contains" patterns (`.*X.*`) of the notices, in the
# middle of a line, at its edges, glued inside a longer word, and near misses.
NOTICE_LINES = [
    "We use cookies to give you the best experience on our website.",
    "Diese Website verwendet Cookies, um Ihnen ein besseres Erlebnis zu bieten.",
    "© 2024 Example Media. All rights reserved.",
    "Alle Rechte vorbehalten. Nachdruck nur mit Genehmigung.",
    "Sign up for our newsletter and never miss a story again",
    "Something went wrong, please try again later.",
    "To continue reading this article, please subscribe.",
    "Pour lire la suite de cet article, abonnez-vous.",
    "Your browser does not support the video tag.",
    "Please enable JavaScript to view the comments.",
    "Bitte aktivieren Sie JavaScript, um diese Seite zu sehen.",
    "This article contains affiliate links; we may earn a commission.",
    "Advertisement - the story continues below",
    "nocookies and unreserved rights, allrightsreserved",
    "The rights were all reserved for the winners of the cup.",
    "(All rights reserved)",
]
LANGUAGES = [None, ("de", "en"), ("fr", "en"), ("es", "en"), ("it", "en"), ("pl", "en")]


def test_contains_patterns_are_recognised_exactly():
    assert _inner(r".*\bfoo (?:x|y)\b.*") == r"\bfoo (?:x|y)\b"
    assert _inner(".*(?:a|b)c.*") == "(?:a|b)c"
    assert _inner(".*a|b.*") is None            # an alternation, not `.*X.*`
    assert _inner(r".*a\.*") is None             # ends with an escaped dot repeated
    assert _inner("a.*") is None and _inner(".*") is None
    assert _inner("(.*a.*)") is None             # a group: left to fullmatch


def test_match_key_folds_quotes_and_dashes_ascii_or_not():
    assert match_key("It`s over") == match_key("It’s over") == "it's over"
    assert match_key("«Lire aussi» – la suite") == 'lire aussi" - la suite'  # edges stripped
    assert match_key("Écrit par") == "ecrit par"


def test_patterns_with_groups_are_not_split():
    from transforms.clean import _Matcher
    matcher = _Matcher([r".*\bfoo\b.*", r"(ab)\1"])
    assert matcher.bounded is None and matcher.anywhere is None
    assert matcher("abab") and matcher("a foo b") and not matcher("abba")


@pytest.fixture(scope="module")
def keys():
    texts = [doc["text"] for doc in load_golden()] + ["\n".join(NOTICE_LINES)]
    found = set()
    for text in texts:
        lines = _Lines(text)
        found |= {k for k in lines.keys if k}
        # the bracketed form the cleaner also tries, and a line trimmed of its end
        found |= {match_key(line[:len(line) // 2]) for line in lines.lines}
    return sorted(found)


def test_matcher_agrees_with_fullmatch_of_the_rule(keys):
    assert len(keys) > 100
    hits = 0
    for rule in load_rules():
        for languages in LANGUAGES:
            regex, matcher = rule.regex(languages), _matcher(rule, languages)
            assert (regex is None) == (matcher is None)
            if regex is None:
                continue
            for key in keys:
                expected = bool(regex.fullmatch(key))
                assert matcher(key) == expected, (rule.kind, languages, key)
                hits += expected
    assert hits > 50  # the comparison covers lines that match, not only misses


def test_notice_lines_are_found_by_the_split_matcher():
    notices = next(r for r in load_rules() if r.kind == "notices")
    matcher = _matcher(notices, None)
    assert matcher.bounded is not None and matcher.anywhere is not None
    found = [line for line in NOTICE_LINES if matcher(match_key(line))]
    assert "We use cookies to give you the best experience on our website." in found
    assert "© 2024 Example Media. All rights reserved." in found
    assert "The rights were all reserved for the winners of the cup." not in found


@pytest.mark.parametrize("text", [
    "",
    "Trois mots seulement",
    "東京女子医大の新校舎建設工事\n東京\n大阪\n名古屋の新校舎建設工事",  # odd counts per line
    "Steve Wich Wich Wichoff est arrivé\n" + "Une phrase qui se termine bien. " * 20,
    "\n".join(f"- Titre d'un autre article numéro {i}" for i in range(8)),
    "Ｘ\n" * 60,
    "FrastrastrastRastrast und nichts\n" * 3 + "Ein Satz. " * 60,
    "\u00a8 a line whose NFKC form starts with a space\n\u00a8\n" + "- item\n" * 5,
])
def test_single_pass_flags_equal_the_separate_checks(text):
    expected = [name for name, check in (("mt_garbage", mt_garbage), ("short_text", is_short),
                                         ("link_heavy", is_link_heavy)) if check(text)]
    assert quality_flags(text) == expected
    # what the cleaner passes: its stripped lines, NFKC-normalised, with their word parts
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    nfkc = [unicodedata.normalize("NFKC", line) for line in lines]
    assert quality_flags_of_lines(nfkc, [word_parts(line) for line in nfkc]) \
        == quality_flags("\n".join(lines)) == expected


def test_short_text_counts_unspaced_characters_over_the_whole_text():
    # 25 lines of one CJK character: 13 words for the text (not 25, one per line)
    text = "\n".join(["東"] * 25) + "\n" + " ".join(["mot"] * 40)
    assert quality_flags(text)[:1] == []
    assert is_short(text) is False and "short_text" not in quality_flags(text)
    assert "short_text" in quality_flags("\n".join(["東"] * 25) + "\n" + " ".join(["mot"] * 36))


# --- pre-checks and short cuts give the plain answers ----------------------

import re  # noqa: E402

from transforms import quality  # noqa: E402
from transforms.clean import (_is_prose, _is_sentence, _required, _required_strings,  # noqa: E402
                              _strip_edges, clean_text)
from transforms.quality import word_count  # noqa: E402

_PLAIN_EDGES = re.compile(r"^[^\w©(\[]+|[^\w)\]]+$")
_PLAIN_SENTENCE_END = re.compile(r"[.!?…:;\"'»”)。！？」』]\s*$")
_PLAIN_FULL_STOP = re.compile(r"[.。][\"'»”)]?\s*$")


def _plain_mt_garbage(norm: str) -> bool:
    """The three tests of `mt_garbage` as plain regexes, without pre-checks."""
    if quality._XNUMX.search(norm):
        return True
    if any(m.group(1)[0].isupper() for m in quality._STUTTER.finditer(norm)):
        return True
    runs = " ".join(quality._LONG_RUN.findall(norm.casefold()))
    return any(len(set(m.group(1))) > 1 for m in quality._REPEATED_UNIT.finditer(runs))


GARBAGE_PROBES = [
    *(f"le mot {'abcdefghijkl'[:n] * k} suit" for n in range(2, 14) for k in (2, 3, 4)),
    *(f"{'ΑβγδεζηθικλΜ'[:n] * 3} и {'абвгдежзийкл'[:n] * 3}" for n in (3, 5, 12)),
    "aaaaaaaaaaaa bbbbbbbbbbbbbbb", "aaaaaaaaaaaaabcabcabc", "xyzabcabcabcabc",
    "Путин Путин Путин", "путин путин путин", "Ωμέγα Ωμέγα Ωμέγαρ", "xWich Wich Wich",
    "Wich Wich  Wich", "Wich Wich", "Wi Wi Wi", "WICH WICH WICH", "Ǆemal Ǆemal Ǆemal",
    "ǅemal ǅemal ǅemal", "1,300 XNUMX km", "XNUMXL", "aXNUMX", "Straße straße STRASSE" * 3,
    "𝐀𝐁𝐂 𝐀𝐁𝐂 𝐀𝐁𝐂", "𐐀𐐨𐐩 𐐀𐐨𐐩 𐐀𐐨𐐩", "ab1ab1ab1ab1", "abc_abc_abc_abc", "---------",
    "abc abc abc abc", "", "ab", "東京東京東京東京", "ﬁxﬁxﬁxﬁx ﬁx",
    "x" * 70000 + " Frastrastrastrast", "Un texte normal. " * 5000 + "Wich Wich Wich",
]


@pytest.mark.parametrize("text", GARBAGE_PROBES)
def test_mt_garbage_pre_checks_give_the_plain_answer(text):
    norm = unicodedata.normalize("NFKC", text)
    assert quality._mt_garbage(norm) == _plain_mt_garbage(norm)


def test_mt_garbage_pre_checks_find_what_the_plain_tests_find():
    found = [t for t in GARBAGE_PROBES if _plain_mt_garbage(unicodedata.normalize("NFKC", t))]
    assert len(found) > 30  # the probes reach the positive side of each test


def test_letter_table_is_exact_in_the_bmp_and_inclusive_above():
    letter, upper = quality._bmp_letters()
    bmp = "".join(map(chr, range(0x10000)))
    expected = {m.start() for m in re.finditer(r"[^\W\d_]", bmp)}
    assert set(map(int, letter[:0x10000].nonzero()[0])) == expected
    assert letter[0x10000:].all()
    upper_class = re.compile(f"[{upper}]")
    assert {m.start() for m in upper_class.finditer(bmp)} == {i for i in expected if bmp[i].isupper()}


def test_word_characters_are_isalnum_or_underscore():
    every = "".join(map(chr, range(0x110000)))
    assert [m.start() for m in re.finditer(r"\w", every)] == [
        i for i, ch in enumerate(every) if ch.isalnum() or ch == "_"]


@pytest.mark.parametrize("text", [
    "", "!", "©", "©©", "(x", "!(", "!!)", "«Lire aussi» – la suite", "--- a ---", "a_", "_a_",
    "(photo: afp)", "[1]", "x]]", "©2024 ...", "…", "«»", "Ⅻ.", "²!", " a ", "a\u0301!",
])
def test_edges_are_stripped_as_the_plain_regex_strips_them(text):
    assert _strip_edges(text) == _PLAIN_EDGES.sub("", text)


@pytest.mark.parametrize("line", [
    "", " ", "a.", "a. ", "a.\u3000", "a.»", "a.”  ", "a.\"'", "a'", "a)", "a;", "a」",
    "a。", "a。」", "a!»", "a:", "a", ".", "»", "a .)", "a.\u00a0",
])
def test_line_endings_read_as_the_plain_regexes_read_them(line):
    for words in (0, 7, 8, 24, 25):
        assert _is_prose(line, words) == (words >= 25 or (
            words >= 8 and bool(_PLAIN_SENTENCE_END.search(line))))
        assert _is_sentence(line, words) == (words >= 25 or (
            words >= 8 and bool(_PLAIN_FULL_STOP.search(line))))


def _parsed(pattern):
    import re._parser as sre_parse
    parsed = sre_parse.parse(pattern)
    return _required(parsed, parsed.state.flags)


def test_required_strings_of_a_pattern():
    assert _parsed("abc") == {"abc"}
    assert _parsed(r"(?:read|view)\b.{0,20}\bcookies?\b") == {"cookie"}
    assert _parsed("x(?:ab|cd)y") == {"ab", "cd"}
    assert _parsed("(?:abcd)?e") == {"e"}           # an optional group is not required
    assert _parsed("(?:abcd)+e") == {"abcd"}
    assert _parsed("(?:ab|)c") == {"c"}             # an empty branch requires nothing
    assert _parsed("(?i)abc") is None and _parsed("x(?i:abc)") == {"x"}
    assert _parsed(".*") is None
    assert _required_strings(re.compile("ab|cdef")) is None  # too short to help
    assert _required_strings(re.compile("abcd|abcdef|wxyz")) == ("abcd", "wxyz")


def test_every_key_a_rule_matches_holds_one_of_its_required_strings(keys):
    for rule in load_rules():
        for languages in LANGUAGES:
            matcher = _matcher(rule, languages)
            for regex, match, required in (matcher._checks if matcher else []):
                for key in keys:
                    if required is not None and match(key):
                        assert any(s in key for s in required), (rule.kind, key)


def test_clean_result_word_count_is_the_word_count_of_its_text():
    texts = [doc["text"] for doc in load_golden()] + [
        "™\nＡＢＣ ｄｅｆ\n½ ① ㈱\n東京女子医大の新校舎建設工事\n" + "Un mot. " * 40]
    for text in texts:
        result = clean_text(text)
        assert result.word_count == word_count(result.text)


def test_required_finder_finds_exactly_the_strings_a_key_contains(keys):
    from transforms.clean import _RequiredFinder, _rule_set
    strings = ["abc-d", "c-def", "cookie", "cookie settings", "settings", "kie s", "a", "ab",
               "b", "xyz", "yz", "z"]
    finder = _RequiredFinder(strings)
    probes = ["abc-def", "xcookie settings", "cookies", "xyzab", "", "zzz", "settingsabc-d",
              "c-dc-def", "yzxyz"]
    for key in probes:
        assert finder(key) == {s for s in strings if s in key}, key
    for languages in LANGUAGES:
        rule_set = _rule_set(load_rules(), languages)
        required = {s for _, m in rule_set.compiled if m for s in m.required}
        assert len(required) > 50
        found_any = 0
        for key in keys:
            found = rule_set.find(key)
            assert found == {s for s in required if s in key}, key
            found_any += bool(found)
        assert found_any > 20
    assert _RequiredFinder([])("anything") == set()


@pytest.mark.parametrize("key", [
    "", "...", "a b c a b c", "le mot le mot le mot", "x y z w x y z w", "Un titre complet ici",
    "l'homme l'homme l'homme l homme l homme l homme", "a-b c a-b c a-b c", "abc abcd abc abcd",
])
def test_pre_check_of_titles_and_doubled_lines_never_skips_one(key):
    from transforms.clean import _doubled, _may_repeat, _title_keys, _tokens
    titles = _title_keys("Un titre complet ici") | _title_keys("Le mot, le mot, le mot")
    firsts = {k.split(" ", 1)[0] for k in titles}
    tokens = _tokens(key)
    if tokens in titles or _doubled(tokens):
        assert _may_repeat(key, firsts)
    assert not _may_repeat("un autre texte", set())


@pytest.mark.parametrize("text", [
    "", " ", "a", "_", "__ a", "-- — –", "«Un» mot", "(1)", "a_b _c", "x\u00a0y\u3000z\tw",
    "東京女子医大の新校舎建設工事", "Tokyo 東京 abc", "東a京", "ｗｏｒｄ ²", "… ... !!", "①②",
    "l'homme, «vraiment» — oui?", "\u200b", "a\u200bb", "\u0301x", "ไทย ภาษา",
])
def test_word_parts_count_as_the_plain_regexes(text):
    unspaced = len(quality._UNSPACED.findall(text))
    spaced = quality._UNSPACED.sub(" ", text) if unspaced else text
    assert quality.word_parts(text) == (len(quality._WORD.findall(spaced)), unspaced)
