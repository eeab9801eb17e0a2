"""`newsbeam ingest`: run the batch pipeline and write the run manifest."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from typing import Any, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions

from pipelines import warm_workers
from pipelines.batch import BALANCED_STAGES, build_batch
from pipelines.local_runner import local_runner
from pipelines.manifest import counters_from_result, format_summary, new_run_id, record_run
from pipelines.options import NewsbeamOptions

__all__ = ["build_arg_parser", "pipeline_options", "resolve_feeds", "run", "main"]

DEFAULT_RUNNER = "FnApiRunner"

_EPILOG = """Any Apache Beam pipeline option is accepted as well, e.g. --runner=PrismRunner
--prism_location=PATH, --runner=FlinkRunner --flink_master=[local], --runner=DataflowRunner
--project=P --region=R --temp_location=gs://..., --direct_num_workers=2
--direct_running_mode=multi_processing. Without --runner the in-process FnApiRunner is used
and nothing is downloaded."""


def build_arg_parser(prog: str = "newsbeam ingest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Ingest news feeds into Hive-partitioned Parquet (batch).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    NewsbeamOptions._add_argparse_args(parser)
    return parser


def pipeline_options(argv: list[str]) -> PipelineOptions:
    """PipelineOptions from the command line, with the in-process runner by default, and
    without Beam's construction-time type check unless `--check-types` is given."""
    options = PipelineOptions(argv)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    if not options.view_as(NewsbeamOptions).check_types:
        options.view_as(TypeOptions).pipeline_type_check = False
    return options


def resolve_feeds(o: NewsbeamOptions) -> list[str]:
    """The feed URLs named by --feed and --feeds-file."""
    from transforms.feeds import read_feeds_file

    feeds = list(o.feed or [])
    if o.feeds_file:
        feeds += read_feeds_file(o.feeds_file)
    return list(dict.fromkeys(f.strip() for f in feeds if f and f.strip()))


def _clean_tmp(output: str, run_id: str) -> None:
    """Removes this run's temporary folder, and `.tmp` itself once nothing else is in it."""
    root = FileSystems.join(output, ".tmp")
    try:
        run_tmp = FileSystems.join(root, run_id)
        if FileSystems.exists(run_tmp):
            FileSystems.delete([run_tmp])
        if FileSystems.exists(root) and not FileSystems.match([FileSystems.join(root, "**")])[0].metadata_list:
            FileSystems.delete([root])
    except Exception:  # best effort; leftovers sit outside the dataset's tables
        logging.getLogger(__name__).warning("could not remove %s", root)


def run(argv: list[str]) -> dict[str, Any]:
    """Runs one batch ingest; returns its manifest (also written to DIR/_runs/)."""
    parser = build_arg_parser()
    args, _ = parser.parse_known_args(argv)
    if not (args.feed or args.feeds_file):
        parser.error("give at least one --feed URL or a --feeds-file")
    if not args.output:
        parser.error("--output DIR is required")
    options = pipeline_options(argv)
    o = options.view_as(NewsbeamOptions)
    run_id = o.run_id or new_run_id()
    feeds = resolve_feeds(o)
    if not feeds:
        parser.error("no feed URL found in the arguments or the feeds file")
    started = dt.datetime.now(dt.timezone.utc)
    status, error, counters = "succeeded", None, {}
    pool = warm_workers.take_pool(argv)
    try:
        runner = None
        if options.view_as(StandardOptions).runner == DEFAULT_RUNNER:
            runner = local_runner(pool, balanced_stages=BALANCED_STAGES)
        pipeline = beam.Pipeline(runner=runner, options=options)
        build_batch(pipeline, feeds, run_id)
        result = pipeline.run()
        result.wait_until_finish()
        counters = counters_from_result(result)
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if pool is not None:
            pool.close()
        manifest = record_run(
            run_id=run_id, output=o.output, started_at=started, status=status,
            options=options.get_all_options(drop_default=True), counters=counters,
            feeds=len(feeds), error=error)
        if status == "succeeded":
            _clean_tmp(o.output, run_id)
    return manifest


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    manifest = run(argv)
    print(format_summary(manifest))
    return 0 if manifest["status"] == "succeeded" else 1
