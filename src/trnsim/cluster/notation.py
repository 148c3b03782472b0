"""The one way trnsim writes a parallel plan: ``tp8 pp4 vpp2 dp16 zero1 mb1 gb512 recompute=full``.

Every table, explanation, JSON ``plan`` field and error message uses :func:`plan_notation`, so a
plan reads the same in ``estimate``, ``plan``, ``compare``, ``sweep`` and ``validate``. Degrees of
1 for cp and ep, the virtual-pipeline size 1, the default micro-batch group and layer split, the
default schedule and ``recompute=none`` are left out (``trnsim estimate``'s defaults); ``sp`` marks
sequence parallelism and ``+emb/loss`` the embedding and the loss each taking a layer's slot in the
pipeline split (``--account-for-embedding-loss``; short so a narrow plan column shows it whole). The
other words are those of ``trnsim estimate``'s options (``--tp``, ``--zero``, ``--micro-batch``,
``--recompute``).
"""

from __future__ import annotations

__all__ = ["plan_notation"]


def plan_notation(*, tp: int, pp: int, dp: int, cp: int = 1, ep: int = 1, interleave: int = 1,
                  zero: int = 0, micro_batch: int = 1, recompute: str = "none",
                  global_batch: int | None = None, schedule: str | None = None,
                  sequence_parallel: bool = False, microbatch_group: int | None = None,
                  account_for_embedding_loss: bool = False, reshard_after_forward: bool = True) -> str:
    """The plan in trnsim's notation (see the module docstring)."""
    parts = [f"tp{tp}", f"pp{pp}"]
    if interleave > 1:
        parts.append(f"vpp{interleave}")
    if microbatch_group is not None:
        parts.append(f"mbgroup{microbatch_group}")
    if account_for_embedding_loss:
        parts.append("+emb/loss")
    parts.append(f"dp{dp}")
    parts += [f"{name}{value}" for name, value in (("cp", cp), ("ep", ep)) if value > 1]
    parts.append(f"zero{zero}")
    if not reshard_after_forward:
        parts.append("no-reshard-after-forward")
    parts.append(f"mb{micro_batch}")
    if global_batch is not None:
        parts.append(f"gb{global_batch}")
    if schedule and schedule not in ("1f1b", "interleaved"):
        parts.append(schedule)
    if recompute != "none":
        parts.append(f"recompute={recompute}")
    if sequence_parallel:
        parts.append("sp")
    return " ".join(parts)
