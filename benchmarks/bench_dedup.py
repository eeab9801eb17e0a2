"""Benchmark of the Deduplicate transform: time and peak memory against size.

    python benchmarks/bench_dedup.py [--sizes 1000 10000 50000] [--eval-dir DIR]

Each size runs in its own process (so peak memory is its own) through
`Deduplicate` on FnApiRunner, writing its cross-run state to a temporary
dataset folder. Documents are synthetic variants of real texts (ECB+,
NewsWCL50, scrapinghub-aeb and fundus bodies, read from ../shared/eval):
- 30% near-copies of a base text (other chrome, small edits, truncation);
- 70% rewrites: sentences shuffled and one word in four replaced, so they are
  distinct texts (no near-copy) that keep the base's names and numbers.
Publication times are spread over N/1000 days (a thousand articles a day),
as in a growing dataset. Prints one table row per size: wall time (shared
machines inflate it), CPU time of the process and its children, peak RSS,
and CPU per thousand documents, whose flatness shows near-linear growth.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load(folder: Path) -> list[dict]:
    spec = importlib.util.spec_from_file_location(f"load_{folder.name}", folder / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.load())


def base_texts(eval_dir: Path) -> list[tuple[str, str]]:
    """(text, language) of the real texts the synthetic documents vary."""
    texts = [(it["text"], "en") for it in _load(eval_dir / "ecbplus")]
    texts += [(it["text"], "en") for it in _load(eval_dir / "newswcl50")]
    for folder in ("scrapinghub-aeb", "fundus"):
        for it in _load(eval_dir / folder):
            body = (it.get("expected_text") or "").strip()
            if len(body.split()) >= 80:
                texts.append((body, it.get("language") or "en"))
    return texts


_CHROME = ["Home | World | Politics | Sport", "Share on Facebook Twitter Email",
           "© 2025 Example Media. All rights reserved.", "Read more: related stories"]


def synthetic_articles(n: int, bases: list[tuple[str, str]], seed: int = 11):
    from schemas.records import Article

    rng = random.Random(seed)
    vocabulary = [w for text, _ in bases[:300] for w in text.split()[:200] if w.isalpha() and w.islower()]
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    days = max(1.0, n / 1000.0)
    for i in range(n):
        text, lang = bases[rng.randrange(len(bases))]
        words = text.split()
        if rng.random() < 0.3:
            for _ in range(max(1, len(words) // 60)):
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            if rng.random() < 0.3:
                words = words[: int(len(words) * rng.uniform(0.6, 0.9))]
            body = "\n".join([rng.choice(_CHROME), " ".join(words), rng.choice(_CHROME)])
        else:
            sentences = " ".join(words).split(". ")
            rng.shuffle(sentences)
            words = ". ".join(sentences).split()
            for j in range(0, len(words), 4):
                words[j] = rng.choice(vocabulary)
            body = " ".join(words)
        published = start + dt.timedelta(days=rng.uniform(0, days))
        yield Article(url=f"https://bench{i % 97}.example/a/{i}", feed_url=None,
                      fetched_at=published + dt.timedelta(hours=1), text=body, language=lang,
                      published_at=published)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_one(n: int, eval_dir: Path) -> dict:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.dedup import Deduplicate

    articles = list(synthetic_articles(n, base_texts(eval_dir)))
    output = tempfile.mkdtemp(prefix="bench_dedup_")
    started, cpu_started = time.perf_counter(), _cpu()
    p = beam.Pipeline(runner="FnApiRunner")
    _ = p | beam.Create(articles, reshuffle=False) | Deduplicate(output, "bench")
    result = p.run()
    result.wait_until_finish()
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu_started

    def count(name):
        found = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return sum(c.committed or 0 for c in found)

    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"n": n, "seconds": round(seconds, 1), "cpu": round(cpu, 1), "peak_mb": round(peak_kb / 1024, 1),
            "out": count("dedup.articles_out"), "near_copies": count("dedup.near_copies"),
            "exact_copies": count("dedup.exact_copies")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--eval-dir", default=os.environ.get("NEWSBEAM_EVAL_DIR", str(ROOT.parent / "shared" / "eval")))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.eval_dir))))
        return 0
    print("| documents | wall s | CPU s | CPU s per 1k docs | peak RSS MB | MB per 1k docs "
          "| articles out | near-copies | exact copies |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--eval-dir", args.eval_dir],
                              capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {r['n']} | {r['seconds']} | {r['cpu']} | {1000 * r['cpu'] / r['n']:.2f} "
              f"| {r['peak_mb']} | {1000 * r['peak_mb'] / r['n']:.1f} "
              f"| {r['out']} | {r['near_copies']} | {r['exact_copies']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
