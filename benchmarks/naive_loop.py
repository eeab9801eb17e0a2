"""The naive baseline: one Python loop, one page at a time, one Parquet write.

For each feed, then each entry in it: fetch the page (requests, one at a
time), extract text and metadata with trafilatura, detect the language of
the whole text with langdetect, hash the text (SHA-256) and its word
5-shingles (MinHash, 128 permutations), keep the row; at the end write all
rows as one Parquet file. This is what a short script would do; the
benchmark compares the pipeline against it.

Usage: python benchmarks/naive_loop.py --feed URL [--feed URL ...] --output DIR
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["SHINGLE_WORDS", "NUM_PERM", "shingles", "process_page", "run_naive", "main"]

SHINGLE_WORDS = 5
NUM_PERM = 128
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[bytes]:
    """The word `size`-shingles of a text, lowercased, as UTF-8 bytes."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[k:k + size]).encode() for k in range(len(words) - size + 1)}


def process_page(html: str, url: str) -> Optional[dict[str, Any]]:
    """Extract -> language -> hashes for one page; None when no text was found."""
    import trafilatura
    from datasketch import MinHash
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return None
    values = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = (values.get("text") or "").strip()
    if not text:
        return None
    try:
        best = detect_langs(text)[0]
        language, probability = best.lang, best.prob
    except (LangDetectException, IndexError):
        language, probability = "und", 0.0
    minhash = MinHash(num_perm=NUM_PERM)
    minhash.update_batch(list(shingles(text)))
    return {
        "url": url,
        "title": values.get("title"),
        "author": values.get("author"),
        "date": values.get("date"),
        "sitename": values.get("sitename"),
        "text": text,
        "word_count": len(text.split()),
        "language": language,
        "language_probability": probability,
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
        "minhash": minhash.hashvalues.astype("uint32").tobytes(),
    }


def run_naive(feed_urls: list[str], output: str) -> dict[str, int]:
    """Runs the loop over every entry of the feeds; returns counts."""
    import feedparser
    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests

    session = requests.Session()
    rows, counts = [], {"entries": 0, "fetched": 0, "articles": 0, "failed": 0}
    for feed_url in feed_urls:
        feed = feedparser.parse(session.get(feed_url, timeout=20).content)
        for entry in feed.entries:
            counts["entries"] += 1
            try:
                response = session.get(entry.link, timeout=20)
                response.raise_for_status()
            except requests.RequestException:
                counts["failed"] += 1
                continue
            counts["fetched"] += 1
            row = process_page(response.text, entry.link)
            if row is None:
                counts["failed"] += 1
                continue
            rows.append(row)
    counts["articles"] = len(rows)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "articles.parquet")
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feed", action="append", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = run_naive(args.feed, args.output)
    counts["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
