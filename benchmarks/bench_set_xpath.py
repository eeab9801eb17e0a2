"""trafilatura's own XPaths against the set tests (`transforms/set_xpath.py`): same output, CPU per page.

Two checks, in this order:

1. Same output: every page of the evaluation sets is extracted (`_main_text`,
   trafilatura's fast pass and its full pass) with trafilatura's own
   expressions and with the set tests; the texts must be equal, and every call
   of a set-test expression must return the very elements, in the same order,
   that the original expression returns on the same tree.
2. CPU time of `extract_document` on the timing set (fundus by default), the
   page given to each variant in turn, summed with `time.thread_time`:
   trafilatura's expressions, the set tests with the answers remembered from
   earlier pages (`warm`, as on a crawl where a site's pages share their class
   and id values), and the set tests with nothing remembered (`cold`, as if
   every page came from a site never seen before).

Exits 1 when a page differs.

Usage:
  python benchmarks/bench_set_xpath.py [--datasets fundus,scrapinghub-aeb,trafilatura-eval]
      [--time-dataset fundus] [--repeat 3] [--limit N] [--no-check] [--no-time]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.eval_extraction import DATASETS, load_items  # noqa: E402
from transforms import set_xpath  # noqa: E402
from transforms.extract import (TRAFILATURA_OPTIONS, _attribute_values, _main_text,  # noqa: E402
                                extract_document, load_page)

VARIANTS = ("trafilatura", "set tests, warm", "set tests, cold")


def _pages(names: list[str], limit: int | None = None) -> list[tuple[str, str]]:
    """(html, url) of the datasets' pages, the first `limit` of each."""
    pages = []
    for name in names:
        items = [(item["html"], item.get("url")) for item in load_items(name) if item.get("html")]
        pages += items[:limit]
    return pages


def check(pages: list[tuple[str, str]]) -> tuple[int, int, int]:
    """(texts that differ, calls, calls whose elements differ) over `pages`, both passes."""
    calls = [0, 0]
    call = set_xpath.SetTestXPath.__call__

    def compared(self, tree):
        found = call(self, tree)
        expected = self.original(tree)
        calls[0] += 1
        calls[1] += len(found) != len(expected) or any(a is not b for a, b in zip(found, expected))
        return found

    set_xpath.SetTestXPath.__call__ = compared
    differ = 0
    try:
        for html, url in pages:
            tree = load_page(html)
            if tree is None:
                continue
            values = _attribute_values(tree)
            for options in (TRAFILATURA_OPTIONS, dict(TRAFILATURA_OPTIONS, fast=False)):
                set_xpath.install()
                new = _main_text(tree, url, options, values)
                set_xpath.uninstall()
                differ += new != _main_text(tree, url, options, values)
    finally:
        set_xpath.SetTestXPath.__call__ = call
        set_xpath.install()
    return differ, calls[0], calls[1]


def timing(pages: list[tuple[str, str]], repeat: int) -> dict[str, float]:
    """Milliseconds of CPU per page of `extract_document`, by variant (the best round)."""
    best = {variant: float("inf") for variant in VARIANTS}
    for _ in range(repeat):
        spent = dict.fromkeys(VARIANTS, 0.0)
        for i, (html, url) in enumerate(pages):
            order = VARIANTS if i % 2 else VARIANTS[::-1]
            for variant in order:
                if variant == "trafilatura":
                    set_xpath.uninstall()
                else:
                    set_xpath.install()
                    if variant.endswith("cold"):
                        set_xpath.PATTERNS.forget()
                started = time.thread_time()
                extract_document(html, url)
                spent[variant] += time.thread_time() - started
        for variant in VARIANTS:
            best[variant] = min(best[variant], spent[variant] / len(pages) * 1000)
    set_xpath.install()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--time-dataset", default="fundus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--no-time", action="store_true")
    parser.add_argument("--limit", type=int, help="pages per dataset (default: all)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # trafilatura's "discarding data" lines
    status = 0
    if not args.no_check:
        pages = _pages(args.datasets.split(","), args.limit)
        differ, calls, wrong = check(pages)
        print(f"same output: {len(pages)} pages, two passes each: {differ} texts differ; "
              f"{calls} set-test calls, {wrong} returned other elements than trafilatura's expression")
        status = 1 if differ or wrong else 0
    if not args.no_time:
        pages = _pages([args.time_dataset], args.limit)
        best = timing(pages, args.repeat)
        base = best["trafilatura"]
        print(f"extract_document CPU per page, {len(pages)} {args.time_dataset} pages, "
              f"variants in turn, best of {args.repeat}:")
        for variant, ms in best.items():
            print(f"  {variant:18s} {ms:6.2f} ms  ({ms - base:+.2f} ms, {ms / base - 1:+.0%})")
    return status


if __name__ == "__main__":
    sys.exit(main())
