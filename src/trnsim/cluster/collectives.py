"""Alpha-beta costs of collectives on a placed group, and the choice of algorithm.

Every algorithm is a closed form over the levels a group spans (see :mod:`placement`): a level of
``p`` members offers a per-rank bandwidth ``B`` and a per-step latency ``a``. With ``n`` the
buffer size per rank (the full, unsharded buffer for reduce-scatter and all-gather):

* ring: ``p - 1`` steps per pass of ``n / p`` bytes each, bound by the slowest level
  (``min B``, ``max a``); all-reduce is two passes (reduce-scatter then all-gather);
* tree (double binary tree, pipelined, switched levels only): ``2 log2 p`` latencies and ``2 n / B``;
* hierarchical / dimension-ordered torus: a reduce-scatter level by level, innermost first, each
  level on the data the previous one left (``n / p_0``, ``n / (p_0 p_1)``, ...), then the mirror
  all-gather; on a torus each level is one dimension's ring;
* all-to-all: each rank sends ``n (p-1)/p``; every level carries the bytes bound for members that
  differ first at it; on a ring/torus level the average hop distance multiplies the load;
* send/recv: one message over the outermost level the two ranks span.

The algorithm is chosen as NCCL's tuner does: the fastest applicable one for this size and group,
unless the caller forces one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from trnsim.cluster.placement import GroupLevel, GroupPlacement
from trnsim.cluster.topology import LinkKind
from trnsim.errors import ConfigError

__all__ = [
    "Algorithm",
    "Collective",
    "CollectiveCost",
    "applicable_algorithms",
    "collective_time",
]


class Collective(StrEnum):
    """Communication patterns."""

    ALL_REDUCE = "all-reduce"
    REDUCE_SCATTER = "reduce-scatter"
    ALL_GATHER = "all-gather"
    ALL_TO_ALL = "all-to-all"
    SEND_RECV = "send-recv"


class Algorithm(StrEnum):
    """Collective algorithms."""

    RING = "ring"
    TREE = "tree"
    HIERARCHICAL = "hierarchical"  # level by level across a switched hierarchy
    TORUS = "torus"  # dimension-ordered on a torus (the same shape on ring/torus levels)
    DIRECT = "direct"  # pairwise sends: all-to-all and send/recv


@dataclass(frozen=True, slots=True)
class CollectiveCost:
    """Time of one collective and the algorithm that achieves it."""

    collective: Collective
    algorithm: Algorithm
    n_bytes: float
    time_s: float


def _passes(collective: Collective) -> int:
    """Reduce-scatter + all-gather passes: all-reduce makes two, the others one."""
    return 2 if collective is Collective.ALL_REDUCE else 1


def _ring_s(collective: Collective, n_bytes: float, levels: tuple[GroupLevel, ...]) -> float:
    p = math.prod(level.span for level in levels)
    bw = min(level.ring_bw_bytes_per_s for level in levels)
    alpha = max(level.latency_s for level in levels)
    return _passes(collective) * ((p - 1) * alpha + (p - 1) / p * n_bytes / bw)


def _tree_s(n_bytes: float, levels: tuple[GroupLevel, ...]) -> float:
    p = math.prod(level.span for level in levels)
    bw = min(level.ring_bw_bytes_per_s for level in levels)
    alpha = max(level.latency_s for level in levels)
    return 2 * math.ceil(math.log2(p)) * alpha + 2 * n_bytes / bw


def _hierarchical_s(collective: Collective, n_bytes: float, levels: tuple[GroupLevel, ...]) -> float:
    total = 0.0
    data = n_bytes
    for level in levels:
        p = level.span
        total += (p - 1) * level.latency_s + (p - 1) / p * data / level.ring_bw_bytes_per_s
        data /= p
    return _passes(collective) * total


def _a2a_level_s(level: GroupLevel, crossing_bytes: float) -> float:
    """Time for one rank's ``crossing_bytes``, spread evenly over the level's other members."""
    p = level.span
    if level.kind in (LinkKind.SWITCH, LinkKind.FULL) or p == 1:
        return crossing_bytes / level.link_bw_bytes_per_s
    per_dest = crossing_bytes / (p - 1)
    if level.closed:
        # Ring with wrap-around: shortest paths, sum of distances floor(p^2/4), 2 outgoing links.
        return per_dest * (p * p // 4) / (2 * level.link_bw_bytes_per_s)
    # Open line: sum of distances over all ordered pairs / (2 (p-1) directed links) per rank share.
    return per_dest * p * (p + 1) / 6 / level.link_bw_bytes_per_s


def _all_to_all_s(n_bytes: float, levels: tuple[GroupLevel, ...]) -> float:
    p = math.prod(level.span for level in levels)
    alpha = max(level.latency_s for level in levels)
    slowest = 0.0
    below = 1
    for level in levels:
        # Destinations that differ from this rank first at this level.
        crossing = (below * level.span - below) / p * n_bytes
        slowest = max(slowest, _a2a_level_s(level, crossing))
        below *= level.span
    return (p - 1) * alpha + slowest


def _send_recv_s(n_bytes: float, levels: tuple[GroupLevel, ...]) -> float:
    outer = levels[-1]
    return outer.latency_s + n_bytes / outer.link_bw_bytes_per_s


def applicable_algorithms(collective: Collective, group: GroupPlacement) -> tuple[Algorithm, ...]:
    """Algorithms that can run ``collective`` on ``group``."""
    if collective in (Collective.ALL_TO_ALL, Collective.SEND_RECV):
        return (Algorithm.DIRECT,)
    found = [Algorithm.RING]
    if collective is Collective.ALL_REDUCE and all(
        level.kind in (LinkKind.SWITCH, LinkKind.FULL) for level in group.levels
    ):
        found.append(Algorithm.TREE)
    if len(group.levels) > 1:
        ring_like = [level.kind in (LinkKind.RING, LinkKind.TORUS) for level in group.levels]
        # Dimension-ordered on a torus when the outer levels are torus dimensions (an on-chip
        # switch level may come first); level by level across switches otherwise.
        torus = any(ring_like) and all(ring_like[1:])
        found.append(Algorithm.TORUS if torus else Algorithm.HIERARCHICAL)
    return tuple(found)


def _time_s(algorithm: Algorithm, collective: Collective, n_bytes: float, group: GroupPlacement) -> float:
    levels = group.levels
    if algorithm is Algorithm.RING:
        return _ring_s(collective, n_bytes, levels)
    if algorithm is Algorithm.TREE:
        return _tree_s(n_bytes, levels)
    if algorithm in (Algorithm.HIERARCHICAL, Algorithm.TORUS):
        return _hierarchical_s(collective, n_bytes, levels)
    if collective is Collective.ALL_TO_ALL:
        return _all_to_all_s(n_bytes, levels)
    return _send_recv_s(n_bytes, levels)


def collective_time(
    collective: Collective,
    n_bytes: float,
    group: GroupPlacement,
    algorithm: Algorithm | None = None,
) -> CollectiveCost:
    """Time of ``collective`` on ``n_bytes`` per rank over ``group``: the fastest algorithm, or ``algorithm``.

    A group of one rank, or an empty buffer, costs nothing.
    """
    if n_bytes < 0:
        raise ConfigError(f"{collective} size must be >= 0 bytes, got {n_bytes}")
    return _cost(collective, float(n_bytes), group, algorithm)


@lru_cache(maxsize=65536)
def _cost(collective: Collective, n_bytes: float, group: GroupPlacement,
          algorithm: Algorithm | None) -> CollectiveCost:
    if not group.levels or n_bytes == 0:
        return CollectiveCost(collective, algorithm or Algorithm.DIRECT, n_bytes, 0.0)
    choices = applicable_algorithms(collective, group)
    if algorithm is not None:
        if algorithm not in choices:
            allowed = ", ".join(choices)
            raise ConfigError(
                f"algorithm '{algorithm}' cannot run {collective} on a group spanning "
                f"{group.describe()}; valid: {allowed}"
            )
        choices = (algorithm,)
    best_time, best = min((_time_s(alg, collective, n_bytes, group), alg) for alg in choices)
    return CollectiveCost(collective, best, n_bytes, best_time)
