"""The chip's collective engine: alpha-beta cost of one collective between the ranks of a launch.

Each rank of an SPMD launch records one ``Engine.COLLECTIVE`` instruction per call
(:mod:`trnsim.nki.collectives_impl`); all members of a meeting start together once the last has
arrived, and finish together after the cost below. On each core collectives run one after
another (one in-order queue per core). The closed forms are the cluster layer's ring costs
(:mod:`trnsim.cluster.collectives`) for a group of ``p`` ranks on one level, with ``n`` the
rank's buffer (the full, unsharded one for reduce-scatter and all-gather), ``a`` the step
latency and ``B`` the rank bandwidth times its efficiency (``hardware/data/neuroncore_timing``,
section ``[collective]``):

* all-reduce (ring: reduce-scatter then all-gather): ``2 (p - 1) (a + n / (p B))``;
* reduce-scatter, all-gather: ``(p - 1) (a + n / (p B))``;
* all-to-all: ``(p - 1) a + n (p - 1) / p / B``;
* permute and send/recv (one message per rank): ``a + n / B``;
* barrier: ``(p - 1) a`` (a token around the ring).

The variable-size calls (``all_gather_v``, ``all_to_all_v``) record one of these kinds with the
bytes of their slowest step or busiest rank (:mod:`trnsim.nki.collectives_v`).

Simplification: collective traffic does not occupy the DMA queues or HBM calendar of the cores.
"""

from __future__ import annotations

from trnsim.hardware.neuroncore_timing import NeuronCoreTiming
from trnsim.nki.trace import Instruction

__all__ = ["CollectiveCostModel"]


class CollectiveCostModel:
    """Collective costs of one generation."""

    def __init__(self, timing: NeuronCoreTiming) -> None:
        c = timing.collective
        self.bytes_per_ns = c.link_bandwidth_bytes_per_s.value * c.bandwidth_efficiency.value / 1e9
        self.alpha_ns = c.step_latency_ns.value

    def time_ns(self, kind: str, group_size: int, nbytes: float) -> float:
        """Duration of one collective of ``kind`` over ``group_size`` ranks moving ``nbytes`` each."""
        p = group_size
        if p <= 1:
            return 0.0
        a, bw, n = self.alpha_ns, self.bytes_per_ns, float(nbytes)
        if kind == "all_reduce":
            return 2 * (p - 1) * (a + n / (p * bw))
        if kind in ("reduce_scatter", "all_gather"):
            return (p - 1) * (a + n / (p * bw))
        if kind == "all_to_all":
            return (p - 1) * a + n * (p - 1) / p / bw
        if kind == "barrier":
            return (p - 1) * a
        return a + n / bw  # permute, sendrecv

    def cost_ns(self, instruction: Instruction) -> float:
        """Duration of a recorded collective instruction (its ``attrs`` say what and how much)."""
        attrs = instruction.attrs
        return self.time_ns(str(attrs.get("collective", instruction.opcode)), len(attrs.get("group", ())),
                            float(attrs.get("bytes", 0)))
