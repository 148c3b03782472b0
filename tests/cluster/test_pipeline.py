"""Pipeline schedules: bubble, warm-up and activations in flight, derived by hand."""

from __future__ import annotations

import pytest

from trnsim.cluster.pipeline import Schedule, inflight_whole, pipeline_timing
from trnsim.errors import ConfigError


def test_1f1b_bubble_fraction() -> None:
    # p = 4 stages, m = 8 micro-batches, t_f = 1, t_b = 2: ideal 8 x 3 = 24; bubble (4-1) x 3 = 9;
    # fraction (p-1)/m = 3/8.
    t = pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1.0, 2.0)
    assert t.compute_s == pytest.approx(24.0)
    assert t.bubble_s == pytest.approx(9.0)
    assert t.bubble_fraction == pytest.approx(3 / 8)
    assert t.total_s == pytest.approx(33.0)
    # 1F1B holds at most p micro-batches; GPipe holds all m, for the same bubble.
    assert t.inflight_microbatches == 4
    gpipe = pipeline_timing(Schedule.GPIPE, 4, 8, 1.0, 2.0)
    assert gpipe.bubble_s == t.bubble_s and gpipe.inflight_microbatches == 8


def test_interleaving_divides_the_bubble_and_raises_memory() -> None:
    # v = 2: bubble (p-1)(t_f+t_b)/v = 4.5; first stage holds p (1 + (p-1)/(p v)) = 4 x 11/8 = 5.5.
    t = pipeline_timing(Schedule.INTERLEAVED, 4, 8, 1.0, 2.0, interleave=2)
    assert t.bubble_s == pytest.approx(4.5)
    assert t.bubble_fraction == pytest.approx(3 / 16)
    assert t.inflight_microbatches == pytest.approx(5.5)
    assert inflight_whole(t) == 6


def test_stage_sends_on_the_critical_path() -> None:
    # p2p 0.1 each; m = 8, v = 1: 2 v m + 2 (p-1) = 22 sends -> 2.2 s; v = 2 -> 38 sends.
    assert pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1, 2, p2p_s=0.1).p2p_s == pytest.approx(2.2)
    assert pipeline_timing(Schedule.INTERLEAVED, 4, 8, 1, 2, 2, p2p_s=0.1).p2p_s == pytest.approx(3.8)
    # One stage: no bubble, no sends.
    single = pipeline_timing(Schedule.ONE_F_ONE_B, 1, 8, 1, 2, p2p_s=0.1)
    assert single.bubble_s == 0 and single.p2p_s == 0


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="interleave 2 needs schedule 'interleaved'"):
        pipeline_timing(Schedule.ONE_F_ONE_B, 4, 8, 1, 2, interleave=2)
    with pytest.raises(ConfigError, match=">= 1"):
        pipeline_timing(Schedule.GPIPE, 0, 8, 1, 2)


def _simulate_1f1b(fwd: list[float], bwd: list[float], m: int) -> float:
    """Makespan of PipeDream-Flush (1F1B), op by op: stage i runs p - i - 1 warm-up forwards, then
    alternates forward and backward; a forward waits for the previous stage's, a backward for the
    next stage's (the last stage's for its own forward)."""
    p = len(fwd)
    orders = []
    for i in range(p):
        warm = min(p - i - 1, m)
        ops, nf = [("F", j) for j in range(warm)], warm
        for nb in range(m):
            if nf < m:
                ops.append(("F", nf))
                nf += 1
            ops.append(("B", nb))
        orders.append(ops)
    done: dict[tuple[str, int, int], float] = {}
    nxt, free = [0] * p, [0.0] * p
    while any(nxt[i] < len(orders[i]) for i in range(p)):
        for i in range(p):
            while nxt[i] < len(orders[i]):
                kind, j = orders[i][nxt[i]]
                key = ("F", i - 1, j) if kind == "F" else (("B", i + 1, j) if i < p - 1 else ("F", i, j))
                ready = 0.0 if kind == "F" and i == 0 else done.get(key)
                if ready is None:
                    break
                free[i] = max(free[i], ready) + (fwd[i] if kind == "F" else bwd[i])
                done[(kind, i, j)] = free[i]
                nxt[i] += 1
    return max(free)


def test_uneven_stages_fill_the_pipeline_once_through_the_others() -> None:
    # The step is sum_i t_i + (m - 1) t_max: the fill and drain cross every stage but the slowest.
    # Checked against an op-by-op simulation of 1F1B (m = 8, t_b = 2 t_f).
    m = 8
    for fwd in ([1.0, 1.0, 1.0, 1.0], [0.9, 1.0, 1.0, 1.3]):  # equal; heavier last stage (LM head)
        bwd = [2 * f for f in fwd]
        per = [f + b for f, b in zip(fwd, bwd, strict=True)]
        slow = max(range(4), key=lambda i: per[i])
        t = pipeline_timing(Schedule.ONE_F_ONE_B, 4, m, fwd[slow], bwd[slow], fill_s=sum(per) - per[slow])
        assert t.total_s == pytest.approx(_simulate_1f1b(fwd, bwd, m))
    # Lighter first and last stages (Llama 3's one layer fewer): the closed form bounds the simulated
    # step from above and is tighter than (p - 1) t_max.
    fwd = [0.875, 1.0, 1.0, 0.875]
    bwd = [2 * f for f in fwd]
    per = [f + b for f, b in zip(fwd, bwd, strict=True)]
    uneven = pipeline_timing(Schedule.ONE_F_ONE_B, 4, m, 1.0, 2.0, fill_s=sum(per) - 3.0)
    even = pipeline_timing(Schedule.ONE_F_ONE_B, 4, m, 1.0, 2.0)
    assert _simulate_1f1b(fwd, bwd, m) <= uneven.total_s + 1e-9 < even.total_s


def test_narayanan_bubble_at_16_stages() -> None:
    # Narayanan et al. 2021: bubble fraction (p - 1) / (v m). p = 16, m = 16: 15/16 of the ideal
    # time with 1F1B (48 % of the step); interleaved v = 2 halves it (15/32).
    one = pipeline_timing(Schedule.ONE_F_ONE_B, 16, 16, 1.0, 2.0)
    assert one.bubble_fraction == pytest.approx(15 / 16)
    assert one.bubble_s / (one.compute_s + one.bubble_s) == pytest.approx(15 / 31)
    two = pipeline_timing(Schedule.INTERLEAVED, 16, 16, 1.0, 2.0, interleave=2)
    assert two.bubble_fraction == pytest.approx(15 / 32)


def test_held_microbatches_follow_megatrons_warm_up() -> None:
    from trnsim.cluster.pipeline import chunk_layers, held_microbatches

    # 1F1B: stage i holds min(p - i, m).
    assert held_microbatches(Schedule.ONE_F_ONE_B, 4, 8, 1, 0, 8) == 4
    assert held_microbatches(Schedule.ONE_F_ONE_B, 4, 8, 1, 3, 8) == 1
    assert held_microbatches(Schedule.ONE_F_ONE_B, 4, 2, 1, 0, 8) == 2
    # Interleaved, equal chunks (8 layers, v = 2): 2 (p-1) + (v-1) p + 1 = 6 + 4 + 1 = 11 chunk
    # forwards of 4 layers = 44 layers = 5.5 stage micro-batches = p (1 + (p-1)/(p v)).
    assert held_microbatches(Schedule.INTERLEAVED, 4, 8, 2, 0, 8) == pytest.approx(5.5)
    # Uneven chunks: Llama 3's first stage, 7 layers on p = 16, v = 2 -> chunks [4, 3]. Warm-up
    # 2 x 15 + 16 + 1 = 47 forwards: 16 of chunk 0, 16 of chunk 1, 15 of chunk 0 again:
    # 16 x 4 + 16 x 3 + 15 x 4 = 172 layers = 172/7 stage micro-batches.
    assert chunk_layers(7, 2) == [4, 3]
    assert held_microbatches(Schedule.INTERLEAVED, 16, 32, 2, 0, 7) == pytest.approx(172 / 7)
    # Fewer micro-batches than the warm-up: all m v chunk forwards (m = 4, p = 4, v = 2: 8 of 11).
    assert held_microbatches(Schedule.INTERLEAVED, 4, 4, 2, 0, 8) == pytest.approx(8 * 4 / 8)


def _simulate_interleaved(p: int, v: int, m: int, n: int, tf: float = 1.0, tb: float = 2.0,
                          send: float = 0.0) -> tuple[float, list[int]]:
    """Makespan and peak chunks held per rank of Megatron-core's interleaved 1F1B, op by op.

    Each rank runs its warm-up forwards (``warmup_forwards``), then alternates one forward and one
    backward, then the remaining backwards. Forwards go through the chunks in groups of ``n``
    micro-batches; backwards in the same groups, last chunk first. A forward of chunk c waits for
    the previous rank's (rank 0: the last rank's chunk c - 1); a backward for the next rank's (the
    last rank: rank 0's chunk c + 1, or its own forward for the last chunk). Chunk times tf/v, tb/v;
    an input from another rank arrives ``send`` after it is produced (asynchronous: the sender goes on).
    """
    from trnsim.cluster.pipeline import warmup_forwards

    fo = [(c, j) for s in range(0, m, n) for c in range(v) for j in range(s, min(s + n, m))]
    bo = [(c, j) for s in range(0, m, n) for c in reversed(range(v)) for j in range(s, min(s + n, m))]
    orders = []
    for r in range(p):
        warm = min(warmup_forwards(p, v, r, n), m * v)
        ops = [("F", *fo[k]) for k in range(warm)]
        for k in range(m * v):
            if warm + k < m * v:
                ops.append(("F", *fo[warm + k]))
            ops.append(("B", *bo[k]))
        orders.append(ops)
    done: dict[tuple[str, int, int, int], float] = {}
    nxt, free, held, peak = [0] * p, [0.0] * p, [0] * p, [0] * p
    moved = True
    while moved:
        moved = False
        for r in range(p):
            while nxt[r] < len(orders[r]):
                kind, c, j = orders[r][nxt[r]]
                if kind == "F":
                    key = ("F", r - 1, c, j) if r > 0 else (("F", p - 1, c - 1, j) if c > 0 else None)
                elif r < p - 1:
                    key = ("B", r + 1, c, j)
                else:
                    key = ("B", 0, c + 1, j) if c < v - 1 else ("F", r, c, j)
                made = 0.0 if key is None else done.get(key)
                if made is None:
                    break
                ready = made + (send if key is not None and key[1] != r else 0.0)
                free[r] = max(free[r], ready) + (tf if kind == "F" else tb) / v
                done[(kind, r, c, j)] = free[r]
                held[r] += 1 if kind == "F" else -1
                peak[r] = max(peak[r], held[r])
                nxt[r] += 1
                moved = True
    assert all(nxt[r] == len(orders[r]) for r in range(p)), "the schedule deadlocked"
    return max(free), peak


def test_interleaved_warm_up_by_hand() -> None:
    from trnsim.cluster.pipeline import forward_chunks, held_microbatches, warmup_forwards

    # p = 2, v = 2, m = 4, N = 2, unit chunk forwards, backwards of 2 (t_f = 2, t_b = 4):
    #   t  rank 0           rank 1
    #   0  F c0 m0
    #   1  F c0 m1          F c0 m0
    #   2  F c1 m0          F c0 m1        (rank 1's c0 m0 came back round to rank 0 at t = 2)
    #   3  F c1 m1          F c1 m0        rank 1 has done its 2 warm-up forwards + 1: holds 3
    #   4  F c0 m2 (holds 5)  B c1 m0 (4-6)
    # Rank 0: 2 (p - 1) + (v - 1) N = 4 warm-up forwards, then one more before B c1 m0 reaches it.
    assert [warmup_forwards(2, 2, r, 2) for r in (0, 1)] == [4, 2]
    assert forward_chunks(4, 2, 2) == [0, 0, 1, 1, 0, 0, 1, 1]
    assert _simulate_interleaved(2, 2, 4, 2)[1] == [5, 3]
    # In stage micro-batches (two chunks of 4 layers = one micro-batch of the 8-layer stage):
    assert held_microbatches(Schedule.INTERLEAVED, 2, 4, 2, 0, 8, group=2) == pytest.approx(5 / 2)
    assert held_microbatches(Schedule.INTERLEAVED, 2, 4, 2, 1, 8, group=2) == pytest.approx(3 / 2)


def test_flexible_microbatch_group_sets_the_warm_up_and_keeps_the_bubble() -> None:
    from trnsim.cluster.pipeline import held_microbatches

    # Llama 3 (section 3.3.2, figure 6): p = 4, v = 2, m = 10 micro-batches in groups of N = 5 --
    # m is no multiple of p, which Megatron's N = p schedule needs. Rank r holds
    # 2 (p - r - 1) + (v - 1) N + 1 = 12, 10, 8, 6 chunks at its peak; the bubble is still
    # (p - 1) / (v m) = 3/20 of the ideal 10 x 3 = 30: 4.5, makespan 34.5.
    makespan, peak = _simulate_interleaved(4, 2, 10, 5)
    assert peak == [12, 10, 8, 6]
    assert makespan == pytest.approx(30 + 4.5)
    assert pipeline_timing(Schedule.INTERLEAVED, 4, 10, 1.0, 2.0, 2).total_s == pytest.approx(34.5)
    for r, chunks in enumerate(peak):
        assert held_microbatches(Schedule.INTERLEAVED, 4, 10, 2, r, 8, group=5) == pytest.approx(chunks / 2)
    # N = p = 4 (Megatron's depth-first order) on m = 8: 11, 9, 7, 5 chunks; N = m = 8 (breadth-first)
    # holds 4 chunks more on every rank for the same bubble 3/16 x 24 = 4.5.
    assert _simulate_interleaved(4, 2, 8, 4) == (pytest.approx(28.5), [11, 9, 7, 5])
    assert _simulate_interleaved(4, 2, 8, 8) == (pytest.approx(28.5), [15, 13, 11, 9])
    assert held_microbatches(Schedule.INTERLEAVED, 4, 8, 2, 0, 8, group=8) == pytest.approx(15 / 2)
    # A last group shorter than the others stalls: m = 10 in groups of 4 is slower than in groups of 5.
    assert _simulate_interleaved(4, 2, 10, 4)[0] > makespan


def test_llama3_chunks_one_layer_each_with_embedding_and_loss_chunks() -> None:
    from trnsim.cluster.pipeline import chunk_layers, held_microbatches

    # 126 layers + embedding + loss = 128 slots on p = 16, v = 8: one layer per chunk; the first stage's
    # first chunk is the embedding alone, the last stage's last chunk the output layer and loss alone.
    assert chunk_layers(7, 8, embedding=True) == [0, 1, 1, 1, 1, 1, 1, 1]
    assert chunk_layers(7, 8, loss=True) == [1, 1, 1, 1, 1, 1, 1, 0]
    assert chunk_layers(8, 8) == [1] * 8
    assert chunk_layers(7, 2, embedding=True) == [3, 4]  # v = 2: 4-slot chunks
    # Peaks with m = 32, N = p = 16: rank 0 runs 2 x 15 + 7 x 16 + 1 = 143 chunk forwards: the 8 x 16
    # of the first group, then 15 of the second group's chunk 0; the 16 + 15 of chunk 0 hold no layer:
    # 112 layers. Rank 1: 141 chunk forwards of one layer. Rank 15: 113 chunk forwards, the 113th the
    # loss chunk: 112 layers.
    first = held_microbatches(Schedule.INTERLEAVED, 16, 32, 8, 0, 7,
                              chunks=chunk_layers(7, 8, embedding=True))
    assert first * 7 == pytest.approx(112)
    assert held_microbatches(Schedule.INTERLEAVED, 16, 32, 8, 1, 8) * 8 == pytest.approx(141)
    last = held_microbatches(Schedule.INTERLEAVED, 16, 32, 8, 15, 7, chunks=chunk_layers(7, 8, loss=True))
    assert last * 7 == pytest.approx(112)
    # The op-by-op timeline agrees (chunk counts), and v = 2 would hold 180 layers on rank 1
    # (2 x 14 + 16 + 1 = 45 chunks of 4): finer chunks hold less.
    assert _simulate_interleaved(16, 8, 32, 16)[1][:2] == [143, 141]
    assert held_microbatches(Schedule.INTERLEAVED, 16, 32, 2, 1, 8) * 8 == pytest.approx(180)


@pytest.mark.parametrize(("p", "v", "m", "n", "exposed"), [
    # N = p: the fill/drain chain 2 (p - 1) and p sends at each of the 2 (v - 1) chunk changes, i.e.
    # every hop through the p v virtual stages: 2 (p v - 1) sends, whatever m.
    (4, 2, 8, 4, 2 * (4 * 2 - 1) * 0.1),
    (4, 2, 16, 4, 2 * (4 * 2 - 1) * 0.1),
    (4, 4, 8, 4, 2 * (4 * 4 - 1) * 0.1),
    (8, 4, 16, 8, 2 * (8 * 4 - 1) * 0.1),
    # N > p: rank 0 runs N - p more chunks (0.5 forward, 1.0 backward at v = 2) while micro-batch 0
    # comes round (p sends = 0.4): hidden; only the chain is left.
    (4, 2, 8, 8, 2 * (4 - 1) * 0.1),
    (4, 2, 10, 5, 2 * (4 - 1) * 0.1),
    # p = 8, v = 4, N = 10: 2 forward chunks (0.5) hide less than 8 sends (0.8): 0.3 at each of the
    # 3 forward chunk changes; 2 backward chunks (1.0) hide them.
    (8, 4, 20, 10, 2 * (8 - 1) * 0.1 + 3 * 0.3),
    (8, 4, 40, 10, 2 * (8 - 1) * 0.1 + 3 * 0.3),
])
def test_asynchronous_sends_leave_the_fill_and_drain(p: int, v: int, m: int, n: int, exposed: float) -> None:
    # Sends of 0.1 (shorter than any chunk, t_f / v >= 0.25) beside compute, against the op-by-op
    # timeline: the bubble-free time plus (p - 1)(t_f + t_b)/v plus what the sends expose.
    send = 0.1
    timed = pipeline_timing(Schedule.INTERLEAVED, p, m, 1.0, 2.0, v, send, overlap_p2p=True, group=n)
    assert timed.p2p_s == pytest.approx(exposed)
    assert _simulate_interleaved(p, v, m, n, send=send)[0] == pytest.approx(timed.total_s)
    # Synchronous sends cost 2 (v m + p - 1).
    sync = pipeline_timing(Schedule.INTERLEAVED, p, m, 1.0, 2.0, v, send, group=n)
    assert sync.p2p_s == pytest.approx(2 * (v * m + p - 1) * send) and sync.total_s > timed.total_s
    # A send longer than a forward chunk (0.75 > 1/v) exposes its excess; the closed form bounds the
    # timeline from above.
    long = pipeline_timing(Schedule.INTERLEAVED, p, m, 1.0, 2.0, v, 0.75, overlap_p2p=True, group=n)
    assert _simulate_interleaved(p, v, m, n, send=0.75)[0] <= long.total_s + 1e-9


def test_held_microbatches_sums_the_first_forwards_of_the_listed_order() -> None:
    from trnsim.cluster.pipeline import chunk_layers, forward_chunks, held_microbatches, warmup_forwards

    # held_microbatches adds the chunk sizes of the first forwards without listing all m v of them:
    # the same value as summing the listed order's prefix, for uneven chunks and short last groups
    for p, m, v, group in [(2, 4, 2, 2), (4, 10, 2, 5), (4, 10, 2, 4), (4, 9, 3, None), (8, 64, 4, None),
                           (3, 1, 2, 3), (16, 32, 2, None), (4, 4, 5, 4)]:
        for layers in (8, 13):
            sizes = chunk_layers(layers, v)
            n = p if group is None else group
            for stage in range(p):
                forwards = min(warmup_forwards(p, v, stage, n) + 1, m * v)
                listed = sum(sizes[c] for c in forward_chunks(m, v, n)[:forwards])
                held = held_microbatches(Schedule.INTERLEAVED, p, m, v, stage, layers, group)
                assert held == listed / layers
