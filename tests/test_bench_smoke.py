"""The benchmark machinery (`make bench`) on a tiny corpus: no timing assertions.

The corpus is built from ../shared/eval/fundus at run time (skipped locally
when the folder is missing, a failure under CI=true).
"""
from __future__ import annotations

import hashlib
import sys
import urllib.request

import pytest

from benchmarks import bench_pipeline as bench
from benchmarks.corpus import Corpus, load_sources
from benchmarks.naive_loop import shingles
from tests.support.golden import eval_dir


@pytest.fixture(scope="module")
def sources():
    eval_dir()  # skips or fails when the evaluation data is missing
    return load_sources(limit=6)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def test_copies_are_byte_distinct_and_carry_their_own_url(sources):
    corpus = Corpus(sources, pages=15, hosts=2, feed_items=4)
    copies = [corpus.page_bytes(i, "http://127.0.0.1:9") for i in range(15)]
    assert len({hashlib.sha256(c).hexdigest() for c in copies}) == 15
    # copy 6 is source 0 again, under its own URL, with the original URL gone
    assert corpus.source_of(6) is corpus.source_of(0)
    own = ("http://127.0.0.1:9" + corpus.path_of(6)).encode()
    assert sources[0].url.encode() not in copies[6]
    assert own in copies[6] or sources[0].url.encode() not in sources[0].html


def test_served_corpus_lists_every_page_once_behind_its_feeds(sources):
    corpus = Corpus(sources, pages=13, hosts=3, feed_items=2)
    with corpus.serve(latency=0.0) as served:
        assert len(served.allow_hosts) == 3
        listed = []
        for feed in served.feed_urls:
            body = _get(feed).decode()
            listed += [part.split("</link>")[0] for part in body.split("<link>")[2:]]
        assert sorted(listed) == sorted(served.page_urls())
        bodies = [_get(url) for url in served.page_urls()[:7]]
        assert served.pages_requested() == 7
    assert len({hashlib.sha256(b).hexdigest() for b in bodies}) == 7


def test_disk_copies_match_the_count(sources, tmp_path):
    paths = Corpus(sources, pages=8, hosts=2).write_dir(tmp_path)
    assert len(paths) == 8 and all(p.stat().st_size > 1000 for p in paths)


def test_shingles_of_short_and_long_texts():
    assert shingles("") == set()
    assert shingles("one two three") == {b"one two three"}
    assert len(shingles("a b c d e f g")) == 3


def test_measure_sees_memory_and_cpu_of_a_child_process(tmp_path):
    code = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); sum(range(3_000_000))"
    m = bench.measure([sys.executable, "-c", code], log_dir=tmp_path)
    assert m.returncode == 0
    assert m.peak_rss >= 200 * 2**20
    assert m.cpu_seconds > 0
    assert m.minor_faults >= 200 * 2**20 // 4096      # every touched page of the buffer
    assert 0 < m.system_seconds <= m.cpu_seconds


def test_table_has_one_row_per_run_and_ratios_to_c_and_d():
    rows = [bench.RowResult("a", bench.ROWS["a"], 100, 99, 2.0, 3.0, 300 * 2**20),
            bench.RowResult("c", bench.ROWS["c"], 100, 100, 10.0, 9.0, 200 * 2**20),
            bench.RowResult("d", bench.ROWS["d"], 100, 100, 4.0, 6.0, 100 * 2**20)]
    table = bench.format_table(rows, 100, 0.05, 4)
    line_a = next(line for line in table.splitlines() if line.startswith("(a)"))
    assert "50.0" in line_a and "0.0300" in line_a and "5.00x" in line_a and "2.00x" in line_a
    assert [line[:3] for line in table.splitlines() if line.startswith("(")] == ["(a)", "(c)", "(d)"]
    rows[0].system_seconds, rows[0].minor_faults = 1.25, 640_000
    kernel = bench.format_table(rows, 100, 0.05, 4).splitlines()[-1]
    assert "(a) 1.2 s system CPU, 0.64 M minor page faults" in kernel and "(d) 0.0 s" in kernel


def test_repeated_rows_show_each_rows_median_run_and_every_rounds_ratios():
    def run(key, seconds):
        return bench.RowResult(key, bench.ROWS[key], 100, 100, seconds, 3.0, 2**20)

    rounds = [[run("d", 2.0), run("b", 2.5)], [run("d", 4.0), run("b", 3.2)], [run("d", 2.5), run("b", 2.0)]]
    assert bench.median_run([r[1] for r in rounds]).seconds == 2.5          # 40 of 50, 40, 31.25 pages/s
    assert bench.round_ratios(rounds, "b", "d") == [0.8, 1.25, 1.25]
    text = bench.format_rounds(rounds)
    assert "(b) / (d) per round: 0.80x, 1.25x, 1.25x; median 1.25x" in text
    assert "(a) /" not in text and "/ (c)" not in text
    assert len([line for line in text.splitlines() if line.startswith("  ") and line.strip()[:1].isdigit()]) == 3


def test_a_repeated_benchmark_runs_every_row_in_every_round(tmp_path):
    eval_dir()
    result = bench.run_benchmark(pages=12, latency=0.01, hosts=2, feed_items=6,
                                 rows=("d",), profile_pages=0, workdir=tmp_path, repeat=2)
    assert [[r.key for r in runs] for runs in result["rounds"]] == [["d"], ["d"]]
    assert result["rows"][0] in result["rounds"][0] + result["rounds"][1]
    assert "2 rounds" in result["table"]
    with pytest.raises(ValueError):
        bench.run_benchmark(pages=12, rows=("d",), profile_pages=0, workdir=tmp_path, repeat=0)


def test_tiny_benchmark_produces_rows_a_c_d_and_a_breakdown(tmp_path):
    eval_dir()
    result = bench.run_benchmark(pages=20, latency=0.01, hosts=2, feed_items=8,
                                 rows=("a", "c", "d"), profile_pages=20, workdir=tmp_path)
    by_key = {r.key: r for r in result["rows"]}
    assert set(by_key) == {"a", "c", "d"}
    for row in by_key.values():
        assert row.pages == 20 and row.seconds > 0 and row.cpu_seconds > 0 and row.peak_rss > 0
    assert by_key["a"].detail["counts"]["pages_fetched"] == 20
    assert by_key["a"].articles + by_key["a"].detail["counts"]["rejects"] == 20
    assert by_key["c"].articles >= 18 and by_key["d"].articles >= 18
    lines = result["table"].splitlines()
    assert sum(line.startswith(("(a)", "(c)", "(d)")) for line in lines) == 3
    assert "extract" in result["breakdown"] and "language" in result["breakdown"]
    assert "  set_xpath " not in result["breakdown"]  # trafilatura's callbacks count with extract
    rest = next(line for line in result["breakdown"].splitlines() if "the rest)" in line)
    assert float(rest.split(")")[-1].split()[0]) >= 0  # no stage counted twice


@pytest.mark.slow
def test_two_worker_row_runs(tmp_path):
    eval_dir()
    result = bench.run_benchmark(pages=20, latency=0.01, hosts=2, feed_items=8,
                                 rows=("b",), profile_pages=0, workdir=tmp_path)
    (row,) = result["rows"]
    assert row.key == "b" and row.detail["counts"]["pages_fetched"] == 20
    assert row.articles + row.detail["counts"]["rejects"] == 20


def test_cpu_timeline_splits_a_run_into_start_steady_and_tail():
    from benchmarks.cpu_timeline import format_timeline, per_second, phases

    # the command alone for 2 s, then two workers at full speed for 3 s, then 1 s at half speed
    samples, cmd, w1, w2 = [], 0.0, 0.0, 0.0
    for tenth in range(1, 61):
        t = tenth / 10
        if t <= 2:
            cmd += 0.1
        elif t <= 5:
            w1 += 0.1
            w2 += 0.1
        else:
            w1 += 0.05
        cpu = {1: cmd}
        if t > 2:
            cpu.update({2: w1, 3: w2})
        samples.append((t - 0.001, cpu))
    pids, rows = per_second(samples, 6.0)
    assert pids == [1, 2, 3] and len(rows) == 6
    assert [round(sum(r), 2) for r in rows] == [1.0, 1.0, 2.0, 2.0, 2.0, 0.5]
    p = phases(rows, 6.0, 2)
    assert (p.start, p.steady, p.tail) == (2.0, 3.0, 1.0)
    assert p.steady_cores == pytest.approx(2.0) and p.idle_core_seconds == pytest.approx(12 - 8.5)
    text = format_timeline("(b)", samples, 6.0, 2)
    assert text.splitlines()[0].startswith("(b): 6.0 s on 2 cores; start 2 s, steady 3 s at 2.00 cores, tail 1 s")
    assert len(text.splitlines()) == 2 + 6
    one_core = [[1.0]] * 5 + [[0.3]]                      # a one-process row runs at 1 core
    assert (phases(one_core, 6.0, 2).steady, phases(one_core, 6.0, 2).tail) == (5.0, 1.0)
    assert phases([[0.0], [0.0]], 2.0, 2).steady == 0.0   # never busy: all start
