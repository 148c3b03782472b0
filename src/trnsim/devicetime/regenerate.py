"""Regenerate the Trainium op-time tables: ``python -m trnsim.devicetime.regenerate``.

Runs every gridded kernel of ``trnsim.kernels`` through the chip model (``trnsim.core``) at each
shape of its grid, for each target, and writes ``devicetime/data/tables/<target>/<kernel>-<dtype>.json``.
Run it whenever the chip model or a kernel changes; the tables ship with the package.

Options: ``--targets trn1,trn2``, ``--kernels matmul,rmsnorm``, ``--quick`` (a coarser grid),
``--out DIR``. Progress goes to stderr, one line per table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trnsim.devicetime import kernel_path
from trnsim.devicetime.tables import TABLE_DIR, OpTable, table_path

__all__ = ["GRIDS", "GridSpec", "generate_table", "main"]


@dataclass(frozen=True)
class GridSpec:
    """The shapes one kernel is simulated at: gridded axes, and fixed values of the others."""

    kernel: str
    dtypes: tuple[str, ...]
    axes: tuple[str, ...]
    grid: tuple[tuple[int, ...], ...]
    quick_grid: tuple[tuple[int, ...], ...]
    fixed: tuple[tuple[str, int], ...] = ()
    #: Growth power beyond the grid per axis (default linear).
    extrapolation: tuple[tuple[str, float], ...] = ()


GRIDS: tuple[GridSpec, ...] = (
    # Within one launch of the matmul kernel (m, n <= MATMUL_MAX_BLOCK); bigger GEMMs are
    # launched as blocks of this size. Half-octave points (768, 1536, 3072) and narrow N (128,
    # 256: a 70B out_proj at tp32) sample tile counts that are not powers of two: the kernel's
    # plan, and so its time, changes between them (e.g. m = 896 runs faster than m = 1024, whose
    # result block no longer fits SBUF beside N = 2048), which a power-law interpolation cannot see.
    GridSpec("matmul", ("bfloat16", "float8_e4m3"), ("m", "k", "n"),
             ((128, 256, 512, 768, 1024, 1536, 2048), (128, 256, 512, 1024, 1536, 2048, 3072, 4096, 8192),
              (128, 256, 512, 768, 1024, 1536, 2048)),
             ((512, 2048), (128, 2048), (512, 2048))),
    GridSpec("flash_attention_fwd", ("bfloat16",), ("seq_q", "head_dim"),
             ((512, 1024, 2048, 4096), (64, 128)), ((512, 2048), (64, 128)),
             (("batch", 1), ("heads", 1), ("kv_heads", 1), ("causal", 1)), (("seq_q", 2.0),)),
    GridSpec("flash_attention_bwd", ("bfloat16",), ("seq_q", "head_dim"),
             ((512, 1024, 2048, 4096), (64, 128)), ((512, 2048), (64, 128)),
             (("batch", 1), ("heads", 1), ("kv_heads", 1), ("causal", 1)), (("seq_q", 2.0),)),
    GridSpec("rmsnorm", ("bfloat16",), ("rows", "hidden"), ((128, 1024, 4096), (1024, 4096, 8192)),
             ((128, 1024), (1024, 4096))),
    GridSpec("layernorm", ("bfloat16",), ("rows", "hidden"), ((128, 1024, 4096), (1024, 4096, 8192)),
             ((128, 1024), (1024, 4096))),
    GridSpec("add", ("bfloat16",), ("rows", "cols"), ((128, 1024, 4096), (1024, 4096, 8192)),
             ((128, 1024), (1024, 4096))),
    GridSpec("cross_entropy", ("bfloat16",), ("tokens", "vocab"), ((128, 1024, 4096), (8192, 32768)),
             ((128, 1024), (8192, 32768))),
    # Decode shapes (serving): few rows against streamed weights; one query token per KV head
    # group against a cache of seq_k positions (linear in seq_k beyond the grid). K from 128 and
    # N to 16384: high TP gives slices that narrow (Llama-70B's out_proj at TP64 has K = 128, the
    # 405B's fc2 N = 16384), and the time is not linear in K or N there (fixed DMA costs).
    GridSpec("decode_matmul", ("bfloat16", "float8_e4m3"), ("m", "k", "n"),
             ((1, 16, 128), (128, 512, 2048, 8192, 16384), (128, 512, 2048, 8192, 16384)),
             ((1, 128), (512, 8192), (512, 2048))),
    GridSpec("decode_attention", ("bfloat16",), ("seq_k", "heads", "batch"),
             ((512, 2048, 8192, 32768), (1, 8, 16), (1, 16)), ((512, 8192), (1, 8), (1, 16)),
             (("kv_heads", 1), ("head_dim", 128))),
    GridSpec("adamw", ("float32",), ("numel",), ((2**16, 2**20, 2**22),), ((2**16, 2**20),)),
)


def generate_table(spec: GridSpec, dtype: str, target: str, quick: bool = False,
                   timing: Any = None, version_suffix: str = "") -> OpTable:
    """Simulate ``spec``'s kernel at every grid point on ``target`` and return the table.

    ``timing`` (a ``NeuronCoreTiming`` with what-if overrides) replaces the shipped timing data;
    ``version_suffix`` (the overrides' digest) then marks the table's model version.
    """
    grid = spec.quick_grid if quick else spec.grid
    times = np.zeros(tuple(len(g) for g in grid))
    for index in itertools.product(*(range(len(g)) for g in grid)):
        shape = {axis: grid[i][j] for i, (axis, j) in enumerate(zip(spec.axes, index, strict=True))}
        shape.update(dict(spec.fixed))
        if spec.kernel.startswith("flash_attention"):
            shape["seq_k"] = shape["seq_q"]
        call = kernel_path.KernelCall(spec.kernel, shape, dtype)
        times[index] = kernel_path.simulate_ns(call, target, timing)
    return OpTable(
        kernel=spec.kernel, dtype=dtype, target=target, axes=spec.axes, grid=grid, times_ns=times,
        fixed=dict(spec.fixed), extrapolation=dict(spec.extrapolation),
        model_version=kernel_path.timing_model_version(target) + version_suffix,
        provenance=f"trnsim.devicetime.regenerate, {kernel_path.timing_model_version(target)}"
                   f"{version_suffix}, "
                   f"{time.strftime('%Y-%m-%d')}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the Trainium op-time tables.")
    parser.add_argument("--targets", default="trn1,trn2,trn3")
    parser.add_argument("--kernels", default=",".join(s.kernel for s in GRIDS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=TABLE_DIR)
    args = parser.parse_args(argv)
    wanted = set(args.kernels.split(","))
    for target in args.targets.split(","):
        for spec in (s for s in GRIDS if s.kernel in wanted):
            for dtype in spec.dtypes:
                start = time.perf_counter()
                try:
                    table = generate_table(spec, dtype, target, args.quick)
                except kernel_path.KernelPathUnavailable as error:
                    print(f"skip {spec.kernel}/{dtype}/{target}: {error}", file=sys.stderr)
                    continue
                path = table_path(spec.kernel, dtype, target, args.out)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(table.to_json() + "\n")
                print(f"{path}: {table.times_ns.size} shapes in {time.perf_counter() - start:.1f} s",
                      file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
