"""One serving configuration: TTFT, TPOT, throughput, memory per rank, fit, cost and energy.

* TTFT (one request, no queueing) = the prefill ops of the prompt on one replica (all pipeline
  stages in turn) + its TP collectives (sequence parallel: an all-gather and a reduce-scatter per
  sub-layer) + pipeline sends + the host cost of one graph execution (the context encoding is
  one, as a decode step is) and the runtime's per-request and per-collective fixed costs.
* Closed-loop TTFT: what a benchmark client keeping ``C`` requests in flight measures. Requests
  of equal lengths finish together, so ``C`` new ones arrive together; the runtime encodes
  ``b`` prompts per graph execution (``serving.toml [runtime]``), and a step's first tokens are
  returned when the step ends: every request waits for all ``C`` prompts, in ``ceil(C / b)``
  executions: ``C × (ops + collectives) + ceil(C / b) × fixed costs``.
* TPOT = one decode step at ``concurrency`` requests, at the mean context of the O steps
  (``I + (O − 1) / 2``: attention time is linear in the context, so the mean step is the step at
  the mean context): the decode ops, one all-reduce per sub-layer of ``C × hidden`` BF16 values
  on the TP group (the latency-bound regime: the collective model picks the algorithm with the
  fewest latency steps), EP all-to-alls for MoE layers, pipeline sends, and the per-step and
  per-collective fixed costs of ``serving.toml``. With speculative decoding a round is ``k``
  draft steps plus one verify step of ``k + 1`` tokens per request, and yields
  ``(1 − a^(k+1)) / (1 − a)`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trnsim.cluster.collectives import Collective, collective_time
from trnsim.cluster.placement import GroupPlacement, place_group
from trnsim.cluster.topology import TopologySpec, topology_for_system
from trnsim.devicetime.ops import Op
from trnsim.devicetime.timing import time_op_detailed
from trnsim.hardware.catalog import ChipFamily, SystemSpec
from trnsim.serve.config import ServeConfig
from trnsim.serve.memory import ServeMemory, serve_memory
from trnsim.serve.ops import decode_ops, prefill_ops, prefill_tokens
from trnsim.serve.params import Overheads, load_serving_params

__all__ = ["DecodeStep", "ServeResult", "closed_loop_ttft", "decode_step", "estimate_serving"]

_ACT = 2


@dataclass(frozen=True)
class DecodeStep:
    """One decode (or verify) step on one replica, by part, in seconds."""

    ops_s: float
    tp_comm_s: float
    ep_comm_s: float
    pp_comm_s: float
    overhead_s: float
    by_op_s: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.ops_s + self.tp_comm_s + self.ep_comm_s + self.pp_comm_s + self.overhead_s


@dataclass(frozen=True)
class ServeResult:
    """What ``trnsim serve`` reports for one configuration."""

    config: ServeConfig
    ttft_s: float
    tpot_s: float
    #: TTFT under a closed-loop client keeping ``concurrency`` requests in flight (module docstring).
    ttft_closed_loop_s: float
    prefill_parts_s: dict[str, float]
    decode: DecodeStep
    memory: ServeMemory
    max_concurrency: int
    cost_per_million_tokens_usd: float | None
    energy_per_token_j: float | None
    notes: tuple[str, ...]

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / self.tpot_s

    @property
    def output_tokens_per_s(self) -> float:
        """All replicas together."""
        return self.config.concurrency * self.config.replicas / self.tpot_s

    @property
    def fits(self) -> bool:
        return self.memory.fits

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": c.model.name, "system": c.system.name, "ranks": c.ranks, "chips": c.chips,
            "tp": c.tp, "pp": c.pp, "ep": c.ep, "replicas": c.replicas, "concurrency": c.concurrency,
            "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
            "weight_bytes": c.weight_bytes, "kv_bytes": c.kv_bytes,
            "ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "ttft_closed_loop_s": self.ttft_closed_loop_s,
            "output_tokens_per_s_per_user": self.tokens_per_s_per_user,
            "output_tokens_per_s": self.output_tokens_per_s,
            "prefill_breakdown_s": self.prefill_parts_s,
            "decode_breakdown_s": {"ops": self.decode.ops_s, "tp_comm": self.decode.tp_comm_s,
                                   "ep_comm": self.decode.ep_comm_s, "pp_comm": self.decode.pp_comm_s,
                                   "overhead": self.decode.overhead_s},
            "decode_ops_s": self.decode.by_op_s,
            "memory_per_rank_bytes": self.memory.total_bytes,
            "memory_breakdown_bytes": self.memory.parts(),
            "memory_capacity_bytes": self.memory.capacity_bytes,
            "fits": self.fits, "dominant_memory": self.memory.dominant,
            "max_concurrency": self.max_concurrency,
            "cost_per_million_output_tokens_usd": self.cost_per_million_tokens_usd,
            "energy_per_output_token_j": self.energy_per_token_j,
            "energy_confidence": energy_confidence(self),
            "speculation": None if c.speculation is None else {
                "draft": c.speculation.draft.name, "length": c.speculation.length,
                "acceptance_rate": c.speculation.acceptance_rate,
                "expected_tokens_per_round": c.speculation.expected_tokens()},
            "notes": list(self.notes),
            # What the model config leaves out (sliding windows, ...), as estimate's JSON gives it.
            "model_notes": list(c.model.notes),
        }


def _ops_s(ops: list[Op], config: ServeConfig) -> tuple[float, dict[str, float]]:
    # Serving takes the simulated kernels' own times (the scale undone where timing applied it):
    # the Trainium calibration scale was fitted on training steps and makes the serving file's
    # held-out error worse (docs/serving.md); serving's end-to-end calibration is its fitted host
    # step cost (serving.toml).
    by_op: dict[str, float] = {}
    for op in ops:
        timed = time_op_detailed(op, config.system)
        t = timed.seconds * timed.calibration_scale
        by_op[op.name] = by_op.get(op.name, 0.0) + t
    return sum(by_op.values()), by_op


def _groups(config: ServeConfig,
            topology: TopologySpec) -> tuple[GroupPlacement, GroupPlacement, GroupPlacement]:
    r = config.system.ranks_per_chip
    tp = place_group(topology, r, 1, config.tp)
    ep = place_group(topology, r, config.tp * config.pp, config.ep)
    pp = place_group(topology, r, config.tp, 2 if config.pp > 1 else 1)
    return tp, ep, pp


def _tp_model_degree(model_heads: int, kv: int, ffn: int, tp: int) -> int:
    """Largest divisor of ``tp`` that the draft model's heads and FFN split evenly."""
    for t in range(tp, 0, -1):
        if tp % t == 0 and model_heads % t == 0 and ffn % t == 0 and (kv % t == 0 or t % kv == 0):
            return t
    return 1


def decode_step(config: ServeConfig, context: int, queries: int = 1, draft: bool = False,
                topology: TopologySpec | None = None, overheads: Overheads | None = None) -> DecodeStep:
    """One decode step of ``config`` (or of its draft model) with ``queries`` tokens per request."""
    topo = topology or topology_for_system(config.system, config.system.name)
    over = overheads or load_serving_params().for_chip(config.system.chip)
    tp_group, ep_group, pp_group = _groups(config, topo)
    model = config.model
    tp = config.tp
    if draft and config.speculation is not None:
        model = config.speculation.draft
        tp = _tp_model_degree(model.num_heads, model.num_kv_heads, model.ffn_hidden_size, config.tp)
        tp_group = place_group(topo, config.system.ranks_per_chip, 1, tp)
    rows = config.concurrency * queries
    ops = decode_ops(model, tp, model.num_layers, config.concurrency, context, queries=queries,
                     weight_bytes=config.weight_bytes, kv_bytes=config.kv_bytes,
                     ep=config.ep if not draft else 1)
    ops_s, by_op = _ops_s(ops, config)
    calls = 0
    tp_s = 0.0
    if tp_group.levels:
        # Two all-reduces per layer (attention and MLP outputs) and one gather of the sampled
        # candidates per vocabulary shard.
        calls = 2 * model.num_layers + 1
        message = rows * model.hidden_size * _ACT
        tp_s = calls * collective_time(Collective.ALL_REDUCE, message, tp_group).time_s
    ep_s = 0.0
    if ep_group.levels and model.is_moe and not draft:
        routed = rows * model.experts_per_token * model.hidden_size * _ACT
        ep_s = 2 * model.num_moe_layers * collective_time(Collective.ALL_TO_ALL, routed, ep_group).time_s
        calls += 2 * model.num_moe_layers
    pp_s = 0.0
    if pp_group.levels:
        pp_s = (config.pp - 1) * collective_time(Collective.SEND_RECV, rows * model.hidden_size * _ACT,
                                                 pp_group).time_s
    # A speculation round runs its draft steps and the verify step as one fused graph (as serving
    # stacks do): the host-side step cost is paid once per round, by the verify step.
    step_cost = 0.0 if draft else over.step_s
    return DecodeStep(ops_s, tp_s, ep_s, pp_s, step_cost + calls * over.collective_s, by_op)


def _prefill(config: ServeConfig, topology: TopologySpec, over: Overheads) -> dict[str, float]:
    model, tp = config.model, config.tp
    ops = prefill_ops(model, tp, model.num_layers, config.input_tokens, config.weight_bytes,
                      chunk=config.prefill_chunk)
    ops_s, _ = _ops_s(ops, config)
    tp_group, _, pp_group = _groups(config, topology)
    chunk = config.prefill_chunk
    seq = prefill_tokens(config.input_tokens if chunk is None else min(chunk, config.input_tokens), tp)
    passes = -(-config.input_tokens // seq)
    act = seq * model.hidden_size * _ACT
    comm = 0.0
    calls = 0
    if tp_group.levels:
        one = (collective_time(Collective.ALL_GATHER, act, tp_group).time_s
               + collective_time(Collective.REDUCE_SCATTER, act, tp_group).time_s)
        comm = passes * 2 * model.num_layers * one
        calls = passes * 4 * model.num_layers
    if pp_group.levels:
        comm += passes * (config.pp - 1) * collective_time(Collective.SEND_RECV, act / tp, pp_group).time_s
    # The context encoding is one graph execution: it pays the host's per-execution cost.
    fixed = over.step_s + over.request_s + calls * over.collective_s
    return {"ops": ops_s, "tp_comm": comm, "overhead": fixed}


def closed_loop_ttft(parts: dict[str, float], concurrency: int, context_batch: int) -> float:
    """TTFT when ``concurrency`` equal requests arrive together and ``context_batch`` prompts share
    one context-encoding execution: all prompts' work, and the fixed costs once per execution."""
    executions = -(-concurrency // context_batch)
    work = sum(v for k, v in parts.items() if k != "overhead")
    return concurrency * work + executions * parts["overhead"]


def power_source(system: SystemSpec) -> tuple[str, str] | None:
    """Confidence and source of the power figure the energy uses (the node's, else the chip's), as
    ``(confidence, source)``; None when the catalog gives neither a figure nor its provenance."""
    key, sources = (("node_power_w", system.sources) if system.node_power_w is not None
                    else ("power_w", system.chip.sources))
    provenance = sources.get(key)
    return None if provenance is None else (provenance.confidence.value, provenance.source)


def power_note(system: SystemSpec) -> str:
    """``confidence: source`` of the power figure a serving energy rests on."""
    source = power_source(system)
    return "no source" if source is None else f"{source[0]}: {source[1]}"


def _economics(config: ServeConfig, tokens_per_s: float) -> tuple[float | None, float | None]:
    system = config.system
    nodes = config.chips / system.chips_per_node
    cost = None
    if system.price_usd_per_node_hour is not None:
        cost = system.price_usd_per_node_hour * nodes / 3600.0 / tokens_per_s * 1e6
    power = None
    if system.node_power_w is not None:
        power = system.node_power_w * nodes
    elif system.chip.power_w is not None:
        power = system.chip.power_w * config.chips
    return cost, (power / tokens_per_s if power is not None else None)


def estimate_serving(config: ServeConfig, topology: TopologySpec | None = None,
                     overheads: Overheads | None = None) -> ServeResult:
    """TTFT, TPOT, throughput, memory, the largest concurrency that fits, cost and energy.

    ``overheads`` replaces the fixed costs of ``serving.toml`` (calibration refits them).
    """
    topo = topology or topology_for_system(config.system, config.system.name)
    params = load_serving_params()
    over = overheads or params.for_chip(config.system.chip)
    parts = _prefill(config, topo, over)
    closed = closed_loop_ttft(parts, config.concurrency, params.context_batch_for(config.system.chip))
    context = config.input_tokens + (config.output_tokens - 1) // 2
    spec = config.speculation
    if spec is None:
        step = decode_step(config, context, topology=topo, overheads=over)
        tpot = step.total_s
    else:
        draft = decode_step(config, context, draft=True, topology=topo, overheads=over)
        step = decode_step(config, context, queries=spec.length + 1, topology=topo, overheads=over)
        tpot = (spec.length * draft.total_s + step.total_s) / spec.expected_tokens()
    memory = serve_memory(config)
    cost, energy = _economics(config, config.concurrency * config.replicas / tpot)
    notes = [f"fixed overheads ({config.system.chip.family.value}, {over.confidence}): {over.source}"]
    if config.system.chip.family is not ChipFamily.TRAINIUM:
        notes.append("GPU/TPU serving times come from the analytic efficiency curves, uncalibrated for "
                     "serving (no published serving run of this chip is in the calibration data)")
    notes += _prefill_notes(config)
    if spec is not None:
        notes.append(f"memory per rank is the target model's: the draft model '{spec.draft.name}' (its "
                     "weights and KV cache) is not counted")
    return ServeResult(
        config=config, ttft_s=sum(parts.values()), tpot_s=tpot, ttft_closed_loop_s=closed,
        prefill_parts_s=parts, decode=step,
        memory=memory, max_concurrency=memory.max_concurrency, cost_per_million_tokens_usd=cost,
        energy_per_token_j=energy, notes=tuple(notes),
    )


def _prefill_notes(config: ServeConfig) -> list[str]:
    """What the prefill ran beyond the prompt: chunks (and so the prompt) padded to a multiple of TP."""
    tokens, chunk, tp = config.input_tokens, config.prefill_chunk, config.tp
    seq = prefill_tokens(tokens if chunk is None else min(chunk, tokens), tp)
    run = -(-tokens // seq) * seq  # the passes of `seq` tokens, as _prefill and prefill_ops run them
    notes = []
    if chunk is not None and chunk < tokens and seq != chunk:
        notes.append(f"prefill in chunks of {seq} tokens (--prefill-chunk {chunk} rounded up to a multiple "
                     f"of tp={tp} for sequence parallelism)")
    if run != tokens:
        notes.append(f"prefill padded to {run} tokens ({run // seq} chunks of {seq}, the last one full)"
                     if seq < run else
                     f"prefill padded to {run} tokens (a multiple of tp={tp} for sequence parallelism)")
    return notes


def energy_confidence(result: ServeResult) -> str | None:
    """Confidence of the power behind ``energy_per_token_j`` ('estimate' for Trn2's 500 W)."""
    source = power_source(result.config.system)
    return None if result.energy_per_token_j is None or source is None else source[0]
