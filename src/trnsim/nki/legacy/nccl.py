"""``neuronxcc.nki.nccl``: the legacy collectives seen in public kernels (undocumented, observed).

Signatures follow nki-semantics.md §8 (nki-samples ``llama3_transformer.py``, ``attention.py``,
``collective_matmul.py``); ranks are the SPMD instances, ``replica_groups`` lists of rank lists.
The functions keep taking other keywords (``**_``): their signatures are only observed in kernels
(nki-semantics.md §11 lists them as undocumented), so there is no exact signature to refuse against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trnsim.nki import collectives_impl as _impl
from trnsim.nki import runtime
from trnsim.nki.runtime import Simulation

__all__ = ["all_gather", "all_reduce", "collective_permute", "collectives", "reduce_scatter"]


def _setup(name: str, srcs: Any, dsts: Any) -> tuple[Simulation, str, list[Any], list[Any]]:
    instr = f"nccl.{name}"
    sim = runtime.current(instr)
    s = list(srcs) if isinstance(srcs, (list, tuple)) else [srcs]
    d = list(dsts) if isinstance(dsts, (list, tuple)) else [dsts]
    return sim, instr, s, d


def _group(sim: Simulation, instr: str, replica_groups: Any) -> tuple[int, ...]:
    rank = _rank(sim, instr)
    return _impl.flat_group(sim, instr, replica_groups, rank)


def _rank(sim: Simulation, instr: str) -> int:
    return _impl.world_of(sim, instr).rank()


def all_reduce(
    op: Any = np.add, srcs: Any = (), dsts: Any = (), replica_groups: Any = None, dtype: Any = None, **_: Any
) -> None:
    """Every member's dst = op over the group of its src."""
    sim, instr, s, d = _setup("all_reduce", srcs, dsts)
    _impl.all_reduce(sim, instr, s, d, _group(sim, instr, replica_groups), op)


def all_gather(
    op: Any = None,
    srcs: Any = (),
    dsts: Any = (),
    replica_groups: Any = None,
    all_gather_dim: int = 0,
    dtype: Any = None,
    **_: Any,
) -> None:
    """Every member's dst = the group's srcs concatenated along ``all_gather_dim``."""
    sim, instr, s, d = _setup("all_gather", srcs, dsts)
    _impl.all_gather(sim, instr, s, d, _group(sim, instr, replica_groups), int(all_gather_dim))


def reduce_scatter(
    op: Any = np.add,
    srcs: Any = (),
    dsts: Any = (),
    replica_groups: Any = None,
    reduce_scatter_dim: int = 1,
    dtype: Any = None,
    **_: Any,
) -> None:
    """Member j's dst = chunk j (along ``reduce_scatter_dim``) of op over the group's srcs."""
    sim, instr, s, d = _setup("reduce_scatter", srcs, dsts)
    _impl.reduce_scatter(sim, instr, s, d, _group(sim, instr, replica_groups), op, int(reduce_scatter_dim))


def collective_permute(
    dst: Any = None, src: Any = None, source_target_pairs: Sequence[Any] = (), **_: Any
) -> None:
    """For each ``(s, t)``: rank t's dst receives rank s's src."""
    sim, instr, s, d = _setup("collective_permute", src, dst)
    _impl.permute(sim, instr, s, d, source_target_pairs, _rank(sim, instr))


class collectives:
    """``nccl.collectives.*``."""

    @staticmethod
    def collective_permute_implicit(
        dst: Any = None,
        src: Any = None,
        replica_groups: Any = None,
        channel_id: int = 0,
        num_channels: int = 1,
        mask: Any = None,
        **_: Any,
    ) -> None:
        """A ring over the group: receive the predecessor's src."""
        sim, instr, s, d = _setup("collectives.collective_permute_implicit", src, dst)
        _impl.ring_permute(sim, instr, s, d, _group(sim, instr, replica_groups))
