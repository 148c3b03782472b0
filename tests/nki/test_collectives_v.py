"""Variable-size collectives (``all_gather_v``, ``all_to_all_v``): errors, and the bytes their
records give the chip's collective engine (trnsim.nki.collectives_v's docstring: a ring
all-gather is as slow as its largest block, an all-to-all as its busiest rank).

Values are checked by the pattern kernel ``corpus_patterns/collectives_variable_counts.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trnsim.core import simulate_trace
from trnsim.core.collectives import CollectiveCostModel
from trnsim.hardware.neuroncore_timing import load_timing
from trnsim.nki import KernelError, trace_kernel
from trnsim.nki.current import collectives as ncc
from trnsim.nki.current import isa as nisa
from trnsim.nki.current import jit
from trnsim.nki.current import language as nl
from trnsim.nki.trace import Engine

R, COLS = 4, 64  # fp32 rows of 256 bytes


@jit
def gather_v(x: Any, meta: Any) -> Any:
    out = nl.ndarray((R, 16, COLS), dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    src = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=src, src=x[r])
    dst = nl.ndarray((16, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    ncc.all_gather_v([src], [dst], [list(range(R))], meta[r], recv_counts_known=True)
    nisa.dma_copy(dst=out[r], src=dst)
    return out


@jit
def to_all_v(x: Any, meta: Any) -> Any:
    out = nl.ndarray((R, 16, COLS), dtype=x.dtype, buffer=nl.shared_hbm)
    r = ncc.rank_id()
    src = nl.ndarray(x.shape[1:], dtype=x.dtype, buffer=nl.private_hbm)
    nisa.dma_copy(dst=src, src=x[r])
    dst = nl.ndarray((16, COLS), dtype=x.dtype, buffer=nl.private_hbm)
    ncc.all_to_all_v([src], [dst], [list(range(R))], meta[r])
    nisa.dma_copy(dst=out[r], src=dst)
    return out


def _records(trace: Any) -> list[Any]:
    return [i for i in trace.instructions if i.engine == Engine.COLLECTIVE]


COUNTS = [1, 4, 2, 3]


def _gather_meta(known: list[int]) -> np.ndarray:
    return np.array([[c, *known] for c in COUNTS], np.int32)


def test_all_gather_v_records_the_largest_block_per_ring_step() -> None:
    x = np.zeros((R, 8, COLS), np.float32)
    trace = trace_kernel(gather_v[R], x, _gather_meta(COUNTS), target="trn2", timing_only=False)
    records = _records(trace)
    assert len(records) == R
    # largest block 4 rows x 256 B, n = 4 ranks: an all_gather of 4 x 1024 bytes
    assert {(i.attrs["collective"], i.attrs["bytes"]) for i in records} == {("all_gather", 4 * 4 * 256)}
    result = simulate_trace(trace, "trn2")
    model = CollectiveCostModel(load_timing("trn2"))
    # each ring step is one 1 KiB block: 3 x (alpha + 1024 / B)
    collective_ns = [s.end_ns - s.start_ns for s in result.instructions if s.track == "collective"]
    want = 3 * (model.alpha_ns + 1024 / model.bytes_per_ns)
    assert collective_ns == pytest.approx([want] * R)


def test_all_to_all_v_records_the_busiest_rank() -> None:
    # rows s sends to j; rank 1 sends 6 rows to the others and receives 1 + 0 + 3 = 4: busiest = 6
    send = np.array([[0, 1, 1, 0], [2, 1, 2, 2], [0, 0, 1, 1], [1, 3, 0, 0]])
    sdispl = np.array([[0, 0, 1, 2], [0, 2, 3, 5], [0, 0, 0, 1], [0, 1, 4, 4]])
    meta = np.array([[*send[s], *sdispl[s]] for s in range(R)], np.int32)
    x = np.arange(R * 8 * COLS, dtype=np.float32).reshape(R, 8, COLS)
    trace = trace_kernel(to_all_v[R], x, meta, target="trn2", timing_only=False)
    nbytes = [i.attrs["bytes"] for i in _records(trace)]
    assert nbytes == pytest.approx([6 * 256 * R / (R - 1)] * R)
    model = CollectiveCostModel(load_timing("trn2"))
    # (p - 1) alpha + busiest bytes / B
    assert model.time_ns("all_to_all", R, nbytes[0]) == pytest.approx(
        3 * model.alpha_ns + 6 * 256 / model.bytes_per_ns
    )


def test_known_receive_counts_that_disagree_are_one_error_line() -> None:
    x = np.zeros((R, 8, COLS), np.float32)
    with pytest.raises(KernelError) as info:
        trace_kernel(gather_v[R], x, _gather_meta([1, 4, 2, 2]), target="trn2", timing_only=False)
    message = str(info.value)
    assert "\n" not in message
    assert "expects 2 rows from rank 3, which sends 3 [collective_count_mismatch]" in message


def test_rows_outside_the_src_are_one_error_line() -> None:
    x = np.zeros((R, 2, COLS), np.float32)  # rank 1 sends 4 rows of a 2-row src
    with pytest.raises(KernelError, match=r"rank 1 sends 4 rows of its src: rows \[0, 4\) are outside 0..2"):
        trace_kernel(gather_v[R], x, _gather_meta(COUNTS), target="trn2", timing_only=False)


def test_metadata_must_be_integers() -> None:
    x = np.zeros((R, 8, COLS), np.float32)
    with pytest.raises(KernelError, match="metadata_tensor must be an integer tensor, got float32"):
        trace_kernel(
            gather_v[R], x, _gather_meta(COUNTS).astype(np.float32), target="trn2", timing_only=False
        )
