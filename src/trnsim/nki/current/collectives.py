"""``nki.collectives``: collectives between the ranks of an SPMD launch (nki-semantics.md §8).

Ranks are the instances of ``kernel[n](...)`` (rank = row-major grid index); they meet at each
call (:mod:`trnsim.nki.spmd`). Every call returns ``None`` and writes its ``dsts``. The calls
with run-time counts (``all_gather_v``, ``all_to_all_v``) read them from their metadata tensor
(layout inferred: :mod:`trnsim.nki.collectives_v`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trnsim.nki import collectives_impl as _impl
from trnsim.nki import collectives_v as _v
from trnsim.nki import runtime
from trnsim.nki.guard import not_simulated
from trnsim.nki.runtime import Simulation
from trnsim.nki.tensor import Tensor

__all__ = [
    "ReplicaGroup",
    "all_gather",
    "all_gather_v",
    "all_reduce",
    "all_to_all",
    "all_to_all_v",
    "collective_permute",
    "collective_permute_implicit",
    "collective_permute_implicit_current_processing_rank_id",
    "collective_permute_implicit_reduce",
    "rank_id",
    "reduce_scatter",
]


class ReplicaGroup:
    """Rank subgroups that do not overlap, e.g. ``ReplicaGroup([[0, 1, 2, 3], [4, 5, 6, 7]])``.

    The field names are undocumented (nki-semantics.md §8); the groups are accepted positionally
    or as ``replica_groups=`` / ``groups=``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        value = args[0] if args else next(iter(kwargs.values()), [])
        self.replica_groups = (
            [list(g) for g in value] if value and isinstance(value[0], (list, tuple)) else [list(value)]
        )

    def __repr__(self) -> str:
        return f"ReplicaGroup({self.replica_groups})"


def _sim(name: str) -> Simulation:
    return runtime.current(f"nki.collectives.{name}")


def _tensors(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _rank(sim: Simulation, name: str) -> int:
    return _impl.world_of(sim, f"nki.collectives.{name}").rank()


def _group(sim: Simulation, name: str, replica_group: Any) -> tuple[int, ...]:
    return _impl.flat_group(sim, f"nki.collectives.{name}", replica_group, _rank(sim, name))


def _placement(sim: Simulation, name: str, srcs: list[Any], dsts: list[Any], hbm_only: bool = False) -> None:
    """Tensors are all in HBM or all in SBUF; lists of several (coalescing) are HBM only."""
    instr = f"nki.collectives.{name}"
    tensors = [t for t in (*srcs, *dsts) if isinstance(t, Tensor)]
    on_chip = {t.on_chip for t in tensors}
    if len(on_chip) > 1:
        sim.fail(instr, "srcs and dsts must be all in HBM or all in SBUF", "unsupported_memory")
    if True in on_chip and (hbm_only or len(srcs) > 1):
        what = "this collective" if hbm_only else "several tensors (coalescing)"
        sim.fail(instr, f"{what} needs HBM tensors, got {tensors[0].buffer.value}", "unsupported_memory")


def all_reduce(
    srcs: Any, dsts: Any, replica_group: Any, op: Any, priority: Any = None, name: Any = None
) -> None:
    """``dst = op`` over the group of ``src``."""
    sim = _sim("all_reduce")
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, "all_reduce", s, d)
    _impl.all_reduce(sim, "nki.collectives.all_reduce", s, d, _group(sim, "all_reduce", replica_group), op)


def all_gather(
    srcs: Any, dsts: Any, replica_group: Any, collective_dim: int = 0, priority: Any = None, name: Any = None
) -> None:
    """Every rank's ``src`` concatenated in rank order along ``collective_dim``."""
    sim = _sim("all_gather")
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, "all_gather", s, d)
    _impl.all_gather(
        sim, "nki.collectives.all_gather", s, d, _group(sim, "all_gather", replica_group), int(collective_dim)
    )


def reduce_scatter(
    srcs: Any,
    dsts: Any,
    replica_group: Any,
    collective_dim: int = 0,
    op: Any = None,
    priority: Any = None,
    name: Any = None,
) -> None:
    """Reduce, split into n chunks along ``collective_dim``; rank r gets chunk r."""
    sim = _sim("reduce_scatter")
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, "reduce_scatter", s, d)
    _impl.reduce_scatter(
        sim,
        "nki.collectives.reduce_scatter",
        s,
        d,
        _group(sim, "reduce_scatter", replica_group),
        op,
        int(collective_dim),
    )


def all_to_all(
    srcs: Any, dsts: Any, replica_group: Any, collective_dim: int = 0, priority: Any = None, name: Any = None
) -> None:
    """Chunk j of each ``src`` goes to rank j; ``dst`` is the concatenation in source order (HBM, dim 0)."""
    sim = _sim("all_to_all")
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, "all_to_all", s, d, hbm_only=True)
    if int(collective_dim) != 0:
        sim.fail(
            "nki.collectives.all_to_all",
            f"collective_dim must be 0, got {collective_dim}",
            "invalid_collective_dim",
        )
    _impl.all_to_all(sim, "nki.collectives.all_to_all", s, d, _group(sim, "all_to_all", replica_group), 0)


def _variable(name: str, impl: Any, srcs: Any, dsts: Any, replica_group: Any, metadata_tensor: Any,
              recv_counts_known: bool, has_rdispls: bool) -> None:
    """The variable-size collectives' common front: placement, group, then ``impl`` of collectives_v."""
    sim = _sim(name)
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, name, s, d)
    impl(sim, f"nki.collectives.{name}", s, d, _group(sim, name, replica_group), metadata_tensor,
         bool(recv_counts_known), bool(has_rdispls))


def all_gather_v(
    srcs: Any,
    dsts: Any,
    replica_group: Any,
    metadata_tensor: Any,
    recv_counts_known: bool = False,
    has_rdispls: bool = False,
    priority: Any = None,
    name: Any = None,
) -> None:
    """Each rank's first ``send_count`` rows, gathered at run-time displacements (dim 0)."""
    _variable("all_gather_v", _v.all_gather_v, srcs, dsts, replica_group, metadata_tensor, recv_counts_known,
              has_rdispls)


def all_to_all_v(
    srcs: Any,
    dsts: Any,
    replica_group: Any,
    metadata_tensor: Any,
    recv_counts_known: bool = False,
    has_rdispls: bool = False,
    priority: Any = None,
    name: Any = None,
) -> None:
    """All-to-all with run-time send counts and displacements per peer (rows of dim 0)."""
    _variable("all_to_all_v", _v.all_to_all_v, srcs, dsts, replica_group, metadata_tensor, recv_counts_known,
              has_rdispls)


def collective_permute(
    srcs: Any, dsts: Any, source_target_pairs: Sequence[Any], priority: Any = None, name: Any = None
) -> None:
    """For each ``(s, t)``, rank t's ``dst`` receives rank s's ``src`` (HBM, one tensor)."""
    sim = _sim("collective_permute")
    s, d = _tensors(srcs), _tensors(dsts)
    _placement(sim, "collective_permute", s, d, hbm_only=True)
    _impl.permute(
        sim, "nki.collectives.collective_permute", s, d, source_target_pairs, _rank(sim, "collective_permute")
    )


def _channels(sim: Simulation, name: str, by_channel: Any, channel_ids: Sequence[int]) -> list[Any]:
    """Flatten per-channel tensor lists; channels are consecutive from 0, at most 4."""
    ids = [int(c) for c in channel_ids]
    if ids != list(range(len(ids))) or len(ids) > 4:
        sim.fail(
            f"nki.collectives.{name}",
            f"channel_ids {ids} must be consecutive from 0, at most 4",
            "invalid_channel",
        )
    lists = _tensors(by_channel)
    if lists and isinstance(lists[0], (list, tuple)):
        return [t for channel in lists for t in channel]
    return lists


def collective_permute_implicit(
    srcs_by_channel: Any,
    dsts_by_channel: Any,
    replica_group: Any,
    channel_ids: Sequence[int] = (0,),
    priority: Any = None,
    name: Any = None,
) -> None:
    """A ring: send to the successor in the group, receive from the predecessor."""
    sim = _sim("collective_permute_implicit")
    s = _channels(sim, "collective_permute_implicit", srcs_by_channel, channel_ids)
    d = _channels(sim, "collective_permute_implicit", dsts_by_channel, channel_ids)
    _impl.ring_permute(
        sim,
        "nki.collectives.collective_permute_implicit",
        s,
        d,
        _group(sim, "collective_permute_implicit", replica_group),
    )


def collective_permute_implicit_reduce(
    srcs0_by_channel: Any,
    srcs1_by_channel: Any,
    dsts_by_channel: Any,
    replica_group: Any,
    op: Any,
    channel_ids: Sequence[int] = (0,),
    priority: Any = None,
    name: Any = None,
) -> None:
    """Send ``op(src0, src1)`` to the successor; receive the predecessor's."""
    sim = _sim("collective_permute_implicit_reduce")
    n = "collective_permute_implicit_reduce"
    s0, s1 = (
        _channels(sim, n, srcs0_by_channel, channel_ids),
        _channels(sim, n, srcs1_by_channel, channel_ids),
    )
    d = _channels(sim, n, dsts_by_channel, channel_ids)
    _impl.ring_permute(
        sim, f"nki.collectives.{n}", [*s0, *s1], d, _group(sim, n, replica_group), op, halves=True
    )


def collective_permute_implicit_current_processing_rank_id(
    iteration_id: Any, replica_group: Any, channel_id: int = 0
) -> int:
    """The rank whose data this rank holds after ``iteration_id`` ring steps: ``G[(pos(r) - k) mod n]``.

    (nki-semantics.md §8 marks this formula as inferred.)
    """
    sim = _sim("collective_permute_implicit_current_processing_rank_id")
    name = "collective_permute_implicit_current_processing_rank_id"
    group = _group(sim, name, replica_group)
    position = group.index(_rank(sim, name))
    return group[(position - int(iteration_id)) % len(group)]


def rank_id() -> int:
    """This rank's id (its row-major grid index)."""
    return _impl.rank_id()


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise not_simulated(f"nki.collectives.{name}")
