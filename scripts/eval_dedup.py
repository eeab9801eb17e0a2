"""Evaluation of the dedup stage: story grouping and near-copy detection.

    python scripts/eval_dedup.py [--pure] [--eval-dir DIR] [--golden-dir DIR]

Prints:
1. B-cubed precision, recall and F1 of `story_id` against the event clusters
   of ECB+ (982 docs, 86 events) and NewsWCL50 (50 docs, 10 events), with the
   one default `StoryParams` for both, plus the golden grouping;
2. near-copy precision and recall on generated copies of real article texts
   (scrapinghub-aeb and fundus bodies) with different chrome, small edits and
   truncation, mixed with the unrelated real texts, and the number of false
   near-copies among the real texts.

By default every document goes through the `Deduplicate` transform itself on
FnApiRunner (fresh state folder per data set); `--pure` runs the same pure
functions in memory instead (`transforms.story.group_stories`), faster.
Data are read from `../shared/eval` and `../shared/fixtures/golden`
(or NEWSBEAM_EVAL_DIR / NEWSBEAM_GOLDEN_DIR); nothing is copied.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import importlib.util
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas.records import Article  # noqa: E402
from transforms.similarity import shingles  # noqa: E402
from transforms.story import StoryDoc, StoryParams, TermRarity, group_stories, story_vector  # noqa: E402

_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def _load(folder: Path):
    spec = importlib.util.spec_from_file_location(f"load_{folder.name}", folder / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.load())


def bcubed(predicted: list, gold: list) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a clustering against gold clusters."""
    by_pred, by_gold = collections.defaultdict(set), collections.defaultdict(set)
    for i, (p, g) in enumerate(zip(predicted, gold)):
        by_pred[p].add(i)
        by_gold[g].add(i)
    precision = recall = 0.0
    for i, (p, g) in enumerate(zip(predicted, gold)):
        both = len(by_pred[p] & by_gold[g])
        precision += both / len(by_pred[p])
        recall += both / len(by_gold[g])
    precision, recall = precision / len(gold), recall / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _article(doc_id: str, text: str, language: str, published, rank: int, title=None) -> Article:
    fetched = (published or _EPOCH) + dt.timedelta(seconds=rank)
    return Article(url=f"https://eval.example/{doc_id}", feed_url=None, fetched_at=fetched,
                   text=text, title=title, language=language, published_at=published)


def _run_transform(articles: list[Article], **dedup_args) -> dict[str, Article]:
    """url -> finished Article, through Deduplicate on FnApiRunner."""
    import apache_beam as beam
    from transforms.dedup import Deduplicate

    out_dir = tempfile.mkdtemp(prefix="eval_dedup_")
    result_file = os.path.join(out_dir, "result.jsonl")
    with beam.Pipeline(runner="FnApiRunner") as p:
        done = (p | beam.Create(articles)
                | Deduplicate(out_dir, "eval", write_state=False, **dedup_args))
        _ = (done.good
             | beam.Map(lambda a: json.dumps({"url": a.url, "article_id": a.article_id,
                                              "story_id": a.story_id, "duplicate_of": a.duplicate_of,
                                              "duplicate_similarity": a.duplicate_similarity}))
             | beam.combiners.ToList()
             | beam.Map(lambda lines: Path(result_file).write_text("\n".join(lines))))
    rows = [json.loads(line) for line in Path(result_file).read_text().splitlines() if line]
    return {r["url"]: r for r in rows}


def _stories(items: list[dict], pure: bool, params: StoryParams) -> list[str]:
    if pure:
        rarity = TermRarity()
        docs = [StoryDoc(it["id"], story_vector(it["text"], it.get("language") or "en", rarity,
                                                title=it.get("title"), max_features=params.max_features),
                         it["published"].timestamp() / 86400 if it.get("published") else None,
                         (1, i, it["id"]))
                for i, it in enumerate(items)]
        stories = group_stories(docs, params)
        return [stories[it["id"]] for it in items]
    articles = [_article(re.sub(r"\W+", "_", it["id"]), it["text"], it.get("language") or "en",
                         it.get("published"), i, it.get("title")) for i, it in enumerate(items)]
    done = _run_transform(articles, story_params=params)
    return [done[a.url]["story_id"] for a in articles]


def _golden(golden_dir: Path) -> list[dict]:
    meta = json.loads((golden_dir / "golden.json").read_text(encoding="utf-8"))["documents"]
    return [{"id": d["file"][:3], "text": (golden_dir / d["file"]).read_text(encoding="utf-8"),
             "title": d["title"], "language": "fr", "cluster": d["expect"]["story"],
             "published": dt.datetime.fromisoformat(d["published"].replace("Z", "+00:00"))}
            for d in meta]


_HEADERS = ["Home | World | Politics | Business | Sport | Culture",
            "Breaking News Live — The Daily Courier",
            "Menu Search Subscribe Sign in",
            "Accueil > International > Europe"]
_FOOTERS = ["Share this article on Facebook Twitter Email",
            "© 2025 Courier Media Group. All rights reserved.",
            "Subscribe to our newsletter for the latest headlines.",
            "Related: Markets rally as central bank holds rates\nRelated: Storm warning for the coast"]


def _copy(text: str, kind: str, rng: random.Random) -> str:
    words = text.split()
    if "edit" in kind:
        for _ in range(max(1, len(words) // 40)):
            i = rng.randrange(len(words))
            op = rng.choice(("drop", "swap", "replace"))
            if op == "drop" and len(words) > 10:
                del words[i]
            elif op == "swap" and i + 1 < len(words):
                words[i], words[i + 1] = words[i + 1], words[i]
            else:
                words[i] = rng.choice(("said", "reported", "on Tuesday", "officials", "2025"))
    if "truncate" in kind:
        words = words[:int(len(words) * rng.uniform(0.5, 0.8))] + ["Read", "more…"]
    body = " ".join(words)
    if "chrome" in kind:
        body = "\n".join(rng.sample(_HEADERS, 2) + [body] + rng.sample(_FOOTERS, 2))
    return body


def near_copy_set(eval_dir: Path, seed: int = 7, copies: int = 200):
    """(items, truth): real texts, plus generated copies whose truth is the original's id."""
    real = []
    for folder in ("scrapinghub-aeb", "fundus"):
        for it in _load(eval_dir / folder):
            text = (it.get("expected_text") or "").strip()
            if len(text.split()) >= 80:
                real.append({"id": it["id"], "text": text, "language": it.get("language") or "en"})
    # The sources hold a few real copies (one page crawled twice): found here by
    # exact shingle sets, all pairs (ground truth only), and left out.
    grams = [shingles(it["text"]) for it in real]
    unique, dropped = [], 0
    for i, it in enumerate(real):
        if any(len(grams[i] & grams[j]) / max(1, min(len(grams[i]), len(grams[j]))) >= 0.5
               for j in range(i)):
            dropped += 1
        else:
            unique.append(it)
    rng = random.Random(seed)
    originals = rng.sample(unique, min(copies, len(unique)))
    kinds = ["chrome", "edit", "truncate", "chrome+edit", "chrome+truncate", "chrome+edit+truncate"]
    generated = []
    for i, orig in enumerate(originals):
        kind = kinds[i % len(kinds)]
        generated.append({"id": f"copy{i}/{kind}/{orig['id']}", "text": _copy(orig["text"], kind, rng),
                          "language": orig["language"], "truth": orig["id"], "kind": kind})
    items = [dict(it, truth=None, kind="real") for it in unique] + generated
    return items, dropped


def eval_near_copies(items: list[dict], near_threshold=None) -> dict:
    """Precision/recall of duplicate_of on the near-copy set, through Deduplicate."""
    base = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    articles, url_of = [], {}
    for i, it in enumerate(items):
        published = base + dt.timedelta(minutes=i if it["truth"] is None else 100000 + i)
        a = _article(re.sub(r"\W+", "_", it["id"]), it["text"], it["language"], published, i)
        articles.append(a)
        url_of[it["id"]] = a.url
    args = {} if near_threshold is None else {"near_threshold": near_threshold}
    done = _run_transform(articles, **args)
    id_of = {url: row["article_id"] for url, row in done.items()}
    tp = fp = fn = false_real = 0
    by_kind = collections.Counter()
    kind_total = collections.Counter()
    for it in items:
        row = done[url_of[it["id"]]]
        predicted = row["duplicate_of"]
        truth = id_of[url_of[it["truth"]]] if it["truth"] else None
        if truth:
            kind_total[it["kind"]] += 1
        if predicted and predicted == truth:
            tp += 1
            by_kind[it["kind"]] += 1
        elif predicted:
            fp += 1
            false_real += truth is None
            if truth:
                fn += 1
        elif truth:
            fn += 1
    return {"copies": sum(1 for it in items if it["truth"]), "real": sum(1 for it in items if not it["truth"]),
            "tp": tp, "fp": fp, "fn": fn, "false_near_copies_among_real": false_real,
            "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
            "recall_by_kind": {k: f"{by_kind[k]}/{kind_total[k]}" for k in sorted(kind_total)}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pure", action="store_true", help="run the pure functions in memory, not the transform")
    ap.add_argument("--eval-dir", default=os.environ.get("NEWSBEAM_EVAL_DIR", str(ROOT.parent / "shared" / "eval")))
    ap.add_argument("--golden-dir", default=os.environ.get("NEWSBEAM_GOLDEN_DIR",
                                                          str(ROOT.parent / "shared" / "fixtures" / "golden")))
    ap.add_argument("--skip-near", action="store_true", help="story evaluation only")
    args = ap.parse_args(argv)
    eval_dir, golden_dir = Path(args.eval_dir), Path(args.golden_dir)
    params = StoryParams()
    mode = "pure functions (group_stories)" if args.pure else "Deduplicate on FnApiRunner"
    print(f"# dedup evaluation — {mode}; one StoryParams for all: {params}\n")
    print("## story_id, B-cubed\n")
    print("| data set | docs | events | stories | precision | recall | F1 | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    sets = [("ECB+", [dict(it, language="en") for it in _load(eval_dir / "ecbplus")]),
            ("NewsWCL50", _load(eval_dir / "newswcl50"))]
    if golden_dir.exists():
        sets.append(("golden (fr)", _golden(golden_dir)))
    for name, items in sets:
        start = time.time()
        predicted = _stories(items, args.pure, params)
        p, r, f = bcubed(predicted, [it["cluster"] for it in items])
        print(f"| {name} | {len(items)} | {len({it['cluster'] for it in items})} | {len(set(predicted))} "
              f"| {p:.3f} | {r:.3f} | {f:.3f} | {time.time() - start:.1f} |", flush=True)
    if args.skip_near:
        return 0
    print("\n## near-copies (duplicate_of), generated copies mixed with real texts\n")
    start = time.time()
    items, dropped = near_copy_set(eval_dir)
    res = eval_near_copies(items)
    print("| copies | real texts | precision | recall | false near-copies among real | recall by kind | seconds |")
    print("|---:|---:|---:|---:|---:|---|---:|")
    print(f"| {res['copies']} | {res['real']} | {res['precision']:.3f} | {res['recall']:.3f} "
          f"| {res['false_near_copies_among_real']} | "
          + ", ".join(f"{k} {v}" for k, v in res["recall_by_kind"].items())
          + f" | {time.time() - start:.1f} |")
    print(f"\n({dropped} real texts left out: a page the sources hold twice, sharing >= 50% of shingles "
          "with another real text.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
