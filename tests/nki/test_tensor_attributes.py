"""A name a tile lacks: ``not simulated: tensor.<name>`` at the kernel's line, made by the launch.

Tensor has no ``__getattr__`` hook (CPython specialises attribute reads only on classes without one,
and the simulator reads tile attributes several times per instruction): the AttributeError a kernel
raises reading a missing public name becomes the one-line error where the launch catches it,
located at the innermost kernel frame, as the hook located it; feature checks (``hasattr``,
``getattr`` with a default) inside a kernel still see a missing name and go on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.nki.errors import KernelError
from trnsim.nki.guard import NotSimulatedError
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl
from trnsim.nki.tensor import Tensor


def _line_of(text: str) -> int:
    """The line of this file holding ``text`` (where the kernels below raise)."""
    with open(__file__, encoding="utf-8") as f:
        return next(n for n, line in enumerate(f, 1) if text in line and "_line_of" not in line)


def _read_missing(t: Any) -> Any:
    return t.method_in_a_helper  # raised here, one frame below the kernel


@jit
def feature_checks(a: Any) -> Any:
    """hasattr/getattr see a missing name; the kernel goes on and stores its tile."""
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    t = nl.load(a)
    if hasattr(t, "future_method") or getattr(t, "future_attr", None) is not None:
        raise AssertionError("a missing name was found")
    nl.store(out, value=t)
    return out


@jit
def calls_missing(a: Any) -> Any:
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a).future_method())  # the kernel's line
    return out


@jit
def helper_reads_missing(a: Any) -> Any:
    _read_missing(nl.load(a))
    return a


@jit
def reads_private(a: Any) -> Any:
    nl.load(a)._not_a_tile_attribute  # noqa: B018 (the read itself is the test)
    return a


def test_tensor_has_no_getattr_hook() -> None:
    assert "__getattr__" not in vars(Tensor)


def test_feature_checks_see_a_missing_name() -> None:
    a = np.arange(128 * 4, dtype=np.float32).reshape(128, 4)
    np.testing.assert_array_equal(feature_checks(a), a)


def test_missing_public_name_is_not_simulated_at_the_kernel_line() -> None:
    with pytest.raises(NotSimulatedError) as info:
        calls_missing(np.ones((128, 4), np.float32))
    line = _line_of("future_method())  # the kernel's line")
    assert str(info.value) == (
        f"kernel 'calls_missing' at test_tensor_attributes.py:{line}: not simulated: tensor.future_method"
        " [not_simulated]"
    )
    assert isinstance(info.value, AttributeError)


def test_missing_name_in_a_helper_is_located_in_the_helper() -> None:
    with pytest.raises(NotSimulatedError) as info:
        helper_reads_missing(np.ones((128, 4), np.float32))
    line = _line_of("return t.method_in_a_helper")
    assert f"at test_tensor_attributes.py:{line}: not simulated: tensor.method_in_a_helper" in str(info.value)


def test_missing_private_name_is_an_internal_error_line() -> None:
    with pytest.raises(KernelError) as info:
        reads_private(np.ones((128, 4), np.float32))
    line = _line_of("._not_a_tile_attribute")
    assert str(info.value) == (
        f"kernel 'reads_private' at test_tensor_attributes.py:{line}: AttributeError: _not_a_tile_attribute"
        " [invalid_kernel]"
    )
    assert not isinstance(info.value, NotSimulatedError)
