"""Device-only compute time of the published calibration runs: a lower bound on their step time.

Run: ``PYTHONPATH=src python benchmarks/device_calibration.py [calibration_dir]``

For each row of the calibration files (Narayanan et al. 2021 and Korthikanti et al. 2022 on
A100, Megatron-LM's H100 weak scaling), builds the last pipeline stage's shard, times its
micro-batches with trnsim.devicetime (no communication, no pipeline bubble, no overlap) and prints
the ratio device-only / measured step time. The ratio must stay below 1 (the measured step also
pays for collectives and bubbles); how far below is what the cluster layer must explain. Micro-batch
size 1 where the paper does not give it.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from trnsim.workload.config import MlpKind, ModelConfig, NormKind, PositionKind
from trnsim.workload.estimate import estimate_device_step
from trnsim.workload.flops import hardware_flops, model_flops
from trnsim.workload.options import Recompute
from trnsim.workload.shard import Shard

DEFAULT_DIRS = [Path(__file__).parents[1] / "src" / "trnsim" / "data" / "calibration"]


def gpt(hidden: int, layers: int, heads: int, vocab: int, seq: int) -> ModelConfig:
    return ModelConfig(
        name=f"gpt-h{hidden}-l{layers}", family="gpt2", hidden_size=hidden, num_layers=layers,
        num_heads=heads, num_kv_heads=heads, head_dim=hidden // heads, ffn_hidden_size=4 * hidden,
        vocab_size=vocab, max_seq_len=seq, mlp=MlpKind.GELU, norm=NormKind.LAYERNORM,
        position=PositionKind.LEARNED, tie_embeddings=True, linear_bias=True, dropout=True,
    )


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open() as handle:
        yield from csv.DictReader(line for line in handle if not line.startswith("#"))


def _device_step_s(model: ModelConfig, chip: str, tp: int, pp: int, micro_batch: int, n_micro: int,
                   seq: int, recompute: Recompute, sp: bool, flash: bool) -> float:
    layers = model.num_layers // pp
    shard = Shard(tp=tp, sequence_parallel=sp, layers=layers, first_layer=model.num_layers - layers,
                  has_embedding=pp == 1, has_lm_head=True)
    est = estimate_device_step(model, chip, micro_batch, seq, recompute=recompute, shard=shard,
                               num_microbatches=n_micro, flash_attention=flash)
    return est.step_s


def calibration_rows(directory: Path) -> list[tuple[str, float, float]]:
    """(label, device-only seconds, measured seconds) for every calibration row."""
    out = []
    for r in _rows(directory / "narayanan2021_a100.csv"):
        h, L, a, tp, pp, gpus = (int(r[k]) for k in ("hidden", "layers", "heads", "tp", "pp", "gpus"))
        gb, seq, vocab = int(r["global_batch"]), int(r["seq_len"]), int(r["vocab"])
        model = gpt(h, L, a, vocab, seq)
        dp = gpus // (tp * pp)
        # Table 1 reports hardware TFLOP/s with full recomputation (their eq. 3, the 96 form).
        measured = hardware_flops(model, gb * seq, seq, Recompute.FULL, flash_attention=False) / (
            gpus * float(r["tflops_per_gpu"]) * 1e12)
        device = _device_step_s(model, "a100", tp, pp, 1, gb // dp, seq, Recompute.FULL, False, False)
        out.append((f"Narayanan {r['model_params_b']}B (A100, tp{tp} pp{pp})", device, measured))
    for r in _rows(directory / "korthikanti2022_a100.csv"):
        h, L, a, tp, pp, gpus = (int(r[k]) for k in ("hidden", "layers", "heads", "tp", "pp", "gpus"))
        gb, mb, seq, vocab = (int(r[k]) for k in ("global_batch", "micro_batch", "seq_len", "vocab"))
        model = gpt(h, L, a, vocab, seq)
        n_micro = gb // mb // (gpus // (tp * pp))
        modes = (("full", Recompute.FULL, False, "iter_s_full"),
                 ("selective+SP", Recompute.SELECTIVE, True, "iter_s_selective_sp"))
        for label, recompute, sp, column in modes:
            device = _device_step_s(model, "a100", tp, pp, mb, n_micro, seq, recompute, sp, False)
            out.append((f"Korthikanti {r['model']} {label} (A100, tp{tp} pp{pp})", device, float(r[column])))
    for r in _rows(directory / "megatron_h100_weak_scaling.csv"):
        h, L, tp, pp, gpus = (int(r[k]) for k in ("hidden", "layers", "tp", "pp", "gpus"))
        gb, seq, vocab = int(r["global_batch"]), int(r["seq_len"]), int(r["vocab"])
        model = gpt(h, L, h // 128, vocab, seq)  # head count not given: head dim 128 assumed
        dp = gpus // (tp * pp)
        measured = model_flops(model, gb * seq, seq) / (gpus * float(r["tflops_per_gpu"]) * 1e12)
        device = _device_step_s(model, "h100", tp, pp, 1, gb // dp, seq, Recompute.NONE, tp > 1, True)
        out.append((f"Megatron H100 {r['model_params_b']}B (tp{tp} pp{pp})", device, measured))
    return out


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else next(d for d in DEFAULT_DIRS if d.is_dir())
    print("| run | device-only step (s) | measured step (s) | device ÷ measured |\n|---|---|---|---|")
    for label, device, measured in calibration_rows(directory):
        print(f"| {label} | {device:.3f} | {measured:.3f} | {device / measured:.2f} |")


if __name__ == "__main__":
    main()
