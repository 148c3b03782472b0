"""Context parallelism: the K/V exchange against the attention compute it hides behind, by hand."""

from __future__ import annotations

import pytest

from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster.placement import GroupPlacement, place_group
from trnsim.cluster.topology import topology_for_system
from trnsim.cluster.traffic import CPExchange, cp_comm
from trnsim.hardware.catalog import load_system
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute

LLAMA8 = load_model("llama3-8b")  # 8 KV heads of 128
P5 = load_system("p5")


def _cp_group(cp: int) -> GroupPlacement:
    # One rank per node: stride 8 puts the CP ranks on different p5 nodes (EFA, 3.2 Tbps per 8 GPUs).
    return place_group(topology_for_system(P5), 1, 8, cp)


def test_ring_exposes_what_a_transfer_takes_beyond_one_step_of_attention() -> None:
    cp, layers, seq, tp = 4, 2, 32768, 1
    group = _cp_group(cp)
    # This rank's K and V: seq/cp = 8,192 tokens x 8 KV heads x (128 + 128) x 2 B = 32 MiB a layer.
    chunk = seq / cp * 8 * 256 * 2
    assert chunk == 32 * 2**20
    efa = group.levels[-1]
    send_f = efa.latency_s + chunk / efa.link_bw_bytes_per_s
    send_b = efa.latency_s + 2 * chunk / efa.link_bw_bytes_per_s  # K, V and their gradients
    # Attention of 1 ms forward / 2 ms backward per layer: each of the cp - 1 = 3 ring steps hides
    # behind 1/cp of it (causal, load-balanced chunks: half a block pair each step).
    att_f, att_b = 1e-3 * layers, 2e-3 * layers
    got = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE, att_f, att_b)
    assert got.fwd_s == pytest.approx(layers * 3 * max(0.0, send_f - 1e-3 / cp))
    assert got.bwd_s == pytest.approx(layers * 3 * max(0.0, send_b - 2e-3 / cp))
    # 32 MiB on 3.2 Tbps / 8 GPUs x 0.9 = 45 GB/s takes 0.75 ms: more than the 0.25 ms step.
    assert send_f > 1e-3 / cp and got.fwd_s > 0
    # Enough attention hides it all; none exposes every transfer.
    hidden = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE, 1.0, 2.0)
    assert hidden.total_s == 0
    bare = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE)
    assert bare.fwd_s == pytest.approx(layers * 3 * send_f)
    # Full recompute reruns the forward ring.
    full = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.FULL, att_f, att_b)
    assert full.bwd_s == pytest.approx(got.bwd_s + got.fwd_s)


def test_all_gather_exchange_is_exposed() -> None:
    cp, layers, seq = 4, 2, 32768
    group = _cp_group(cp)
    chunk = seq / cp * 8 * 256 * 2
    efa = group.levels[-1]
    # Ring all-gather of the whole K/V (cp chunks): (cp-1) (latency + chunk / bw); same for the
    # reduce-scatter of the gradients; backward gathers again.
    one = (cp - 1) * (efa.latency_s + chunk / efa.ring_bw_bytes_per_s)
    got = cp_comm(LLAMA8, group, layers, 1, seq, 1, Recompute.NONE, 1.0, 2.0, CPExchange.ALL_GATHER)
    assert got.fwd_s == pytest.approx(layers * one)
    assert got.bwd_s == pytest.approx(layers * 2 * one)


def test_cp_communication_shows_in_the_step_breakdown() -> None:
    # Llama 3 8B at 8k tokens, cp 8 across p5 nodes: the ring hides what one step of attention
    # covers; the same exchange as an all-gather is exposed whole and shows in the breakdown.
    base = dict(tp=8, cp=8, dp=1, micro_batch=1, global_batch=1, sequence_parallel=True)
    ring = estimate_step(LLAMA8, P5, 64, make_plan(**base), 8192)
    gather = estimate_step(LLAMA8, P5, 64, make_plan(**base, cp_exchange="all-gather"), 8192)
    assert gather.breakdown["cp_comm"] > ring.breakdown["cp_comm"] >= 0
    assert gather.breakdown["cp_comm"] > 0
