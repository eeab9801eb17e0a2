"""Measures the metadata and language stages against the shared evaluation data.

Prints one table: per dataset and field, the accuracy of trafilatura's metadata
alone next to ours (`transforms.metadata.resolve_metadata`,
`transforms.language.detect_language`). Pages go through the pipeline's own
extraction path (`transforms.extract.extract_document`); the parsed inputs are
cached under `.cache/eval_metadata/` (keyed by the extraction code) so reruns
only measure resolution. The definitions of every score are in docs/metadata.md.

Usage:
  python scripts/eval_metadata.py [--eval-dir ../shared/eval] [--jobs 2]
      [--datasets fundus,trafilatura-eval,mediacloud-metadata,lingua-langid]
      [--lingua-per-language 100] [--lingua-short-per-language 40]
      [--show-errors FIELD] [--refresh] [--time-language]
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import importlib.util
import multiprocessing
import os
import pickle
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from schemas.records import Article  # noqa: E402

CACHE = REPO / ".cache" / "eval_metadata"
DATASETS = ("fundus", "trafilatura-eval", "mediacloud-metadata", "lingua-langid")
SAMPLE_CHARS = 400  # the "bounded sample" of the language rows: a short excerpt


# ---------------------------------------------------------------- loading

def _eval_dir(arg: Optional[str]) -> Path:
    path = Path(arg or os.environ.get("NEWSBEAM_EVAL_DIR") or REPO.parent / "shared" / "eval")
    if not path.is_dir():
        sys.exit(f"evaluation data not found at {path} (set NEWSBEAM_EVAL_DIR)")
    return path


def _loader(eval_dir: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"eval_{name.replace('-', '_')}",
                                                  eval_dir / name / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load


def _code_key() -> str:
    digest = hashlib.sha256()
    for name in ("transforms/extract.py", "transforms/trafilatura_meta.py", "transforms/page_meta.py"):
        digest.update((REPO / name).read_bytes())
    from transforms.extract import EXTRACTION_SETTINGS
    import trafilatura
    digest.update(repr(sorted(EXTRACTION_SETTINGS.items())).encode() + trafilatura.__version__.encode())
    return digest.hexdigest()[:12]


_KEEP = ("id", "url", "expected_title", "expected_authors", "expected_date", "language",
         "kind", "publisher")


def _extract(item: dict) -> dict:
    from transforms.extract import extract_document
    doc = extract_document(item["html"], item["url"])
    out = {k: item.get(k) for k in _KEEP}
    out.update(text=doc.text, page_meta=doc.page_meta, extracted_meta=doc.extracted_meta)
    return out


def _wanted(name: str, item: dict) -> bool:
    if name == "trafilatura-eval":
        return any(item.get(k) is not None
                   for k in ("expected_title", "expected_authors", "expected_date"))
    return True


def prepared(eval_dir: Path, name: str, jobs: int, refresh: bool) -> list[dict]:
    """The dataset's pages run through extraction, cached by code version."""
    path = CACHE / f"{name}-{_code_key()}.pkl"
    if path.exists() and not refresh:
        return pickle.loads(path.read_bytes())
    items = [i for i in _loader(eval_dir, name)() if _wanted(name, i)]
    print(f"extracting {len(items)} pages of {name} ...", file=sys.stderr)
    with multiprocessing.get_context("spawn").Pool(max(1, min(jobs, 2))) as pool:
        rows = pool.map(_extract, items, chunksize=8)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


# ---------------------------------------------------------------- comparisons

def norm_title(value: Optional[str]) -> str:
    """Normalised title (transforms.titles.normalise_title): NFKC, casefolded,
    double quotes and invisible characters dropped, apostrophes and dashes
    unified, whitespace collapsed, trailing punctuation dropped."""
    from transforms.titles import normalise_title
    return normalise_title(value)


def norm_name(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).replace("’", "'")
    return re.sub(r"\s+", " ", value).strip().casefold()


def set_f1(predicted: Iterable[str], expected: Iterable[str]) -> float:
    p = {norm_name(x) for x in predicted if x and x.strip()}
    e = {norm_name(x) for x in expected if x and x.strip()}
    if not p and not e:
        return 1.0
    if not p or not e:
        return 0.0
    hit = len(p & e)
    if not hit:
        return 0.0
    precision, recall = hit / len(p), hit / len(e)
    return 2 * precision * recall / (precision + recall)


def _parse_expected_date(value: Any) -> tuple[Optional[dt.date], Optional[dt.tzinfo]]:
    if not value:
        return None, None
    text = str(value).strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return dt.date.fromisoformat(text[:10]), None
        except ValueError:
            return None, None
    return parsed.date(), parsed.tzinfo


def same_day(ours: Optional[dt.datetime], expected: Any,
             local: Optional[dt.datetime] = None) -> bool:
    """Exact-day match: our UTC instant seen in the expected value's own offset;
    for a bare expected day, in the offset the page wrote it with (`local`)."""
    day, tz = _parse_expected_date(expected)
    if day is None or ours is None:
        return day is None and ours is None
    if tz is None and local is not None:
        return local.date() == day
    return ours.astimezone(tz or dt.timezone.utc).date() == day


def same_day_str(theirs: Optional[str], expected: Any) -> bool:
    """Exact-day match of a bare 'YYYY-MM-DD' (trafilatura) against the expected
    value's own local day."""
    day, _ = _parse_expected_date(expected)
    if day is None or not theirs:
        return day is None and not theirs
    return str(theirs)[:10] == day.isoformat()


def _lang(code: Optional[str]) -> Optional[str]:
    if not code:
        return None
    code = code.strip().lower().replace("_", "-").split("-")[0]
    return {"iw": "he", "in": "id", "ji": "yi", "nb": "no", "nn": "no"}.get(code, code)


# ---------------------------------------------------------------- resolution

def _article(row: dict) -> Article:
    return Article(url=row["url"], feed_url=None,
                   fetched_at=dt.datetime.now(dt.timezone.utc), text=row["text"],
                   entry=None, page_meta=row["page_meta"], extracted_meta=row["extracted_meta"])


_NEWSROOM = re.compile(r"redaktion|rédaction|redaction|redacción|redazione|staff|newsroom|"
                       r"\bdesk\b|\bteam\b|editors?\b", re.I)


def _credit_key(value: str) -> str:
    """A credit with agency names canonicalised ('Deutsche Presse-Agentur' -> 'dpa')."""
    from transforms.authors import agency_name
    return agency_name(value) or value


def _person_credits(row: dict, credits: list[str]) -> list[str]:
    """The credits that name persons: not an agency, not the site (its og:site_name,
    JSON-LD publisher or host), not a newsroom ('Redaktion', 'staff', 'team')."""
    from transforms.authors import agency_name
    from transforms.titles import is_site_name, site_keys
    page = row["page_meta"]
    names = [page.get("og_site_name"), row["extracted_meta"].get("sitename")]
    for item in page.get("jsonld") or []:
        pub = item.get("publisher")
        if isinstance(pub, dict) and isinstance(pub.get("name"), str):
            names.append(pub["name"])
    keys = site_keys([n for n in names if n], row["url"])
    return [c for c in credits if c and not agency_name(c) and not is_site_name(c, keys)
            and not _NEWSROOM.search(c)]


_NAME_SPLIT = re.compile(r"\s*(?:[,;&]|\s/\s|\b(?:and|und|et|y)\b)\s*", re.I)
_BY = re.compile(r"^(?:by|von|par|por)\s+", re.I)


def split_names(credits: list[str]) -> list[str]:
    """Credit strings split into names ('Von A und B' -> ['A', 'B']): some ground
    truths (trafilatura-eval's) keep several names in one string. Deliberately
    simple: commas, semicolons, ' / ', '&', and/und/et/y, and a leading By/Von/Par/Por."""
    return [_BY.sub("", n).strip() for c in credits for n in _NAME_SPLIT.split(c or "")
            if _BY.sub("", n).strip()]


def _trafilatura_authors(meta: dict) -> list[str]:
    raw = meta.get("author") or ""
    return [x.strip() for x in re.split(r";|\|", raw) if x.strip()]


class Table:
    def __init__(self):
        self.rows: list[tuple[str, str, int, float, float, str]] = []

    def add(self, dataset: str, field: str, n: int, baseline: float, ours: float, metric: str):
        self.rows.append((dataset, field, n, baseline, ours, metric))

    def print(self):
        head = ("dataset", "field", "n", "baseline", "newsbeam", "metric")
        widths = [max(len(str(r[i])) if i not in (3, 4) else 6 for r in self.rows + [head])
                  for i in range(6)]
        fmt = "  ".join(f"{{:<{w}}}" if i in (0, 1, 5) else f"{{:>{w}}}" for i, w in enumerate(widths))
        print(fmt.format(*head))
        print("  ".join("-" * w for w in widths))
        for d, f, n, b, o, m in self.rows:
            b_text = "-" if b != b else f"{b:.3f}"
            print(fmt.format(d, f, n, b_text, f"{o:.3f}", m))
        print("baseline: trafilatura's own metadata (title, author, date) for metadata rows;"
              " trafilatura gives no language, so language rows compare with langdetect alone"
              " (seeded, whole text, no hints, no 'und').")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _errors(show: Optional[str], field: str, row: dict, ours: Any, theirs: Any, expected: Any):
    if show == field:
        print(f"[{field}] {row['id']}\n   expected: {expected!r}\n   ours:     {ours!r}"
              f"\n   trafil.:  {theirs!r}", file=sys.stderr)


def eval_pages(name: str, rows: list[dict], table: Table, show: Optional[str],
               fields: tuple[str, ...]) -> None:
    from transforms.metadata import published_evidence, resolve_metadata
    scores: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for row in rows:
        meta = row["extracted_meta"]
        article = resolve_metadata(_article(row))
        if "title" in fields and row.get("expected_title") is not None:
            t = norm_title(meta.get("title")) == norm_title(row["expected_title"])
            o = norm_title(article.title) == norm_title(row["expected_title"])
            scores["title"].append((t, o))
            if not o:
                _errors(show, "title", row, article.title, meta.get("title"), row["expected_title"])
        if "authors" in fields and row.get("expected_authors") is not None:
            expected = [_credit_key(x) for x in row["expected_authors"]]
            theirs = [_credit_key(x) for x in _trafilatura_authors(meta)]
            ours = article.authors + article.agencies
            t, o = set_f1(theirs, expected), set_f1(ours, expected)
            scores["authors"].append((t, o))
            persons = _person_credits(row, row["expected_authors"])
            scores["authors_persons"].append((set_f1(_person_credits(row, theirs), persons),
                                              set_f1(article.authors, persons)))
            # The two kinds of pages in that row: those crediting a person, and those
            # crediting only the site, a newsroom or an agency (no person is right).
            names = _person_credits(row, split_names(row["expected_authors"]))
            scores["authors_names"].append((set_f1(_person_credits(row, theirs), names),
                                            set_f1(article.authors, names)))
            if persons:
                scores["authors_persons_named"].append(scores["authors_persons"][-1])
            elif row["expected_authors"]:
                scores["authors_no_person"].append(scores["authors_persons"][-1])
            if o < 1:
                _errors(show, "authors", row, (article.authors, article.agencies),
                        meta.get("author"), row["expected_authors"])
        if "date" in fields and (row.get("expected_date") is not None
                                 and (name != "mediacloud-metadata"
                                      or row.get("kind") == "publication_date")):
            t = same_day_str(meta.get("date"), row["expected_date"])
            chosen = published_evidence(_article(row), article.fetched_at)
            local = chosen.value if chosen is not None and chosen.has_time else None
            o = same_day(article.published_at, row["expected_date"], local)
            scores["date"].append((t, o))
            if not o:
                _errors(show, "date", row, article.published_at, meta.get("date"),
                        row["expected_date"])
    metrics = {"title": "normalised exact match",
               "authors": "set F1 of authors+agencies vs all credits",
               "authors_persons": "set F1 of authors vs person credits",
               "authors_persons_named": "same, pages crediting a person",
               "authors_no_person": "no person, pages crediting only site/newsroom/agency",
               "authors_names": "set F1 of authors vs person credits split into names",
               "date": "exact day"}
    author_rows = ("authors_persons", "authors_persons_named", "authors_no_person", "authors_names")
    for field in fields + (author_rows if "authors" in fields else ()):
        pairs = scores.get(field, [])
        table.add(name, field, len(pairs), _mean([float(a) for a, _ in pairs]),
                  _mean([float(b) for _, b in pairs]), metrics[field])


def _plain_langdetect(text: str) -> Optional[str]:
    """The baseline for language: langdetect alone (seeded), whole text, no hints."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException
    DetectorFactory.seed = 0
    try:
        return _lang(detect(text))
    except LangDetectException:
        return None


# A label that the text contradicts (fundus labels are the pages' <html lang>, which
# CMS templates often leave at 'en-US'): fewer than 3 % of the words are among the
# label language's 20 most common words (all other fundus pages have 9 % or more). Other
# labels are not checked. Anyone can re-check it without a language detector.
_FUNCTION_WORDS = {
    "en": "the of and to a in is that for it on was with as at by he are be this",
    "de": "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als",
    "fr": "de la le et les des en un une du est que pour dans qui au sur pas par il",
    "es": "de la que el en y a los del se las por un para con no una su al es",
}
LABEL_CHECK_SHARE = 0.03


def label_contradicted(text: str, label: Optional[str]) -> bool:
    """True when the text has almost none of its label language's function words."""
    words = re.findall(r"\w+", (text or "").lower())
    common = set(_FUNCTION_WORDS.get(_lang(label) or "", "").split())
    if not common or not words:
        return False
    return sum(w in common for w in words) < LABEL_CHECK_SHARE * len(words)


def _language_rows(name: str, rows: list[dict], expected_of: Callable[[dict], Optional[str]],
                   table: Table, show: Optional[str], label: str, hints: bool) -> None:
    from transforms.language import detect_language
    sample, full, base = [], [], []
    for row in rows:
        expected = _lang(expected_of(row))
        if not expected or not row.get("text"):
            continue
        html_lang = row["page_meta"].get("html_lang") if hints else None
        full_lang, _ = detect_language(row["text"], html_lang=html_lang, max_chars=10 ** 9)
        sample_lang, _ = detect_language(row["text"][:SAMPLE_CHARS], html_lang=html_lang)
        theirs = _plain_langdetect(row["text"])
        full.append(full_lang == expected)
        sample.append(sample_lang == expected)
        base.append(theirs == expected)
        if full_lang != expected:
            _errors(show, "language", row, full_lang, theirs, expected)
    table.add(name, f"language{label}, sample {SAMPLE_CHARS} chars", len(sample),
              _mean(base), _mean(sample), "accuracy; baseline langdetect alone, full text")
    table.add(name, f"language{label}, full text", len(full), _mean(base), _mean(full),
              "accuracy; baseline langdetect alone, full text")


def _lingua_items(load, kind: str, first: int, count: int) -> Iterable[dict]:
    """Items number first .. first+count-1 of each language, in file order."""
    seen: collections.Counter = collections.Counter()
    for item in load(kind=kind):
        seen[item["language"]] += 1
        if first < seen[item["language"]] <= first + count:
            yield item


def _lingua_rows(label: str, items: Iterable[dict], table: Table, all_langs: bool = False,
                 hinted: bool = False) -> None:
    """On langdetect's languages: accuracy ('und' counts as wrong), then accuracy where
    ours answered, with the 'und' rate and how often langdetect alone was right there.
    With all_langs, first the accuracy over every language of the data set. With hinted,
    also ours given the right language as a hint, and given 'en' (a CMS template's default;
    'de' on English texts) as a wrong one."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException
    from transforms.language import detect_language, supported_languages
    DetectorFactory.seed = 0
    known = supported_languages()
    pairs, langs, hints = [], collections.Counter(), []
    for item in items:
        lang = item["language"]
        if not all_langs and lang not in known:
            continue
        langs[lang in known] += 1
        predicted, _ = detect_language(item["text"])
        try:
            plain = detect_langs(item["text"])[0].lang
        except LangDetectException:
            plain = "und"
        pairs.append((_lang(plain) == lang, _lang(predicted) == lang, predicted == "und", lang in known))
        if hinted and lang in known:
            wrong = "en" if lang != "en" else "de"
            hints.append((_lang(plain) == lang,
                          detect_language(item["text"], html_lang=lang)[0] == lang,
                          detect_language(item["text"], html_lang=wrong)[0] == lang))
    if all_langs:
        table.add("lingua-langid", f"language, {label} (all langs)", len(pairs),
                  _mean([b for b, *_ in pairs]), _mean([o for _, o, *_ in pairs]),
                  "accuracy; 'und' counts as wrong")
    pairs = [p[:3] for p in pairs if p[3]]
    table.add("lingua-langid", f"language, {label} (langdetect's langs)", len(pairs),
              _mean([b for b, _, _ in pairs]), _mean([o for _, o, _ in pairs]),
              "accuracy; 'und' counts as wrong")
    answered = [(b, o) for b, o, und in pairs if not und]
    und = [b for b, _, u in pairs if u]
    table.add("lingua-langid", f"language, {label}, answered", len(answered),
              _mean([b for b, _ in answered]), _mean([o for _, o in answered]),
              f"accuracy where ours is not 'und'; 'und' on {len(und)} ({len(und) / max(1, len(pairs)):.1%}),"
              f" langdetect alone right on {_mean([float(b) for b in und]) if und else 0:.0%} of them")
    if hinted:
        for i, name in ((1, "right language as hint"), (2, "wrong hint 'en' ('de' on en)")):
            table.add("lingua-langid", f"language, {label}, {name}", len(hints),
                      _mean([h[0] for h in hints]), _mean([h[i] for h in hints]),
                      "accuracy; 'und' counts as wrong; baseline has no hint")


def eval_lingua(eval_dir: Path, per_language: int, table: Table, short_per_language: int) -> None:
    """Sentences (the first `per_language` of each language, then as many held-out
    ones that no rule was tuned on) and word pairs (short texts: the 'und' rows)."""
    load = _loader(eval_dir, "lingua-langid")
    _lingua_rows("sentences", _lingua_items(load, "sentences", 0, per_language), table, True, True)
    _lingua_rows(f"sentences {per_language + 1}-{2 * per_language} (held out)",
                 _lingua_items(load, "sentences", per_language, per_language), table)
    _lingua_rows("word pairs", _lingua_items(load, "word-pairs", 0, short_per_language), table)


def time_language(rows: list[dict], passes: int = 3) -> None:
    """CPU milliseconds per text of the language stage's detection over the fundus texts,
    next to langdetect's own Detector on the same 1,000-character sample (what the stage
    cost before it ran langdetect's algorithm over a matrix). Prints each pass: the first
    one starts with an empty word cache."""
    import time
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException
    from transforms import language
    DetectorFactory.seed = 0
    texts = [(r["text"], r["page_meta"].get("html_lang")) for r in rows if r.get("text")]
    samples = [language._sample(t, language.DEFAULT_MAX_CHARS) for t, _ in texts]
    language._profiles()
    detect_langs("warm up the profiles")

    def plain(sample):
        try:
            detect_langs(sample)
        except LangDetectException:
            pass

    runs = {"langdetect's Detector, same sample": lambda: [plain(s) for s in samples],
            "detect_language, no hints": lambda: [language.detect_language(t) for t, _ in texts],
            "detect_language, html lang hint":
                lambda: [language.detect_language(t, html_lang=h) for t, h in texts]}
    print(f"CPU ms per text over {len(texts)} fundus texts ({passes} passes):")
    for name, run in runs.items():
        times = []
        for _ in range(passes):
            start = time.process_time()
            run()
            times.append((time.process_time() - start) * 1000 / len(texts))
        print(f"  {name:<38} " + "  ".join(f"{t:5.2f}" for t in times))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--lingua-per-language", type=int, default=100)
    parser.add_argument("--lingua-short-per-language", type=int, default=40)
    parser.add_argument("--time-language", action="store_true",
                        help="only print the language detection's CPU time per fundus text")
    parser.add_argument("--show-errors", choices=("title", "authors", "date", "language"))
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    eval_dir = _eval_dir(args.eval_dir)
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.time_language:
        time_language(prepared(eval_dir, "fundus", args.jobs, args.refresh))
        return 0
    table = Table()
    fundus_rows = None
    if "fundus" in wanted:
        fundus_rows = prepared(eval_dir, "fundus", args.jobs, args.refresh)
        eval_pages("fundus", fundus_rows, table, args.show_errors, ("title", "authors", "date"))
    if "trafilatura-eval" in wanted:
        rows = prepared(eval_dir, "trafilatura-eval", args.jobs, args.refresh)
        eval_pages("trafilatura-eval", rows, table, args.show_errors, ("title", "authors", "date"))
    if "mediacloud-metadata" in wanted:
        rows = prepared(eval_dir, "mediacloud-metadata", args.jobs, args.refresh)
        eval_pages("mediacloud-metadata", [r for r in rows if r["kind"] == "title"], table,
                   args.show_errors, ("title",))
        eval_pages("mediacloud-metadata", [r for r in rows if r["kind"] == "publication_date"],
                   table, args.show_errors, ("date",))
        _language_rows("mediacloud-metadata",
                       [r for r in rows if r["kind"].startswith("language")],
                       lambda r: r["language"], table, args.show_errors, "", hints=True)
    if "lingua-langid" in wanted:
        eval_lingua(eval_dir, args.lingua_per_language, table, args.lingua_short_per_language)
        if fundus_rows is None:
            fundus_rows = prepared(eval_dir, "fundus", args.jobs, args.refresh)
        _language_rows("fundus", fundus_rows, lambda r: r["language"], table,
                       args.show_errors, " (no hints)", hints=False)
        _language_rows("fundus", fundus_rows, lambda r: r["language"], table,
                       args.show_errors, " (html lang hint)", hints=True)
        checked = [r for r in fundus_rows if not label_contradicted(r.get("text"), r["language"])]
        _language_rows("fundus", checked, lambda r: r["language"], table, args.show_errors,
                       f" (hint; {len(fundus_rows) - len(checked)} labels the text contradicts out)",
                       hints=True)
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
