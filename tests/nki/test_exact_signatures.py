"""The front-end functions take exactly the arguments NKI documents; any other is the kernel's mistake.

73 public functions of the current ``nki.language`` / ``nki.isa`` (and more of the legacy modules)
took ``**kwargs``, so ``nl.exp(t, bogus=3)`` ran and printed a result. The signatures below are
transcribed from the shared NKI API reference (nki-api.md: legacy §2.2 and §2.4, current §3.4 and
§3.5, loops §1.5; ``nc_match_replace8`` from nki-semantics.md §7), not read from trnsim's code:
each documented argument must be taken (same name, order, kind and literal default) and a call with
an argument NKI does not take is refused in one line at the kernel's line naming the valid ones.

Notation: ``*`` starts keyword-only arguments; ``=?`` a default that is an enum member or a dtype
(trnsim's default means the same but is spelt ``None`` or a numpy type, so only its presence is
compared); ``*args`` a variadic function (the loop ranges).
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import numpy as np
import pytest

from trnsim.nki import KernelError, simulate
from trnsim.nki import current as nki
from trnsim.nki.current import isa as cisa
from trnsim.nki.current import language as cnl
from trnsim.nki.legacy import isa as lisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as lnl

_LEGACY_UNARY = [
    "abs", "negative", "sign", "trunc", "floor", "ceil", "exp", "log", "cos", "sin", "tan", "tanh",
    "arctan", "sqrt", "rsqrt", "reciprocal", "square", "sigmoid", "relu", "gelu", "gelu_dx",
    "gelu_apprx_tanh", "gelu_apprx_sigmoid", "silu", "silu_dx", "erf", "erf_dx", "softplus", "mish",
]
_BINARY = [
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "bitwise_and", "bitwise_or",
    "bitwise_xor", "left_shift", "right_shift",
]
_COMPARE = [
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
    "logical_xor",
]
_REDUCTIONS = ["sum", "max", "min", "mean", "prod", "all"]
_LOOPS = ("affine_range", "sequential_range", "static_range")

#: nki-api.md §2.2 (math functions: keyword-only ``dtype=None, mask=None``; comparisons ``dtype=bool``)
LEGACY_LANGUAGE: dict[str, str] = {
    **{n: "x, *, dtype=None, mask=None" for n in _LEGACY_UNARY},
    **{n: "x, y, *, dtype=None, mask=None" for n in _BINARY},
    "fmod": "x, y, dtype=None, mask=None",
    "mod": "x, y, dtype=None, mask=None",
    **{n: "x, y, *, dtype=?, mask=None" for n in _COMPARE},
    "invert": "x, *, dtype=None, mask=None",
    "logical_not": "x, *, dtype=?, mask=None",
    **{n: "x, axis, *, dtype=None, mask=None, keepdims=False" for n in (*_REDUCTIONS, "var")},
    "all_reduce": "x, op, program_axes, *, dtype=None, mask=None, parallel_reduce=True, asynchronous=False",
    "loop_reduce": "x, op, loop_indices, *, dtype=None, mask=None",
    "ndarray": "shape, dtype, *, buffer=None, name=''",
    "zeros": "shape, dtype, *, buffer=None, name=''",
    "ones": "shape, dtype, *, buffer=None, name=''",
    "full": "shape, fill_value, dtype, *, buffer=None, name=''",
    "empty_like": "a, dtype=None, *, buffer=None, name=''",
    "zeros_like": "a, dtype=None, *, buffer=None, name=''",
    "rand": "shape, dtype=?",
    "shared_constant": "constant, dtype=None",
    "shared_identity_matrix": "n, dtype=?",
    "load": "src, *, mask=None, dtype=None",
    "store": "dst, value, *, mask=None",
    "load_transpose2d": "src, *, mask=None, dtype=None",
    "copy": "src, *, mask=None, dtype=None",
    "broadcast_to": "src, *, shape",
    "atomic_rmw": "dst, value, op, *, mask=None",
    "gather_flattened": "data, indices, *, mask=None, dtype=None",
    "device_print": "prefix, x, *, mask=None",
    "random_seed": "seed, *, mask=None",
    "rms_norm": "x, w, axis, n, epsilon=1e-06, *, dtype=None, compute_dtype=None, mask=None",
    "matmul": "x, y, *, transpose_x=False, mask=None",
    "transpose": "x, *, dtype=None, mask=None",
    **{n: "*args" for n in _LOOPS},
}

#: nki-api.md §3.4 (no ``mask``; ``dtype`` not keyword-only; ``buffer`` may be positional). The
#: comparisons' default dtype is undocumented for the current API ("keep legacy rules"): ``=?``.
CURRENT_LANGUAGE: dict[str, str] = {
    **{n: "x, dtype=None" for n in _LEGACY_UNARY},
    **{n: "x, y, dtype=None" for n in (*_BINARY, "fmod", "mod")},
    **{n: "x, y, dtype=?" for n in _COMPARE},
    "invert": "x, dtype=None",
    "logical_not": "x, dtype=?",
    **{n: "x, axis, dtype=None, keepdims=False" for n in _REDUCTIONS},
    "ndarray": "shape, dtype, buffer=?, name='', address=None",
    "zeros": "shape, dtype, buffer=?, name=''",
    "ones": "shape, dtype, buffer=?, name=''",
    "rand": "shape, dtype, buffer=?, name=''",
    "full": "shape, fill_value, dtype, buffer=?, name=''",
    "zeros_like": "x, dtype=None, buffer=None, name=''",
    "empty_like": "x, dtype=None, buffer=None, name=''",
    "shared_constant": "constant",
    "shared_identity_matrix": "n, dtype=?, dst=None",
    "broadcast_to": "x, shape, dtype=None",
    "gather_flattened": "data, indices, axis=0, dtype=None",
    "device_print": "print_prefix, tensor",
    "load": "src, dtype=None",
    "store": "dst, value",
    "load_transpose2d": "src, dtype=None",
    "copy": "x, dtype=None",
    "where": "condition, x, y, dtype=None",
    "matmul": "x, y, transpose_x=False",
    "transpose": "x, dtype=None",
    "softmax": "x, axis=-1, dtype=None",
    "random_seed": "seed",
    **{n: "*args" for n in _LOOPS},
}

#: nki-api.md §2.4 ("all take ``mask=``, most ``dtype=``": where a line ends in ``...`` these two)
LEGACY_ISA: dict[str, str] = {
    "nc_matmul": "stationary, moving, *, is_stationary_onezero=False, is_moving_onezero=False, "
                 "is_transpose=False, tile_position=(), tile_size=(), mask=None",
    "nc_transpose": "data, *, mask=None, dtype=None, engine=?",
    "activation": "op, data, *, bias=None, scale=1.0, reduce_op=None, reduce_res=None, reduce_cmd=?, "
                  "mask=None, dtype=None",
    "activation_reduce": "op, data, *, reduce_op, reduce_res, bias=None, scale=1.0, mask=None, dtype=None",
    "tensor_tensor": "data1, data2, op, *, dtype=None, mask=None, engine=?",
    "tensor_scalar": "data, op0, operand0, reverse0=False, op1=None, operand1=None, reverse1=False, *, "
                     "dtype=None, mask=None, engine=?",
    "scalar_tensor_tensor": "*, data, op0, operand0, op1, operand1, reverse0=False, reverse1=False, "
                            "dtype=None, mask=None",
    "tensor_scalar_reduce": "*, data, op0, operand0, reduce_op, reduce_res, reverse0=False, dtype=None, "
                            "mask=None",
    "tensor_reduce": "op, data, axis, *, mask=None, dtype=None, negate=False, keepdims=False",
    "tensor_tensor_scan": "data0, data1, initial, op0, op1, reverse0=False, reverse1=False, *, dtype=None, "
                          "mask=None",
    "reciprocal": "data, *, dtype=None, mask=None",
    "dropout": "data, prob, *, mask=None, dtype=None",
    "tensor_copy": "src, *, mask=None, dtype=None, engine=?",
    "tensor_copy_predicated": "*, src, dst, predicate, reverse_pred=False, mask=None, dtype=None",
    "memset": "shape, value, dtype, *, mask=None, engine=?",
    "bn_stats": "data, *, mask=None, dtype=None",
    "bn_aggr": "data, *, mask=None, dtype=None",
    "nc_stream_shuffle": "src, dst, shuffle_mask, *, dtype=None, mask=None",
    "max8": "*, src, mask=None, dtype=None",
    "nc_find_index8": "*, data, vals, mask=None, dtype=None",
    "nc_match_replace8": "*, data, vals, imm, dst_idx=None, mask=None, dtype=None",
    "range_select": "*, on_true_tile, comp_op0, comp_op1, bound0, bound1, reduce_cmd=?, reduce_res=None, "
                    "reduce_op=?, range_start=0, on_false_value=?, mask=None, dtype=None",
    "select_reduce": "*, dst, predicate, on_true, on_false, reduce_res=None, reduce_cmd=?, reduce_op=?, "
                     "reverse_pred=False, mask=None, dtype=None",
    "iota": "expr, dtype, *, mask=None",
    "affine_select": "pred, on_true_tile, on_false_value, *, mask=None, dtype=None",
    "tensor_partition_reduce": "op, data, *, mask=None, dtype=None",
    "sequence_bounds": "*, segment_ids, dtype=None",
    "dma_copy": "*, dst, src, mask=None, dst_rmw_op=None, oob_mode=?, dge_mode=?",
    # documented as (src, *, axes=None, mask=None, dtype=None, **kwargs) "(kwarg dge_mode)"
    "dma_transpose": "src, *, axes=None, mask=None, dtype=None, dge_mode=?",
}

#: nki-api.md §3.5 (the rule: ``(dst, <legacy parameters>, name=None)``, and the deltas listed)
CURRENT_ISA: dict[str, str] = {
    "tensor_scalar_reduce": "dst, data, op0, operand0, reduce_op, reduce_res=None, reverse0=False, "
                            "reduce_cmd=?, reduce_init=None, reduce_res_negate=False, name=None",
    "local_gather": "dst, src_buffer, index, num_elem_per_idx=1, num_valid_indices=None, name=None",
}

#: arguments trnsim takes beyond the documented ones, each named in the reference as observed
EXTRAS = {
    ("nisa", "nc_matmul"): {"perf_mode"},  # nki-api.md §2.4: perf_mode='double_row_gen3' [O]
    ("nisa", "activation"): {"buffer"},  # nki-api.md §2.4: "undocumented buffer= kwarg"
}

MODULES = [("legacy nl", lnl, LEGACY_LANGUAGE), ("current nl", cnl, CURRENT_LANGUAGE),
           ("legacy nisa", lisa, LEGACY_ISA), ("current nisa", cisa, CURRENT_ISA)]


def _documented(text: str) -> list[tuple[str, str, Any]]:
    """``"x, *, dtype=None"`` -> [(name, kind, default)]: kind 'pos' / 'kw' / 'var'; default a
    literal, '?' (present, not compared) or the class `inspect.Parameter.empty`."""
    out: list[tuple[str, str, Any]] = []
    kind = "pos"
    for item in (p.strip() for p in text.split(",")):
        if item == "*":
            kind = "kw"
        elif item.startswith("*"):
            out.append((item[1:], "var", inspect.Parameter.empty))
        elif "=" in item:
            name, default = item.split("=", 1)
            out.append((name, kind, "?" if default == "?" else ast.literal_eval(default)))
        else:
            out.append((item, kind, inspect.Parameter.empty))
    return out


_KINDS: dict[Any, str] = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "pos", inspect.Parameter.KEYWORD_ONLY: "kw",
    inspect.Parameter.VAR_POSITIONAL: "var",
}


@pytest.mark.parametrize(("label", "module", "table"), MODULES, ids=[m[0] for m in MODULES])
def test_every_documented_argument_is_taken_as_documented(label: str, module: Any, table: dict[str, str]
                                                          ) -> None:
    prefix = "nisa" if "nisa" in label else "nl"
    for name, text in table.items():
        fn = inspect.unwrap(getattr(module, name))
        params = inspect.signature(fn).parameters
        assert not any(p.kind is p.VAR_KEYWORD for p in params.values()), f"{label}.{name} takes **kwargs"
        assert getattr(fn, "__nki_exact__", False), f"{label}.{name} is not marked __nki_exact__"
        documented = _documented(text)
        ours = [p for p in params.values() if p.name not in EXTRAS.get((prefix, name), set())]
        assert [p.name for p in ours] == [d[0] for d in documented], f"{label}.{name}{inspect.signature(fn)}"
        for p, (arg, kind, default) in zip(ours, documented, strict=True):
            assert _KINDS[p.kind] == kind, f"{label}.{name}: {arg} is {p.kind}, documented {kind}"
            if default is inspect.Parameter.empty:
                assert p.default is p.empty, f"{label}.{name}: {arg} has a default"
            elif default == "?":
                assert p.default is not p.empty, f"{label}.{name}: {arg} has no default"
            else:
                assert p.default == default and type(p.default) is type(default), f"{label}.{name}: {arg}"


def test_no_public_function_takes_unknown_keywords() -> None:
    """The defect's own listing: every public function of the four modules whose unwrapped
    signature has ``**kwargs`` (none left)."""
    found = []
    for label, module, _ in MODULES:
        for name in dir(module):
            value = getattr(module, name)
            if name.startswith("_") or isinstance(value, type) or not callable(value):
                continue
            try:
                params = inspect.signature(inspect.unwrap(value)).parameters.values()
            except (TypeError, ValueError):
                continue
            if any(p.kind is p.VAR_KEYWORD for p in params):
                found.append(f"{label}.{name}")
    assert found == []


# --- calls in kernels: the refusal, one line at the kernel's line --------------------------------------


def _line_of(func: Any, text: str) -> int:
    lines, start = inspect.getsourcelines(func)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _refused(kernel: Any, call: Any, public: str, valid: str, marker: str = "bogus=") -> None:
    with pytest.raises(KernelError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "invalid_argument", message
    assert f"{public}() got an unexpected keyword argument 'bogus'" in message, message
    assert f"(its arguments: {valid})" in message, message
    assert info.value.location == f"test_exact_signatures.py:{_line_of(kernel, marker)}", message


def _valid(text: str) -> str:
    """The names a one-line error lists for documented signature ``text``."""
    return ", ".join(("*" + n) if k == "var" else n for n, k, _ in _documented(text))


A = np.arange(16, dtype=np.float32).reshape(4, 4)

LEGACY_FAMILIES: list[tuple[str, str, Any]] = [
    ("exp", "unary", lambda t: lnl.exp(t, bogus=3)),
    ("add", "binary", lambda t: lnl.add(t, t, bogus=3)),
    ("fmod", "binary", lambda t: lnl.fmod(t, 2.0, bogus=3)),
    ("less", "comparison", lambda t: lnl.less(t, t, bogus=3)),
    ("sum", "reduction", lambda t: lnl.sum(t, axis=1, bogus=3)),
    ("zeros", "creation", lambda t: lnl.zeros((4, 4), lnl.float32, bogus=3)),
    ("full", "creation", lambda t: lnl.full((4, 4), 1.0, lnl.float32, bogus=3)),
    ("zeros_like", "creation", lambda t: lnl.zeros_like(t, bogus=3)),
    ("rand", "creation", lambda t: lnl.rand((4, 4), bogus=3)),
    ("shared_identity_matrix", "creation", lambda t: lnl.shared_identity_matrix(4, bogus=3)),
    ("broadcast_to", "view", lambda t: lnl.broadcast_to(t, shape=(4, 4), bogus=3)),
    ("gather_flattened", "gather", lambda t: lnl.gather_flattened(t, t, bogus=3)),
    ("device_print", "debug", lambda t: lnl.device_print("t", t, bogus=3)),
]


@pytest.mark.parametrize(("name", "family", "call"), LEGACY_FAMILIES, ids=[f[0] for f in LEGACY_FAMILIES])
def test_legacy_language_refuses_an_unknown_keyword(name: str, family: str, call: Any) -> None:
    @jit
    def k(a: Any) -> Any:
        t = lnl.load(a)
        call(t)  # bogus=
        return a

    with pytest.raises(KernelError) as info:
        simulate(k, A)
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "invalid_argument", message
    assert f"nl.{name}() got an unexpected keyword argument 'bogus'" in message, message
    assert f"(its arguments: {_valid(LEGACY_LANGUAGE[name])})" in message, message
    # the kernel's innermost line: the call's (the lambda's line in the table above)
    assert info.value.location == f"test_exact_signatures.py:{call.__code__.co_firstlineno}", message


@pytest.mark.parametrize("loop", _LOOPS)
def test_a_loop_range_refuses_a_keyword_without_a_wrapper(loop: str) -> None:
    """The ranges check their keywords themselves (one per loop entered: no guard frame per call)."""

    @jit
    def k(a: Any) -> Any:
        for _ in getattr(lnl, loop)(2, bogus=1):
            lnl.load(a)
        return a

    _refused(k.func, lambda: simulate(k, A), f"nl.{loop}", "*args", marker="bogus=1")
    assert not hasattr(getattr(lnl, loop), "__trnsim_guarded__")  # still no wrapper frame


def test_legacy_isa_refuses_an_unknown_keyword() -> None:
    @jit
    def k(a: Any) -> Any:
        t = lnl.load(a)
        lisa.activation(lnl.exp, t, bogus=3)
        return a

    _refused(k.func, lambda: simulate(k, A), "nisa.activation",
             _valid(LEGACY_ISA["activation"]) + ", buffer")

    @jit
    def k2(a: Any) -> Any:
        t = lnl.load(a)
        lisa.dma_transpose(t, axes=(1, 0), bogus=3)
        return a

    _refused(k2.func, lambda: simulate(k2, A), "nisa.dma_transpose", _valid(LEGACY_ISA["dma_transpose"]))


def test_current_language_refuses_an_unknown_keyword_and_the_legacy_mask() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        t = cnl.load(a)
        cnl.exp(t, bogus=3)
        return a

    _refused(k.func, lambda: nki.simulate(k)(A), "nl.exp", "x, dtype")

    @nki.jit
    def k2(a: Any) -> Any:
        t = cnl.load(a)
        cnl.sum(t, 1, mask=None)  # NKI 0.2+ has no masks
        return a

    with pytest.raises(KernelError) as info:
        nki.simulate(k2)(A)
    assert "nl.sum() got an unexpected keyword argument 'mask' (its arguments: x, axis, dtype, keepdims)" \
        in str(info.value)

    @nki.jit
    def k3(a: Any) -> Any:
        cnl.ndarray((4, 4), cnl.float32, cnl.sbuf, bogus=3)
        return a

    _refused(k3.func, lambda: nki.simulate(k3)(A), "nl.ndarray", _valid(CURRENT_LANGUAGE["ndarray"]))


def test_current_isa_refuses_an_unknown_keyword() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        t = cnl.load(a)
        r = cnl.ndarray((4, 1), cnl.float32, cnl.sbuf)
        cisa.tensor_scalar_reduce(dst=t, data=t, op0=cnl.multiply, operand0=1.0, reduce_op=cnl.add,
                                  reduce_res=r, bogus=3)
        return a

    _refused(k.func, lambda: nki.simulate(k)(A), "nisa.tensor_scalar_reduce",
             _valid(CURRENT_ISA["tensor_scalar_reduce"]), marker="cisa.tensor_scalar_reduce(")

    @nki.jit
    def k2(a: Any) -> Any:
        t = cnl.load(a)
        cisa.local_gather(t, t, t, bogus=3)
        return a

    _refused(k2.func, lambda: nki.simulate(k2)(A), "nisa.local_gather", _valid(CURRENT_ISA["local_gather"]))


# --- documented arguments trnsim takes: implemented, or the value refused --------------------------------


@pytest.mark.parametrize(("call", "text"), [
    (lambda t: cnl.ndarray((4, 4), cnl.float32, address=(0, 0)),
     "not simulated: nl.ndarray (argument address=(0, 0))"),
    (lambda t: cnl.shared_identity_matrix(4, dst=t),
     "not simulated: nl.shared_identity_matrix (argument dst="),
    (lambda t: cisa.tensor_scalar_reduce(t, t, cnl.multiply, 1.0, cnl.add, reduce_init=0.0),
     "not simulated: nisa.tensor_scalar_reduce (argument reduce_init=0.0)"),
    (lambda t: cisa.tensor_scalar_reduce(t, t, cnl.multiply, 1.0, cnl.add, reduce_res_negate=True),
     "not simulated: nisa.tensor_scalar_reduce (argument reduce_res_negate=True)"),
    (lambda t: cisa.tensor_scalar_reduce(t, t, cnl.multiply, 1.0, cnl.add,
                                         reduce_cmd=cisa.reduce_cmd.reduce),
     "not simulated: nisa.tensor_scalar_reduce (argument reduce_cmd="),
])
def test_a_documented_argument_value_trnsim_does_not_simulate_is_refused(call: Any, text: str) -> None:
    @nki.jit
    def k(a: Any) -> Any:
        t = cnl.load(a)
        call(t)
        return a

    with pytest.raises(KernelError) as info:
        nki.simulate(k)(A)
    message = str(info.value)
    assert "\n" not in message and text in message and info.value.err_id == "not_simulated", message


def test_legacy_compute_dtype_and_random_seed_mask_are_refused() -> None:
    @jit
    def k(a: Any) -> Any:
        lnl.softmax(lnl.load(a), axis=1, compute_dtype=lnl.bfloat16)
        return a

    with pytest.raises(KernelError) as info:
        simulate(k, A)
    assert "not simulated: nl.softmax (argument compute_dtype=" in str(info.value)

    @jit
    def k2(a: Any) -> Any:
        lnl.random_seed(1, mask=(lnl.arange(4)[:, None] < 2))
        return a

    with pytest.raises(KernelError) as info:
        simulate(k2, A)
    assert "not simulated: nl.random_seed (argument mask=" in str(info.value)

    @jit
    def k3(a: Any) -> Any:  # fp32 is what trnsim computes in: taken
        out = lnl.ndarray(a.shape, dtype=a.dtype, buffer=lnl.shared_hbm)
        lnl.store(out, value=lnl.softmax(lnl.load(a), axis=1, compute_dtype=lnl.float32))
        return out

    e = np.exp(A - A.max(axis=1, keepdims=True))
    np.testing.assert_allclose(simulate(k3, A), e / e.sum(axis=1, keepdims=True), rtol=1e-5)


def test_legacy_device_print_mask_and_all_reduce_asynchronous_are_refused() -> None:
    @jit
    def k(a: Any) -> Any:
        t = lnl.load(a)
        lnl.device_print("t", t, mask=(lnl.arange(4)[:, None] < 2))
        return a

    with pytest.raises(KernelError) as info:
        simulate(k, A)
    assert "not simulated: nl.device_print (argument mask=" in str(info.value)

    @jit
    def k2(a: Any) -> Any:
        t = lnl.load(a)
        lnl.all_reduce(t, np.add, [0], asynchronous=True)
        return a

    with pytest.raises(KernelError) as info:
        simulate(k2[2], A)
    assert "not simulated: nl.all_reduce (argument asynchronous=True)" in str(info.value)


def test_activation_buffer_places_its_result() -> None:
    """nki-api.md §2.4's undocumented ``buffer=`` of ``nisa.activation`` was dropped: the result is
    now in that buffer (PSUM here), with the same values."""
    seen: list[str] = []

    @jit
    def k(a: Any) -> Any:
        out = lnl.ndarray(a.shape, dtype=a.dtype, buffer=lnl.shared_hbm)
        r = lisa.activation(lnl.exp, lnl.load(a), buffer=lnl.psum)
        seen.append(r.buffer.value)
        lnl.store(out, value=lnl.copy(r))
        return out

    np.testing.assert_allclose(simulate(k, A / 16), np.exp(A / 16), rtol=1e-6)
    assert seen == ["psum"]


def test_valid_calls_with_every_documented_keyword_still_run() -> None:
    @jit
    def k(a: Any) -> Any:
        out = lnl.ndarray(a.shape, dtype=a.dtype, buffer=lnl.shared_hbm, name="out")
        t = lnl.load(a)
        e = lnl.exp(t, dtype=lnl.float32, mask=None)
        s = lnl.add(e, t, dtype=lnl.float32, mask=None)
        f = lnl.fmod(s, 3.0, lnl.float32, None)  # fmod's dtype and mask may be positional (§2.2)
        m = lnl.max(f, axis=1, dtype=lnl.float32, mask=None, keepdims=True)
        z = lnl.zeros((4, 4), lnl.float32, buffer=lnl.sbuf, name="z")
        b = lnl.broadcast_to(m, shape=(4, 4))
        lnl.store(out, value=lnl.add(z, b))
        return out

    s = np.exp(A) + A
    expect = np.broadcast_to(np.fmod(s, 3.0).max(axis=1, keepdims=True), (4, 4))
    np.testing.assert_allclose(simulate(k, A), expect, rtol=1e-6)


def test_every_transcribed_signature_parses() -> None:
    """Every table entry parses (a typo in a transcribed signature would otherwise test nothing)."""
    for _, _, table in MODULES:
        for text in table.values():
            assert all(re.fullmatch(r"\*|\*?\w+(=.+)?", p.strip()) for p in text.split(",")), text
