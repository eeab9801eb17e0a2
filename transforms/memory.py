"""Bounded malloc arenas, so that memory stays flat while fetch threads run.

glibc gives every thread that allocates its own malloc arena, up to eight per
core. The fetch threads allocate the page bodies (hundreds of KB each) in their
arenas; the pages are parsed and freed on the main thread, and what is freed in
one arena is not reused by another, so each arena keeps its own high-water
mark. On this workload that is most of the growth of a long run: a plain
extraction loop stays at 320 MB, the pipeline with 16 fetch threads grew by
about 100 KB per page (docs/performance.md, "Memory").

`limit_malloc_arenas` caps the arenas of this process (`mallopt(M_ARENA_MAX)`,
effective for threads that have not allocated yet, so it runs before the
pipeline starts any thread) and of the processes it starts (Beam's worker
processes inherit `MALLOC_ARENA_MAX`). A `MALLOC_ARENA_MAX` already set by the
user wins.

`fix_mmap_threshold` keeps glibc's mmap threshold of the command's process at
256 KB (`mallopt(M_MMAP_THRESHOLD)`; a `MALLOC_MMAP_THRESHOLD_` set by the user
wins, and is the one setting child processes inherit; glibc reads that variable
itself, so `0` would map every block: to keep something close to glibc's
default, set it to 33554432). glibc raises the threshold each time a large
mmapped block is freed, up to 32 MB, so after the first page bodies and runner
buffers, blocks of several MB come from the heap and stay resident when freed.
With the threshold fixed, every block of 256 KB or more (page bodies, the
in-process runner's encoded groupings) is its own mapping, returned to the
system when freed: the 10,000-page peak of the in-process run fell from
686-773 to 650 MB, with the same CPU per page.

Beam's worker processes keep glibc's own threshold. There, a mapping per page
body and per decoded text, and a trim every second, cost a fresh zeroed page
for every 4 KB they touch again: 1.9 million page faults in a 2,000-page run
with two workers, about 6 s of system time and a tenth of the run's CPU
(docs/performance.md, "Sixth round").

`start_memory_trimmer` returns the free memory in the middle of the heap to
the system (`malloc_trim(0)`: about 2 ms when there is memory to return, 0.2
ms when there is none). In the command's process it trims five times a second:
no difference in CPU per page was measurable against once a second, and the
10,000-page peak fell by 70 MB, because the in-process runner builds and drops
a grouping per stage in dedup's tail, each a few hundred ms long. Pages of a
few hundred KB are parsed and freed between long-lived buffers (a runner's
pending outputs), so the heap's free space is scattered and its high-water
mark rises with every unusually large page; trimming keeps the resident size
near what is in use. A worker process looks once a second and trims only when
its heap holds more than 128 MB free (`WORKER_TRIM_FREE_BYTES`, from
`mallinfo2`): its free space stays around 50-120 MB while it parses pages, and
what a trim gives back is faulted in again at once. The trimmer runs in a
daemon thread, once per process (the command line starts it, and so does the
fetch stage's `setup`, for worker processes); `NEWSBEAM_TRIM_SECONDS=0` turns
it off. Elsewhere than glibc both do nothing.

`freeze_loaded_objects` moves what a process holds once a stage is set up
(the modules of Beam, trafilatura, lxml, numpy, their tables: about 190,000
objects in a worker) out of the cyclic garbage collector's reach
(`gc.freeze()`), so its full collections stop walking them again and again:
they took 0.8 s of a 2,000-page run's worker CPU. The extraction stage calls
it in `setup`, once its modules (the heaviest) are loaded, so once per
DoFn instance. Objects are still freed by reference counting; only
reference cycles among the frozen ones are never collected.

`exit_without_teardown` and `end_worker_without_teardown` end a process whose
work is done without the interpreter's teardown, which frees a heap of
hundreds of MB object by object: about 0.3 s for the command and 0.8 s for
each Beam worker process, at the end of every run. What an exit does that
matters outside the process still happens (threads joined, exit handlers run,
logs and output flushed). `NEWSBEAM_FAST_EXIT=0` keeps the full teardown.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import logging
import os
import platform
import sys
import threading
from typing import NoReturn, Optional

__all__ = ["DEFAULT_MALLOC_ARENAS", "DEFAULT_MMAP_THRESHOLD", "DEFAULT_TRIM_SECONDS", "WORKER_TRIM_SECONDS",
           "WORKER_TRIM_FREE_BYTES",
           "limit_malloc_arenas", "fix_mmap_threshold", "heap_free_bytes",
           "start_memory_trimmer", "freeze_loaded_objects", "exit_without_teardown",
           "end_worker_without_teardown", "exit_worker_without_teardown"]

DEFAULT_MALLOC_ARENAS = 2
_M_ARENA_MAX = -8       # glibc's mallopt parameter number (malloc.h)
_ENV = "MALLOC_ARENA_MAX"
DEFAULT_MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3
_MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"
DEFAULT_TRIM_SECONDS = 0.2
WORKER_TRIM_SECONDS = 1.0
WORKER_TRIM_FREE_BYTES = 128 << 20
_TRIM_ENV = "NEWSBEAM_TRIM_SECONDS"
_trimmer_lock = threading.Lock()
_trimmer: Optional[threading.Thread] = None
_FAST_EXIT_ENV = "NEWSBEAM_FAST_EXIT"
_SDK_WORKER_MAIN = "sdk_worker_main.py"     # Beam's worker process entry point
_worker_exit_registered = False
_worker_failed = False

_log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _glibc() -> Optional[ctypes.CDLL]:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = DEFAULT_MALLOC_ARENAS) -> Optional[int]:
    """Caps glibc's malloc arenas for this process and its child processes.

    Args:
        arenas: the cap, unless the environment already sets `MALLOC_ARENA_MAX`.

    Returns:
        The cap in effect, or None where there is no glibc (nothing changed).
    """
    libc = _glibc()
    if libc is None:
        return None
    try:
        cap = int(os.environ.get(_ENV) or arenas)
    except ValueError:
        _log.warning("ignoring %s=%r: not a number", _ENV, os.environ[_ENV])
        cap = arenas
    if cap < 1:
        return None
    return _set_malloc_option(libc, _M_ARENA_MAX, _ENV, cap)


def fix_mmap_threshold(threshold: int = DEFAULT_MMAP_THRESHOLD) -> Optional[int]:
    """Fixes glibc's mmap threshold for this process (not for the processes it starts).

    Args:
        threshold: bytes from which a block gets its own mapping, unless the
            environment already sets `MALLOC_MMAP_THRESHOLD_`.

    Returns:
        The threshold in effect (the user's `MALLOC_MMAP_THRESHOLD_`, which glibc
        applied when the process started, is left as it is), or None where there is
        no glibc.
    """
    libc = _glibc()
    if libc is None:
        return None
    if os.environ.get(_MMAP_ENV):          # the user's: glibc applied it when the process started
        try:
            return int(os.environ[_MMAP_ENV])
        except ValueError:
            return None
    if libc.mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
        _log.warning("mallopt(M_MMAP_THRESHOLD, %d) failed", threshold)
        return None
    return threshold


def _set_malloc_option(libc: ctypes.CDLL, param: int, env: str, value: int) -> Optional[int]:
    """`mallopt(param, value)` for this process, and `env` for the processes it starts."""
    os.environ[env] = str(value)
    if libc.mallopt(param, value) != 1:
        _log.warning("mallopt(%d, %d) failed (%s)", param, value, env)
        return None
    return value


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (malloc.h), summed over all arenas."""
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


@functools.lru_cache(maxsize=None)
def _mallinfo2():
    libc = _glibc()
    mallinfo2 = getattr(libc, "mallinfo2", None) if libc is not None else None
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
    return mallinfo2


def heap_free_bytes() -> Optional[int]:
    """Bytes free in malloc's heaps (`mallinfo2().fordblks`); None without glibc 2.33+."""
    mallinfo2 = _mallinfo2()
    return None if mallinfo2 is None else int(mallinfo2().fordblks)


def start_memory_trimmer(seconds: Optional[float] = None,
                         default: float = DEFAULT_TRIM_SECONDS,
                         free_above: int = 0) -> Optional[threading.Thread]:
    """Starts, once per process, a daemon thread returning free heap memory every `seconds`.

    Args:
        seconds: the interval; default `NEWSBEAM_TRIM_SECONDS`, else `default`. Zero
            turns it off.
        default: the interval when neither is given: 0.2 s for the command's process
            (where the in-process runner builds and drops its groupings), 1 s
            (`WORKER_TRIM_SECONDS`) for the worker processes, which only parse pages.
        free_above: trim only when the heaps hold more than this many free bytes
            (`WORKER_TRIM_FREE_BYTES` in worker processes); 0 trims every time.
            Without `mallinfo2` (glibc before 2.33) every time.

    Returns:
        The trimmer thread (the running one on later calls), or None when off or without glibc.
    """
    global _trimmer
    if seconds is None:
        try:
            seconds = float(os.environ.get(_TRIM_ENV) or default)
        except ValueError:
            _log.warning("ignoring %s=%r: not a number", _TRIM_ENV, os.environ[_TRIM_ENV])
            seconds = default
    libc = _glibc()
    if libc is None or seconds <= 0:
        return None
    if free_above and heap_free_bytes() is None:
        free_above = 0
    with _trimmer_lock:
        if _trimmer is None or not _trimmer.is_alive():
            stop = threading.Event()

            def trim() -> None:
                while not stop.wait(seconds):
                    if not free_above or (heap_free_bytes() or 0) > free_above:
                        libc.malloc_trim(0)

            _trimmer = threading.Thread(target=trim, name="newsbeam-malloc-trim", daemon=True)
            _trimmer.start()
        return _trimmer


def freeze_loaded_objects() -> int:
    """`gc.freeze()` what the process holds now (see above); called from `setup`.

    Returns:
        The number of objects frozen, in all.
    """
    gc.freeze()
    return gc.get_freeze_count()


def _fast_exit_enabled() -> bool:
    return os.environ.get(_FAST_EXIT_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _flush_and_exit(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


def exit_without_teardown(code: int = 0) -> NoReturn:
    """Ends the process like `sys.exit(code)`, minus freeing the heap object by object.

    Non-daemon threads are joined and the exit handlers run first (logging is
    flushed, Beam stops the job servers it started), then stdout and stderr are
    flushed. With `NEWSBEAM_FAST_EXIT=0` it is `sys.exit(code)`.
    """
    if not _fast_exit_enabled():
        sys.exit(code)
    _join_other_threads()
    atexit._run_exitfuncs()
    _flush_and_exit(code)


def _join_other_threads() -> None:
    """Waits for the non-daemon threads, as the interpreter does before it exits."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon and thread.is_alive():
            thread.join()


def _note_failure(hook):
    def excepthook(kind, value, traceback):
        global _worker_failed
        _worker_failed = True
        hook(kind, value, traceback)
    return excepthook


def _end_worker(code: Optional[int] = None) -> None:
    """At exit of a worker process (its threads already joined): flush and end it."""
    logging.shutdown()
    helpers = sys.modules.get("multiprocessing.util")
    if helpers is not None:
        helpers._exit_function()
    _flush_and_exit((1 if _worker_failed else 0) if code is None else code)


def exit_worker_without_teardown(code: int) -> NoReturn:
    """Ends a worker process whose harness returned, as `end_worker_without_teardown`
    does at exit (for workers started by `pipelines.warm_workers`): non-daemon
    threads joined, logs flushed, then the exit. With `NEWSBEAM_FAST_EXIT=0` it is
    `sys.exit(code)`.
    """
    if not _fast_exit_enabled():
        sys.exit(code)
    _join_other_threads()
    _end_worker(code)


def end_worker_without_teardown() -> bool:
    """In a Beam SDK worker process, ends it without teardown once its harness returns.

    Called from a DoFn's `setup`; does nothing elsewhere (the command, tests,
    other runners' workers started differently). The worker's exit code is 1
    when its harness ended with an exception, else 0. Exit handlers registered
    before this call other than logging's and multiprocessing's do not run.

    Returns:
        True when registered (now or before) for this process.
    """
    global _worker_exit_registered
    if not _fast_exit_enabled() or os.path.basename(sys.argv[0] if sys.argv else "") != _SDK_WORKER_MAIN:
        return False
    with _trimmer_lock:
        if not _worker_exit_registered:
            sys.excepthook = _note_failure(sys.excepthook)
            atexit.register(_end_worker)
            _worker_exit_registered = True
    return True
