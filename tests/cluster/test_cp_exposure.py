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


def _causal_work(queries: tuple[int, ...], keys: tuple[int, ...]) -> float:
    # Chunk blocks a causal mask leaves: a key chunk before the query chunk is a whole block, the
    # diagonal half of one, a later one none.
    return sum(1.0 if k < q else 0.5 if k == q else 0.0 for q in queries for k in keys)


@pytest.mark.parametrize("cp", [2, 4, 8])
def test_load_balanced_causal_ring_gives_every_step_one_cpth_of_the_attention(cp: int) -> None:
    # The block each ring send hides behind (cp_comm's attention / cp) assumes the load-balanced
    # layout: 2 cp chunks, rank r holds chunks r and 2 cp - 1 - r; at ring step k it holds the K/V
    # of rank r - k. Counted by hand, every step of every rank does 2 chunk blocks of the 2 cp^2
    # the causal mask leaves, 1/cp of the rank's attention.
    chunks = {r: (r, 2 * cp - 1 - r) for r in range(cp)}
    for r in range(cp):
        steps = [_causal_work(chunks[r], chunks[(r - k) % cp]) for k in range(cp)]
        assert steps == [2.0] * cp
    assert sum(_causal_work(chunks[r], chunks[s]) for r in range(cp) for s in range(cp)) == 2 * cp**2
    # The causal imbalance it removes: with contiguous chunks rank r computes r + 1/2 blocks, the
    # last rank 2 cp - 1 times the first, and its ring would wait on the slowest.
    plain = [sum(_causal_work((r,), (s,)) for s in range(cp)) for r in range(cp)]
    assert plain == [r + 0.5 for r in range(cp)]


def test_ring_reports_what_attention_hides() -> None:
    cp, layers, seq, tp = 4, 2, 32768, 1
    group = _cp_group(cp)
    efa = group.levels[-1]
    chunk = seq / cp * 8 * 256 * 2
    send_f = efa.latency_s + chunk / efa.link_bw_bytes_per_s
    send_b = efa.latency_s + 2 * chunk / efa.link_bw_bytes_per_s
    # 1 ms / 2 ms of attention per layer: each of the cp - 1 sends hides behind a 0.25 ms / 0.5 ms
    # step (both shorter than the 0.75 ms / 1.5 ms sends), the rest is exposed.
    att_f, att_b = 1e-3 * layers, 2e-3 * layers
    got = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE, att_f, att_b)
    assert got.hidden_s == pytest.approx(layers * (cp - 1) * (1e-3 / cp + 2e-3 / cp))
    # Hidden and exposed add up to the ring's transfers.
    ring = layers * (cp - 1) * (send_f + send_b)
    assert got.hidden_s + got.total_s == pytest.approx(ring)
    # Enough attention hides every send: 0 s exposed, the whole ring hidden.
    hidden = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE, 1.0, 2.0)
    assert hidden.total_s == 0 and hidden.hidden_s == pytest.approx(ring)
    # A full recompute reruns the forward ring behind the recomputed attention: hidden once more.
    full = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.FULL, att_f, att_b)
    assert full.hidden_s == pytest.approx(got.hidden_s + layers * (cp - 1) * 1e-3 / cp)
    # The all-gather exchange hides nothing.
    gather = cp_comm(LLAMA8, group, layers, 1, seq, tp, Recompute.NONE, 1.0, 2.0, CPExchange.ALL_GATHER)
    assert gather.hidden_s == 0


def test_step_reports_the_hidden_ring() -> None:
    # Llama 3 8B at 8k tokens, tp8 cp8 across p5 nodes, 2 micro-batches: the step's hidden and
    # exposed CP time add up to the ring's transfers of all 32 layers, every micro-batch.
    base = dict(tp=8, cp=8, dp=1, micro_batch=1, global_batch=2, sequence_parallel=True)
    ring = estimate_step(LLAMA8, P5, 64, make_plan(**base), 8192)
    bare = cp_comm(LLAMA8, _cp_group(8), LLAMA8.num_layers, 1, 8192, 8, Recompute.NONE)
    assert ring.microbatches == 2
    assert ring.cp_comm_hidden_s + ring.breakdown["cp_comm"] == pytest.approx(2 * bare.total_s)
    assert ring.cp_comm_hidden_s > 0
    assert ring.to_dict()["cp_comm_hidden_s"] == ring.cp_comm_hidden_s
    # Not part of the step: the breakdown still sums to it.
    assert sum(ring.breakdown.values()) == pytest.approx(ring.step_time_s)
    gather = estimate_step(LLAMA8, P5, 64, make_plan(**base, cp_exchange="all-gather"), 8192)
    assert gather.cp_comm_hidden_s == 0
