"""CPU cost of `collect_page_meta` per page, against a former version, same output.

The former version is `transforms/page_meta.py` as committed at `--reference`
(default: the last commit before the one-walk version), read with `git show`
and loaded as a module at run time. Two checks, in this order:

1. Same output: every page of the evaluation sets is parsed with trafilatura's
   `load_html` (as the extraction stage does) and given to both versions; their
   results must have the same `repr` (same keys in the same order, same values
   and types), or both must raise the same exception type, and the new version
   must leave the tree as it was (same serialisation before and after).
2. CPU time on the timing set (fundus by default): each page is parsed afresh
   right before each timed call, as in the extraction stage where
   `collect_page_meta` runs on a tree just parsed, and each version's calls are
   summed with `time.process_time` (other processes on the machine count less);
   the best of `--repeat` rounds is kept, the versions taking turns.

Exits 1 when a page differs.

Usage:
  python benchmarks/bench_page_meta.py [--eval-dir ../shared/eval]
      [--datasets fundus,scrapinghub-aeb,trafilatura-eval,mediacloud-metadata]
      [--time-dataset fundus] [--repeat 3] [--reference REV] [--no-check] [--no-time]
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from transforms import page_meta  # noqa: E402

__all__ = ["reference_module", "pages", "compare", "time_versions", "main"]

# page_meta.py before the one-walk version (bylines by attribute strings, c89a160/bdeda92).
DEFAULT_REFERENCE = "bdeda922fa69616557f4bfdf09789c0acc0b3e8b"
DATASETS = "fundus,scrapinghub-aeb,trafilatura-eval,mediacloud-metadata"


def reference_module(rev: str) -> types.ModuleType:
    """`transforms/page_meta.py` as committed at `rev`, loaded as a module."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:transforms/page_meta.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("page_meta_reference")
    module.__file__ = f"<git {rev}:transforms/page_meta.py>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own file
    return module


def pages(eval_dir: Path, name: str) -> Iterator[tuple[str, Optional[str]]]:
    """(html, url) of the items of one evaluation set that have html."""
    spec = importlib.util.spec_from_file_location(f"eval_{name.replace('-', '_')}",
                                                  eval_dir / name / "load.py")
    if spec is None or not (eval_dir / name / "load.py").is_file():
        sys.exit(f"evaluation data not found: {eval_dir / name} (set NEWSBEAM_EVAL_DIR)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for item in module.load():
        if item.get("html"):
            yield item["html"], item.get("url")


def _outcome(fn: Callable, tree, url: Optional[str]) -> str:
    try:
        return repr(fn(tree, url))
    except Exception as exc:  # noqa: BLE001 - both versions must fail alike
        return f"raised {type(exc).__name__}"


def compare(old: types.ModuleType, eval_dir: Path, datasets: list[str]) -> tuple[int, list[str]]:
    """Pages compared and the descriptions of those where the versions differ."""
    from lxml import etree
    from trafilatura.core import load_html

    compared, differing = 0, []
    for name in datasets:
        for index, (html, url) in enumerate(pages(eval_dir, name)):
            tree = load_html(html)
            if tree is None:
                continue
            compared += 1
            before = etree.tostring(tree)
            expected = _outcome(old.collect_page_meta, tree, url)
            got = _outcome(page_meta.collect_page_meta, tree, url)
            if got != expected:
                differing.append(f"{name} #{index} {url}: output differs")
            elif etree.tostring(tree) != before:
                differing.append(f"{name} #{index} {url}: tree modified")
    return compared, differing


def time_versions(versions: dict[str, Callable], items: list[tuple[str, Optional[str]]],
                  repeat: int) -> dict[str, float]:
    """Best-of-`repeat` CPU ms per page of each version, each call on a fresh parse."""
    from trafilatura.core import load_html

    best = {name: float("inf") for name in versions}
    order = list(versions)
    for round_ in range(repeat):
        spent = dict.fromkeys(versions, 0.0)
        for html, url in items:
            for name in (order if round_ % 2 == 0 else order[::-1]):
                tree = load_html(html)
                if tree is None:
                    continue
                start = time.process_time()
                versions[name](tree, url)
                spent[name] += time.process_time() - start
        for name, seconds in spent.items():
            best[name] = min(best[name], seconds)
    return {name: 1000 * seconds / max(len(items), 1) for name, seconds in best.items()}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", default=os.environ.get("NEWSBEAM_EVAL_DIR")
                        or str(REPO.parent / "shared" / "eval"))
    parser.add_argument("--datasets", default=DATASETS, help="sets for the equality check")
    parser.add_argument("--time-dataset", default="fundus", help="set for the timing")
    parser.add_argument("--repeat", type=int, default=3, help="timing rounds (best kept)")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE,
                        help="git revision of transforms/page_meta.py to compare against")
    parser.add_argument("--no-check", action="store_true", help="timing only")
    parser.add_argument("--no-time", action="store_true", help="equality check only")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # htmldate and trafilatura log odd pages
    warnings.simplefilter("ignore")
    eval_dir = Path(args.eval_dir)
    old = reference_module(args.reference)
    status = 0
    if not args.no_check:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        compared, differing = compare(old, eval_dir, datasets)
        print(f"equality check against {args.reference[:12]}: {compared} pages compared "
              f"({', '.join(datasets)}), {len(differing)} differing")
        for line in differing[:20]:
            print("  " + line)
        status = 1 if differing else 0
    if not args.no_time:
        items = list(pages(eval_dir, args.time_dataset))
        ms = time_versions({"before": old.collect_page_meta,
                            "after": page_meta.collect_page_meta}, items, args.repeat)
        print(f"collect_page_meta CPU time over {len(items)} {args.time_dataset} pages, "
              f"best of {args.repeat} rounds, each call on a freshly parsed tree:")
        print(f"  before ({args.reference[:12]}): {ms['before']:.2f} ms/page")
        print(f"  after (working tree):  {ms['after']:.2f} ms/page  "
              f"({ms['before'] / max(ms['after'], 1e-9):.1f}x less)")
    return status


if __name__ == "__main__":
    sys.exit(main())
