"""Matmul and attention time tables for trn1, trn2, H100 and TPU v5p (one whole chip each).

Run: ``PYTHONPATH=src python benchmarks/device_op_tables.py [--method auto|roofline]``

Prints Markdown tables: for each shape, the time on each chip, the achieved fraction of the
chip's dense BF16 peak, and the method behind each figure (Trainium: ``kernel``/``table`` from
the chip model, or ``roofline`` where no simulated table exists yet; GPU/TPU: ``analytic``).
A Trainium op on the whole chip is split over all its NeuronCores (LNC = all cores).
"""

from __future__ import annotations

import argparse
import time

from trnsim.devicetime.ops import Dtype, Op, OpClass, Phase, executed_attention_flops
from trnsim.devicetime.tables import stale_tables
from trnsim.devicetime.timing import time_op_detailed
from trnsim.hardware.catalog import load_chip

CHIPS = ["trn1", "trn2", "h100", "tpu-v5p"]
MATMULS = [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192),
           (16384, 16384, 16384), (4096, 4096, 14336), (8192, 8192, 28672), (4096, 128256, 4096)]
ATTENTION = [(1024, 128), (2048, 128), (4096, 128), (8192, 128), (16384, 128), (32768, 128), (4096, 64)]
HEADS = 32


def matmul_op(m: int, k: int, n: int) -> Op:
    return Op("matmul", OpClass.MATMUL, Phase.FWD, 2.0 * m * k * n, float(2 * (m * k + k * n)),
              float(2 * m * n), {"m": m, "k": k, "n": n}, Dtype.BF16, 1, kernel="matmul")


def attention_op(seq: int, head_dim: int, phase: Phase) -> Op:
    fwd_flops = 2.0 * HEADS * seq * seq * 2 * head_dim
    io = 4.0 * HEADS * seq * head_dim * 2
    return Op("attention", OpClass.ATTENTION, phase, fwd_flops * (2 if phase is Phase.BWD else 1),
              io * (2 if phase is Phase.BWD else 1), io / 4 * (3 if phase is Phase.BWD else 1),
              {"batch_heads": HEADS, "seq_q": seq, "seq_kv": seq, "head_dim_qk": head_dim,
               "head_dim_v": head_dim, "causal": 1},
              Dtype.BF16, 1, kernel="attention_bwd" if phase is Phase.BWD else "attention")


def _row(label: str, op: Op, method: str, flops: float) -> str:
    cells = [label]
    times = {}
    for name in CHIPS:
        chip = load_chip(name)
        timed = time_op_detailed(op, chip, method, ranks_per_chip=1)
        times[name] = timed.seconds
        cells.append(f"{timed.seconds * 1e6:,.1f} us / {flops / timed.seconds / chip.peak_flops_bf16:.0%}"
                     f" ({timed.method.value})")
    cells.append(f"{times['trn1'] / times['trn2']:.2f}")
    cells.append(f"{times['h100'] / times['trn2']:.2f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="auto", choices=["auto", "roofline"])
    args = parser.parse_args()
    start = time.perf_counter()
    stale = stale_tables()
    if stale:
        print(f"WARNING: {len(stale)} Trainium tables predate the installed kernels/chip model "
              f"(run python -m trnsim.devicetime.regenerate): {', '.join(stale)}\n")
    header = ("| shape | " + " | ".join(f"{c}: time / % of BF16 peak (method)" for c in CHIPS)
              + " | trn1÷trn2 | h100÷trn2 |")
    rule = "|" + "---|" * (len(CHIPS) + 3)
    print(f"## BF16 matmul C[m,n] = A[m,k] @ B[k,n], one chip, method={args.method}\n")
    print(header.replace("shape", "m x k x n"))
    print(rule)
    for m, k, n in MATMULS:
        op = matmul_op(m, k, n)
        print(_row(f"{m} x {k} x {n}", op, args.method, op.flops))
    for phase in (Phase.FWD, Phase.BWD):
        print(f"\n## Causal attention {phase.value}, {HEADS} heads, batch 1, one chip (% of peak on executed "
              f"FLOPs), method={args.method}\n")
        print(header.replace("shape", "seq x head_dim"))
        print(rule)
        for seq, d in ATTENTION:
            op = attention_op(seq, d, phase)
            print(_row(f"{seq} x {d}", op, args.method, executed_attention_flops(op)))
    print(f"\n(ratios > 1: trn2 faster; computed in {time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
