"""Variable-size collectives: ``all_gather_v`` and ``all_to_all_v`` (nki-semantics.md §8).

The spec gives only "run-time counts read from a metadata tensor" and the keywords
``recv_counts_known=False, has_rdispls=False``. [inferred] The rest follows MPI's
``Allgatherv`` / ``Alltoallv``, whose arguments those keywords name:

* counts and displacements are in rows of dimension 0 (slices ``t[i]``), HBM or SBUF tensors;
* the metadata tensor (any integer dtype, read flat) holds, for a group of ``n`` ranks:

  - ``all_gather_v``: ``[send_count]``, then ``recv_counts[n]`` if ``recv_counts_known``, then
    ``rdispls[n]`` if ``has_rdispls``. Rank s's first ``send_count`` rows land at row
    ``rdispls[s]`` of every member's dst;
  - ``all_to_all_v``: ``send_counts[n]``, ``sdispls[n]``, then ``recv_counts[n]`` if
    ``recv_counts_known``, then ``rdispls[n]`` if ``has_rdispls``. Rows
    ``[sdispls[j], sdispls[j] + send_counts[j])`` of rank s's src land in member j's dst at
    ``rdispls[s]``.

  Without ``has_rdispls`` the received blocks are packed in group order from row 0. Known
  receive counts must equal what the peers send (else one KernelError line). Rows of a dst
  that nothing lands on keep their data.

Timing (the chip's collective engine, :mod:`trnsim.core.collectives`): an all-gather ring moves
one block per step, so its steps are as slow as the largest block: recorded as an ``all_gather``
of ``n × largest block`` bytes. An all-to-all is bound by the rank that sends or receives the
most: recorded as an ``all_to_all`` whose per-rank traffic ``bytes·(n-1)/n`` equals that rank's
bytes to or from the others. The exact bytes are known once every member has arrived (value
mode); a timing-only run records the upper bound from the tensor sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trnsim.nki.collectives_impl import _check, _Payload, collective
from trnsim.nki.dtypes import is_int
from trnsim.nki.isa_impl import load_f32
from trnsim.nki.runtime import Simulation
from trnsim.nki.tensor import Tensor

__all__ = ["all_gather_v", "all_to_all_v"]


def _metadata(sim: Simulation, instr: str, metadata: Any, need: int) -> np.ndarray | None:
    """The metadata tensor's integers (value mode; None in a timing-only run)."""
    if not isinstance(metadata, Tensor) or not is_int(metadata.dtype):
        got = getattr(metadata, "dtype", type(metadata).__name__)
        sim.fail(instr, f"metadata_tensor must be an integer tensor, got {got}", "unsupported_operand")
    if metadata.size < need:
        sim.fail(
            instr,
            f"metadata_tensor has {metadata.size} entries; this call reads {need}",
            "collective_shape_mismatch",
        )
    if not sim.values:
        return None
    return np.asarray(metadata.read()).astype(np.int64).reshape(-1)[:need]


def _one_pair(sim: Simulation, instr: str, srcs: Sequence[Any], dsts: Sequence[Any]) -> tuple[Tensor, Tensor]:
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    if len(src_t) != 1 or len(dst_t) != 1:
        sim.fail(
            instr,
            f"takes one src and one dst, got {len(src_t)} and {len(dst_t)}",
            "collective_shape_mismatch",
        )
    src, dst = src_t[0], dst_t[0]
    if src.shape[1:] != dst.shape[1:]:
        sim.fail(
            instr,
            f"src {src.shape} and dst {dst.shape} differ beyond dimension 0 (counts are in rows of dim 0)",
            "collective_shape_mismatch",
        )
    return src, dst


def _fail_range(sim: Simulation, instr: str, what: str, start: int, count: int, rows: int) -> None:
    if count < 0 or start < 0 or start + count > rows:
        sim.fail(
            instr,
            f"{what}: rows [{start}, {start + count}) are outside 0..{rows}",
            "collective_shape_mismatch",
        )


def _packed(counts: Sequence[int]) -> list[int]:
    return [int(sum(counts[:i])) for i in range(len(counts))]


def _current(p: _Payload, sim: Simulation) -> np.ndarray:
    return np.array(load_f32(p.dsts[0], sim), copy=True)


def _check_expected(sim: Simulation, instr: str, members: list[int], j: int, expected: list[int],
                    counts: list[int]) -> None:
    """Member j's known receive counts must be what each member sends it."""
    for s, (want, sent) in enumerate(zip(expected, counts, strict=True)):
        if want != sent:
            sim.fail(
                instr,
                f"rank {members[j]} expects {want} rows from rank {members[s]}, which sends {sent}",
                "collective_count_mismatch",
            )


def _received(sim: Simulation, instr: str, members: list[int], j: int, value: Any, displs: list[int],
              rows: list[Any], dst_rows: int) -> Any:
    """Member j's dst ``value`` with each member's ``rows`` placed at its displacement (checked)."""
    for s, block in enumerate(rows):
        _fail_range(sim, instr, f"rank {members[j]} receives from rank {members[s]}", displs[s],
                    len(block), dst_rows)
        value[displs[s] : displs[s] + len(block)] = block
    return value


def all_gather_v(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    metadata: Any,
    recv_counts_known: bool = False,
    has_rdispls: bool = False,
) -> None:
    """Every member's dst gets each member's first ``send_count`` src rows at its displacement."""
    src, dst = _one_pair(sim, instr, srcs, dsts)
    n = len(group)
    need = 1 + n * (int(recv_counts_known) + int(has_rdispls))
    meta = _metadata(sim, instr, metadata, need)
    row_bytes = (src.size // max(1, src.shape[0])) * src.itemsize

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        metas = [p.extra["meta"] for p in payloads]
        counts = [int(m[0]) for m in metas]
        for s, c in enumerate(counts):
            _fail_range(sim, instr, f"rank {members[s]} sends {c} rows of its src", 0, c, src.shape[0])
        out = []
        for j, (p, m) in enumerate(zip(payloads, metas, strict=True)):
            if recv_counts_known:
                expected = [int(v) for v in m[1 : 1 + n]]
                _check_expected(sim, instr, members, j, expected, counts)
            displs = [int(v) for v in m[need - n : need]] if has_rdispls else _packed(counts)
            rows = [q.srcs[0][: counts[s]] for s, q in enumerate(payloads)]
            out.append([_received(sim, instr, members, j, _current(p, sim), displs, rows, dst.shape[0])])
        largest = max(counts) * row_bytes
        for p in payloads:
            p.attrs["bytes"] = n * largest
        return out

    collective(
        sim,
        instr,
        "all_gather",
        group,
        [src],
        [dst],
        ex,
        extra={"meta": meta},
        nbytes=n * src.size * src.itemsize,
    )


def all_to_all_v(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    metadata: Any,
    recv_counts_known: bool = False,
    has_rdispls: bool = False,
) -> None:
    """Rows ``[sdispls[j], +send_counts[j])`` of each member's src go to member j's dst."""
    src, dst = _one_pair(sim, instr, srcs, dsts)
    n = len(group)
    need = n * (2 + int(recv_counts_known) + int(has_rdispls))
    meta = _metadata(sim, instr, metadata, need)
    row_bytes = (src.size // max(1, src.shape[0])) * src.itemsize

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        metas = [p.extra["meta"] for p in payloads]
        send = [[int(v) for v in m[0:n]] for m in metas]  # send[s][j]: rows s sends to j
        sdispl = [[int(v) for v in m[n : 2 * n]] for m in metas]
        for s in range(n):
            for j in range(n):
                _fail_range(
                    sim,
                    instr,
                    f"rank {members[s]} sends to rank {members[j]}",
                    sdispl[s][j],
                    send[s][j],
                    src.shape[0],
                )
        out = []
        for j, (p, m) in enumerate(zip(payloads, metas, strict=True)):
            counts = [send[s][j] for s in range(n)]
            if recv_counts_known:
                expected = [int(v) for v in m[2 * n : 3 * n]]
                _check_expected(sim, instr, members, j, expected, counts)
            displs = [int(v) for v in m[need - n : need]] if has_rdispls else _packed(counts)
            rows = [q.srcs[0][sdispl[s][j] : sdispl[s][j] + counts[s]] for s, q in enumerate(payloads)]
            out.append([_received(sim, instr, members, j, _current(p, sim), displs, rows, dst.shape[0])])
        # the busiest rank's traffic to or from the others, as the all_to_all cost's n(p-1)/p
        busiest = max(
            max(sum(send[r]) - send[r][r], sum(send[s][r] for s in range(n)) - send[r][r]) for r in range(n)
        )
        for p in payloads:
            p.attrs["bytes"] = busiest * row_bytes * n / max(1, n - 1)
        return out

    upper = max(src.size * src.itemsize, dst.size * dst.itemsize) * n / max(1, n - 1)
    collective(
        sim,
        instr,
        "all_to_all",
        group,
        [src],
        [dst],
        ex,
        extra={"meta": meta},
        nbytes=int(upper),
    )
