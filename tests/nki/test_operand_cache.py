"""Reused trace operands: a loop's later iterations get the same trace and values as fresh ones.

``Tensor.operand`` and ``Tensor.region`` keep, per allocation, the operand and box of each strided
view (by offset, shape, strides and partition axis), so that a call site executed again with
the same layout reuses them. The kernel below changes, from one iteration to the next, the
shape, the offset, the strides, the dtype of the result and the mask of accesses to the same
allocations; with the cache on and off the traces and the values must be identical, and with it
on an operand must actually be shared between iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.nki import tensor, trace_kernel
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.trace import KernelTrace


@jit
def changing_layouts(a: Any) -> Any:
    """Reads of one SBUF block whose views change shape, stride, dtype and mask per iteration."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    block = nl.ndarray((2, nl.par_dim(128), 512), nl.float32, buffer=nl.sbuf)
    for b in nl.affine_range(2):
        block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.sbuf)
    for it in nl.sequential_range(8):
        width = 256 if it % 2 else 128  # shape changes, offset repeats every 4 iterations
        lo = (it % 4) // 2 * 128
        view = block[it % 2, :, lo : lo + width]
        if it == 5:
            view = block[1, :, 0:512:2]  # the same offset, other strides
        dtype = nl.bfloat16 if it % 3 == 0 else nl.float32  # result dtype changes
        part = nl.copy(view, dtype=dtype)
        _, i_f = nl.mgrid[0:128, 0 : part.shape[1]]
        masked = nl.multiply(part, 2.0, mask=(i_f < 64 + 16 * it), dtype=nl.float32)  # mask changes
        acc[:, 0 : part.shape[1]] = nisa.tensor_tensor(acc[:, 0 : part.shape[1]], masked, np.add)
    nl.store(out, value=acc)
    return out


@pytest.fixture
def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensor, "CACHE_OPERANDS", False)


def _run(timing_only: bool) -> tuple[KernelTrace, np.ndarray | None]:
    a = np.arange(256 * 512, dtype=np.float32).reshape(256, 512) / 1000
    trace = trace_kernel(changing_layouts, a, target="trn1", timing_only=timing_only)
    if timing_only:
        return trace, None
    from trnsim.nki import simulate

    return trace, np.asarray(simulate(changing_layouts, a, target="trn1"))


def _records(trace: KernelTrace) -> list[tuple[Any, ...]]:
    return [
        (i.seq, i.engine, i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in trace.instructions
    ]


@pytest.mark.parametrize("timing_only", [True, False])
def test_cached_operands_equal_fresh_ones(timing_only: bool, request: pytest.FixtureRequest) -> None:
    cached_trace, cached_values = _run(timing_only)
    request.getfixturevalue("uncached")
    fresh_trace, fresh_values = _run(timing_only)
    assert _records(cached_trace) == _records(fresh_trace)
    if not timing_only:
        assert cached_values is not None and fresh_values is not None
        np.testing.assert_array_equal(cached_values, fresh_values)


def test_the_cache_shares_operands_between_iterations() -> None:
    trace, _ = _run(True)
    copies = [i for i in trace.instructions if i.opcode == "tensor_copy"]
    assert len(copies) == 8
    # iterations 0 and 4 read block[0, :, 0:128]: one operand object; 1 and 5 differ in strides
    assert copies[0].inputs[0] is copies[4].inputs[0]
    assert copies[1].inputs[0] is not copies[5].inputs[0]
    assert copies[1].inputs[0].region != copies[5].inputs[0].region
    assert copies[5].inputs[0].inner_stride_bytes == 8


# -- instruction templates (checks passed once per layout/dtype combination) ----------------------


@jit
def matmul_changing_operands(a: Any, b: Any, bad: int) -> Any:
    """Matmuls whose operand shapes, dtypes and partitions change per iteration; ``bad`` makes the
    last iteration's operands invalid (1: bf16 stationary with fp32 moving, 2: 512-wide stationary);
    the valid last iteration has the operands of iteration 3, so it reuses that template."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    lhs = nl.load(a)  # [128, 512] fp32
    rhs = nl.load(b)  # [128, 512] fp32
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.sbuf)
    for it in nl.sequential_range(6):
        k = 128 if it % 2 == 0 else 64
        m = 128 if it < 3 else 64
        dtype = nl.bfloat16 if it in (1, 2, 4) else nl.float32
        s = nl.copy(lhs[0:k, 0:m], dtype=dtype)
        mv = nl.copy(rhs[0:k, 0:512], dtype=dtype)
        if it == 5 and bad == 1:
            s = nl.copy(lhs[0:k, 0:m], dtype=nl.bfloat16)
        if it == 5 and bad == 2:
            s = nl.copy(lhs[0:k, 0:512], dtype=dtype)
        prod = nisa.nc_matmul(s, mv)
        acc[0:m, :] = nisa.tensor_tensor(acc[0:m, :], prod, np.add)
    nl.store(out, value=acc)
    return out


def _matmul_args() -> tuple[np.ndarray, np.ndarray]:
    a = (np.arange(128 * 512, dtype=np.float32).reshape(128, 512) % 7) / 8
    b = (np.arange(128 * 512, dtype=np.float32).reshape(128, 512) % 5) / 4
    return a, b


@pytest.mark.parametrize("timing_only", [True, False])
def test_templates_give_the_same_trace_and_values(timing_only: bool, request: pytest.FixtureRequest) -> None:
    a, b = _matmul_args()
    from trnsim.nki import simulate

    cached = trace_kernel(matmul_changing_operands, a, b, 0, target="trn1", timing_only=timing_only)
    cached_values = None if timing_only else np.asarray(simulate(matmul_changing_operands, a, b, 0))
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(matmul_changing_operands, a, b, 0, target="trn1", timing_only=timing_only)
    assert _records(cached) == _records(fresh)
    assert sum(i.opcode == "nc_matmul" for i in cached.instructions) == 6
    if not timing_only:
        fresh_values = np.asarray(simulate(matmul_changing_operands, a, b, 0))
        np.testing.assert_array_equal(cached_values, fresh_values)


@pytest.mark.parametrize(
    ("bad", "message"), [(1, "fp32 matmul needs both operands fp32"), (2, "stationary free size 512")]
)
def test_a_template_does_not_hide_a_changed_invalid_operand(bad: int, message: str) -> None:
    """Earlier iterations fill the template cache; the last one's dtype or shape must still fail."""
    from trnsim.nki.errors import KernelError

    a, b = _matmul_args()
    with pytest.raises(KernelError, match=message):
        trace_kernel(matmul_changing_operands, a, b, bad, target="trn1", timing_only=True)


def test_templates_keep_a_blocked_matmul_trace_and_timeline(request: pytest.FixtureRequest) -> None:
    """Result tiles (``allocate_tile``'s template: size and spill record per buffer/shape/dtype) and
    matmul templates on a whole kernel: the same instructions, spill traffic and simulated time."""
    from trnsim.core import simulate_trace
    from trnsim.kernels import registry

    kernel = registry.get("matmul_fully_blocked")
    args = kernel.make_args({"m": 256, "k": 1024, "n": 1024}, "bfloat16")
    cached = trace_kernel(kernel.kernel, *args, target="trn1", timing_only=True)
    request.getfixturevalue("no_templates")
    fresh = trace_kernel(kernel.kernel, *args, target="trn1", timing_only=True)
    assert _records(cached) == _records(fresh)
    assert (cached.spill_save_bytes, cached.spill_reload_bytes) == (
        fresh.spill_save_bytes,
        fresh.spill_reload_bytes,
    )
    timed, reference = simulate_trace(cached, "trn1"), simulate_trace(fresh, "trn1")
    assert timed.latency_ns == reference.latency_ns
    assert timed.engine_busy_ns == reference.engine_busy_ns
    assert timed.critical_path_ns == reference.critical_path_ns


# -- operands of fresh allocations laid out alike (tensor._GEOMETRY) -------------------------------


@jit
def fresh_blocks(a: Any) -> Any:
    """Views of a new SBUF block per iteration (a blocked kernel's fresh blocks): the same offsets,
    shapes and strides in other allocations; iteration 2's block is bfloat16 (other bytes)."""
    out = nl.ndarray((128, 512), nl.float32, buffer=nl.shared_hbm)
    acc = nl.zeros((128, 512), nl.float32, buffer=nl.sbuf)
    for it in nl.sequential_range(4):
        block = nl.ndarray((2, nl.par_dim(128), 512), nl.bfloat16 if it == 2 else nl.float32, buffer=nl.sbuf)
        for b in nl.affine_range(2):
            block[b] = nl.load(a[b * 128 : (b + 1) * 128, :])
        lo = (it % 2) * 128
        part = nl.copy(block[it % 2, :, lo : lo + 256], dtype=nl.float32)
        acc[:, 0:256] = nisa.tensor_tensor(acc[:, 0:256], part, np.add)
    nl.store(out, value=acc)
    return out


@pytest.mark.parametrize("timing_only", [True, False])
def test_fresh_allocations_get_the_operands_of_fresh_views(
    timing_only: bool, request: pytest.FixtureRequest
) -> None:
    a = np.arange(256 * 512, dtype=np.float32).reshape(256, 512) / 1000
    cached = trace_kernel(fresh_blocks, a, target="trn1", timing_only=timing_only)
    request.getfixturevalue("uncached")
    fresh = trace_kernel(fresh_blocks, a, target="trn1", timing_only=timing_only)
    assert _records(cached) == _records(fresh)
    copies = [i for i in cached.instructions if i.opcode == "tensor_copy"]
    reads = [i.inputs[0] for i in copies if i.inputs[0].space == "sbuf" and i.inputs[0].shape == (128, 256)]
    assert len(reads) == 4
    # iterations 1 and 3: the same view of two allocations (fp32: 4 bytes an element; a partition
    # holds block 0's 512 elements, then block 1's)
    assert reads[1].region.alloc_id != reads[3].region.alloc_id
    assert reads[1].region[1:] == reads[3].region[1:] == (0, 128, (512 + 128) * 4, (512 + 384) * 4)
    # iterations 0 and 2: the same view, fp32 then bfloat16 (2 bytes an element)
    assert reads[0].region[1:] == (0, 128, 0, 256 * 4)
    assert reads[2].region[1:] == (0, 128, 0, 256 * 2)
    assert reads[2].nbytes == 128 * 256 * 2 and reads[2].dtype == "bfloat16"
