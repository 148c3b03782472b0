"""The chip model gives the same schedule as a recorded revision, field by field (a speed-work check).

Each source tree (the baseline revision, extracted with ``git archive``, and the working tree)
runs in a worker process that traces the kernel library's kernels (matmul variants, flash
attention forward and backward, decode, norms, MLP, AdamW, cross-entropy, SPMD add) in
timing-only mode on trn1, trn2 and trn3, simulates each trace with the shipped timing and with a
what-if (slow HBM, so that DMA transfers book HBM bandwidth; one shared port), and hashes every
field of every result and of every scheduled instruction (floats in hex). The script prints the
cases whose hashes differ, or that all are identical. Run from the repository root::

    PYTHONPATH=src python benchmarks/core_equivalence.py [--baseline REV]   # default: main

A difference in instruction counts means the tracing front end changed between the trees (then
the schedules cannot be compared); it is reported as such.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_sim_speed import _extract  # git archive of a revision's src/

#: The revision to compare with: main (the merged model), so that a branch's speed work shows any
#: schedule it changed. Older revisions differ where the model's fidelity work changed schedules.
BASELINE_REV = "main"
_ROOT = Path(__file__).resolve().parent.parent
_ATTN = {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 128}
CASES: list[tuple[str, dict[str, int], str]] = [
    ("add", {"rows": 512, "cols": 1024}, "bfloat16"),
    ("add_spmd", {"rows": 512, "cols": 1024}, "float32"),
    ("transpose", {"rows": 256, "cols": 384}, "bfloat16"),
    ("softmax", {"rows": 256, "cols": 1024}, "float32"),
    ("rmsnorm", {"rows": 256, "hidden": 1024}, "bfloat16"),
    ("layernorm", {"rows": 256, "hidden": 1024}, "float32"),
    ("matmul_naive", {"m": 256, "k": 512, "n": 512}, "bfloat16"),
    ("matmul_tiled", {"m": 256, "k": 512, "n": 1024}, "bfloat16"),
    ("matmul_hoisted", {"m": 256, "k": 512, "n": 1024}, "float32"),
    ("matmul_blocked_free", {"m": 512, "k": 1024, "n": 1024}, "bfloat16"),
    ("matmul_fully_blocked", {"m": 2048, "k": 4096, "n": 8192}, "bfloat16"),
    ("matmul_fully_blocked", {"m": 512, "k": 1024, "n": 1024}, "float8_e4m3"),
    ("flash_attention_fwd", _ATTN, "bfloat16"),
    ("flash_attention_fwd", {**_ATTN, "heads": 1, "seq_q": 256, "head_dim": 64, "causal": 0}, "float32"),
    ("flash_attention_bwd", {**_ATTN, "heads": 1, "seq_q": 256, "seq_k": 256}, "bfloat16"),
    ("decode_matmul", {"m": 16, "k": 1024, "n": 2048}, "bfloat16"),
    ("decode_attention", {"batch": 2, "heads": 4, "kv_heads": 2, "seq_k": 1024, "head_dim": 128}, "bfloat16"),
    ("swiglu_mlp", {"tokens": 256, "hidden": 512, "ffn": 1024}, "bfloat16"),
    ("adamw", {"numel": 128 * 2048}, "bfloat16"),
    ("cross_entropy", {"tokens": 256, "vocab": 4096}, "bfloat16"),
]
#: A what-if that makes DMA transfers book HBM bandwidth and VectorE/GpSimdE share their port.
WHAT_IF = {"chip": {"hbm_bandwidth_bytes_per_s": 2e11}, "memory": {"shared_access_ports": 1}}


def _text(value: Any) -> str:
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_text(v) for v in value) + ")"
    return repr(value)


def _digest(result: Any) -> str:
    """A hash of every field of the result and of each scheduled instruction."""
    digest = hashlib.sha256()
    for f in dataclasses.fields(result):
        if f.name != "instructions":
            digest.update(f"{f.name}={_text(getattr(result, f.name))};".encode())
    for item in result.instructions:
        fields = (getattr(item, f.name) for f in dataclasses.fields(item) if f.name != "instruction")
        digest.update(f"{item.instruction.seq} {_text(tuple(fields))};".encode())
    return digest.hexdigest()


def _worker() -> None:
    """Trace and simulate every case with the trnsim on PYTHONPATH; print one JSON object."""
    from trnsim.core import simulate_trace
    from trnsim.hardware.neuroncore_timing import load_timing
    from trnsim.kernels import registry
    from trnsim.nki import trace_kernel

    out: dict[str, list[object]] = {}
    for name, shape, dtype in CASES:
        for target in ("trn1", "trn2", "trn3"):
            case = f"{name} {shape} {dtype} {target}"
            try:  # an older tree may lack a kernel or a shape key
                entry = registry.get(name)
                grid = {} if entry.grid() is None else {"grid": entry.grid()}
                trace = trace_kernel(entry.kernel, *entry.make_args(shape, dtype), target=target,
                                     timing_only=True, **grid)
            except Exception as error:  # reported, not raised
                out[case] = [f"not traced: {type(error).__name__}: {error}".splitlines()[0]]
                continue
            what_if = load_timing(target, WHAT_IF)
            out[case] = [len(trace), _digest(simulate_trace(trace, target)),
                         _digest(simulate_trace(trace, what_if))]
    print(json.dumps(out))


def _run(src: Path) -> dict[str, list[object]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, "--worker"], env=env, check=True, capture_output=True,
                          text=True)
    result: dict[str, list[object]] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:] == ["--worker"]:
        _worker()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE_REV, help="git revision of the baseline")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = _run(_extract(options.baseline, Path(tmp)))
    new = _run(_ROOT / "src")
    differ = 0
    for case, got in new.items():
        want = base.get(case, ["not in the baseline"])
        if len(got) == 1 or len(want) == 1:
            print(f"{case}: {got[0] if len(got) == 1 else 'baseline ' + str(want[0])}")
            continue
        count, plain, what_if = got
        base_count, base_plain, base_what_if = want
        if count != base_count:
            print(f"{case}: traces differ ({base_count} vs {count} instructions): not compared")
        elif (plain, what_if) != (base_plain, base_what_if):
            differ += 1
            print(f"{case}: schedules differ (shipped timing: {plain != base_plain}, "
                  f"what-if: {what_if != base_what_if})")
    print(f"{len(new)} cases, {differ} with different schedules (baseline {options.baseline})")


if __name__ == "__main__":
    main()
