"""Measure extraction and boilerplate cleaning on real pages.

Prints one table: token-level precision, recall and F1 of the main text for
(a) trafilatura alone with our settings and (b) extract + `clean_text`, per
dataset and per language, and the false-positive rate of each quality flag.

Datasets are read at run time from `$NEWSBEAM_EVAL_DIR` or `../shared/eval`
(relative to the repo root); nothing of them is copied into the repo.
Extraction results are cached under `.cache/eval_extraction/`, so a second run
only re-runs the cleaner.

Scoring (micro-averaged over the pages of a row):
- fundus, scrapinghub-aeb: bag of word tokens (NFKC, casefolded) of the output
  against the reference body; TP = multiset intersection.
- trafilatura-eval: each "with" snippet found in the output counts its tokens as
  TP (else FN); each "without" snippet found counts its tokens as FP.

Flag false-positive rate: the fraction of pages flagged, (ref) when the flags are
computed on the reference body of these professionally edited articles, and
(out) on the cleaned output; trafilatura-eval has no reference body.

Usage: python scripts/eval_extraction.py [--datasets fundus,...] [--limit N]
       [--processes 2] [--show-removed N] [--show-flagged N] [--bench]

`--bench` also prints the cleaner's throughput over the extracted texts.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import json
import multiprocessing
import os
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any, Iterator

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from transforms.clean import clean_text  # noqa: E402
from transforms.quality import quality_flags  # noqa: E402

DATASETS = ("fundus", "scrapinghub-aeb", "trafilatura-eval")
FALLBACK_OPTIONS = dict(with_metadata=True, include_comments=False, include_tables=False,
                        favor_precision=False, deduplicate=False)
CACHE_DIR = REPO_ROOT / ".cache" / "eval_extraction"
_TOKEN_RE = re.compile(r"\w+")


def eval_dir() -> Path:
    """The shared evaluation folder; exits when it is missing."""
    path = Path(os.environ.get("NEWSBEAM_EVAL_DIR") or REPO_ROOT.parent / "shared" / "eval")
    if not path.is_dir():
        sys.exit(f"evaluation data not found: {path} (set NEWSBEAM_EVAL_DIR)")
    return path


def _load_module(folder: Path):
    spec = importlib.util.spec_from_file_location(f"evalload_{folder.name.replace('-', '_')}",
                                                  folder / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_items(name: str) -> Iterator[dict[str, Any]]:
    """The items of one dataset, without the raw bytes."""
    for item in _load_module(eval_dir() / name).load():
        item.pop("html_bytes", None)
        yield item


# --- extraction (a) -------------------------------------------------------

def _extractor():
    """(name, options, function html,url -> dict) of the extraction we use."""
    try:
        from transforms.extract import extract_document
        import transforms.extract as extract_module
    except ImportError:
        import trafilatura

        def run(html: str, url: str | None) -> dict[str, Any]:
            doc = trafilatura.bare_extraction(html, url=url, **FALLBACK_OPTIONS)
            if doc is None:
                return {"text": "", "title": None, "sitename": None}
            return {"text": doc.text or "", "title": doc.title, "sitename": doc.sitename}
        return "trafilatura", FALLBACK_OPTIONS, run

    def run(html: str, url: str | None) -> dict[str, Any]:
        doc = extract_document(html, url)
        return {"text": doc.text or "", "title": doc.title, "sitename": doc.sitename}
    # The cache is keyed by the extraction code itself, so any change re-extracts.
    source = Path(extract_module.__file__).read_bytes()
    return "extract_document", {"source": hashlib.sha1(source).hexdigest(),
                                "options": getattr(extract_module, "TRAFILATURA_OPTIONS", None),
                                "settings": getattr(extract_module, "EXTRACTION_SETTINGS", None)}, run


def _extract_one(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    _, _, run = _extractor()
    try:
        return item["id"], run(item["html"], item.get("url"))
    except Exception as exc:  # a page the extractor fails on scores as empty
        return item["id"], {"text": "", "title": None, "sitename": None, "error": repr(exc)}


def extractions(name: str, items: list[dict[str, Any]], processes: int) -> dict[str, dict]:
    """Extraction results of a dataset by item id, from the cache or computed."""
    import trafilatura
    extractor, options, _ = _extractor()
    key = hashlib.sha1(json.dumps([extractor, options, trafilatura.__version__],
                                  sort_keys=True, default=str).encode()).hexdigest()[:12]
    path = CACHE_DIR / f"{name}-{key}.json"
    cached = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    todo = [i for i in items if i["id"] not in cached]
    if todo:
        print(f"extracting {len(todo)} pages of {name} with {extractor} ...", file=sys.stderr)
        with multiprocessing.Pool(max(1, min(processes, 2))) as pool:
            for item_id, result in pool.imap_unordered(_extract_one, todo, chunksize=4):
                cached[item_id] = result
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, ensure_ascii=False), encoding="utf-8")
    return cached


# --- scoring --------------------------------------------------------------

def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text or "").casefold())


def _norm(text: str) -> str:
    return " ".join(tokens(text))


def score_reference(output: str, reference: str) -> tuple[int, int, int]:
    """(tp, fp, fn) of the bag of output tokens against the reference tokens."""
    out, ref = collections.Counter(tokens(output)), collections.Counter(tokens(reference))
    tp = sum((out & ref).values())
    return tp, sum(out.values()) - tp, sum(ref.values()) - tp


def score_snippets(output: str, with_: list[str], without: list[str]) -> tuple[int, int, int]:
    """(tp, fp, fn) in tokens of the must / must-not snippets found in the output."""
    norm_out = f" {_norm(output)} "
    tp = fp = fn = 0
    for snippet in with_:
        n = len(tokens(snippet))
        if f" {_norm(snippet)} " in norm_out:
            tp += n
        else:
            fn += n
    for snippet in without:
        if _norm(snippet) and f" {_norm(snippet)} " in norm_out:
            fp += len(tokens(snippet))
    return tp, fp, fn


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(item: dict[str, Any], output: str) -> tuple[int, int, int]:
    if item.get("expected_text") is None:
        return score_snippets(output, item.get("expected_with") or [],
                              item.get("expected_without") or [])
    return score_reference(output, item["expected_text"])


# --- report ---------------------------------------------------------------

LANGS = ("de", "en", "fr", "es", "it")


def evaluate(names: list[str], limit: int | None, processes: int,
             show_removed: int, show_flagged: int) -> str:
    sums: dict[str, list[int]] = collections.defaultdict(lambda: [0] * 6)
    pages: collections.Counter = collections.Counter()
    flags_out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    flags_ref: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    kinds: collections.Counter = collections.Counter()
    removed_samples, flagged_samples = [], []
    for name in names:
        items = list(load_items(name))[:limit]
        extracted = extractions(name, items, processes)
        for item in items:
            ext = extracted[item["id"]]
            result = clean_text(ext["text"], title=ext.get("title"), site_name=ext.get("sitename"))
            lang = item.get("language") or "?"
            rows = [name, f"{name}:{lang if lang in LANGS else 'other'}", f"all:{lang if lang in LANGS else 'other'}"]
            a, b = score(item, ext["text"]), score(item, result.text)
            for row in rows:
                sums[row] = [x + y for x, y in zip(sums[row], a + b)]
                pages[row] += 1
            flags_out[name]["pages"] += 1
            for flag in result.quality_flags:
                flags_out[name][flag] += 1
                if len(flagged_samples) < show_flagged:
                    flagged_samples.append((item["id"], flag, result.text[:300]))
            if item.get("expected_text") is not None:
                flags_ref[name]["pages"] += 1
                for flag in quality_flags(item["expected_text"]):
                    flags_ref[name][flag] += 1
                    if len(flagged_samples) < show_flagged:
                        flagged_samples.append((item["id"], f"ref:{flag}", item["expected_text"][:300]))
            for block in result.removed_blocks:
                kinds[block["kind"]] += 1
                if len(removed_samples) < show_removed:
                    removed_samples.append((item["id"], block["kind"], block["text"][:160]))
    return _table(names, sums, pages, flags_ref, flags_out, kinds, removed_samples, flagged_samples)


def _table(names, sums, pages, flags_ref, flags_out, kinds, removed_samples, flagged_samples) -> str:
    lines = ["| rows | pages | P (a) | R (a) | F1 (a) | P (b) | R (b) | F1 (b) | ΔP | ΔR |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = list(names) + sorted(r for r in sums if ":" in r and not r.startswith("all:")) \
        + sorted(r for r in sums if r.startswith("all:"))
    for row in order:
        s = sums[row]
        pa, ra, fa = prf(*s[:3])
        pb, rb, fb = prf(*s[3:])
        lines.append(f"| {row} | {pages[row]} | {pa:.1%} | {ra:.1%} | {fa:.1%} | {pb:.1%} | {rb:.1%} "
                     f"| {fb:.1%} | {100 * (pb - pa):+.2f} | {100 * (rb - ra):+.2f} |")
    flag_names = ("mt_garbage", "short_text", "link_heavy")
    lines += ["", "Quality flags, fraction of pages flagged (false-positive rate on edited news):", "",
              "| dataset | text | pages | " + " | ".join(flag_names) + " |",
              "|---|---|---:|" + "---:|" * len(flag_names)]
    for name in names:
        for label, counts in (("reference", flags_ref), ("cleaned output", flags_out)):
            c = counts.get(name)
            if not c:
                continue
            lines.append(f"| {name} | {label} | {c['pages']} | "
                         + " | ".join(f"{c[f] / c['pages']:.1%}" for f in flag_names) + " |")
    lines += ["", "Removed blocks by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common())]
    for sample in removed_samples:
        lines.append("  removed %s [%s] %r" % sample)
    for sample in flagged_samples:
        lines.append("  flagged %s [%s] %r" % sample)
    return "\n".join(lines)


def bench(names: list[str], limit: int | None, processes: int) -> str:
    """Throughput of `clean_text` over the extracted texts of the datasets, one process."""
    import time
    texts = []
    for name in names:
        items = list(load_items(name))[:limit]
        extracted = extractions(name, items, processes)
        texts += [extracted[i["id"]] for i in items]
    clean_text("warm up")
    start = time.perf_counter()
    for ext in texts:
        clean_text(ext["text"], title=ext.get("title"), site_name=ext.get("sitename"))
    elapsed = time.perf_counter() - start
    chars = sum(len(ext["text"]) for ext in texts)
    return (f"clean_text: {len(texts)} texts, {chars / 1e6:.1f} M characters in {elapsed:.1f} s: "
            f"{len(texts) / elapsed:.0f} texts/s, {1000 * elapsed / len(texts):.1f} ms a text")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--limit", type=int, default=None, help="pages per dataset")
    parser.add_argument("--processes", type=int, default=2, help="extraction processes (max 2)")
    parser.add_argument("--show-removed", type=int, default=0, help="print N removed blocks")
    parser.add_argument("--show-flagged", type=int, default=0, help="print N flagged texts")
    parser.add_argument("--bench", action="store_true", help="also time the cleaner")
    args = parser.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    print(evaluate(names, args.limit, args.processes, args.show_removed, args.show_flagged))
    if args.bench:
        print(bench(names, args.limit, args.processes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
