"""pipelines.local_runner: the expensive stage's input dealt to the workers in shrinking parts."""
from __future__ import annotations

import textwrap

import pytest

from pipelines.local_runner import MIN_PART, TAIL, guided_part_sizes
from tests.support.fresh_process import run_script


@pytest.mark.parametrize("total,workers", [(2000, 2), (10_000, 2), (301, 3), (50, 2), (9, 2), (1, 4)])
def test_parts_cover_the_input_once_large_first_then_shrinking(total, workers):
    sizes = guided_part_sizes(total, workers)
    assert sum(sizes) == total and all(s > 0 for s in sizes)
    head = int(total * (1 - TAIL)) // workers
    if head >= MIN_PART:
        assert sizes[:workers] == [head] * workers
        dealt = sizes[workers:]
    else:
        dealt = sizes
    assert dealt == sorted(dealt, reverse=True)
    assert all(s >= MIN_PART for s in dealt[:-1])


def test_the_tail_of_2000_pages_is_dealt_in_a_few_small_parts():
    sizes = guided_part_sizes(2000, 2)
    assert sizes[:2] == [920, 920]
    assert len(sizes) <= 14 and max(sizes[2:]) <= 40


def test_no_tail_is_beams_even_split_and_nothing_is_no_part():
    assert guided_part_sizes(2000, 2, tail=0) == [1000, 1000]
    assert guided_part_sizes(0, 2) == []


@pytest.mark.parametrize("args", [(-1, 2), (10, 0), (10, 2, 0), (10, 2, 8, 1.5)])
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError):
        guided_part_sizes(*args)


# A real two-process run (in a fresh process, so that the test's own threads do not
# matter). The first worker process to start is slow (20 ms an element), the other
# fast: the slow one must run its large part only, the fast one everything else.
_RUN = textwrap.dedent("""
    import collections, glob, json, os, sys, time
    import apache_beam as beam
    from apache_beam.metrics import Metrics
    from apache_beam.options.pipeline_options import PipelineOptions
    from pipelines.local_runner import guided_bundle_manager, local_runner

    out, fail = sys.argv[1], sys.argv[2] == "fail"

    class Work(beam.DoFn):
        def setup(self):
            try:
                os.close(os.open(os.path.join(out, "slow"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                self.delay = 0.02
            except FileExistsError:
                self.delay = 0.0
            self.log = open(os.path.join(out, f"done-{os.getpid()}"), "a")
            self.count = Metrics.counter("test", "processed")

        def process(self, element):
            if fail and element == 77:
                raise ValueError("element 77 is bad")
            time.sleep(self.delay)
            self.log.write(f"{element}\\n")
            self.log.flush()
            self.count.inc()
            yield element

    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    pipeline = beam.Pipeline(runner=local_runner(balanced_stages=("Work",)), options=options)
    _ = pipeline | beam.Create(list(range(300))) | beam.Reshuffle() | "Work" >> beam.ParDo(Work())
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    done = {os.path.basename(f).split("-")[1]: [int(x) for x in open(f)] for f in glob.glob(out + "/done-*")}
    counters = result.metrics().query()["counters"]
    print(json.dumps({"done": done, "processed": sum(c.committed for c in counters if c.key.metric.name == "processed"),
                      "spread": guided_bundle_manager().last_spread}))
""")


def _run(tmp_path, mode: str) -> dict:
    return run_script(_RUN, str(tmp_path), mode, env={"NEWSBEAM_WARM_WORKERS": "0"})


@pytest.mark.slow
def test_the_fast_worker_takes_every_dealt_part_while_the_slow_one_runs_its_large_part(tmp_path):
    seen = _run(tmp_path, "ok")
    counts = sorted(len(elements) for elements in seen["done"].values())
    head = guided_part_sizes(300, 2)[0]
    assert counts == [head, 300 - head]                     # Beam's own split would give 150 and 150
    everything = sorted(e for elements in seen["done"].values() for e in elements)
    assert everything == list(range(300))                  # each element once
    assert seen["processed"] == 300                         # the parts' counters are merged
    assert any("Work" in stage for stage in seen["spread"])


@pytest.mark.slow
def test_an_element_that_fails_fails_the_run_with_its_error(tmp_path):
    seen = _run(tmp_path, "fail")
    assert "element 77 is bad" in seen["error"]
