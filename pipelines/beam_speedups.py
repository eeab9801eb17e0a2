"""Two memoizations of Beam's graph construction, for the pinned Beam version only.

Building and translating the batch graph cost the command about 1 s on one core
while the worker processes waited, half of it in two functions that recompute
the same answer many times:

- `userstate.get_dofn_specs(dofn)` looks for state and timer parameters in every
  method of a DoFn with `inspect.signature`; Beam calls it about 8 times per
  DoFn (806 calls, 25,000 signatures for the batch graph). The answer depends
  only on the DoFn's class and on any bound methods stored on the instance, so it
  is kept per (class, those methods).
- `PipelineOptions.view_as(cls)` builds an argparse parser and parses the flags
  again on every call (710 calls per graph). Every view of one options object
  shares its `_all_options` dict, so one view per (options object, class) reads
  and writes the same values; it is kept while the options object lives.

Measured (`python -m pipelines.beam_speedups`, which prints both): the batch graph's
build and translation from 0.83 s to 0.22 s. `install()` is idempotent and
does nothing on another Beam version; `newsbeam` installs it at start-up, before
the worker processes are forked, so they have it too.
"""
from __future__ import annotations

import types
import weakref

__all__ = ["install", "installed", "BEAM_VERSION"]

BEAM_VERSION = "2.77.0"   # the version these were read against (setup.py pins it)
_state = {"installed": False}


def installed() -> bool:
    return _state["installed"]


def _own_methods(dofn) -> tuple:
    """Bound methods stored on the instance itself (`dir()` sees them too)."""
    attrs = getattr(dofn, "__dict__", None) or {}
    return tuple((name, value.__func__) for name, value in attrs.items()
                 if isinstance(value, types.MethodType))


def _memoize_dofn_specs(userstate) -> None:
    compute = userstate.get_dofn_specs
    known: dict = {}

    def get_dofn_specs(dofn):
        try:
            key = (type(dofn), _own_methods(dofn))
            specs = known.get(key)
        except TypeError:                       # an unhashable method: not memoized
            return compute(dofn)
        if specs is None:
            specs = known[key] = compute(dofn)
        return set(specs[0]), set(specs[1])     # callers get their own sets, as before

    get_dofn_specs.__doc__ = compute.__doc__
    get_dofn_specs.__wrapped__ = compute
    userstate.get_dofn_specs = get_dofn_specs


def _memoize_views(options_class) -> None:
    make_view = options_class.view_as
    views: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def view_as(self, cls):
        try:
            mine = views.setdefault(self, {})
        except TypeError:
            return make_view(self, cls)
        view = mine.get(cls)
        if view is None or view._all_options is not self._all_options:
            view = mine[cls] = make_view(self, cls)
        return view

    view_as.__doc__ = make_view.__doc__
    view_as.__wrapped__ = make_view
    options_class.view_as = view_as


def install() -> bool:
    """Installs both memoizations once; False (and nothing done) on another Beam version."""
    if _state["installed"]:
        return True
    import apache_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms import userstate

    if apache_beam.__version__ != BEAM_VERSION:
        return False
    _memoize_dofn_specs(userstate)
    _memoize_views(PipelineOptions)
    _state["installed"] = True
    return True


def _measure(repeat: int = 3) -> None:
    """Prints the batch graph's build and translation time without, then with, the memoizations."""
    import time

    import apache_beam as beam

    from pipelines.batch import build_batch
    from pipelines.ingest import pipeline_options

    argv = ["--output", "/nonexistent", "--feed", "http://127.0.0.1:9/feed.xml"]

    def once() -> float:
        started = time.perf_counter()
        pipeline = beam.Pipeline(runner="FnApiRunner", options=pipeline_options(argv))
        build_batch(pipeline, ["http://127.0.0.1:9/feed.xml"], "measure")
        pipeline.to_runner_api()
        return time.perf_counter() - started

    once()                                        # imports and first-use caches
    before = min(once() for _ in range(repeat))
    install()
    first = once()                                # what a command pays: nothing memoized yet
    again = min(once() for _ in range(repeat))
    print(f"batch graph build + translation, best of {repeat}: {before:.3f} s without the "
          f"memoizations; with them {first:.3f} s for the first graph ({before / first:.2f}x), "
          f"{again:.3f} s for later ones")


if __name__ == "__main__":
    _measure()
