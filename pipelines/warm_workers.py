"""Worker processes forked from the command, for the in-process runner's multi-processing mode.

With `--direct_running_mode=multi_processing`, the FnApiRunner starts its
worker processes once the graph is built and fused; each then spends about a
second of CPU importing Beam and the stages before it takes its first bundle,
while the command waits. `WarmWorkerPool` forks those processes from the command
once it has imported Beam and the stages (`newsbeam ingest` does so before it
starts any thread or builds the graph), so a worker has nothing left to import,
and gives the runner a worker command (`python -m pipelines.warm_workers attach
SOCKET`) that hands the runner's environment (control address, worker id,
pipeline options) to a waiting process. That process runs Beam's own harness
(`sdk_worker_main.main`) as a worker started by the runner would, and the
attach process exits with its exit code. Killing the attach process kills the
worker. A worker the pool cannot serve (all taken, or the pool not started
because the command already had threads running) starts the usual way: the
attach process becomes `python -m apache_beam.runners.worker.sdk_worker_main`.

`NEWSBEAM_WARM_WORKERS=0` turns the pool off. Only the in-process runner
(`--runner` unset or `FnApiRunner`) uses it, through `pipelines.local_runner`;
other runners start their workers themselves.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Callable, Optional, Sequence

__all__ = ["WarmWorkerPool", "wanted_workers", "prestart", "take_pool"]

_ENV = "NEWSBEAM_WARM_WORKERS"
_COLD = b"cold\n"
_IN_PROCESS_RUNNERS = (None, "", "FnApiRunner")
_log = logging.getLogger(__name__)
_prestarted: Optional["WarmWorkerPool"] = None


def wanted_workers(argv: Sequence[str]) -> int:
    """Warm workers for a command line: its `--direct_num_workers` when it runs the
    in-process runner in multi-processing mode, else 0.

    Reads only the three Beam flags concerned, without importing Beam.
    """
    if os.environ.get(_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return 0
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner", default=None)
    parser.add_argument("--direct_running_mode", default="in_memory")
    parser.add_argument("--direct_num_workers", type=int, default=1)
    try:
        args, _ = parser.parse_known_args(list(argv))
    except SystemExit:          # a malformed flag: Beam's own parser will say so
        return 0
    if args.runner not in _IN_PROCESS_RUNNERS or args.direct_running_mode != "multi_processing":
        return 0
    workers = args.direct_num_workers if args.direct_num_workers > 0 else (os.cpu_count() or 1)
    return workers if workers > 1 else 0


class WarmWorkerPool:
    """Worker processes forked now, with what the command imported, taken by the runner later.

    Args:
        workers: processes to fork. `start` forks only from a process with one
            thread (a fork copies only the calling thread, and any lock another
            holds stays locked in the child); otherwise the pool stays empty and
            the runner's workers start the usual way.
        warm_up: called once before the fork, to load what the stages load on
            first use (the forked processes then share it). Objects alive at the
            fork are frozen out of the garbage collector's reach first
            (`gc.freeze()`), so that the workers' collections do not copy the
            pages they share with the command.
        after_fork: called in each forked process, on a thread of the lowest CPU
            priority, from the fork on: loads what only the workers need, late
            in the run, while cores are free, instead of on the run's last
            stages.
    """

    def __init__(self, workers: int, warm_up: Optional[Callable[[], None]] = None,
                 after_fork: Optional[Callable[[], None]] = None):
        self.workers = workers
        self.warm_up = warm_up
        self.after_fork = after_fork
        self.served: list[int] = []        # pids of the forked processes the runner took
        self._idle: list[tuple[int, int]] = []     # (pid, write end of its environment pipe)
        self._pipes: dict[int, int] = {}
        self._reaped: dict[int, int] = {}
        self._lock = threading.Lock()
        self._dir: Optional[str] = None
        self._listener: Optional[socket.socket] = None
        self._closed = False

    @property
    def socket_path(self) -> str:
        assert self._dir is not None, "start() the pool first"
        return os.path.join(self._dir, "pool.sock")

    @property
    def command(self) -> str:
        """The worker command line for the runner's `SubprocessSDKEnvironment`."""
        return f"{shlex.quote(sys.executable)} -m pipelines.warm_workers attach {shlex.quote(self.socket_path)}"

    @property
    def pids(self) -> list[int]:
        return list(self._pipes)

    def start(self) -> "WarmWorkerPool":
        if threading.active_count() == 1:
            if self.warm_up is not None:
                try:
                    self.warm_up()
                except Exception as exc:  # the workers load it themselves
                    _log.warning("warm-up before forking the workers failed: %s", exc)
            gc.freeze()
            sys.stdout.flush()                    # or the children would write it again
            sys.stderr.flush()
            for _ in range(self.workers):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:                      # the worker: never returns to the caller
                    code = 1
                    try:
                        os.close(write_fd)
                        for other in self._pipes.values():
                            os.close(other)
                        code = _serve(read_fd, self.after_fork)
                    finally:
                        _end(code)
                os.close(read_fd)
                self._pipes[pid] = write_fd
                self._idle.append((pid, write_fd))
        else:
            _log.info("threads running: no warm worker processes, workers start the usual way")
        self._dir = tempfile.mkdtemp(prefix="newsbeam-warm-")      # 0700: this user only
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket_path)
        self._listener.listen(16)
        threading.Thread(target=self._accept, name="newsbeam-warm-pool", daemon=True).start()
        return self

    def close(self) -> None:
        """Ends the processes not taken (and any still running), removes the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pipes, self._idle = dict(self._pipes), []
        if self._listener is not None:
            self._listener.close()
        for fd in pipes.values():
            _close(fd)                             # EOF: a process not taken, or still running, exits
        deadline = time.monotonic() + 10
        for pid in pipes:
            while self._exit_code(pid, block=False) is None:
                if time.monotonic() > deadline:
                    _kill(pid)
                    self._exit_code(pid)
                    break
                time.sleep(0.01)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "WarmWorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _exit_code(self, pid: int, block: bool = True) -> Optional[int]:
        """The exit code of a child, reaped once (by whichever thread asks first)."""
        with self._lock:
            if pid in self._reaped:
                return self._reaped[pid]
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:                 # another thread reaped it: its code is on the way
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                with self._lock:
                    if pid in self._reaped:
                        return self._reaped[pid]
                time.sleep(0.005)
            return 1
        if done == 0:
            return None
        with self._lock:
            return self._reaped.setdefault(pid, os.waitstatus_to_exitcode(status))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:                       # closed
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _take(self) -> Optional[tuple[int, int]]:
        with self._lock:
            while self._idle:
                pid, fd = self._idle.pop(0)
                if pid not in self._reaped:
                    self.served.append(pid)
                    return pid, fd
        return None

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            env = conn.makefile("rb").readline()
            taken = self._take() if env else None
            if taken is not None:
                pid, fd = taken
                try:
                    os.write(fd, env)
                except OSError:                   # it died while waiting
                    with self._lock:
                        self.served.remove(pid)
                    taken = None
            if taken is None:
                conn.sendall(_COLD)
                return

            def report_exit() -> None:
                code = self._exit_code(pid)
                try:
                    conn.sendall(f"{code}\n".encode())
                except OSError:
                    pass

            waiter = threading.Thread(target=report_exit, daemon=True)
            waiter.start()
            try:
                while conn.recv(64):              # the attach process sends nothing more:
                    pass                          # EOF when it exits or is killed
            except OSError:
                pass
            if self._exit_code(pid, block=False) is None:
                _kill(pid)
            waiter.join()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start(workers: int, warm_up: Optional[Callable[[], None]] = None,
           after_fork: Optional[Callable[[], None]] = None) -> Optional[WarmWorkerPool]:
    try:
        return WarmWorkerPool(workers, warm_up, after_fork).start()
    except OSError as exc:
        _log.warning("no warm worker processes (%s): workers start the usual way", exc)
        return None


def prestart(argv: Sequence[str], warm_up: Optional[Callable[[], None]] = None,
             after_fork: Optional[Callable[[], None]] = None) -> Optional[WarmWorkerPool]:
    """Starts the pool a command line will want (see `wanted_workers`), for `take_pool`."""
    global _prestarted
    workers = wanted_workers(argv)
    if workers and _prestarted is None:
        _prestarted = _start(workers, warm_up, after_fork)
    return _prestarted


def take_pool(argv: Sequence[str]) -> Optional[WarmWorkerPool]:
    """The pool started by `prestart` for this command line, else a new one if it wants
    one; None when it does not. The caller closes it."""
    global _prestarted
    pool, _prestarted = _prestarted, None
    workers = wanted_workers(argv)
    if pool is not None and pool.workers != workers:
        pool.close()
        pool = None
    if pool is None and workers:
        pool = _start(workers)
    return pool


# --- the two processes' entry points ------------------------------------------

def _serve(env_fd: int, after_fork: Optional[Callable[[], None]] = None) -> int:
    """A forked worker: runs `after_fork`, waits for a runner's environment, runs Beam's
    harness; its exit code."""
    if after_fork is not None:
        threading.Thread(target=_in_background, args=(after_fork,), name="newsbeam-warm-up",
                         daemon=True).start()
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(env_fd, 1 << 16)
        if not chunk:                              # the pool closed without using this process
            os._exit(0)
        line += chunk

    def lifeline() -> None:                        # the pool ends, or the command: so does this worker
        while os.read(env_fd, 1 << 16):
            pass
        os._exit(1)

    threading.Thread(target=lifeline, name="newsbeam-warm-lifeline", daemon=True).start()
    os.environ.clear()
    os.environ.update(json.loads(line))
    try:
        from apache_beam.runners.worker import sdk_worker_main
        sdk_worker_main.main([])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # logged by the harness
        return 1
    return 0


def _in_background(work: Callable[[], None]) -> None:
    """Runs `work` on this thread at the lowest CPU priority (Linux: a thread's own nice
    value), so that it takes the cores only when the command and the stages leave them."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
    try:
        work()
    except Exception as exc:  # only a head start: the stages load it themselves
        _log.warning("warm-up after forking a worker failed: %s", exc)


def _end(code: int) -> None:
    """Ends a forked worker: threads joined, logs flushed, no teardown (transforms/memory.py)."""
    from transforms.memory import exit_worker_without_teardown
    try:
        exit_worker_without_teardown(code)
    finally:                                       # NEWSBEAM_FAST_EXIT=0 raises SystemExit: a fork
        sys.stdout.flush()                         # must not unwind into its parent's stack
        sys.stderr.flush()
        os._exit(code)


def _attach(socket_path: str) -> None:
    """The runner's worker command: hands this environment to a warm process, exits with its code."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(socket_path)
            conn.sendall(json.dumps(dict(os.environ)).encode() + b"\n")
            reply = conn.makefile("rb").readline()
    except OSError:
        reply = _COLD
    if reply.strip().lstrip(b"-").isdigit():
        sys.exit(int(reply))
    if reply != _COLD:
        print("newsbeam warm worker: lost before it reported its exit code", file=sys.stderr)
        sys.exit(1)
    os.execv(sys.executable, [sys.executable, "-m", "apache_beam.runners.worker.sdk_worker_main"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["attach"] and len(sys.argv) == 3:
        _attach(sys.argv[2])
    else:
        sys.exit("usage: python -m pipelines.warm_workers attach SOCKET")
