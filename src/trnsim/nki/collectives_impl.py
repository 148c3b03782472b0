"""Collectives between the ranks of an SPMD launch, written once for both front ends.

nki-semantics.md §8: every call is matched by issue order within its group and blocks until
every member has arrived (:mod:`trnsim.nki.spmd`); reductions are computed in fp32 and cast to
the destination dtype; the group list order is the ring order. Each rank records one
``Engine.COLLECTIVE`` instruction whose ``attrs`` the chip model reads:

* ``collective`` — all_reduce, all_gather, reduce_scatter, all_to_all, permute, barrier;
* ``group`` — the member ranks; ``meeting`` — ``"<group>#<n>"``, the same on every member;
* ``bytes`` — the rank's buffer size (the full, unsharded buffer for reduce_scatter/all_gather).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trnsim.nki import runtime
from trnsim.nki.alu import op_name
from trnsim.nki.isa_impl import load_f32, write
from trnsim.nki.runtime import Buffer, Simulation
from trnsim.nki.spmd import Arrival, World, current_world
from trnsim.nki.tensor import Tensor
from trnsim.nki.trace import Engine

__all__ = [
    "all_gather",
    "all_reduce",
    "all_to_all",
    "barrier",
    "collective",
    "flat_group",
    "permute",
    "program_axes_group",
    "rank_id",
    "reduce_fn",
    "reduce_scatter",
    "ring_permute",
    "sendrecv",
]

_REDUCE: dict[str, Callable[[Any, Any], Any]] = {
    "add": np.add,
    "sum": np.add,
    "maximum": np.maximum,
    "max": np.maximum,
    "minimum": np.minimum,
    "min": np.minimum,
    "multiply": np.multiply,
}


@dataclass
class _Payload:
    srcs: list[Any]
    dsts: list[Tensor]
    extra: dict[str, Any]
    #: the rank's recorded instruction attributes (an exchange may refine ``bytes``)
    attrs: dict[str, Any] = field(default_factory=dict)


def reduce_fn(sim: Simulation, instr: str, op: Any) -> Callable[[Any, Any], Any]:
    """The numpy reduction for a collective's ``op`` (``nl.add``, ``np.maximum``...)."""
    name = op_name(op)
    fn = _REDUCE.get(str(name))
    if fn is None:
        sim.fail(
            instr,
            f"collective op {op!r} is not supported (valid: nl.add, nl.minimum, nl.maximum)",
            "unsupported_collective_op",
        )
    return fn


def world_of(sim: Simulation, instr: str) -> World:
    """The SPMD world of this launch; a one-rank launch fails ``instr`` in one line."""
    world = current_world()
    if world is None:
        sim.fail(
            instr,
            f"{instr} needs a multi-rank SPMD launch (kernel[n](...)); this launch has one rank",
            "collective_without_ranks",
        )
    return world


def rank_id() -> int:
    """This rank's id: the row-major index of its grid point (0 in a one-rank launch)."""
    world = current_world()
    return 0 if world is None else world.rank()


def flat_group(sim: Simulation, instr: str, groups: Any, rank: int) -> tuple[int, ...]:
    """The member list containing ``rank`` from a replica-group spec (list, list of lists, object)."""
    value = groups
    for attribute in ("replica_groups", "groups", "group", "value"):
        if hasattr(value, attribute) and not isinstance(value, (list, tuple)):
            value = getattr(value, attribute)
    try:
        lists = (
            [list(value)] if value and not isinstance(value[0], (list, tuple)) else [list(g) for g in value]
        )
        lists = [[int(r) for r in g] for g in lists]
    except (TypeError, ValueError, IndexError):
        sim.fail(
            instr,
            f"replica group {groups!r} must be a list of rank lists, e.g. [[0, 1, 2, 3]]",
            "invalid_replica_group",
        )
    for group in lists:
        if rank in group:
            if len(set(group)) != len(group):
                sim.fail(instr, f"replica group {group} repeats a rank", "invalid_replica_group")
            return tuple(group)
    sim.fail(instr, f"rank {rank} is in none of the replica groups {lists}", "invalid_replica_group")


def program_axes_group(world: World, rank: int, axes: Sequence[int]) -> tuple[int, ...]:
    """Ranks whose program ids differ from ``rank``'s only along ``axes`` (legacy nl.all_reduce)."""
    pid = world.points[rank][0]
    keep = [d for d in range(len(pid)) if d not in set(axes)]
    return tuple(r for r, (other, _) in enumerate(world.points) if all(other[d] == pid[d] for d in keep))


def _check(sim: Simulation, instr: str, tensors: Sequence[Any], label: str) -> list[Tensor]:
    out = []
    for t in tensors:
        if not isinstance(t, Tensor):
            sim.fail(instr, f"{label} must be tensors, got {type(t).__name__}", "unsupported_operand")
        if t.buffer is Buffer.PSUM:
            sim.fail(instr, f"{label} {t.label} is in psum (valid: hbm, sbuf)", "unsupported_memory")
        out.append(t)
    return out


def collective(
    sim: Simulation,
    instr: str,
    kind: str,
    group: tuple[int, ...],
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    exchange: Callable[[list[_Payload], list[int]], list[list[Any]]],
    *,
    extra: dict[str, Any] | None = None,
    nbytes: int | None = None,
) -> None:
    """Meet the other members of ``group``; write each member's ``dsts`` with ``exchange``'s results.

    ``exchange(payloads, group)`` gets every member's payload in group order and returns, per
    member in the same order, the fp32 values of each of its ``dsts``.
    """
    world = world_of(sim, instr)
    rank = world.rank()
    src_t = _check(sim, instr, srcs, "srcs")
    dst_t = _check(sim, instr, dsts, "dsts")
    key = world.provisional_id(group, rank)
    size = nbytes if nbytes is not None else sum(t.size * t.itemsize for t in src_t)
    attrs: dict[str, Any] = {
        "collective": kind,
        "group": group,
        "meeting": f"{list(key[0])}#{key[1]}",
        "bytes": int(size),
        "api": instr,
    }
    sim.record(
        Engine.COLLECTIVE,
        kind,
        tuple(t.operand(f"src{i}") for i, t in enumerate(src_t)),
        tuple(t.operand(f"dst{i}") for i, t in enumerate(dst_t)),
        attrs,
    )
    values = [load_f32(t, sim) for t in src_t] if sim.values else []
    payload = _Payload([np.array(v, copy=True) for v in values], dst_t, dict(extra or {}), attrs)
    filename, line = runtime.user_location()

    def run(arrivals: dict[int, Arrival], _cid: int) -> None:
        if not sim.values:
            return
        payloads = [arrivals[r].payload for r in group]
        results = exchange(payloads, list(group))
        for p, outs in zip(payloads, results, strict=True):
            for dst, value in zip(p.dsts, outs, strict=True):
                if value is None:  # not a target of this exchange: the dst keeps its data
                    continue
                value = np.asarray(value)
                if value.size != dst.size:
                    sim.fail(
                        instr,
                        f"dst {dst.label} {dst.shape} cannot hold the result of shape {value.shape}",
                        "collective_shape_mismatch",
                    )
                write(dst, value.reshape(dst.shape), None, False)

    world.meet(group, Arrival(rank, kind, payload, f"{os.path.basename(filename)}:{line}"), run)


# ---------------------------------------------------------------------------------------------
# the operations (front ends adapt their signatures to these)
# ---------------------------------------------------------------------------------------------


def _expect(sim: Simulation, instr: str, dsts: Sequence[Tensor], shapes: Sequence[tuple[int, ...]]) -> None:
    """Fail at the call (not at the meeting) when a dst cannot hold its result."""
    if len(dsts) != len(shapes):
        sim.fail(
            instr, f"{len(dsts)} dsts for {len(shapes)} srcs (one dst per src)", "collective_shape_mismatch"
        )
    for dst, shape in zip(dsts, shapes, strict=True):
        if dst.shape != tuple(shape):
            sim.fail(
                instr,
                f"dst {dst.label} is {dst.shape}; this collective writes {tuple(shape)}",
                "collective_shape_mismatch",
            )


def _dim(sim: Simulation, instr: str, t: Tensor, dim: int, n: int, divide: bool) -> tuple[int, ...]:
    if not 0 <= dim < t.ndim:
        sim.fail(instr, f"collective_dim {dim} is outside {t.label} {t.shape}", "invalid_collective_dim")
    shape = list(t.shape)
    if divide:
        if shape[dim] % n:
            sim.fail(
                instr,
                f"dimension {dim} of {t.label} {t.shape} does not split into {n} equal chunks",
                "collective_shape_mismatch",
            )
        shape[dim] //= n
    else:
        shape[dim] *= n
    return tuple(shape)


def _reduced(payloads: list[_Payload], i: int, fn: Callable[[Any, Any], Any]) -> Any:
    acc = payloads[0].srcs[i]
    for p in payloads[1:]:
        acc = fn(acc, p.srcs[i])
    return acc


def all_reduce(
    sim: Simulation, instr: str, srcs: Sequence[Any], dsts: Sequence[Any], group: tuple[int, ...], op: Any
) -> None:
    """Every member's dst i = op over the group of src i."""
    fn = reduce_fn(sim, instr, op)
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    _expect(sim, instr, dst_t, [t.shape for t in src_t])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        out = [_reduced(payloads, i, fn) for i in range(len(src_t))]
        return [out for _ in members]

    collective(sim, instr, "all_reduce", group, src_t, dst_t, ex)


def all_gather(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    dim: int = 0,
) -> None:
    """Every member's dst i = the members' src i concatenated along ``dim`` in group order."""
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    _expect(sim, instr, dst_t, [_dim(sim, instr, t, dim, len(group), False) for t in src_t])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        out = [np.concatenate([p.srcs[i] for p in payloads], axis=dim) for i in range(len(src_t))]
        return [out for _ in members]

    collective(
        sim, instr, "all_gather", group, src_t, dst_t, ex, nbytes=sum(t.size * t.itemsize for t in dst_t)
    )


def reduce_scatter(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    op: Any,
    dim: int = 0,
) -> None:
    """Member j's dst i = chunk j (along ``dim``) of op over the group of src i."""
    fn = reduce_fn(sim, instr, op)
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    n = len(group)
    _expect(sim, instr, dst_t, [_dim(sim, instr, t, dim, n, True) for t in src_t])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        chunks = [np.split(_reduced(payloads, i, fn), n, axis=dim) for i in range(len(src_t))]
        return [[c[j] for c in chunks] for j in range(len(members))]

    collective(sim, instr, "reduce_scatter", group, src_t, dst_t, ex)


def all_to_all(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    dim: int = 0,
) -> None:
    """Chunk j of every member's src goes to member j; dst = those chunks in source order."""
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    n = len(group)
    for t in src_t:
        _dim(sim, instr, t, dim, n, True)
    _expect(sim, instr, dst_t, [t.shape for t in src_t])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        split = [[np.split(p.srcs[i], n, axis=dim) for i in range(len(src_t))] for p in payloads]
        return [
            [np.concatenate([split[s][i][j] for s in range(n)], axis=dim) for i in range(len(src_t))]
            for j in range(len(members))
        ]

    collective(sim, instr, "all_to_all", group, src_t, dst_t, ex)


def permute(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    pairs: Sequence[tuple[int, int]],
    rank: int,
) -> None:
    """For each (s, t) in ``pairs`` rank t's dst receives rank s's src (others keep their dst)."""
    try:
        pair_list = [(int(s), int(t)) for s, t in pairs]
    except (TypeError, ValueError):
        sim.fail(
            instr,
            f"source_target_pairs {pairs!r} must be (source, target) rank pairs",
            "invalid_replica_group",
        )
    targets = [t for _, t in pair_list]
    if len(set(targets)) != len(targets):
        sim.fail(instr, f"source_target_pairs {pair_list} send twice to one rank", "invalid_replica_group")
    group = tuple(sorted({r for pair in pair_list for r in pair} | {rank}))
    source_of = {t: s for s, t in pair_list}
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    _expect(sim, instr, dst_t, [t.shape for t in src_t])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        by_rank = dict(zip(members, payloads, strict=True))
        return [list(by_rank[source_of[r]].srcs) if r in source_of else [None] * len(src_t) for r in members]

    collective(sim, instr, "permute", group, src_t, dst_t, ex)


def ring_permute(
    sim: Simulation,
    instr: str,
    srcs: Sequence[Any],
    dsts: Sequence[Any],
    group: tuple[int, ...],
    op: Any = None,
    halves: bool = False,
) -> None:
    """Each member receives its ring predecessor's src (``halves``: op(first half, second half) of srcs)."""
    fn = reduce_fn(sim, instr, op) if halves else None
    src_t, dst_t = _check(sim, instr, srcs, "srcs"), _check(sim, instr, dsts, "dsts")
    k = len(src_t) // 2 if halves else len(src_t)
    _expect(sim, instr, dst_t, [t.shape for t in src_t[:k]])

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        n = len(members)
        out = []
        for j in range(n):
            pred = payloads[(j - 1) % n].srcs
            out.append([fn(pred[i], pred[k + i]) for i in range(k)] if fn is not None else list(pred))
        return out

    collective(sim, instr, "permute", group, src_t, dst_t, ex)


def barrier(sim: Simulation, instr: str, group: tuple[int, ...], srcs: Sequence[Any] = ()) -> None:
    """Every member waits for the others (``srcs``: tensors written before the barrier; no data moves)."""
    collective(
        sim,
        instr,
        "barrier",
        group,
        list(srcs),
        [],
        lambda payloads, members: [[] for _ in members],
        nbytes=0,
    )


def sendrecv(
    sim: Simulation, instr: str, src: Any, dst: Any, send_to: int, recv_from: int, pipe_id: Any, rank: int
) -> None:
    """Point to point: this rank's ``src`` lands in ``send_to``'s ``dst``; ``dst`` gets ``recv_from``'s src.

    Calls with the same ``pipe_id`` synchronise (nki-semantics.md §8).
    """
    src_t, dst_t = _check(sim, instr, [src], "src"), _check(sim, instr, [dst], "dst")
    if src_t[0].shape != dst_t[0].shape or src_t[0].dtype != dst_t[0].dtype:
        sim.fail(
            instr,
            f"src {src_t[0].shape} and dst {dst_t[0].shape} must match in shape and dtype",
            "collective_shape_mismatch",
        )
    group = tuple(sorted({rank, int(send_to), int(recv_from)}))
    extra = {"send_to": int(send_to), "recv_from": int(recv_from), "pipe_id": pipe_id}

    def ex(payloads: list[_Payload], members: list[int]) -> list[list[Any]]:
        by_rank = dict(zip(members, payloads, strict=True))
        out = []
        for r in members:
            mine = by_rank[r].extra
            peer = by_rank[mine["recv_from"]].extra
            if peer["send_to"] != r or peer["pipe_id"] != mine["pipe_id"]:
                sim.fail(
                    instr,
                    f"rank {r} receives from rank {mine['recv_from']} on pipe {mine['pipe_id']}, which "
                    f"sends to rank {peer['send_to']} on pipe {peer['pipe_id']}",
                    "sendrecv_mismatch",
                )
            out.append([by_rank[mine["recv_from"]].srcs[0]])
        return out

    collective(sim, instr, "sendrecv", group, src_t, dst_t, ex, extra=extra)
