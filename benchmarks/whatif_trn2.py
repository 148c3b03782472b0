"""What-if hardware on Trainium2: llama3-70b on trn2 with one fixed plan, each knob x2 in turn.

For every what-if the step time, MFU (against that hardware's own peak) and tokens/s come from
the cluster model, with Trainium device times simulated by the NeuronCore model under the what-if
timing (tables regenerated per override set, in a fresh cache directory so the cold cost shows).
Ratios are to the baseline. Run:

    PYTHONPATH=src python benchmarks/whatif_trn2.py [--chips 128] [--seq-len 8192]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from trnsim.cluster import estimate_step, make_plan
from trnsim.cluster.topology import topology_for_system
from trnsim.devicetime.cache import CACHE_ENV
from trnsim.plan.sweep import WhatIf
from trnsim.plan.whatif import apply_whatif
from trnsim.workload.models import load_model

WHATIFS = (
    ("baseline", WhatIf(name="baseline")),
    ("HBM x2", WhatIf(name="hbm_bw_x2")),
    ("TensorE x2", WhatIf(name="tensor_x2")),
    ("VectorE x2", WhatIf(name="vector_x2")),
    ("NeuronLink x2", WhatIf(name="scale_up_bw_x2")),
    ("EFA x2", WhatIf(name="scale_out_bw_x2")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--global-batch", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault(CACHE_ENV, tempfile.mkdtemp(prefix="trnsim-whatif-bench-"))
    model = load_model("llama3-70b")
    # 128 chips = 8 trn2.48xlarge, 512 ranks (LNC=2, 4 per chip): TP 16 over 4 chips of the
    # NeuronLink torus, PP 4, DP 8 (across instances, over EFA); ZeRO-1, micro-batch 1, selective
    # recompute. The fastest of the fitting plans of this shape found by hand (24 GiB per rank).
    plan = make_plan(tp=16, pp=4, dp=args.chips * 4 // 64, zero_stage=1, micro_batch=1,
                     global_batch=args.global_batch, sequence_parallel=True, recompute="selective")
    print(f"llama3-70b on {args.chips} trn2 chips, seq {args.seq_len}, global batch {args.global_batch}, "
          f"TP {plan.tp} PP {plan.pp} DP {plan.dp} ZeRO-{plan.zero_stage} micro-batch {plan.micro_batch} "
          f"recompute {plan.recompute}")
    print(f"{'what-if':<14} {'step s':>8} {'ratio':>6} {'MFU':>6} {'compute':>8} {'tp_comm':>8} "
          f"{'dp_comm':>8} {'pp+bubble':>9} {'optim':>6} {'cold s':>7} {'warm s':>7}")
    base_step: float | None = None
    for label, whatif in WHATIFS:
        times = []
        for _ in range(2):  # cold (tables regenerated), then warm (read back)
            start = time.perf_counter()
            hardware = apply_whatif("trn2", whatif)
            topology = topology_for_system(hardware.system, overrides=hardware.topology_overrides or None)
            result = estimate_step(model, hardware.system, args.chips * hardware.system.ranks_per_chip,
                                   plan, args.seq_len, topology=topology)
            times.append(time.perf_counter() - start)
        if base_step is None:
            base_step = result.step_time_s
            if not result.fits:
                print("note: the plan does not fit in memory at this size (times still estimated)")
        b = result.breakdown
        print(f"{label:<14} {result.step_time_s:>8.3f} {base_step / result.step_time_s:>6.3f} "
              f"{result.mfu:>6.1%} {b['compute']:>8.3f} {b['tp_comm']:>8.3f} {b['dp_comm']:>8.3f} "
              f"{b['pp_comm'] + b['pipeline_bubble']:>9.3f} {b['optimizer']:>6.3f} "
              f"{times[0]:>7.1f} {times[1]:>7.2f}")
    print("ratio = baseline step time / what-if step time (tokens/s ratio is the same); MFU against the "
          "what-if chip's own peak; breakdown in s;\ncold = first evaluation (tables regenerated), "
          "warm = repeat")


if __name__ == "__main__":
    main()
