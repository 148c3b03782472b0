"""``trnsim serve --compare``: the cheapest serving layout per system that meets a latency target.

For each system, one replica of TP degrees 1, 2, 4 … up to one node's ranks (those the model's
heads allow), at concurrencies 1, 2, 4 … up to what fits in memory (and the cap given): the
layouts meeting ``tpot_s`` and ``ttft_s`` are kept and the cheapest per million output tokens
wins (unpriced systems: the highest output tokens/s per chip). Systems without a price get the
break-even node-hour price at which they would match the cheapest priced system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import load_system
from trnsim.serve.config import ServeConfig
from trnsim.serve.estimate import ServeResult, energy_confidence, estimate_serving
from trnsim.workload.config import ModelConfig

__all__ = ["DEFAULT_SYSTEMS", "CompareOutcome", "SystemChoice", "compare_serving"]

DEFAULT_SYSTEMS = ("trn2", "trn2-ultraserver", "trn1", "p5", "p5e", "b200", "tpu-v5p")
_CONCURRENCY_CAP = 256


@dataclass(frozen=True)
class SystemChoice:
    """The best layout found on one system (``result`` None: nothing met the target or fitted)."""

    system: str
    result: ServeResult | None
    why_none: str = ""
    break_even_usd_per_node_hour: float | None = None

    def row(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {"system": self.system, "meets_target": r is not None,
                               "why_none": self.why_none}
        if r is not None:
            c = r.config
            out.update({"chips": c.chips, "tp": c.tp, "concurrency": c.concurrency, "ttft_s": r.ttft_s,
                        "ttft_closed_loop_s": r.ttft_closed_loop_s, "tpot_s": r.tpot_s,
                        "output_tokens_per_s": r.output_tokens_per_s,
                        "output_tokens_per_s_per_chip": r.output_tokens_per_s / c.chips,
                        "cost_per_million_output_tokens_usd": r.cost_per_million_tokens_usd,
                        "energy_per_output_token_j": r.energy_per_token_j,
                        "energy_confidence": energy_confidence(r),
                        "break_even_usd_per_node_hour": self.break_even_usd_per_node_hour,
                        "calibrated": c.system.chip.family.value == "trainium"})
        return out


@dataclass(frozen=True)
class CompareOutcome:
    """Every system's choice, ranked: priced by cost, then unpriced by tokens/s per chip."""

    choices: tuple[SystemChoice, ...]
    tpot_s: float | None
    ttft_s: float | None
    #: What the model config leaves out (sliding windows, ...), as the single layout's JSON gives it.
    model_notes: tuple[str, ...] = ()

    @property
    def any_meets(self) -> bool:
        return any(c.result is not None for c in self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"tpot_target_s": self.tpot_s, "ttft_target_s": self.ttft_s,
                "systems": [c.row() for c in self.choices],
                "note": "GPU/TPU serving rests on analytic efficiency curves, uncalibrated for serving; "
                        "Trainium decode overheads are fitted on neuron_trn2_inference.csv",
                "model_notes": list(self.model_notes)}


def _tp_options(model: ModelConfig, ranks_per_node: int) -> list[int]:
    out, t = [], 1
    while t <= ranks_per_node:
        if model.num_heads % t == 0 and model.ffn_hidden_size % t == 0 and (
                model.num_kv_heads % t == 0 or t % model.num_kv_heads == 0):
            out.append(t)
        t *= 2
    return out


def _best_on(model: ModelConfig, name: str, cap: int, input_tokens: int, output_tokens: int,
             weight_bytes: int, kv_bytes: int, tpot_s: float | None, ttft_s: float | None) -> SystemChoice:
    system = load_system(name)
    best: ServeResult | None = None
    reason = "no layout of one node or less (one replica, as the search goes) fits in memory"

    def better(a: ServeResult, b: ServeResult | None) -> bool:
        if b is None:
            return True
        if a.cost_per_million_tokens_usd is not None and b.cost_per_million_tokens_usd is not None:
            return a.cost_per_million_tokens_usd < b.cost_per_million_tokens_usd
        return a.output_tokens_per_s / a.config.chips > b.output_tokens_per_s / b.config.chips

    for tp in _tp_options(model, system.ranks_per_node):
        c = 1
        while c <= cap:
            try:
                config = ServeConfig(model, system, tp, tp, c, input_tokens, output_tokens,
                                     weight_bytes=weight_bytes, kv_bytes=kv_bytes)
            except ConfigError as error:
                reason = str(error)
                break
            result = estimate_serving(config)
            if not result.fits:
                break
            if ttft_s is not None and result.ttft_s > ttft_s:
                reason = f"TTFT above {ttft_s * 1e3:g} ms"
                break  # more requests do not shorten a prefill
            if tpot_s is not None and result.tpot_s > tpot_s:
                reason = f"TPOT above {tpot_s * 1e3:g} ms"
                break  # nor a decode step
            if better(result, best):
                best = result
            c *= 2
    return SystemChoice(name, best, "" if best is not None else reason)


def compare_serving(model: ModelConfig, systems: list[str], *, input_tokens: int, output_tokens: int,
                    concurrency_max: int | None = None, weight_bytes: int = 2, kv_bytes: int = 2,
                    tpot_s: float | None = None, ttft_s: float | None = None) -> CompareOutcome:
    """The best layout per system at the targets, ranked by cost per million output tokens."""
    cap = concurrency_max or _CONCURRENCY_CAP
    choices = [_best_on(model, name, cap, input_tokens, output_tokens, weight_bytes, kv_bytes, tpot_s, ttft_s)
               for name in systems]
    priced = [c for c in choices if c.result is not None and c.result.cost_per_million_tokens_usd is not None]
    cheapest = min((c.result.cost_per_million_tokens_usd for c in priced if c.result is not None
                    and c.result.cost_per_million_tokens_usd is not None), default=None)
    out = []
    for choice in choices:
        r = choice.result
        if r is not None and r.cost_per_million_tokens_usd is None and cheapest is not None:
            nodes = r.config.chips / r.config.system.chips_per_node
            price = cheapest / 1e6 * r.output_tokens_per_s * 3600.0 / nodes
            choice = SystemChoice(choice.system, r, "", price)
        out.append(choice)

    def key(c: SystemChoice) -> tuple[int, float]:
        if c.result is None:
            return (2, 0.0)
        if c.result.cost_per_million_tokens_usd is not None:
            return (0, c.result.cost_per_million_tokens_usd)
        return (1, -c.result.output_tokens_per_s / c.result.config.chips)

    return CompareOutcome(tuple(sorted(out, key=key)), tpot_s, ttft_s, model.notes)
