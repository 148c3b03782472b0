"""One rank's training step for the seed workloads on each chip family (compute only).

Run: ``PYTHONPATH=src python benchmarks/device_step_compare.py``

For each model, a per-rank shard typical of its size (same shard on every chip), BF16, selective
recompute, sequence 4096: compute time of one micro-batch per rank, tokens/s per chip (ranks per
chip × tokens per rank per second), MFU against the chip's BF16 peak, the method behind the
Trainium figures, and whether the rank's memory fits. No communication: the cluster layer adds it.
"""

from __future__ import annotations

from trnsim.hardware.catalog import load_system
from trnsim.workload.estimate import estimate_device_step
from trnsim.workload.models import load_model
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard

SYSTEMS = ["trn1", "trn2", "p4d", "p5", "p5e", "b200", "tpu-v4", "tpu-v5p"]
CASES = [
    ("afm-on-device", Shard(tp=1), 1, 1),
    ("llama3-8b", Shard(tp=2, sequence_parallel=True), 8, 1),
    ("afm-server", Shard(tp=8, sequence_parallel=True, layers=10), 8, 3),
    ("llama3-70b", Shard(tp=8, sequence_parallel=True, layers=10), 8, 3),
]


def main() -> None:
    print("| model (shard) | system | step ms / micro-batch | tokens/s per chip | MFU | method | memory |")
    print("|---|---|---|---|---|---|---|")
    for name, shard, dp, zero in CASES:
        model = load_model(name)
        for system_name in SYSTEMS:
            system = load_system(system_name)
            est = estimate_device_step(model, system, 1, 4096, recompute=Recompute.SELECTIVE, shard=shard,
                                       dp=dp, zero_stage=zero, inflight_microbatches=1)
            layers_fraction = (est.graph.dense_layers + est.graph.moe_layers) / model.num_layers
            # Tokens of the whole model per second per chip: a rank does 1/tp of its layers' work.
            per_rank = est.tokens_per_step / est.step_s
            tokens_per_s = per_rank * system.ranks_per_chip * layers_fraction / shard.tp
            methods = ",".join(m.value for m in est.time.methods)
            print(f"| {name} (tp{shard.tp}, {est.graph.dense_layers} layers) | {system_name} | "
                  f"{est.step_s * 1e3:,.1f} | {tokens_per_s:,.0f} | {est.mfu:.0%} | {methods} | "
                  f"{est.memory.total_bytes / 2**30:.1f}/{est.hbm_bytes_per_rank / 2**30:.0f} GiB |")


if __name__ == "__main__":
    main()
