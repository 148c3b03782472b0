"""Properties of the step graph over random shards (hypothesis): work and memory add up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trnsim.devicetime.ops import OpClass, Phase
from trnsim.workload.flops import model_flops
from trnsim.workload.graph import build_step
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard

MODEL = load_model("llama3-8b")  # 32 heads, 8 KV heads, 32 layers, vocabulary 128,256 = 2^8 x 501
_GEMM = (OpClass.MATMUL, OpClass.ATTENTION, OpClass.ROUTER)


def _gemm_flops(graph) -> float:
    return sum(op.total_flops for op in graph.ops if op.op_class in _GEMM and op.phase is not Phase.RECOMPUTE)


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), cp=st.sampled_from([1, 2, 4]), sp=st.booleans(),
       micro_batch=st.integers(1, 4), seq_exp=st.integers(10, 13), stages=st.sampled_from([1, 2, 4, 8]))
def test_ranks_of_a_replica_do_the_model_work_exactly_once(tp, cp, sp, micro_batch, seq_exp, stages) -> None:
    seq = 2**seq_exp
    layers = MODEL.num_layers // stages
    total = 0.0
    for stage in range(stages):
        shard = Shard(tp=tp, cp=cp, sequence_parallel=sp, layers=layers, first_layer=stage * layers,
                      has_embedding=stage == 0, has_lm_head=stage == stages - 1)
        total += tp * cp * _gemm_flops(build_step(MODEL, shard, micro_batch, seq))
    assert abs(total / model_flops(MODEL, micro_batch * seq, seq) - 1) < 1e-12


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), sp=st.booleans(), micro_batch=st.integers(1, 4),
       seq_exp=st.integers(10, 13))
def test_recompute_trades_memory_for_work(tp, sp, micro_batch, seq_exp) -> None:
    seq = 2**seq_exp
    shard = Shard(tp=tp, sequence_parallel=sp)
    graphs = {r: build_step(MODEL, shard, micro_batch, seq, recompute=r) for r in Recompute}
    memory = {r: g.activation_bytes for r, g in graphs.items()}
    work = {r: g.total_flops for r, g in graphs.items()}
    assert memory[Recompute.FULL] < memory[Recompute.SELECTIVE] <= memory[Recompute.NONE]
    assert work[Recompute.NONE] <= work[Recompute.SELECTIVE] < work[Recompute.FULL]
    # Activations grow linearly with the micro-batch (no term is quadratic in it).
    double = build_step(MODEL, shard, 2 * micro_batch, seq).activation_bytes
    assert abs(double / memory[Recompute.NONE] - 2) < 1e-12
