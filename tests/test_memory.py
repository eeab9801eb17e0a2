"""transforms.memory: glibc's malloc arenas capped for the process and its children."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from transforms.memory import limit_malloc_arenas

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc only")

# Eight threads alive at once, each allocating; then the number of arenas, from malloc_info.
_COUNT_ARENAS = textwrap.dedent("""
    import ctypes, sys, tempfile, threading
    libc = ctypes.CDLL("libc.so.6")
    barrier = threading.Barrier(8)
    def work():
        blobs = [bytearray(2000) for _ in range(200)]
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        stream = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        print(open(out.name).read().count("<heap nr="))
""")


def _arenas(prefix: str, env: dict[str, str]) -> int:
    code = prefix + _COUNT_ARENAS
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@glibc_only
def test_threads_get_their_own_arenas_without_the_cap():
    assert _arenas("", _env()) > 2


@glibc_only
def test_cap_holds_for_threads_started_after_it():
    prefix = "from transforms.memory import limit_malloc_arenas\nassert limit_malloc_arenas(2) == 2\n"
    assert _arenas(prefix, _env()) <= 2


@glibc_only
def test_child_processes_inherit_the_cap():
    code = ("import os, subprocess, sys\nfrom transforms.memory import limit_malloc_arenas\n"
            "limit_malloc_arenas(3)\n"
            "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ[\"MALLOC_ARENA_MAX\"])'],"
            " capture_output=True, text=True).stdout.strip())")
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


@glibc_only
def test_the_users_setting_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) == 4
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


@glibc_only
def test_zero_leaves_glibc_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "0")
    assert limit_malloc_arenas() is None


def test_a_packed_article_round_trips_and_is_smaller_than_its_beam_encoding():
    import datetime as dt

    from apache_beam.coders import coders

    from schemas.records import Article
    from transforms.common import pack_record, unpack_record

    text = " ".join(f"Le conseil municipal a voté la délibération numéro {i}." for i in range(120))
    article = Article(url="http://example.org/a", feed_url="http://example.org/feed",
                      fetched_at=dt.datetime(2025, 3, 20, tzinfo=dt.timezone.utc), text=text,
                      language="fr", authors=["Marie Dupont"], removed_blocks=[{"kind": "share", "text": "Partager"}])
    packed = pack_record(article)
    assert unpack_record(packed) == article
    assert len(packed) < len(coders.FastPrimitivesCoder().encode(article)) / 2


@glibc_only
def test_the_trimmer_returns_freed_heap_memory_to_the_system():
    # Small blocks (pymalloc and malloc's heap, not mmap) interleaved with survivors:
    # freeing all but the survivors leaves holes the heap cannot give back by itself.
    code = textwrap.dedent("""
        import time
        from transforms.memory import start_memory_trimmer
        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
        blocks = [bytes(1000 + i % 7) for i in range(300_000)]
        survivors = blocks[::100]
        del blocks
        before = rss()
        assert start_memory_trimmer(0.05) is start_memory_trimmer(0.05)
        time.sleep(0.5)
        print(before, rss())
    """)
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert after < before - 100, (before, after)


# The same holes as above, left by a trimmer that trims only above `free_above` bytes free;
# prints the heaps' free bytes before, and RSS before and after.
_HOLES_WITH_BUDGET = textwrap.dedent("""
    import sys, time
    from transforms.memory import heap_free_bytes, start_memory_trimmer
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
    blocks = [bytes(1000 + i % 7) for i in range(300_000)]
    survivors = blocks[::100]
    del blocks
    free, before = heap_free_bytes(), rss()
    start_memory_trimmer(0.05, free_above=int(sys.argv[1]))
    time.sleep(0.5)
    print(free >> 20, before, rss())
""")


@glibc_only
@pytest.mark.parametrize("budget_mb,trimmed", [(1, True), (4096, False)])
def test_a_worker_trimmer_trims_only_above_its_free_budget(budget_mb, trimmed, tmp_path):
    script = tmp_path / "holes.py"
    script.write_text(_HOLES_WITH_BUDGET)
    out = subprocess.run([sys.executable, str(script), str(budget_mb << 20)], env=_env(),
                         capture_output=True, text=True, check=True)
    free_mb, before, after = map(int, out.stdout.split())
    assert free_mb > 100, out.stdout             # the holes are counted as free heap
    if trimmed:
        assert after < before - 100, (before, after)
    else:
        assert after > before - 20, (before, after)


def test_heap_free_bytes_follows_frees():
    from transforms.memory import heap_free_bytes

    if heap_free_bytes() is None:
        pytest.skip("no mallinfo2 (glibc 2.33+)")
    blocks = [bytearray(10_000) for _ in range(5_000)]     # 50 MB from malloc, not pymalloc
    before = heap_free_bytes()
    del blocks[::2]
    assert heap_free_bytes() > before + 20_000_000


def test_the_trimmer_can_be_turned_off(monkeypatch):
    from transforms.memory import start_memory_trimmer

    monkeypatch.setenv("NEWSBEAM_TRIM_SECONDS", "0")
    assert start_memory_trimmer() is None


# A process whose work is done: a non-daemon thread still writing, an exit handler,
# unflushed output and a log record; then `exit_without_teardown`.
_EXIT_COMMAND = textwrap.dedent("""
    import atexit, logging, sys, threading, time
    from transforms.memory import exit_without_teardown
    out = sys.argv[1]
    logging.basicConfig(filename=out + ".log", level=logging.INFO)
    class Heap:                     # freed by the interpreter's teardown only
        def __del__(self, path=out + ".teardown", _open=open):
            _open(path, "w").write("freed")
    heap = Heap()
    def late_write():
        time.sleep(0.3)
        open(out + ".thread", "w").write("done")
    threading.Thread(target=late_write).start()
    atexit.register(lambda: open(out + ".atexit", "w").write("ran"))
    logging.info("logged before exit")
    sys.stdout.write("no newline, still buffered")
    exit_without_teardown(int(sys.argv[2]))
    open(out + ".after", "w").write("never")
""")


@pytest.mark.parametrize("fast", ["1", "0"])
def test_exit_without_teardown_keeps_what_an_exit_does_outside_the_process(tmp_path, fast):
    script = tmp_path / "command.py"
    script.write_text(_EXIT_COMMAND)
    out = str(tmp_path / "out")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "NEWSBEAM_FAST_EXIT": fast}
    done = subprocess.run([sys.executable, str(script), out, "3"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "no newline, still buffered"
    assert open(out + ".thread").read() == "done"              # non-daemon thread joined
    assert open(out + ".atexit").read() == "ran"                # exit handlers ran
    assert "logged before exit" in open(out + ".log").read()    # logging flushed
    assert not os.path.exists(out + ".after")
    assert os.path.exists(out + ".teardown") == (fast == "0")     # the teardown is what is skipped


# A stand-in for Beam's worker entry point: the fast end applies only to a script of that name.
_WORKER = textwrap.dedent("""
    import logging, sys
    from transforms.memory import end_worker_without_teardown
    logging.basicConfig(filename=sys.argv[1], level=logging.INFO)
    class Heap:
        def __del__(self, path=sys.argv[1] + ".teardown", _open=open):
            _open(path, "w").write("freed")
    heap = Heap()
    print("registered", end_worker_without_teardown(), end_worker_without_teardown())
    logging.info("worker log line")
    if sys.argv[2] == "fail":
        raise RuntimeError("harness failed")
""")


@pytest.mark.parametrize("outcome, code", [("ok", 0), ("fail", 1)])
def test_a_worker_ends_without_teardown_with_its_exit_code_and_logs(tmp_path, outcome, code):
    script = tmp_path / "sdk_worker_main.py"
    script.write_text(_WORKER)
    log = str(tmp_path / "worker.log")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run([sys.executable, str(script), log, outcome], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code
    assert done.stdout == "registered True True\n"
    assert "worker log line" in open(log).read()
    assert ("RuntimeError: harness failed" in done.stderr) == (outcome == "fail")
    assert not os.path.exists(log + ".teardown")


def test_the_fast_worker_end_is_only_for_beams_worker_processes(tmp_path):
    from transforms.memory import end_worker_without_teardown
    assert end_worker_without_teardown() is False          # pytest is not a Beam worker
    script = tmp_path / "sdk_worker_main.py"
    script.write_text("import sys\nfrom transforms.memory import end_worker_without_teardown\n"
                      "print(end_worker_without_teardown())\n")
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "NEWSBEAM_FAST_EXIT": "0"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout == "False\n"


# Frees 100 blocks of 1 MB after a 4 MB block was freed (which raises glibc's dynamic
# threshold above 1 MB), each block followed by a small survivor; prints RSS before and after.
_BIG_BLOCKS = textwrap.dedent("""
    import sys
    from transforms.memory import fix_mmap_threshold
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
    if sys.argv[1] == "fixed":
        assert fix_mmap_threshold() == 256 * 1024
    first = b"x" * (4 << 20)             # touched pages (bytes(n) would be calloc'ed, untouched)
    del first
    blocks, survivors = [], []
    for _ in range(100):                 # each block followed by a small survivor
        blocks.append(b"x" * (1 << 20))
        survivors.append(b"y" * 100_000)
    before = rss()
    del blocks
    print(before, rss())
""")


@glibc_only
@pytest.mark.parametrize("mode", ["fixed", "default"])
def test_a_fixed_mmap_threshold_returns_large_blocks_when_freed(mode, tmp_path):
    env = {k: v for k, v in _env().items() if k != "MALLOC_MMAP_THRESHOLD_"}
    script = tmp_path / "blocks.py"
    script.write_text(_BIG_BLOCKS)
    out = subprocess.run([sys.executable, str(script), mode], env=env, capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    if mode == "fixed":
        assert after < before - 80, (before, after)
    else:                                   # glibc's dynamic threshold keeps them in the heap
        assert after > before - 20, (before, after)


def test_the_users_mmap_threshold_wins_and_children_inherit_it(monkeypatch):
    from transforms.memory import fix_mmap_threshold

    if platform.libc_ver()[0] != "glibc":
        assert fix_mmap_threshold() is None
        return
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "524288")
    assert fix_mmap_threshold() == 524288
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ['MALLOC_MMAP_THRESHOLD_'])"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "524288"


def test_frozen_objects_leave_the_collectors_generations_and_are_still_freed():
    import gc
    import weakref

    from transforms.memory import freeze_loaded_objects

    class Node:
        pass

    def tracked(obj) -> bool:
        return any(o is obj for g in range(3) for o in gc.get_objects(generation=g))

    loaded = [Node() for _ in range(1000)]
    gc.collect()
    assert tracked(loaded)
    before = gc.get_freeze_count()
    try:
        frozen = freeze_loaded_objects()
        assert frozen >= before + 1000          # the list and its nodes are frozen
        assert not tracked(loaded)              # full collections no longer walk them
        probe = Node()
        alive = weakref.ref(loaded[0])
        del loaded                               # reference counting still frees them
        assert alive() is None
        gc.collect()                             # objects made after the freeze are collected as usual
        assert tracked(probe)
    finally:
        gc.unfreeze()


@glibc_only
def test_worker_processes_keep_glibcs_own_mmap_threshold(monkeypatch):
    # the command's 256 KB threshold is its own: Beam's worker processes started from it
    # keep glibc's dynamic threshold (docs/performance.md, "Sixth round")
    from transforms.memory import fix_mmap_threshold

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert fix_mmap_threshold() == 256 * 1024
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('MALLOC_MMAP_THRESHOLD_'))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "None"


def test_a_forked_workers_exit_waits_for_its_threads_and_keeps_its_code():
    code = textwrap.dedent("""
        import sys, threading, time
        from transforms.memory import exit_worker_without_teardown
        def late():
            time.sleep(0.2)
            print("thread done", flush=True)
        threading.Thread(target=late).start()
        print("unflushed", end="")
        exit_worker_without_teardown(3)
    """)
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "thread done\nunflushed" or done.stdout == "unflushedthread done\n"
