"""Flex Template entry point: builds the newsbeam pipeline, submits it, exits.

The Flex Template launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE) with
the template parameters as `--name=value` arguments, plus the Dataflow options
it sets itself (--runner, --project, --region, --temp_location, ...). It must
exit once the job is submitted: it never waits for the job.

    NEWSBEAM_COMMAND=ingest (default)  the batch pipeline (metadata.json)
    NEWSBEAM_COMMAND=stream            the streaming pipeline (metadata-stream.json)

Template parameters are the flags of `newsbeam ingest` / `newsbeam stream`
spelled with underscores; in addition `feeds` takes a comma-separated list
of feed URLs, and boolean flags take `true` / `false`.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional

__all__ = ["template_argv", "submit", "main"]

BOOLEAN_FLAGS = ("allow_private_network", "allow-private-network", "no_robots", "no-robots",
                 "check_types", "check-types")
TRUE = ("true", "1", "yes")


def template_argv(argv: list[str]) -> list[str]:
    """Template arguments -> newsbeam arguments.

    `--feeds=a,b` becomes `--feed=a --feed=b`; `--flag=true` of a boolean flag
    becomes `--flag` and `--flag=false` is dropped; everything else is kept.
    """
    out: list[str] = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        key = name.lstrip("-")
        if eq and key == "feeds":
            out += [f"--feed={url.strip()}" for url in value.split(",") if url.strip()]
        elif eq and key in BOOLEAN_FLAGS:
            if value.strip().lower() in TRUE:
                out.append(name)
        else:
            out.append(arg)
    return out


def submit(argv: list[str], command: str = "ingest"):
    """Builds the `command` pipeline from `argv` and submits it; returns the PipelineResult."""
    import apache_beam as beam

    from pipelines.ingest import build_arg_parser, pipeline_options, resolve_feeds
    from pipelines.manifest import new_run_id
    from pipelines.options import NewsbeamOptions

    argv = template_argv(argv)
    args, _ = build_arg_parser().parse_known_args(argv)
    if not (args.feed or args.feeds_file) or not args.output:
        raise SystemExit("newsbeam template: give feeds (or feeds_file) and output")
    if command == "ingest":
        from pipelines.batch import build_batch

        options = pipeline_options(argv)
    elif command == "stream":
        from pipelines.stream import build_stream, stop_file_path, stream_options

        options = stream_options(argv)
    else:
        raise SystemExit(f"newsbeam template: unknown NEWSBEAM_COMMAND {command!r}")
    o = options.view_as(NewsbeamOptions)
    run_id = o.run_id or new_run_id()
    pipeline = beam.Pipeline(options=options)
    if command == "ingest":
        build_batch(pipeline, resolve_feeds(o), run_id)
    else:  # drained by `gcloud dataflow jobs drain`, or by creating the stop file
        build_stream(pipeline, resolve_feeds(o), run_id, stop_file_path(o.output, run_id))
    result = pipeline.run()
    logging.getLogger(__name__).info("newsbeam %s submitted, run %s", command, run_id)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO)
    submit(list(sys.argv[1:] if argv is None else argv),
           os.environ.get("NEWSBEAM_COMMAND", "ingest"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
