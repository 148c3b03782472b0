"""Sequence parallelism's backward collectives: which are exposed, which run beside GEMMs (by hand)."""

from __future__ import annotations

import pytest

from trnsim.cluster.collectives import Collective, collective_time
from trnsim.cluster.placement import place_group
from trnsim.cluster.plan import make_plan
from trnsim.cluster.step import _place, _stage_shards, _stage_time, estimate_step
from trnsim.cluster.topology import topology_for_system
from trnsim.cluster.traffic import tp_comm
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model
from trnsim.workload.options import Precision, Recompute


def test_sp_backward_has_four_gathers_two_beside_gemms() -> None:
    model = load_model("llama3-8b")
    system = load_system("trn1")
    group = place_group(topology_for_system(system), system.ranks_per_chip, 1, 8)
    layers, seq = 4, 4096
    a = seq * model.hidden_size * 2  # one micro-batch's activation, BF16
    ag = collective_time(Collective.ALL_GATHER, a, group).time_s
    rs = collective_time(Collective.REDUCE_SCATTER, a, group).time_s
    comm = tp_comm(model, group, layers, 1, seq, 1, True, Recompute.SELECTIVE)
    # forward: per layer 2 all-gathers and 2 reduce-scatters (attention and MLP blocks)
    assert comm.fwd_s == pytest.approx(2 * layers * (ag + rs))
    # backward: the 2 row-parallel output-gradient gathers are exposed; the 2 input re-gathers run
    # beside the input-gradient GEMMs, the 2 reduce-scatters beside the weight-gradient GEMMs
    assert comm.bwd_s == pytest.approx(2 * layers * ag)
    assert comm.behind_dgrad_s == pytest.approx(2 * layers * ag)
    assert comm.behind_wgrad_s == pytest.approx(2 * layers * rs)
    # full recomputation reruns the forward's collectives in the backward pass
    full = tp_comm(model, group, layers, 1, seq, 1, True, Recompute.FULL)
    assert full.bwd_s == pytest.approx(2 * layers * ag + comm.fwd_s)
    # without SP: all-reduces, nothing beside GEMMs
    plain = tp_comm(model, group, layers, 1, seq, 1, False, Recompute.SELECTIVE)
    assert plain.behind_dgrad_s == plain.behind_wgrad_s == 0.0 and plain.bwd_s == plain.fwd_s


def test_step_exposes_what_the_column_parallel_gemms_do_not_cover() -> None:
    model = load_model("llama3-8b")
    system = load_system("trn1")
    plan = make_plan(tp=8, pp=1, dp=1, micro_batch=1, global_batch=1, sequence_parallel=True,
                     recompute=Recompute.SELECTIVE)
    result = estimate_step(model, system, 8, plan, 4096)
    shard = _stage_shards(model, plan)[0][2]
    dev = _stage_time(model, shard, 1, 4096, Precision.BF16, plan, system)
    group = _place(topology_for_system(system), system, plan).tp
    comm = tp_comm(model, group, dev.layers, 1, 4096, 1, True, Recompute.SELECTIVE)
    expected = (comm.fwd_s + comm.bwd_s + max(0.0, comm.behind_dgrad_s - dev.colpar_dgrad_s)
                + max(0.0, comm.behind_wgrad_s - dev.colpar_wgrad_s))
    assert result.breakdown["tp_comm"] == pytest.approx(expected)
    assert dev.colpar_dgrad_s > 0 and dev.colpar_wgrad_s > 0
