"""The `newsbeam` command: ingest | stream | demo | report | runs | compact."""
from __future__ import annotations

import importlib
import logging
import sys
from typing import NoReturn, Optional

from pipelines import beam_speedups, warm_workers
from transforms.memory import (exit_without_teardown, fix_mmap_threshold, limit_malloc_arenas,
                               start_memory_trimmer)

__all__ = ["main", "run"]

COMMANDS = {
    "ingest": ("pipelines.ingest", "Batch: read feeds once, write Parquet, exit."),
    "stream": ("pipelines.stream", "Streaming: poll feeds continuously, write windowed Parquet."),
    "demo": ("pipelines.demo", "Serve the built-in example site on 127.0.0.1 and ingest it."),
    "report": ("pipelines.report", "Write a self-contained HTML report of a dataset."),
    "runs": ("pipelines.runs", "List the runs recorded in a dataset."),
    "compact": ("pipelines.compact", "Merge small Parquet files of a dataset, atomically."),
}

_USAGE = "usage: newsbeam {%s} [options]\n\n" % ",".join(COMMANDS) + "\n".join(
    f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()) + (
    "\n\n`newsbeam COMMAND --help` documents the flags of each command.")


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"newsbeam: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()   # before any thread starts: see transforms/memory.py
    wants_help = any(a in ("-h", "--help") for a in rest)
    module = importlib.import_module(COMMANDS[command][0])
    beam_speedups.install()  # graph construction memoized (pipelines/beam_speedups.py)
    if command == "ingest" and not wants_help and warm_workers.wanted_workers(rest):
        # forked now, before any thread starts, with Beam and the stages imported, the
        # worker processes have nothing left to import (pipelines/warm_workers.py)
        importlib.import_module("apache_beam.runners.worker.sdk_worker_main")
        batch = importlib.import_module("pipelines.batch")
        warm_workers.prestart(rest, batch.warm_up, batch.warm_up_worker)
    fix_mmap_threshold()    # this process's own (worker processes keep glibc's)
    start_memory_trimmer()
    if wants_help and hasattr(module, "build_arg_parser"):
        module.build_arg_parser().print_help()
        return 0
    return int(module.main(rest) or 0)


def run() -> NoReturn:
    """The `newsbeam` script: `main()`, then the exit without the interpreter's
    teardown (transforms/memory.py): the command is done, its heap need not be
    freed object by object."""
    exit_without_teardown(main())


if __name__ == "__main__":
    run()
