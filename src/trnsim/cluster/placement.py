"""Placement: which levels of the topology a communication group spans, and what each level gives it.

Ranks are numbered chip-major (rank ``i`` lives on chip ``i // ranks_per_chip``) and chips fill the
scale-up domain dimension by dimension, the first dimension fastest; domains follow one another on
the scale-out network. So a rank index is a mixed-radix number with digits
``[rank on chip, dim 0, dim 1, ..., domain]``.

A parallel group (TP, CP, EP, DP, PP) is an arithmetic progression of ranks: ``size`` members
``stride`` apart (the plan's rank order decides the stride). Walking the digits from the innermost,
a group occupies ``span`` positions at each level it reaches; a group that reaches a slower level
pays that level's bandwidth and latency. The walk touches each level once, so the cost does not
depend on the cluster size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from trnsim.cluster.topology import LinkKind, TopologyLevel, TopologySpec
from trnsim.errors import ConfigError

__all__ = ["GroupLevel", "GroupPlacement", "place_group"]


@dataclass(frozen=True, slots=True)
class GroupLevel:
    """What one level of the topology offers a group spanning it."""

    name: str
    kind: LinkKind
    span: int  # members of the group along this level
    step: int  # chips between consecutive members along this level
    closed: bool  # on a ring/torus level: the members close the ring (wrap-around usable)
    ring_bw_bytes_per_s: float  # per rank per direction, for a ring algorithm along this level
    link_bw_bytes_per_s: float  # one neighbour link (or switch port) per rank, one direction
    latency_s: float  # per algorithm step along this level


@dataclass(frozen=True, slots=True)
class GroupPlacement:
    """The levels (innermost first) over which a group's members are spread; empty for one rank."""

    levels: tuple[GroupLevel, ...]
    # Computed once: placements key the collective-cost cache, hashed on every evaluation.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.levels))

    def __hash__(self) -> int:
        return self._hash

    @property
    def size(self) -> int:
        """Number of ranks in the group."""
        return math.prod(level.span for level in self.levels)

    def describe(self) -> str:
        """Short text such as ``on_chip x4, x x4, efa x2``."""
        return ", ".join(f"{level.name} x{level.span}" for level in self.levels) or "one rank"


def _group_level(level: TopologyLevel, span: int, step: int, ranks_sharing: int) -> GroupLevel:
    """Bandwidth and latency a level gives each rank of a group spanning ``span`` positions."""
    per_rank_bw = level.chip_bw_bytes_per_s / ranks_sharing
    if level.is_ring_like:
        # Members ``step`` chips apart: ``step`` groups share every link and each algorithm step
        # crosses ``step`` hops. A closed ring uses both directions (data split in two halves);
        # an open line carries the ring's traffic once in each direction.
        closed = span * step == level.size
        directions = 2 if closed else 1
        return GroupLevel(
            name=level.name,
            kind=level.kind,
            span=span,
            step=step,
            closed=closed,
            ring_bw_bytes_per_s=directions * per_rank_bw / step,
            link_bw_bytes_per_s=per_rank_bw / step,
            latency_s=level.hop_latency_s * step,
        )
    return GroupLevel(
        name=level.name,
        kind=level.kind,
        span=span,
        step=step,
        closed=True,
        ring_bw_bytes_per_s=per_rank_bw,
        link_bw_bytes_per_s=per_rank_bw,
        latency_s=level.hop_latency_s,
    )


def place_group(topology: TopologySpec, ranks_per_chip: int, stride: int, size: int) -> GroupPlacement:
    """Levels spanned by ``size`` ranks spaced ``stride`` apart (rank 0 first).

    Strides and sizes that do not divide the level sizes are placed approximately (a group that
    wraps unevenly is treated as filling the level it wraps on).
    """
    if ranks_per_chip < 1 or stride < 1 or size < 1:
        raise ConfigError(
            f"placement needs ranks_per_chip, stride and size >= 1, got {ranks_per_chip}, {stride}, {size}"
        )
    radices: list[tuple[TopologyLevel, int | None, int]] = []  # (level, radix, ranks sharing links)
    if ranks_per_chip > 1:
        if topology.on_chip is None:
            raise ConfigError(
                f"topology '{topology.name}' has no [on_chip] level but the system puts "
                f"{ranks_per_chip} ranks on a chip; add one to the topology file"
            )
        # The on-chip bandwidth (DMA engines) is the chip's, shared by all its ranks at once.
        radices.append((topology.on_chip, ranks_per_chip, ranks_per_chip))
    radices.extend((dim, dim.size, ranks_per_chip) for dim in topology.dimensions)
    radices.append((topology.scale_out, None, ranks_per_chip))

    levels: list[GroupLevel] = []
    remaining = size
    stride_ranks = stride
    unit_ranks = 1  # ranks per position of the current level
    for level, radix, sharing in radices:
        if remaining == 1:
            break
        step = max(1, round(stride_ranks / unit_ranks))
        if radix is None:  # scale-out: unbounded, every remaining member on its own domain
            levels.append(_group_level(level, remaining, step, sharing))
            remaining = 1
            break
        if step < radix:
            span = min(remaining, max(1, radix // step))
            if span > 1:
                levels.append(_group_level(level, span, step, sharing))
            remaining = math.ceil(remaining / span)
            stride_ranks *= span
        unit_ranks *= radix
    return GroupPlacement(levels=tuple(levels))
