"""The current (NKI 0.2+) front end: dst-first instructions, .ap(), nki.simulate, env target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.nki import KernelError
from trnsim.nki import current as nki
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import language as nl


@nki.jit
def scale_rows(a: Any, s: Any) -> Any:
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    x = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    f = nl.ndarray((a.shape[0], 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=x, src=a)
    nisa.dma_copy(dst=f, src=s)
    y = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.sbuf)
    nisa.tensor_scalar(dst=y, data=x, op0=nl.multiply, operand0=f, op1=nl.add, operand1=1.0)
    nisa.dma_copy(dst=out, src=y)
    return out


def test_dst_first_instructions() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    s = np.array([[1.0], [2.0], [3.0]], np.float32)
    np.testing.assert_array_equal(nki.simulate(scale_rows)(a, s), a * s + 1)


def test_access_pattern_reads_columns() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        out = nl.ndarray((4, 2), dtype=a.dtype, buffer=nl.shared_hbm)
        t = nl.ndarray((4, 2), dtype=a.dtype, buffer=nl.sbuf)
        # every other element of each 4-element row: [[4, 4], [2, 2]] over the [4, 4] storage
        nisa.dma_copy(dst=t, src=a.ap([[4, 4], [2, 2]], offset=1))
        nisa.dma_copy(dst=out, src=t)
        return out

    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(nki.simulate(k)(a), a[:, 1::2])


def test_matmul_accumulate_none_overwrites_then_adds() -> None:
    @nki.jit
    def k(x: Any) -> Any:
        out = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.shared_hbm)
        t = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=x)
        acc = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.psum)  # NaN-filled: first write must overwrite
        for _ in range(3):
            nisa.nc_matmul(dst=acc, stationary=t, moving=t)
        r = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_copy(dst=r, src=acc)
        nisa.dma_copy(dst=out, src=r)
        return out

    x = np.eye(4, dtype=np.float32) * 2
    np.testing.assert_array_equal(nki.simulate(k)(x), 3 * (x.T @ x))


def test_target_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    @nki.jit
    def version() -> Any:
        assert nisa.get_nc_version() == nisa.nc_version.gen4
        assert nl.tile_size.pmax == 128

    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "gen4")
    nki.simulate(version)()


def test_psum_dma_is_an_error() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        p = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.psum)
        nisa.dma_copy(dst=p, src=a)

    with pytest.raises(KernelError, match="DMA cannot write PSUM"):
        nki.simulate(k)(np.zeros((4, 4), np.float32))


def test_lnc_launch_runs_one_instance_per_core() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
        c = nl.program_id(0)
        t = nl.ndarray((1, a.shape[1]), dtype=a.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=a[c : c + 1, :])
        nisa.tensor_scalar(dst=t, data=t, op0=nl.add, operand0=float(10 * (c + 1)))
        nisa.dma_copy(dst=out[c : c + 1, :], src=t)
        return out

    a = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(nki.simulate(k[2])(a)[:, 0], [10.0, 20.0])
    from trnsim.nki import trace_kernel

    trace = trace_kernel(k[2], a)
    assert trace.num_cores == 2 and {i.core for i in trace.instructions} == {0, 1}


def test_on_chip_access_pattern_rules() -> None:
    @nki.jit
    def k(a: Any) -> Any:
        t = nl.ndarray((4, 8), dtype=nl.float32, buffer=nl.sbuf)
        nisa.dma_copy(dst=t, src=a)
        u = nl.ndarray((4, 4), dtype=nl.float32, buffer=nl.sbuf)
        nisa.tensor_copy(dst=u, src=t.ap([[4, 4], [1, 4]]))  # partition step 4, not 8

    with pytest.raises(KernelError, match="its step must be 8"):
        nki.simulate(k)(np.zeros((4, 8), np.float32))
