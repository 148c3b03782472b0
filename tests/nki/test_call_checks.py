"""Wrong arguments to the front end are refused with one KernelError line at the kernel's line.

QA found calls that ran with exit 0 although the toolchain rejects them (an unknown keyword,
``nl.affine_range(2.5)``, ``nl.program_id(5)`` without such a grid axis).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from trnsim.nki import KernelError, simulate
from trnsim.nki.kernel import Mode, launch
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl


def _line_of(func: Any, text: str) -> int:
    lines, start = inspect.getsourcelines(func.func)
    return start + next(i for i, line in enumerate(lines) if text in line)


@jit
def store_bogus(a: Any) -> Any:
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    for _ in nl.sequential_range(3):  # the first iterations teach timing-only templates the call
        nl.store(out, value=nl.load(a))
    nl.store(out, value=nl.load(a), bogus=1)
    return out


@jit
def load_bogus(a: Any) -> Any:
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.copy(nl.load(a, bogus=2)))
    return out


@pytest.mark.parametrize("mode", [Mode.VALUES, Mode.TIMING])
@pytest.mark.parametrize(("kernel", "name", "keyword", "valid"), [
    (store_bogus, "nl.store", "bogus", "dst, value, mask"),
    (load_bogus, "nl.load", "bogus", "src, mask, dtype"),
])
def test_an_unknown_keyword_is_refused(mode: Mode, kernel: Any, name: str, keyword: str, valid: str) -> None:
    """`nl.store(out, value=..., bogus=1)` ran with exit 0: the keyword was silently dropped."""
    with pytest.raises(KernelError) as info:
        launch(kernel.func, (np.ones((4, 4), np.float32),), {}, mode=mode, name="k")
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "invalid_argument", message
    assert f"{name}() got an unexpected keyword argument '{keyword}'" in message
    assert f"its arguments: {valid}" in message
    assert info.value.location == f"test_call_checks.py:{_line_of(kernel, keyword + '=')}"


def test_a_valid_call_still_runs() -> None:
    @jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.copy(nl.load(a, dtype=a.dtype), dtype=a.dtype), mask=None)
        return out

    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert np.array_equal(simulate(k, a), a)


@jit
def fractional_loop(a: Any) -> Any:
    for _ in nl.affine_range(2.5):
        nl.load(a)


@jit
def string_sequential_loop(a: Any) -> Any:
    for _ in nl.sequential_range(0, "3"):
        nl.load(a)


@jit
def program_id_5(a: Any) -> Any:
    return nl.program_id(5)


@jit
def program_id_0(a: Any) -> Any:
    return nl.program_id(0)


@jit
def arange_of_a_string(a: Any) -> Any:
    return nl.arange("x")


@pytest.mark.parametrize(("kernel", "grid", "text", "err_id"), [
    (fractional_loop, None, "nl.affine_range stop must be an integer, got 2.5 (float)", "invalid_argument"),
    (string_sequential_loop, None, "nl.sequential_range stop must be an integer, got '3'",
     "invalid_argument"),
    (program_id_5, None, "axis 5 of a launch without a grid (valid: axis 0)", "invalid_axis"),
    (program_id_5, (2, 2), "axis 5 outside the 2-D launch grid (valid: 0..1)", "invalid_axis"),
    (arange_of_a_string, None, "bound of nl.arange([start,] stop[, step]) must be an integer, got 'x'",
     "invalid_argument"),
])
def test_non_integer_counts_and_axes_beyond_the_grid_are_refused(kernel: Any, grid: Any, text: str,
                                                                 err_id: str) -> None:
    """`nl.affine_range(2.5)` ran 2 iterations, `nl.program_id(5)` without a grid returned 0 and
    `nl.arange("x")` was a ValueError from int()."""
    with pytest.raises(KernelError) as info:
        simulate(kernel if grid is None else kernel[grid], np.ones((4, 4), np.float32))
    message = str(info.value)
    assert "\n" not in message and text in message and info.value.err_id == err_id, message
    assert info.value.location.startswith("test_call_checks.py:")


def test_program_id_0_without_a_grid_is_the_one_instance() -> None:
    assert simulate(program_id_0, np.ones((4, 4), np.float32)) == 0
    for count in (3, np.int64(3)):  # integers of any kind still count iterations

        @jit
        def loop(a: Any, n: Any = count) -> Any:
            out = nl.ndarray((3, *a.shape), dtype=a.dtype, buffer=nl.shared_hbm)
            for i in nl.affine_range(n):
                nl.store(out[i], value=nl.load(a))
            return out

        assert np.array_equal(simulate(loop, np.ones((4, 4), np.float32)), np.ones((3, 4, 4), np.float32))


@jit
def two_inputs(a: Any, b: Any) -> Any:
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out


@pytest.mark.parametrize(("grid", "given"), [(0, "0"), ("x", "'x'"), ((2, -1), "-1"), (2.0, "2.0")])
def test_a_grid_that_is_no_positive_integer_is_one_line(grid: Any, given: str) -> None:
    """`k[0](x)` was `kernel 'k' at ?: IndexError: list index out of range`, `k["x"](x)` a ValueError
    traceback from make_grid."""
    x = np.ones((4, 4), np.float32)
    with pytest.raises(KernelError) as info:
        two_inputs[grid](x, x)
    line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "invalid_grid", message
    assert f"{given} is not a valid grid size" in message and "positive integer" in message
    assert info.value.location == f"test_call_checks.py:{line}" and info.value.kernel == "two_inputs"


def test_calling_a_kernel_with_arguments_it_does_not_take_names_its_def_line() -> None:
    """`k(x)` for `def k(a, b)` was `kernel 'k' at ?: TypeError: ...`."""
    x = np.ones((4, 4), np.float32)
    _, start = inspect.getsourcelines(two_inputs.func)
    for args, kwargs, why in [((x,), {}, "missing a required argument: 'b'"),
                              ((x, x, x), {}, "too many positional arguments"),
                              ((x, x), {"c": x}, "unexpected keyword argument 'c'")]:
        with pytest.raises(KernelError) as info:
            simulate(two_inputs, *args, **kwargs)
        message = str(info.value)
        assert "\n" not in message and info.value.err_id == "invalid_arguments", message
        assert "two_inputs(a, b) cannot be called with these arguments" in message and why in message
        assert info.value.location == f"test_call_checks.py:{start + 1}"  # the def, below @jit
    assert np.array_equal(two_inputs[2, 1](x, x), x)  # a valid grid and call still run


def test_a_kernel_whose_defaults_change_between_launches_is_checked_against_the_new_ones() -> None:
    """A launch remembers each kernel function's signature; a function whose defaults (or code) are
    reassigned is worked out again, so the call check and the argument names follow."""

    def optional(a: Any, b: Any = None) -> Any:
        out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        nl.store(out, value=nl.load(a if b is None else b))
        return out

    x = np.ones((4, 4), np.float32)
    assert np.array_equal(simulate(optional, x), x)
    optional.__defaults__ = None
    with pytest.raises(KernelError, match="missing a required argument: 'b'"):
        simulate(optional, x)
    assert np.array_equal(simulate(optional, x, 2 * x), 2 * x)
    assert np.array_equal(simulate(optional, x, b=3 * x), 3 * x)  # keywords still go through bind


def test_a_misspelt_name_names_its_close_match() -> None:
    """`nl.lod(a)` said only `not simulated: nl.lod`; it now names the close match trnsim has."""
    from trnsim.nki.legacy import isa as nisa

    @jit
    def typo(a: Any) -> Any:
        return nl.lod(a)  # type: ignore[attr-defined]

    with pytest.raises(KernelError) as info:
        simulate(typo, np.ones((4, 4), np.float32))
    message = str(info.value)
    assert "\n" not in message and info.value.err_id == "unknown_name", message
    assert "not simulated: nl.lod, no nki.language name trnsim knows (did you mean nl.load?)" in message
    assert info.value.location == f"test_call_checks.py:{_line_of(typo, 'nl.lod')}"
    assert not hasattr(nl, "lod") and not hasattr(nisa, "nc_matmull")  # feature checks still work
    with pytest.raises(KernelError, match=r"not simulated: nisa\.instruction_from_the_future"):
        nisa.instruction_from_the_future  # noqa: B018  (no close match: maybe an NKI name trnsim lacks)
