"""Regenerates the reader-facing files derived from `schemas/article.py`.

    python scripts/gen_schema_docs.py           # write docs/schema.md and docs/bigquery_*.json
    python scripts/gen_schema_docs.py --check   # exit 1 when a generated file is stale
    python scripts/gen_schema_docs.py --freeze  # freeze schemas/contract/v<major>.json (new major only)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas.article import SCHEMA_VERSION  # noqa: E402
from schemas.export import SCHEMAS, contract, contract_path, generated_files  # noqa: E402


def freeze() -> int:
    path = contract_path(SCHEMA_VERSION)
    if path.exists():
        print(f"{path.relative_to(ROOT)} exists: a frozen contract is never rewritten", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    frozen = {"schema_version": SCHEMA_VERSION,
              "tables": {name: contract(schema) for name, schema in SCHEMAS.items()}}
    path.write_text(json.dumps(frozen, indent=2) + "\n", encoding="utf-8")
    print(f"froze {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are current")
    parser.add_argument("--freeze", action="store_true", help="freeze the contract of a new major version")
    args = parser.parse_args(argv)
    if args.freeze:
        return freeze()
    stale = []
    for rel, text in generated_files().items():
        path = ROOT / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    if args.check and stale:
        print("stale: " + ", ".join(stale) + " (run python scripts/gen_schema_docs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
