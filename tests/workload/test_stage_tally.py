"""A plan's stage tally in one call, and a skeleton's per-shard figures kept across micro-batches.

``stages_memory_parts`` replaced one ``memory_parts`` and one ``parts_total`` call per stage; a
skeleton's layer check, layer counts and parameters are kept per shard (``_frame``) rather than
found again at every micro-batch. Both must give what the per-stage code gave, to the last bit.
"""

from __future__ import annotations

import random

import pytest

from trnsim.errors import ConfigError
from trnsim.workload.graph import _layer_counts, build_skeleton, clear_cache, params_on_rank
from trnsim.workload.memory import MemoryFacts, memory_parts, parts_total, stages_memory_parts
from trnsim.workload.models import load_model
from trnsim.workload.shard import Shard

_OPTIMIZER_BYTES = 12


def _reference_parts(facts: MemoryFacts, dp: int, zero_stage: int, inflight_microbatches: float,
                     head_inflight: float | None, reshard_after_forward: bool) -> tuple[float, ...]:
    """memory_parts as it was before stages_memory_parts (874a1d2), a reference copy."""
    cp, ep, dense, expert, held = facts.cp, facts.ep, facts.dense, facts.expert, facts.held
    weight_bytes = facts.weight_bytes
    sharded = dense / (dp * cp) + expert / max(1, dp * cp // ep)
    weights = weight_bytes * (sharded if zero_stage >= 3 and reshard_after_forward else held)
    grads = facts.grad_bytes * (sharded if zero_stage >= 2 else held)
    optimizer = _OPTIMIZER_BYTES * (sharded if zero_stage >= 1 else held)
    activations = facts.activation_bytes * inflight_microbatches
    if head_inflight is not None:
        activations += facts.head_activation_bytes * (head_inflight - inflight_microbatches)
    temporary = facts.temporary_bytes
    layers = facts.layers
    if zero_stage == 3 and layers and reshard_after_forward:
        temporary += 2 * weight_bytes * (dense + expert) / layers
    return weights, grads, optimizer, activations, temporary


def _random_facts(rng: random.Random) -> MemoryFacts:
    dense, expert = rng.randrange(10**6, 10**11), rng.choice([0, rng.randrange(10**6, 10**12)])
    return MemoryFacts(rng.choice([1, 2, 4]), rng.choice([1, 2, 8]), dense, expert, dense + expert,
                       rng.choice([2, 3, 6.0]), rng.choice([2, 4]), rng.uniform(1e6, 1e11),
                       rng.uniform(0, 1e9), rng.uniform(0, 1e10), rng.choice([0, 1, 7, 32]))


def test_stages_memory_parts_is_memory_parts_per_stage() -> None:
    rng = random.Random(13)
    for _ in range(2000):
        stages = [_random_facts(rng) for _ in range(rng.choice([1, 2, 3]))]
        inflight = [(rng.choice([1, 2, 3.5, 8]), rng.choice([None, 1.0])) for _ in stages]
        dp, zero, reshard = rng.choice([1, 2, 3, 16, 64]), rng.choice([0, 1, 2, 3]), rng.random() < 0.5
        parts, totals = stages_memory_parts(stages, dp, zero, inflight, reshard)
        expected = [_reference_parts(f, dp, zero, held, head, reshard)
                    for f, (held, head) in zip(stages, inflight, strict=True)]
        assert parts == expected
        assert totals == [parts_total(p) for p in expected]
        assert [memory_parts(f, dp, zero, held, head, reshard)
                for f, (held, head) in zip(stages, inflight, strict=True)] == expected


def test_a_skeletons_layers_and_parameters_are_its_shards_at_every_micro_batch() -> None:
    # The shard's figures are kept across micro-batches and sequence lengths: in any order, each
    # skeleton's equal what the shard alone gives.
    cases = []
    for name in ("gpt3-175b", "mixtral-8x7b", "deepseek-v3"):
        model = load_model(name)
        for tp, layers, first, last in ((1, 3, True, False), (2, 5, False, False), (4, 2, False, True)):
            shard = Shard(tp=tp, ep=2 if model.is_moe else 1, layers=layers, first_layer=1,
                          has_embedding=first, has_lm_head=last)
            cases += [(model, shard, mb, seq) for mb in (1, 2, 4) for seq in (1024, 2048)]
    rng = random.Random(7)
    for _ in range(3):
        clear_cache()
        rng.shuffle(cases)
        for model, shard, mb, seq in cases:
            skeleton = build_skeleton(model, shard, mb, seq)
            assert skeleton.params == params_on_rank(model, shard)
            assert (skeleton.dense_layers, skeleton.moe_layers) == _layer_counts(model, shard)


def test_a_skeleton_checks_its_shape_before_its_layers() -> None:
    # As build_step's _check: a shard failing both reports its shape, and a failed layer check is
    # not kept (the same shard fails again).
    model = load_model("gpt3-175b")
    clear_cache()
    both = Shard(tp=5, layers=500)
    with pytest.raises(ConfigError, match="tp=5 must divide num_heads"):
        build_skeleton(model, both, 1, 2048)
    layers = Shard(tp=2, layers=500)
    for _ in range(2):
        with pytest.raises(ConfigError, match="exceed its"):
            build_skeleton(model, layers, 1, 2048)
