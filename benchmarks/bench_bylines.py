"""CPU cost of `transforms.page_meta._bylines` per page, against the former version.

Parses the pages of the shared evaluation data once (trafilatura's `load_html`, as
the extraction stage does), then times the former `//*`-search version (kept here
as `reference_bylines`) and the current one over the same trees, in CPU time
(`time.process_time`, so other processes on the machine count less), and checks
that both give the same bylines on every page. `benchmarks/bench_page_meta.py` does the
same for the whole of `collect_page_meta`, against a former commit.

Usage:
  python benchmarks/bench_bylines.py [--eval-dir ../shared/eval]
      [--datasets fundus] [--repeat 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from transforms import page_meta  # noqa: E402

_BYLINE_CLASS = page_meta._BYLINE_CLASS  # same patterns: the algorithms are compared
_BYLINE_SKIP = page_meta._BYLINE_SKIP


def reference_bylines(tree) -> list[str]:
    """`_bylines` as it was before the string-pass version (commit 445f70b), same patterns."""
    found: list[str] = []

    def add(value: str) -> None:
        if value and len(value) <= 200 and value not in found:
            found.append(value)

    for el in tree.xpath('//a[@rel="author"] | //*[@itemprop="author"]'):
        names = el.xpath('.//*[@itemprop="name"]')
        if names:
            for name in names:
                add(page_meta._text(name) or (name.get("content") or "").strip())
        else:
            add(page_meta._text(el) or (el.get("content") or "").strip())
    xpath = ('//*[self::div or self::span or self::p or self::a or self::address or self::li'
             ' or self::strong or self::em or self::small][@class or @id or @data-testid]')
    for el in tree.xpath(xpath):
        label = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("data-testid"))))
        if _BYLINE_CLASS.search(label) and not _BYLINE_SKIP.search(label):
            if any(_BYLINE_CLASS.search(" ".join(filter(None, (c.get("class"), c.get("id")))))
                   for c in el.iterdescendants() if isinstance(c.tag, str)):
                continue
            add(page_meta._text(el))
        if len(found) >= 20:
            break
    return found


def _trees(eval_dir: Path, datasets: list[str]) -> list:
    from trafilatura.core import load_html
    trees = []
    for name in datasets:
        spec = importlib.util.spec_from_file_location(f"eval_{name.replace('-', '_')}",
                                                      eval_dir / name / "load.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for item in module.load():
            tree = load_html(item["html"]) if item.get("html") else None
            if tree is not None:
                trees.append(tree)
    return trees


def cpu_ms_per_page(fn: Callable, trees: list, repeat: int) -> float:
    """Best of `repeat` CPU-time runs over all trees, in ms per page."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for tree in trees:
            fn(tree)
        best = min(best, time.process_time() - start)
    return best / len(trees) * 1000


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", default=os.environ.get("NEWSBEAM_EVAL_DIR")
                        or str(REPO.parent / "shared" / "eval"))
    parser.add_argument("--datasets", default="fundus")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    trees = _trees(Path(args.eval_dir), [d.strip() for d in args.datasets.split(",") if d.strip()])
    differing = sum(reference_bylines(t) != page_meta._bylines(t) for t in trees)
    before = cpu_ms_per_page(reference_bylines, trees, args.repeat)
    after = cpu_ms_per_page(page_meta._bylines, trees, args.repeat)
    print(f"pages: {len(trees)}  ({args.datasets})")
    print(f"_bylines before (//* searches): {before:.2f} ms/page CPU")
    print(f"_bylines after (attribute strings per attribute, then candidates): {after:.2f} ms/page CPU"
          f"  ({before / after:.1f}x)")
    print(f"pages with different bylines: {differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
