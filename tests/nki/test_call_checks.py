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
    for _ in nl.affine_range(3):  # the first iterations teach timing-only templates the call
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
