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

`start_memory_trimmer` returns the free memory in the middle of the heap to
the system once a second (`malloc_trim(0)`). Pages of a few hundred KB are
parsed and freed between long-lived buffers (a runner's pending outputs), so
the heap's free space is scattered and its high-water mark rises with every
unusually large page; trimming keeps the resident size near what is in use.
It runs in a daemon thread, once per process (the command line starts it, and
so does the fetch stage's `setup`, for worker processes);
`NEWSBEAM_TRIM_SECONDS=0` turns it off. Elsewhere than glibc both do nothing.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import threading
from typing import Optional

__all__ = ["DEFAULT_MALLOC_ARENAS", "DEFAULT_TRIM_SECONDS", "limit_malloc_arenas",
           "start_memory_trimmer"]

DEFAULT_MALLOC_ARENAS = 2
_M_ARENA_MAX = -8       # glibc's mallopt parameter number (malloc.h)
_ENV = "MALLOC_ARENA_MAX"
DEFAULT_TRIM_SECONDS = 1.0
_TRIM_ENV = "NEWSBEAM_TRIM_SECONDS"
_trimmer_lock = threading.Lock()
_trimmer: Optional[threading.Thread] = None

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
    os.environ[_ENV] = str(cap)
    if libc.mallopt(_M_ARENA_MAX, cap) != 1:
        _log.warning("mallopt(M_ARENA_MAX, %d) failed", cap)
        return None
    return cap


def start_memory_trimmer(seconds: Optional[float] = None) -> Optional[threading.Thread]:
    """Starts, once per process, a daemon thread returning free heap memory every `seconds`.

    Args:
        seconds: the interval; default `NEWSBEAM_TRIM_SECONDS` or 1.0. Zero turns it off.

    Returns:
        The trimmer thread (the running one on later calls), or None when off or without glibc.
    """
    global _trimmer
    if seconds is None:
        try:
            seconds = float(os.environ.get(_TRIM_ENV) or DEFAULT_TRIM_SECONDS)
        except ValueError:
            _log.warning("ignoring %s=%r: not a number", _TRIM_ENV, os.environ[_TRIM_ENV])
            seconds = DEFAULT_TRIM_SECONDS
    libc = _glibc()
    if libc is None or seconds <= 0:
        return None
    with _trimmer_lock:
        if _trimmer is None or not _trimmer.is_alive():
            stop = threading.Event()

            def trim() -> None:
                while not stop.wait(seconds):
                    libc.malloc_trim(0)

            _trimmer = threading.Thread(target=trim, name="newsbeam-malloc-trim", daemon=True)
            _trimmer.start()
        return _trimmer
