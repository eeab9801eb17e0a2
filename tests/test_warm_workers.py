"""pipelines.warm_workers: the runner's worker processes forked from the command."""
from __future__ import annotations

import textwrap

import pytest

from tests.support.fresh_process import run_script

from pipelines.warm_workers import wanted_workers

MP = ["--direct_running_mode=multi_processing"]


@pytest.mark.parametrize("argv,workers", [
    (["--direct_num_workers=2"] + MP, 2),
    (["--direct_num_workers", "3", "--direct_running_mode", "multi_processing"], 3),
    (["--runner=FnApiRunner", "--direct_num_workers=2"] + MP, 2),
    (["--direct_num_workers=2"], 0),                                   # in-memory mode
    (["--direct_num_workers=1"] + MP, 0),
    (["--runner=PrismRunner", "--direct_num_workers=2"] + MP, 0),       # starts its own workers
    (["--direct_num_workers=two"] + MP, 0),                            # Beam's parser will say so
])
def test_warm_workers_only_for_the_in_process_runner_with_worker_processes(argv, workers):
    assert wanted_workers(["--output", "x", "--feed", "http://127.0.0.1/f"] + argv) == workers


def test_the_environment_can_turn_it_off(monkeypatch):
    monkeypatch.setenv("NEWSBEAM_WARM_WORKERS", "0")
    assert wanted_workers(["--direct_num_workers=2"] + MP) == 0


# In a fresh process (one thread, as when `newsbeam ingest` forks): a pool of `warm`
# processes, of which `kill` are killed before the run, and a pipeline run by two
# worker processes that report their pids.
_RUN = textwrap.dedent("""
    import json, os, signal, sys, glob
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipelines.local_runner import local_runner
    from pipelines.warm_workers import WarmWorkerPool
    warm, kill, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    mark = lambda: open(os.path.join(out, "forked-%d" % os.getpid()), "w").close()
    pool = WarmWorkerPool(warm, after_fork=mark).start()
    for pid in pool.pids[:kill]:
        os.kill(pid, signal.SIGKILL)
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    with pool:
        with beam.Pipeline(runner=local_runner(pool), options=options) as p:
            _ = (p | beam.Create(list(range(40))) | beam.Reshuffle()
                   | beam.Map(lambda _: os.getpid()) | beam.Distinct()
                   | beam.io.WriteToText(out + "/pids"))
    pids = sorted(int(line) for f in glob.glob(out + "/pids*") for line in open(f))
    forked = sorted(int(f.rsplit("-", 1)[1]) for f in glob.glob(out + "/forked-*"))
    print(json.dumps({"pool": pool.pids, "served": pool.served, "workers": pids, "me": os.getpid(),
                      "forked": forked}))
""")


def _run(tmp_path, warm: int, kill: int = 0) -> dict:
    return run_script(_RUN, str(warm), str(kill), str(tmp_path))


@pytest.mark.slow
def test_the_runner_takes_its_workers_from_the_pool(tmp_path):
    seen = _run(tmp_path, warm=2)
    assert sorted(seen["served"]) == sorted(seen["pool"]) and len(seen["pool"]) == 2
    assert set(seen["workers"]) <= set(seen["pool"]) and seen["me"] not in seen["workers"]
    assert seen["forked"] == sorted(seen["pool"])          # each ran the after-fork warm-up


@pytest.mark.slow
def test_workers_the_pool_cannot_serve_start_the_usual_way(tmp_path):
    # one of two forked processes is dead before the run: it is skipped, and the
    # runner's second worker starts as Beam starts it
    seen = _run(tmp_path, warm=2, kill=1)
    dead, alive = seen["pool"]
    assert seen["served"] == [alive]
    assert dead not in seen["workers"]
    assert len(seen["workers"]) <= 2 and set(seen["workers"]) - {alive}    # a cold worker ran too


def test_the_warm_up_loads_what_the_first_page_would():
    from pipelines.batch import warm_up
    from transforms import language

    warm_up()
    assert language._PROFILES is not None


def test_the_worker_warm_up_imports_what_the_story_clusters_use():
    import sys

    from pipelines.batch import warm_up_worker

    warm_up_worker()
    assert {"scipy.cluster.hierarchy", "scipy.sparse", "scipy.spatial.distance"} <= set(sys.modules)
