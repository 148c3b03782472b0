"""The checks of a serving request's inputs, shared by ``trnsim serve`` and ``trnsim.api.serve`` /
``serve_compare``.

Both front ends hand the user's values here: counts at least 1, latency targets, the byte widths of
bf16/fp8, the request's tokens within the model's context, a draft model for speculation, the rank
count of chips/nodes/ranks and the list of systems. The messages name the inputs as the user gave
them: the CLI's options (``--input-tokens``, ``--chips 3``) or the API's arguments (``input_tokens``,
``chips=3``), through a :class:`~trnsim.serve.spelling.Spelling`. Types are checked too: the CLI's
parser hands over numbers only, the API whatever Python value it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trnsim.errors import ConfigError
from trnsim.hardware.catalog import SystemSpec, load_system
from trnsim.hardware.distinct_systems import check_distinct_systems
from trnsim.hardware.node_fit import check_fills_nodes
from trnsim.serve.config import ServeConfig, Speculation
from trnsim.serve.params import load_serving_params
from trnsim.serve.spelling import API, CLI, Spelling
from trnsim.workload.config import ModelConfig
from trnsim.workload.models import load_model

if TYPE_CHECKING:
    from trnsim.serve.compare import CompareOutcome

__all__ = ["API", "CLI", "ServeInputs", "Spelling", "check_systems", "rank_count", "serve_inputs"]

_BYTES = {"bf16": 2, "fp8": 1}


@dataclass(frozen=True)
class ServeInputs:
    """A request's checked inputs: what :class:`~trnsim.serve.ServeConfig` and
    :func:`~trnsim.serve.compare.compare_serving` take, the system and rank count aside."""

    model: ModelConfig
    tp: int
    pp: int
    ep: int
    concurrency: int
    input_tokens: int
    output_tokens: int
    weight_bytes: int
    kv_bytes: int
    speculation: Speculation | None
    prefill_chunk: int | None
    tpot_s: float | None
    ttft_s: float | None
    #: The concurrency as given (None: not given): a system comparison searches up to it, else freely.
    concurrency_cap: int | None = None
    #: How the user named the inputs: the layout's own checks (--tp dividing the heads ...) say it so.
    spelling: Spelling = CLI

    def config(self, system: SystemSpec, ranks: int) -> ServeConfig:
        """One layout of these inputs on ``ranks`` ranks of ``system``."""
        return ServeConfig(self.model, system, ranks, self.tp, self.concurrency, self.input_tokens,
                           self.output_tokens, pp=self.pp, ep=self.ep, weight_bytes=self.weight_bytes,
                           kv_bytes=self.kv_bytes, speculation=self.speculation,
                           prefill_chunk=self.prefill_chunk, spelling=self.spelling)

    def compare(self, systems: list[str]) -> CompareOutcome:
        """The best layout of these inputs on each of ``systems`` at their latency targets, the
        concurrency searched up to the one given (none given: freely)."""
        from trnsim.serve.compare import compare_serving

        return compare_serving(self.model, systems, concurrency_max=self.concurrency_cap,
                               input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                               weight_bytes=self.weight_bytes, kv_bytes=self.kv_bytes, tpot_s=self.tpot_s,
                               ttft_s=self.ttft_s)


def _whole(spelling: Spelling, key: str, value: object) -> None:
    """A whole number (or None): a string, a bool or 2.5 is refused before any arithmetic on it."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not math.isfinite(value) or value != int(value)):
        raise ConfigError(f"{spelling.name(key)} must be a whole number, got {value!r}")


def _number(spelling: Spelling, key: str, value: object) -> None:
    """A number (or None)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{spelling.name(key)} must be a number, got {value!r}")


def _target_s(spelling: Spelling, key: str, ms: float | None) -> float | None:
    """A latency target in seconds: a positive, finite number of milliseconds."""
    _number(spelling, key, ms)
    if ms is None:
        return None
    if not (math.isfinite(ms) and ms > 0):
        raise ConfigError(f"{spelling.name(key)} must be a positive number of milliseconds, got {ms:g}")
    return ms / 1e3


def _bytes(spelling: Spelling, key: str, value: object) -> int:
    """The bytes of an element: bf16 2, fp8 1."""
    if not isinstance(value, str) or value not in _BYTES:
        raise ConfigError(f"{spelling.name(key)} '{value}' is not known; valid: bf16, fp8")
    return _BYTES[value]


def _model_type(spelling: Spelling, key: str, model: object) -> None:
    """A preset name, a config.json path or directory, or a loaded :class:`ModelConfig`."""
    if not isinstance(model, str | Path | ModelConfig):
        raise ConfigError(f"{spelling.name(key)} must be a preset name, a config.json path or a ModelConfig, "
                          f"got {model!r:.60}")


def serve_inputs(model: str | Path | ModelConfig, spelling: Spelling, *, concurrency: int | None,
                 input_tokens: int, output_tokens: int, precision: str, kv_dtype: str,
                 tp: int | None = None, pp: int | None = None, ep: int | None = None,
                 draft_model: str | Path | ModelConfig | None = None, speculation_length: int | None = None,
                 acceptance_rate: float | None = None, prefill_chunk: int | None = None,
                 tpot_ms: float | None = None, ttft_ms: float | None = None) -> ServeInputs:
    """Check a serving request's inputs and load its model (and draft): one line naming the input
    (as ``spelling`` writes it) at the first that is wrong. ``tp``, ``pp``, ``ep`` and ``concurrency``
    default to 1; the serving file gives a speculation's missing length or acceptance rate."""
    for key, value in (("concurrency", concurrency), ("input_tokens", input_tokens),
                       ("output_tokens", output_tokens), ("tp", tp), ("pp", pp), ("ep", ep),
                       ("speculation_length", speculation_length), ("prefill_chunk", prefill_chunk)):
        _whole(spelling, key, value)
    for key, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if value is None:
            raise ConfigError(f"{spelling.name(key)} must be a whole number, got None")
    _number(spelling, "acceptance_rate", acceptance_rate)
    concurrency_given = concurrency
    tp, pp, ep, concurrency = (1 if v is None else int(v) for v in (tp, pp, ep, concurrency))
    for key, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                       ("concurrency", concurrency), ("tp", tp), ("pp", pp), ("ep", ep)):
        if value < 1:
            raise ConfigError(f"{spelling.name(key)} must be at least 1, got {value}")
    tpot_s, ttft_s = _target_s(spelling, "tpot_ms", tpot_ms), _target_s(spelling, "ttft_ms", ttft_ms)
    weight_bytes, kv_bytes = _bytes(spelling, "precision", precision), _bytes(spelling, "kv_dtype", kv_dtype)
    _model_type(spelling, "model", model)
    config = model if isinstance(model, ModelConfig) else load_model(model)
    if input_tokens + output_tokens > config.max_seq_len:
        raise ConfigError(f"{spelling.name('input_tokens')} + {spelling.name('output_tokens')} = "
                          f"{input_tokens + output_tokens} exceeds {config.name}'s "
                          f"max_seq_len={config.max_seq_len}")
    params = load_serving_params()  # a bad serving file is said before the draft model is loaded
    speculation = None
    if draft_model is not None or speculation_length is not None or acceptance_rate is not None:
        if draft_model is None:
            raise ConfigError(f"{spelling.name('speculation_length')}/{spelling.name('acceptance_rate')} "
                              f"need {spelling.name('draft_model')}")
        if isinstance(draft_model, ModelConfig):
            draft = draft_model
        else:
            _model_type(spelling, "draft_model", draft_model)
            try:
                draft = load_model(draft_model)
            except ConfigError as error:  # a missing file, an unknown preset, a bad file: said of this input
                raise ConfigError(f"{spelling.name('draft_model')}: {error}") from None
        speculation = Speculation(
            draft,
            int(speculation_length) if speculation_length is not None else params.speculation_length,
            acceptance_rate if acceptance_rate is not None else params.acceptance_rate)
    return ServeInputs(config, tp, pp, ep, concurrency, int(input_tokens), int(output_tokens), weight_bytes,
                       kv_bytes, speculation, None if prefill_chunk is None else int(prefill_chunk), tpot_s,
                       ttft_s, None if concurrency_given is None else concurrency, spelling)


def rank_count(system: SystemSpec, spelling: Spelling, chips: int | None, nodes: int | None,
               ranks: int | None) -> int:
    """The rank count of chips, nodes or ranks (exactly one), checked against the system's nodes in its
    own unit."""
    given = [v for v in (chips, nodes, ranks) if v is not None]
    if len(given) != 1:
        raise ConfigError(f"give exactly one of {spelling.keyword('chips')}, {spelling.keyword('nodes')} or "
                          f"{spelling.keyword('ranks')}")
    key = "chips" if chips is not None else "nodes" if nodes is not None else "ranks"
    _whole(spelling, key, given[0])
    count = int(given[0])
    if count < 1:
        names = "/".join(spelling.name(k) for k in ("chips", "nodes", "ranks")) if spelling.cli else key
        raise ConfigError(f"{names} must be at least 1, got {count}")
    if key == "chips":
        check_fills_nodes(count, system.chips_per_node, "chips", system.name, spelling.given("chips", count))
        return count * system.ranks_per_chip
    if key == "nodes":
        return count * system.ranks_per_node
    check_fills_nodes(count, system.ranks_per_node, "ranks", system.name, spelling.given("ranks", count))
    return count


def check_systems(names: list[str], spelling: Spelling) -> list[SystemSpec]:
    """Each system known (its file loads) and named once (an alias counts as the system it names);
    their specs, in order."""
    specs = [load_system(n) for n in names]
    check_distinct_systems(names, [s.name for s in specs], spelling.name("systems"))
    return specs
