"""Rich renderables for one-device estimates (the CLI prints them; nothing here does I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from trnsim.workload.durations import format_duration

if TYPE_CHECKING:
    from trnsim.workload.estimate import DeviceEstimate

__all__ = ["render_device_estimate"]

_GIB = 2.0**30


def render_device_estimate(est: DeviceEstimate) -> Group:
    """A header line, the time by op class, the memory breakdown and the model's notes."""
    # Two short lines rather than one long one: each fits a 100-column terminal unwrapped.
    head = Text(
        f"{est.model.name} on {est.device} ({est.chip.name}, 1 of {est.ranks_per_chip} ranks per chip)\n"
        f"micro-batch {est.micro_batch} x {est.seq_len} tokens x {est.num_microbatches}, "
        f"{est.precision.value}, recompute {est.recompute.value}, tp={est.shard.tp} cp={est.shard.cp} "
        f"ep={est.shard.ep}"
    )
    summary = Text(
        f"step {format_duration(est.step_s)}   MFU {100 * est.mfu:.1f}%   HFU {100 * est.hfu:.1f}%   "
        f"methods: {', '.join(f'{m.value} {n}' for m, n in est.time.methods.items())}"
    )
    times = Table(title="time by op class", show_edge=False)
    times.add_column("class")
    times.add_column("time", justify="right")
    times.add_column("share", justify="right")
    times.add_column("fused away", justify="right")
    times.add_column("hidden (overlap)", justify="right")
    by_class = est.by_class_s()
    saved = est.fusion_by_class_s()
    total = sum(by_class.values()) or 1.0
    for name, seconds in by_class.items():
        fused, hidden = saved.get(name, (0.0, 0.0))
        times.add_row(name, format_duration(seconds), f"{100 * seconds / total:.1f}%",
                      format_duration(fused) if fused else "-", format_duration(hidden) if hidden else "-")
    memory = Table(title="memory per rank", show_edge=False)
    memory.add_column("part")
    memory.add_column("GiB", justify="right")
    for name, nbytes in est.memory.parts().items():
        memory.add_row(name, f"{nbytes / _GIB:.2f}")
    memory.add_row("total", f"{est.memory.total_bytes / _GIB:.2f}")
    verdict = Text(est.memory_verdict(), style="green" if est.fits else "bold red")
    notes = [Text(f"note: {n}", style="dim") for n in est.model.notes]
    return Group(head, summary, times, memory, verdict, *notes)
