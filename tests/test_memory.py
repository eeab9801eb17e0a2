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


def test_the_trimmer_can_be_turned_off(monkeypatch):
    from transforms.memory import start_memory_trimmer

    monkeypatch.setenv("NEWSBEAM_TRIM_SECONDS", "0")
    assert start_memory_trimmer() is None
