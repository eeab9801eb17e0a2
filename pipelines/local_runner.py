"""The in-process runner for `newsbeam ingest`: Beam's FnApiRunner, with two changes.

1. The expensive stage's input is dealt, not split once. With
   `direct_num_workers=N` the FnApiRunner splits a stage's input once into N
   alternating parts, one per worker; per-page costs run from 5 to 300 ms, so
   on 2,000 pages one worker often ends 1 to 3 s before the other and waits.
   For the stages named in `balanced_stages` (fetch to language),
   `GuidedBundleManager` gives each worker one large part holding its share of
   all but a `TAIL` fraction of the input, then deals the rest in shrinking
   parts (each 1/(2N) of what is left, at least `MIN_PART` elements) to
   whichever worker is free. The workers then end within about one small part
   of each other. Each part is one bundle, whose first fetches would leave its
   worker idle for a network round trip (about 0.1 s a part at the benchmark's
   50 ms latency): so a worker past its large part runs `TAIL_SLOTS` bundles at
   a time, one fetching while the other extracts. (Two bundles at a time for a
   whole run cost 8% more CPU, the two threads contending for one GIL; only
   the tail pays it here.)
2. Warm workers: with a `WarmWorkerPool`, the worker command is the pool's
   attach command (see `pipelines.warm_workers`).

Stages with timers, state or more than one data input keep Beam's own split.
`guided_bundle_manager().last_spread` holds, per stage, how many seconds apart the
workers finished their last part (logged at debug level).
"""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from typing import Optional, Sequence

__all__ = ["guided_bundle_manager", "guided_part_sizes", "local_runner", "TAIL_SLOTS", "MIN_PART", "TAIL"]

TAIL_SLOTS = 2   # bundles at a time on a worker past its large part (see above)
MIN_PART = 8
TAIL = 0.08
_log = logging.getLogger(__name__)


def guided_part_sizes(total: int, workers: int, min_part: int = MIN_PART, tail: float = TAIL) -> list[int]:
    """Sizes of the parts dealt, in order: one large part per worker, sharing all but
    a `tail` fraction of the input, then the tail in parts of ceil(left / (2 * workers)),
    at least `min_part` (and at most what is left); their sum is `total`."""
    if total < 0 or workers < 1 or min_part < 1 or not 0 <= tail <= 1:
        raise ValueError(f"bad arguments: total={total} workers={workers} min_part={min_part} tail={tail}")
    head = int(total * (1 - tail)) // workers
    sizes = [head] * workers if head >= min_part else []
    left = total - sum(sizes)
    while left > 0:
        size = min(left, max(min_part, -(-left // (2 * workers))))
        sizes.append(size)
        left -= size
    return sizes


class _PartQueue:
    """Hands out (start, end) slices of the input, in `guided_part_sizes` order,
    until it is empty or stopped."""

    def __init__(self, sizes: Sequence[int]):
        bounds = list(itertools.accumulate(sizes, initial=0))
        self._parts = list(zip(bounds, bounds[1:]))
        self._lock = threading.Lock()
        self._next = 0

    def take(self) -> Optional[tuple[int, int]]:
        with self._lock:
            if self._next >= len(self._parts):
                return None
            self._next += 1
            return self._parts[self._next - 1]

    def stop(self) -> None:
        with self._lock:
            self._next = len(self._parts)


def _beam():
    """Beam's runner internals, imported on first use (the module is imported by the CLI)."""
    from apache_beam.metrics import monitoring_infos
    from apache_beam.portability.api import beam_fn_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.utils import thread_pool_executor
    return fn_runner, beam_fn_api_pb2, monitoring_infos, thread_pool_executor


@functools.cache
def guided_bundle_manager():
    fn_runner, beam_fn_api_pb2, monitoring_infos, thread_pool_executor = _beam()

    class PinnedBundleManager(fn_runner.BundleManager):
        """Beam's BundleManager, on one given worker (Beam picks workers round-robin)."""

        def __init__(self, bundle_context_manager, progress_frequency, cache_token_generator, worker_handler):
            self._pinned = worker_handler
            super().__init__(bundle_context_manager, progress_frequency,
                             cache_token_generator=cache_token_generator)

        @property
        def _worker_handler(self):
            return self._pinned

        @_worker_handler.setter
        def _worker_handler(self, _value):
            pass

    class GuidedBundleManager(fn_runner.ParallelBundleManager):
        """Runs one stage's input as one large part per worker, then shrinking parts,
        `TAIL_SLOTS` at a time on a worker whose large part is done."""

        last_spread: dict[str, float] = {}   # stage name -> seconds between the workers' ends

        def process_bundle(self, inputs, expected_outputs, fired_timers, expected_output_timers, dry_run=False):
            if fired_timers or expected_output_timers or len(inputs) != 1:
                return super().process_bundle(inputs, expected_outputs, fired_timers,
                                              expected_output_timers, dry_run)
            (transform_id, buffer), = inputs.items()
            coder = self.bundle_context_manager.get_input_coder_impl(transform_id)
            elements = list(coder.decode_all(b"".join(buffer.partition(1)[0])))
            handlers = self.bundle_context_manager.worker_handlers
            queue = _PartQueue(guided_part_sizes(len(elements), len(handlers)) or [0])
            results, splits, ended, lock = [], [], {}, threading.Lock()

            def run(handler, part) -> None:
                manager = PinnedBundleManager(self.bundle_context_manager, self._progress_frequency,
                                              self._cache_token_generator, handler)
                data = coder.encode_all(elements[part[0]:part[1]])
                try:
                    result, split = manager.process_bundle({transform_id: [data]}, expected_outputs,
                                                           {}, {}, dry_run)
                except BaseException:
                    queue.stop()
                    raise
                with lock:
                    results.append(result)
                    splits.extend(split)

            def slot(handler, head_done: threading.Event, first: bool) -> None:
                try:
                    if first:                       # the worker's large part, alone
                        part = queue.take()
                        if part is not None:
                            run(handler, part)
                        head_done.set()
                    else:                           # a second slot once the worker is in the tail
                        head_done.wait()
                    while (part := queue.take()) is not None:
                        run(handler, part)
                finally:
                    head_done.set()
                    with lock:
                        ended[id(handler)] = max(ended.get(id(handler), 0.0), time.monotonic())

            with thread_pool_executor.shared_unbounded_instance() as executor:
                futures = []
                for handler in handlers:
                    head_done = threading.Event()
                    futures += [executor.submit(slot, handler, head_done, n == 0) for n in range(TAIL_SLOTS)]
                errors = [f.exception() for f in futures]
            error = next((e for e in errors if e is not None), None)
            if error is not None:
                raise error
            stage = self.bundle_context_manager.stage.name
            GuidedBundleManager.last_spread[stage] = spread = max(ended.values()) - min(ended.values())
            _log.debug("%s: %d elements in %d parts; workers ended %.3f s apart",
                       stage, len(elements), len(results), spread)
            merged = beam_fn_api_pb2.InstructionResponse(
                process_bundle=beam_fn_api_pb2.ProcessBundleResponse(
                    monitoring_infos=list(monitoring_infos.consolidate(itertools.chain.from_iterable(
                        r.process_bundle.monitoring_infos for r in results))),
                    residual_roots=[root for r in results for root in r.process_bundle.residual_roots]))
            return merged, splits

    return GuidedBundleManager


def _is_balanced(stage, prefixes: Sequence[str]) -> bool:
    return any(t.unique_name.startswith(p) for t in stage.transforms for p in prefixes)


def local_runner(pool=None, balanced_stages: Sequence[str] = ()):
    """An FnApiRunner that schedules the stages whose transforms' names start with
    one of `balanced_stages` with `GuidedBundleManager`, and whose multi-processing
    workers are `pool`'s processes when a pool is given."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms import environments

    fn_runner = _beam()[0]
    guided = guided_bundle_manager()
    prefixes = tuple(balanced_stages)

    class NewsbeamFnApiRunner(FnApiRunner):
        @property
        def _default_environment(self):
            return self.__dict__["_newsbeam_environment"]

        @_default_environment.setter
        def _default_environment(self, environment):
            if pool is not None and isinstance(environment, environments.SubprocessSDKEnvironment):
                environment = environments.SubprocessSDKEnvironment.from_command_string(pool.command)
            self.__dict__["_newsbeam_environment"] = environment

        def _get_bundle_manager(self, bundle_context_manager):
            manager = super()._get_bundle_manager(bundle_context_manager)
            if type(manager) is fn_runner.ParallelBundleManager and _is_balanced(
                    bundle_context_manager.stage, prefixes):
                return guided(bundle_context_manager, self._progress_frequency,
                              cache_token_generator=manager._cache_token_generator)
            return manager

    return NewsbeamFnApiRunner()
