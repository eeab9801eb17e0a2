"""Per-stage CPU cost of newsbeam's per-article work, next to trafilatura alone.

Runs, page by page over the fundus pages (`../shared/eval/fundus` or
`$NEWSBEAM_EVAL_DIR/fundus`, read at run time), the functions the batch
pipeline's stages call, in pipeline order, and times each with the process
CPU clock:

    extract    transforms.extract.extract_document (parse, page evidence,
               trafilatura metadata, fast text, full text when short)
    metadata   transforms.metadata.resolve_metadata
    clean      transforms.clean.clean_text (quality flags included)
    language   transforms.language.detect_language
    story      transforms.story.story_vector (the story features)

and, on the same page right after, trafilatura's
`bare_extraction(html, url=url, with_metadata=True)` with its default
settings, as the library's own cost (what its CLI and the naive loop run).
The parts of `extract_document` and `quality_flags` (inside clean) are timed
again separately below the table. One-time loading (langdetect profiles,
word-frequency tables, trafilatura's first call) is done before timing.

CPU time, not wall time: the machine is shared, so compare within one run.

Usage: python benchmarks/bench_stages.py [--limit N] [--repeat R] [--no-parts] [--json FILE]
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import importlib.util
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from schemas.records import Article, FeedEntry  # noqa: E402

__all__ = ["load_pages", "run", "main"]

STAGES = ("extract", "metadata", "clean", "language", "story")
FETCHED_AT = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def load_pages(limit: int | None = None) -> list[tuple[str, str]]:
    """(html, url) of the fundus pages; exits when the evaluation data is missing."""
    folder = Path(os.environ.get("NEWSBEAM_EVAL_DIR") or REPO_ROOT.parent / "shared" / "eval") / "fundus"
    if not (folder / "load.py").is_file():
        sys.exit(f"evaluation data not found: {folder} (set NEWSBEAM_EVAL_DIR)")
    spec = importlib.util.spec_from_file_location("eval_fundus_load", folder / "load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(item["html"], item["url"]) for item in module.load()][:limit]


def _timed(clock: dict[str, float], name: str, fn: Callable, *args, **kwargs) -> Any:
    start = time.process_time()
    result = fn(*args, **kwargs)
    clock[name] += time.process_time() - start
    return result


def _pipeline_page(html: str, url: str, clock: dict[str, float]) -> Article | None:
    """The stages' functions on one page, as the batch pipeline chains them."""
    from transforms.clean import _other_titles, clean_text
    from transforms.extract import extract_document
    from transforms.language import detect_language
    from transforms.metadata import resolve_metadata

    document = _timed(clock, "extract", extract_document, html, url)
    if not document.text:
        return None
    entry = FeedEntry(feed_url="http://127.0.0.1/feed.xml", url=url)
    article = Article(url=url, feed_url=entry.feed_url, fetched_at=FETCHED_AT, text=document.text,
                      entry=entry, page_meta={**document.page_meta, "final_url": url},
                      extracted_meta=document.extracted_meta)
    article = _timed(clock, "metadata", resolve_metadata, article)
    result = _timed(clock, "clean", clean_text, article.text, title=article.title,
                    site_name=article.site_name or article.extracted_meta.get("sitename"),
                    language=article.language, other_titles=_other_titles(article))
    if not result.text:
        return None
    article = dataclasses.replace(article, text=result.text)
    language, probability = _timed(clock, "language", detect_language, article.text,
                                   html_lang=article.page_meta.get("html_lang"))
    return dataclasses.replace(article, language=language, language_probability=probability)


def _extract_parts(html: str, url: str, clock: dict[str, float]) -> None:
    """The parts of extract_document, each timed on its own (same calls, same order)."""
    from trafilatura.core import load_html

    from transforms import extract

    if not hasattr(extract, "_needs_full_pass"):
        return  # an older extract module: the stage row only
    load = getattr(extract, "load_page", load_html)
    tree = _timed(clock, "parse (load_html)", load, html)
    if tree is None:
        return
    values = None
    if hasattr(extract, "_attribute_values"):
        values = _timed(clock, "page evidence (page_meta)", extract._attribute_values, tree)
        _timed(clock, "page evidence (page_meta)", extract._collect_page_meta, tree, url, values)
        _timed(clock, "trafilatura metadata", extract.trafilatura_metadata, tree, url, values)
    else:
        _timed(clock, "page evidence (page_meta)", extract._collect_page_meta, tree, url)
        _timed(clock, "trafilatura metadata", extract.trafilatura_metadata, tree, url)
    text = _timed(clock, "trafilatura text, fast", extract._main_text, tree, url,
                  extract.TRAFILATURA_OPTIONS)
    if extract._needs_full_pass(text, tree):
        clock["pages with a full pass"] += 1
        _timed(clock, "trafilatura text, full (short texts)", extract._main_text, tree, url,
               dict(extract.TRAFILATURA_OPTIONS, fast=False))
    holder = [tree]
    del tree
    _timed(clock, "freeing the parsed page", holder.clear)


def _baseline(html: str, url: str, clock: dict[str, float]) -> None:
    import trafilatura
    _timed(clock, "trafilatura", trafilatura.bare_extraction, html, url=url, with_metadata=True)


def _warm_up(pages: list[tuple[str, str]]) -> Any:
    from transforms.language import detect_language
    from transforms.story import TermRarity
    import trafilatura

    html, url = pages[0]
    trafilatura.bare_extraction(html, url=url, with_metadata=True)
    detect_language("Une phrase pour charger les profils de langue.")
    _pipeline_page(html, url, collections.defaultdict(float))  # compiles the cleaning rules, ...
    return TermRarity()


def run(pages: list[tuple[str, str]], repeat: int = 1, parts: bool = True) -> dict[str, Any]:
    """Per-stage CPU seconds over the pages (summed over `repeat` rounds)."""
    from transforms.quality import quality_flags
    from transforms.story import story_vector

    rarity = _warm_up(pages)
    clock: dict[str, float] = collections.defaultdict(float)
    base: dict[str, float] = collections.defaultdict(float)
    part: dict[str, float] = collections.defaultdict(float)
    articles: list[Article] = []
    for round_ in range(repeat):
        for html, url in pages:
            article = _pipeline_page(html, url, clock)
            _baseline(html, url, base)
            if article is not None and round_ == 0:
                articles.append(article)
            if parts:
                _extract_parts(html, url, part)
    for language in {a.language for a in articles}:
        story_vector("warm up", language, rarity)  # loads the language's word table
    for _ in range(repeat):
        for article in articles:
            _timed(clock, "story", story_vector, article.text, article.language, rarity,
                   title=article.title)
            if parts:
                _timed(part, "quality flags (inside clean)", quality_flags, article.text)
    return {"pages": len(pages) * repeat, "articles": len(articles) * repeat,
            "stages": dict(clock), "baseline": dict(base), "parts": dict(part)}


def report(result: dict[str, Any]) -> str:
    pages = result["pages"]
    stages, base = result["stages"], result["baseline"]
    ms = lambda seconds: 1000 * seconds / pages  # noqa: E731 - per page
    total = sum(stages.get(s, 0.0) for s in STAGES)
    lines = [f"newsbeam per-stage CPU time over {pages} fundus pages ({result['articles']} articles "
             f"kept), ms per page (story over the kept articles, per page)", "",
             f"{'stage':<50}{'ms/page':>9}{'share':>8}"]
    for stage in STAGES:
        lines.append(f"{stage:<50}{ms(stages.get(stage, 0.0)):>9.1f}{stages.get(stage, 0.0) / total:>8.0%}")
    lines.append(f"{'newsbeam, these stages':<50}{ms(total):>9.1f}")
    lines.append(f"{'trafilatura bare_extraction(with_metadata=True)':<50}{ms(base.get('trafilatura', 0.0)):>9.1f}"
                 f"   ({ms(total) / max(ms(base.get('trafilatura', 0.0)), 1e-9):.2f}x)")
    if result["parts"]:
        lines += ["", "parts, each timed on its own:"]
        for name, seconds in result["parts"].items():
            if name == "pages with a full pass":
                lines.append(f"  {name:<48}{int(seconds):>9d}")
            else:
                lines.append(f"  {name:<48}{ms(seconds):>9.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N fundus pages")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the pages")
    parser.add_argument("--no-parts", action="store_true", help="skip the separate part timings")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    warnings.simplefilter("ignore")  # dateutil's warnings on time-zone names
    result = run(load_pages(args.limit), args.repeat, parts=not args.no_parts)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
