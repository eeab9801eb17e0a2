"""pipelines.beam_speedups: Beam's graph construction memoized, with the same answers."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.transforms import userstate

from pipelines import beam_speedups
from pipelines.options import NewsbeamOptions

pytestmark = pytest.mark.skipif(not beam_speedups.install(), reason="another Beam version: not installed")


def _dofns(pipeline: beam.Pipeline) -> list:
    found = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            fn = getattr(node.transform, "fn", None)
            if isinstance(fn, beam.DoFn):
                found.append(fn)

    pipeline.visit(Visitor())
    return found


def _batch_and_stream_dofns(tmp_path) -> list:
    from pipelines.batch import build_batch
    from pipelines.stream import build_stream

    feed = "http://127.0.0.1:1/rss"
    batch = beam.Pipeline(options=PipelineOptions(["--output", str(tmp_path)]))
    build_batch(batch, [feed], "run-1")
    stream = beam.Pipeline(options=PipelineOptions(["--output", str(tmp_path), "--streaming"]))
    build_stream(stream, [feed], "run-2")
    return _dofns(batch) + _dofns(stream)


def test_dofn_specs_are_those_beam_computes_for_every_dofn_of_both_graphs(tmp_path):
    dofns = _batch_and_stream_dofns(tmp_path)
    assert len(dofns) > 100
    compute = userstate.get_dofn_specs.__wrapped__
    stateful = 0
    for dofn in dofns:
        assert userstate.get_dofn_specs(dofn) == compute(dofn), dofn
        stateful += userstate.is_stateful_dofn(dofn)
    assert stateful >= 2                      # the stream's feed state and first-seen state


def test_dofn_specs_see_bound_methods_stored_on_the_instance():
    spec = userstate.ReadModifyWriteStateSpec("s", beam.coders.VarIntCoder())

    class Holder:
        def process(self, element, state=beam.DoFn.StateParam(spec)):
            yield element

    class Plain(beam.DoFn):
        def process(self, element):
            yield element

    plain, carrying = Plain(), Plain()
    carrying.extra = Holder().process          # a stateful method, stored on one instance
    assert userstate.get_dofn_specs(plain) == (set(), set())
    assert userstate.get_dofn_specs(carrying) == ({spec}, set())
    assert userstate.get_dofn_specs(plain) == (set(), set())
    first = userstate.get_dofn_specs(carrying)
    first[0].clear()                           # callers own the sets they get
    assert userstate.get_dofn_specs(carrying) == ({spec}, set())


def test_views_are_kept_and_share_one_set_of_values():
    options = PipelineOptions(["--runner=FnApiRunner", "--output", "out"])
    standard = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is standard
    standard.runner = "PrismRunner"
    assert options.view_as(StandardOptions).runner == "PrismRunner"
    assert options.get_all_options()["runner"] == "PrismRunner"
    options.view_as(TypeOptions).pipeline_type_check = False
    assert options.view_as(TypeOptions).pipeline_type_check is False
    assert options.view_as(NewsbeamOptions).output == "out"
    other = PipelineOptions(["--runner=FnApiRunner"])
    assert other.view_as(StandardOptions) is not standard
    assert other.view_as(StandardOptions).runner == "FnApiRunner"


def test_a_view_follows_its_options_when_their_values_are_replaced():
    options = PipelineOptions(["--runner=FnApiRunner"])
    before = options.view_as(StandardOptions)
    options._all_options = dict(options._all_options, runner="PrismRunner")
    after = options.view_as(StandardOptions)
    assert after is not before and after.runner == "PrismRunner"


def test_install_is_idempotent():
    wrapped = userstate.get_dofn_specs
    assert beam_speedups.install() and beam_speedups.installed()
    assert userstate.get_dofn_specs is wrapped
