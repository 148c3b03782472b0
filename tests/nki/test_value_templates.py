"""Value mode's fast paths give the checked path's bits.

* ``widen_bf16`` (a 16-bit shift) is ml_dtypes' bfloat16 -> fp32 cast for every bit pattern, and
  ``narrow_bf16`` (integer rounding on the bits) its fp32 -> bfloat16 cast around every boundary;
* the in-place bfloat16 matmul (``tensor_engine._InPlace``) stores what the generic write of the
  ``astype`` product stores;
* value-mode call templates (``nl.load`` copies, ``nisa.nc_matmul`` products; trnsim.nki.templates)
  replay, and outputs and traces are the same with templates on and off, also when an operand's
  layout changes between calls of one call site.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest

from trnsim.kernels import registry
from trnsim.nki import dtypes, simulate, templates, tensor, trace_kernel
from trnsim.nki.engines import tensor_engine
from trnsim.nki.engines.bf16_matmul import (
    multiply_bf16,
    multiply_bf16_bits,
    narrow_bf16,
    narrow_bf16_into,
    widen_bf16,
)
from trnsim.nki.engines.execute import to_dtype
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def _bits(x: Any) -> bytes:
    return bytes(np.ascontiguousarray(np.asarray(x)).view(np.uint8))


def test_widen_bf16_is_ml_dtypes_cast_for_every_bit_pattern() -> None:
    every = np.arange(1 << 16, dtype=np.uint16).view(ml_dtypes.bfloat16).reshape(256, 256)
    for view in (every, every[::3, 1::2], every.T):
        expected = view.astype(np.float32)
        got = widen_bf16(view)
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
        assert got.flags.c_contiguous == expected.flags.c_contiguous


def test_multiply_bf16_bits_widens_as_ml_dtypes_and_reuses_its_scratch() -> None:
    """The product of operands given as bits (value mode's matmul replay) is the fp32 matmul of
    ml_dtypes' widened operands, bit for bit, for every bfloat16 pattern as an operand element
    (NaN payloads, infinities, subnormals), in strided row slices too; and the kept scratch is
    widened afresh at each call (a second call with other operands of the same shapes)."""
    every = np.arange(1 << 16, dtype=np.uint16)
    rng = np.random.default_rng(7)
    scratch: dict[Any, Any] = {}
    for _ in range(2):
        perm = rng.permutation(every)
        s_bits = perm[: 128 * 128].reshape(128, 128)
        wide = np.concatenate([perm, perm[: 128 * 512 * 2 - perm.size]]).reshape(128, 1024)
        for mv_bits in (wide[:, :512], np.ascontiguousarray(wide[:, 512:])):
            s = s_bits.view(ml_dtypes.bfloat16)
            mv = mv_bits.view(ml_dtypes.bfloat16)
            with np.errstate(invalid="ignore", over="ignore"):
                expected = np.matmul(s.astype(np.float32).T, mv.astype(np.float32))
                got = np.empty((128, 512), np.float32)
                multiply_bf16_bits(scratch, s_bits, mv_bits, got)
                via_bf16 = np.empty((128, 512), np.float32)
                multiply_bf16(scratch, s, mv, via_bf16)
            assert _bits(got) == _bits(expected) == _bits(via_bf16)
    assert len(scratch) == 1  # one scratch per operand shapes, reused


def test_narrow_bf16_is_ml_dtypes_cast_around_every_rounding_boundary() -> None:
    """Every bfloat16 pattern as the top half, with the low halves that decide the rounding: exact,
    the smallest and largest below the halfway point, halfway (ties to even), just above it, the
    largest; NaN payloads, infinities, subnormals and the carry into the exponent all occur."""
    high = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    low = np.array([0, 1, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFF], dtype=np.uint32)
    bits = (high[:, None] | low[None, :]).reshape(512, -1)
    every = bits.view(np.float32)
    with np.errstate(invalid="ignore"):  # ml_dtypes warns on NaN
        for view in (every, every[::3, 1::2], every.T, every[5, 7]):
            expected = np.asarray(view).astype(ml_dtypes.bfloat16)
            got = narrow_bf16(np.asarray(view))
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert np.array_equal(got.view(np.uint16), expected.view(np.uint16))
        big = every[:64]  # through to_dtype (its threshold) as value-mode writes call it
        assert np.array_equal(
            to_dtype(big, np.dtype(ml_dtypes.bfloat16)).view(np.uint16),
            big.astype(ml_dtypes.bfloat16).view(np.uint16),
        )


def test_narrow_bf16_into_stores_ml_dtypes_cast_and_reuses_its_scratch() -> None:
    """``narrow_bf16_into`` (value mode's fp32 -> bfloat16 store into a whole view) writes ml_dtypes'
    bits for every bfloat16 pattern as the top half with the low halves around each rounding
    boundary (NaN payloads of both signs, infinities, subnormals, ties to even, the carry into the
    exponent), into contiguous and strided destinations, from strided inputs; its kept temporaries
    (one pair per shape) are recomputed at every call: a second call of the same shape with other
    values, and calls of other shapes, store their own bits."""
    high = np.arange(1 << 16, dtype=np.uint32) << np.uint32(16)
    low = np.array([0, 1, 0x7FFE, 0x7FFF, 0x8000, 0x8001, 0xFFFF], dtype=np.uint32)
    every = (high[:, None] | low[None, :]).reshape(512, -1).view(np.float32)
    rng = np.random.default_rng(11)
    scratch: dict[Any, Any] = {}
    finite = rng.standard_normal((512, 896)).astype(np.float32)  # no NaN: the mask is cleared too
    with np.errstate(invalid="ignore"):  # ml_dtypes warns on NaN
        for values in (every, finite, every[rng.permutation(512)], every[::3, 1::2], every.T, every[:64]):
            expected = values.astype(ml_dtypes.bfloat16).view(np.uint16)
            dst = np.full(values.shape, 0x1234, np.uint16)
            narrow_bf16_into(scratch, values, dst)
            assert np.array_equal(dst, expected)
            wide = np.full((values.shape[0], 2 * values.shape[1]), 0x1234, np.uint16)
            narrow_bf16_into(scratch, values, wide[:, 1::2])  # a strided destination view
            assert np.array_equal(wide[:, 1::2], expected)
            assert (wide[:, ::2] == 0x1234).all()  # nothing written beside it
    assert sorted(k[1] for k in scratch) == sorted({(512, 896), (896, 512), (171, 448), (64, 896)})


@pytest.mark.parametrize(
    ("buffer", "name"),
    [("sbuf", name) for name in ("float32", "bfloat16", "float16", "int32", "int8", "float8_e4m3")]
    + [("psum", name) for name in ("float32", "bfloat16")],  # (PSUM tiles are fp32 / bf16)
)
def test_filled_tensors_are_filled_whole_in_value_mode(buffer: str, name: str) -> None:
    """``nl.zeros`` / ``nl.full`` skip the uninitialised-memory fill of their storage in value mode
    (the memset or store writes every element): tiles and block tensors hold the fill everywhere,
    and a PSUM accumulator made by ``nl.zeros`` starts its accumulation group as an uninitialised
    tile does (the products of a K loop added onto zeros)."""
    dt = dtypes._BY_NAME[name]
    buf = nl.psum if buffer == "psum" else nl.sbuf

    @jit
    def filled(a: Any) -> Any:
        out = nl.ndarray((4, 128, 96), dtype=dt, buffer=nl.shared_hbm)
        z = nl.zeros((128, 96), dtype=dt, buffer=buf)
        f = nl.full((128, 96), 3, dtype=dt, buffer=buf)
        blocks = nl.zeros((2, nl.par_dim(128), 96), dtype=dt, buffer=buf)
        nl.store(out[0], value=nl.copy(z, dtype=dt))
        nl.store(out[1], value=nl.copy(f, dtype=dt))
        nl.store(out[2], value=nl.copy(blocks[0], dtype=dt))
        nl.store(out[3], value=nl.copy(blocks[1], dtype=dt))
        return out

    got = np.asarray(simulate(filled, np.zeros((1, 1), np.float32), target="trn2")).astype(np.float64)
    assert (got[0] == 0).all() and (got[1] == 3).all() and (got[2:] == 0).all()

    @jit
    def accumulate(lhsT: Any, rhs: Any) -> Any:
        out = nl.ndarray((128, 256), dtype=nl.float32, buffer=nl.shared_hbm)
        acc = nl.zeros((128, 256), dtype=nl.float32, buffer=nl.psum)
        for k in nl.affine_range(2):
            a = nl.load(lhsT[k * 128 : (k + 1) * 128, :])
            acc += nisa.nc_matmul(a, nl.load(rhs[k * 128 : (k + 1) * 128, :]))
        nl.store(out, value=nl.copy(acc, dtype=nl.float32))
        return out

    if buffer == "psum" and name == "float32":
        rng = np.random.default_rng(5)
        lhsT = rng.standard_normal((256, 128)).astype(np.float32)
        rhs = rng.standard_normal((256, 256)).astype(np.float32)
        got = np.asarray(simulate(accumulate, lhsT, rhs, target="trn2"))
        np.testing.assert_allclose(got, lhsT.T @ rhs, rtol=1e-4, atol=1e-3)


def _tiled_args(dtype: str) -> tuple[Any, ...]:
    shape = {"m": 256, "k": 512, "n": 1024}
    return registry.get("matmul_tiled").make_args(shape, dtype, np.random.default_rng(3))


def test_in_place_bf16_matmul_stores_the_generic_paths_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = registry.get("matmul_tiled").kernel
    args = _tiled_args("bfloat16")
    fast = simulate(kernel, *args, target="trn2")
    monkeypatch.setattr(tensor_engine, "plain_bf16", lambda t: False)  # the astype + write path
    monkeypatch.setattr(templates, "_KEPT", {})  # (the first launch's templates: not replayed)
    generic = simulate(kernel, *args, target="trn2")
    assert _bits(fast) == _bits(generic)


def _count(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Counts calls of ``templates.<name>`` (the wrapper is compiled as part of trnsim.nki, so that
    the recorded source lines skip its frame as they skip the replay's)."""
    count = [0]
    scope: dict[str, Any] = {"count": count, "original": getattr(templates, name)}
    source = "def counted(*args):\n    count[0] += 1\n    return original(*args)\n"
    exec(compile(source, templates.__file__, "exec"), scope)
    monkeypatch.setattr(templates, name, scope["counted"])
    return count


@pytest.mark.parametrize("name", ["matmul_tiled", "matmul_hoisted", "matmul_fully_blocked"])
def test_value_templates_replay_and_change_nothing(
    name: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    entry = registry.get(name)
    args = entry.make_args({"m": 256, "k": 512, "n": 1024}, "bfloat16", np.random.default_rng(5))
    copies = _count(monkeypatch, "_replay_copy")
    products = _count(monkeypatch, "_replay_matmul")
    cached_out = simulate(entry.kernel, *args, target="trn2")
    cached = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    if name == "matmul_tiled":
        assert copies[0] > 0 and products[0] > 0
    request.getfixturevalue("no_templates")
    fresh_out = simulate(entry.kernel, *args, target="trn2")
    fresh = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    assert _bits(cached_out) == _bits(fresh_out)
    assert [(i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in cached.instructions] == [
        (i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in fresh.instructions
    ]


def test_value_templates_replay_strided_operands_of_attention(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Flash attention multiplies row slices of wider SBUF tiles (a K block's columns, P's
    transposed chunks): widened, their values are C-contiguous, so the matmul template replays
    them too; outputs and traces are those of the checked path."""
    entry = registry.get("flash_attention_fwd")
    shape = {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 64, "causal": 1}
    args = entry.make_args(shape, "bfloat16", np.random.default_rng(9))
    products = _count(monkeypatch, "_replay_matmul")
    cached_out = simulate(entry.kernel, *args, target="trn2")
    cached = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    assert products[0] > 0
    request.getfixturevalue("no_templates")
    fresh_out = simulate(entry.kernel, *args, target="trn2")
    fresh = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    assert [_bits(x) for x in cached_out] == [_bits(x) for x in fresh_out]  # (output, log-sum-exp)
    assert [(i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in cached.instructions] == [
        (i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in fresh.instructions
    ]


@pytest.mark.parametrize("name", ["matmul_tiled", "flash_attention_fwd"])
def test_written_out_value_replays_and_fast_accumulation_change_nothing(
    name: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Value-mode templates written out at once (``SPECIALISE_AFTER = 0``: their loads and
    products replay through :func:`templates._specialise`'s replay, with deferred output operands,
    reading their inputs through ``_plain_values``, checked against ``Tensor.read``) give the bits
    and the trace of the checked path, whose ``acc += nc_matmul(...)`` goes through ``_retarget``
    (the operand cache off: no kept operand for _iadd's written-out case)."""
    entry = registry.get(name)
    shape = ({"m": 256, "k": 512, "n": 1024} if name == "matmul_tiled" else
             {"batch": 1, "heads": 2, "kv_heads": 1, "seq_q": 512, "seq_k": 512, "head_dim": 64, "causal": 1})
    args = entry.make_args(shape, "bfloat16", np.random.default_rng(11))
    monkeypatch.setattr(templates, "SPECIALISE_AFTER", 0)
    written = _count(monkeypatch, "_specialise")
    plain_values = templates._plain_values
    read = [0]

    def checked_values(t: Any, dtype: Any = None) -> np.ndarray:
        # the replay's view of an input is Tensor.read()'s (its bits as ``dtype`` where one is
        # asked for: the matmul's operands as uint16): same shape, strides and bits
        values, expected = plain_values(t, dtype), t.read()
        if dtype is not None:
            expected = expected.view(dtype)
        assert values.shape == expected.shape and values.strides == expected.strides
        assert values.dtype == expected.dtype and _bits(values) == _bits(expected)
        read[0] += 1
        return values

    monkeypatch.setattr(templates, "_plain_values", checked_values)
    products = _count(monkeypatch, "_replay_matmul")
    cached_out = simulate(entry.kernel, *args, target="trn2")
    cached = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    assert written[0] > 0 and products[0] > 0 and read[0] > 0
    request.getfixturevalue("no_templates")
    monkeypatch.setattr(tensor, "CACHE_OPERANDS", False)
    fresh_out = simulate(entry.kernel, *args, target="trn2")
    fresh = trace_kernel(entry.kernel, *args, target="trn2", timing_only=False)
    if name == "matmul_tiled":
        cached_out, fresh_out = (cached_out,), (fresh_out,)
    assert [_bits(x) for x in cached_out] == [_bits(x) for x in fresh_out]  # (flash: output, log-sum-exp)
    assert [(i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in cached.instructions] == [
        (i.opcode, i.inputs, i.outputs, i.source_line, i.attrs) for i in fresh.instructions
    ]


@jit
def _layouts(a: Any, b: Any) -> Any:
    """One matmul call site fed a contiguous stationary tile, then strided views of one SBUF block
    (the template key is the same for both second-iteration views; their values' layout is not)."""
    out = nl.ndarray((128, 128), dtype=nl.float32, buffer=nl.shared_hbm)
    block = nl.load(a)  # [128, 256]
    rhs = nl.load(b)  # [128, 128]
    acc = nl.zeros((128, 128), dtype=nl.float32, buffer=nl.psum)
    for i in nl.affine_range(2):
        acc += nisa.nc_matmul(block[:, i * 128 : (i + 1) * 128], rhs)
    for i in nl.affine_range(2):
        acc += nisa.nc_matmul(block[:, i : i + 255 : 2], rhs)
    nl.store(out, value=nl.copy(acc, dtype=nl.float32))
    return out


def test_value_templates_follow_operand_layouts(request: pytest.FixtureRequest) -> None:
    rng = np.random.default_rng(7)
    a = rng.standard_normal((128, 256)).astype(ml_dtypes.bfloat16)
    b = rng.standard_normal((128, 128)).astype(ml_dtypes.bfloat16)
    cached = simulate(_layouts, a, b, target="trn2")
    request.getfixturevalue("no_templates")
    fresh = simulate(_layouts, a, b, target="trn2")
    assert _bits(cached) == _bits(fresh)
    wide = a.astype(np.float32)
    expected = sum(
        (wide[:, sl].T @ b.astype(np.float32) for sl in (slice(0, 128), slice(128, 256), slice(0, 255, 2),
                                                          slice(1, 256, 2))),
        np.zeros((128, 128), np.float32),
    )
    np.testing.assert_allclose(cached, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", sorted(dtypes._BY_NAME))
def test_a_constant_rounds_once_as_each_of_its_broadcast_elements(name: str) -> None:
    """``execute.write`` rounds a constant result (memset, ``nl.zeros``) to the destination dtype
    once and stores it everywhere: ``to_dtype`` of the 0-d value has the bits of ``to_dtype`` of
    the broadcast array it used to round (each element alike, past the narrowing size threshold)."""
    dt = dtypes._BY_NAME[name]
    constants: list[Any] = [0, 0.0, -0.0, True]
    if not dt.names:  # (packed x4 tiles take 0 only)
        constants += [1, -1, 3, 255, -129, 70000, 2**31, 1.5, -2.5, 0.1, 3.14159, 1e-40, 1e10, -1e10,
                      float("inf"), float("-inf"), float("nan"), -float("nan"), np.float32(0.3),
                      np.float32(np.nan), np.int64(-7)]
    for value in constants:
        once = to_dtype(np.asarray(value), dt)
        assert np.asarray(once).shape == ()
        each = to_dtype(np.broadcast_to(np.asarray(value), (128, 64)), dt)
        assert _bits(np.broadcast_to(once, (128, 64))) == _bits(each), value
