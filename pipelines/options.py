"""Every newsbeam flag, declared once as a PipelineOptions subclass."""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

__all__ = ["NewsbeamOptions", "StreamOptions", "http_config_from_options"]


def _flag(parser, name: str, **kwargs) -> None:
    """Adds `--a-b` with its `--a_b` alias, so options survive Beam's round trips."""
    dest = name.replace("-", "_")
    names = [f"--{name}"] + ([f"--{dest}"] if dest != name else [])
    parser.add_argument(*names, dest=dest, **kwargs)


class NewsbeamOptions(PipelineOptions):
    """Options of `newsbeam ingest` (and the shared part of `newsbeam stream`)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        src = parser.add_argument_group("sources and output") if hasattr(parser, "add_argument_group") else parser
        _flag(src, "feed", action="append", default=None, metavar="URL",
              help="RSS/Atom feed URL; repeat for several feeds.")
        _flag(src, "feeds-file", default=None, metavar="FILE",
              help="File listing feeds: one URL a line ('#' starts a comment) or an OPML file. Local, gs:// or s3://.")
        _flag(src, "output", default=None, metavar="DIR",
              help="Dataset folder (local, gs://, s3://): articles/, rejects/, _runs/, _state/.")
        _flag(src, "run-id", default=None, help="Identifier of this run (default: time-based).")

        net = parser.add_argument_group("fetching") if hasattr(parser, "add_argument_group") else parser
        _flag(net, "allow-private-network", action="store_true", default=False,
              help="Allow fetching loopback, private and link-local addresses (off by default).")
        _flag(net, "allow-host", action="append", default=None, metavar="HOST[:PORT]",
              help="Open the private-network guard for this host only; repeatable.")
        _flag(net, "contact-url", default=None, help="Contact URL appended to the User-Agent.")
        _flag(net, "connect-timeout", type=float, default=5.0, help="Connect timeout, seconds (default 5).")
        _flag(net, "read-timeout", type=float, default=20.0, help="Read timeout, seconds (default 20).")
        _flag(net, "max-bytes", type=int, default=10 * 1024 * 1024,
              help="Maximum body size in bytes, after decompression (default 10 MB).")
        _flag(net, "max-redirects", type=int, default=5, help="Maximum redirects followed (default 5).")
        _flag(net, "max-retries", type=int, default=3, help="Retries on transient errors (default 3).")
        _flag(net, "per-host-concurrency", type=int, default=2,
              help="Maximum requests in flight to one host (default 2).")
        _flag(net, "per-host-delay", type=float, default=0.0,
              help="Minimum seconds between requests to one host (default 0).")
        _flag(net, "fetch-concurrency", type=int, default=16,
              help="Concurrent fetches per worker (default 16).")
        _flag(net, "no-robots", action="store_true", default=False,
              help="Do not fetch or obey robots.txt.")

        proc = parser.add_argument_group("processing and files") if hasattr(parser, "add_argument_group") else parser
        _flag(proc, "near-duplicate-threshold", type=float, default=None,
              help="Estimated Jaccard similarity above which an article is a near-copy (default: the dedup stage's).")
        _flag(proc, "target-file-bytes", type=int, default=128 * 1024 * 1024,
              help="Target Parquet file size in bytes (default 128 MB).")
        _flag(proc, "row-group-bytes", type=int, default=32 * 1024 * 1024,
              help="Target Parquet row-group size in bytes (default 32 MB).")
        _flag(proc, "check-types", action="store_true", default=False,
              help="Check the type hints between transforms while `ingest` builds its graph "
                   "(Beam's construction-time check). Off by default: the graph is newsbeam's "
                   "own, checked by its tests, and the check costs about 0.7 s a run.")


class StreamOptions(PipelineOptions):
    """Options only `newsbeam stream` uses."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        _flag(parser, "poll-interval", type=float, default=300.0,
              help="Seconds between polls of each feed (default 300).")
        _flag(parser, "max-polls", type=int, default=None,
              help="Stop after this many polls (default: run until stopped).")
        _flag(parser, "window", type=float, default=600.0,
              help="Output window in seconds: files are committed per window (default 600).")
        _flag(parser, "state-horizon", type=float, default=7 * 24 * 3600.0,
              help="Seconds dedup and story state is kept (default 7 days).")


def http_config_from_options(options: PipelineOptions):
    """The HttpConfig that the flags describe."""
    from transforms.http import HttpConfig

    o = options.view_as(NewsbeamOptions)
    return HttpConfig(
        connect_timeout=o.connect_timeout,
        read_timeout=o.read_timeout,
        max_bytes=o.max_bytes,
        max_redirects=o.max_redirects,
        contact_url=o.contact_url,
        allow_private_network=o.allow_private_network,
        allow_hosts=tuple(o.allow_host or ()),
        per_host_concurrency=o.per_host_concurrency,
        per_host_delay=o.per_host_delay,
        max_retries=o.max_retries,
        respect_robots=not o.no_robots,
        fetch_concurrency=o.fetch_concurrency,
    )
