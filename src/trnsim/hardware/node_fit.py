"""The rule a rank or chip count must meet on a system: whole nodes, or part of one node evenly.

Standard library only: the CLI checks its options with it at start-up, the API its arguments.
"""

from __future__ import annotations

from trnsim.errors import ConfigError

__all__ = ["check_fills_nodes"]


def check_fills_nodes(count: int, per_node: int, unit: str, system: str, given: str) -> None:
    """``count`` (``unit``: "ranks" or "chips") fills whole nodes of ``per_node``, or is a divisor of
    ``per_node`` (part of one node); else one line naming ``given`` (how the user gave the count, e.g.
    ``--ranks 100`` or ``ranks=100``) and two valid counts near it."""
    if count % per_node == 0 or (count < per_node and per_node % count == 0):
        return
    lower = max(per_node, count // per_node * per_node)
    raise ConfigError(
        f"{given} does not fit {system} nodes of {per_node} {unit}: give a multiple of {per_node} "
        f"(e.g. {lower} or {lower + per_node}) or a divisor of it for part of one node"
    )
