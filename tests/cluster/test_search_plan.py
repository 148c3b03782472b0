"""``search_plan`` (a planner's fast plan) builds the plan ``make_plan`` validates, and validates what it
cannot vouch for."""

from __future__ import annotations

import itertools

import pytest

from trnsim.cluster.pipeline import Schedule
from trnsim.cluster.plan import make_plan, search_plan
from trnsim.errors import ConfigError
from trnsim.workload.options import Recompute


def _validated(**knobs: object) -> object:
    interleave = knobs["interleave"]
    schedule = Schedule.INTERLEAVED if interleave > 1 else Schedule.ONE_F_ONE_B  # type: ignore[operator]
    return make_plan(**knobs, schedule=schedule)


@pytest.mark.parametrize(("tp", "pp", "interleave", "zero", "recompute", "sp", "slots"), list(
    itertools.product((1, 4), (1, 2), (1, 2), (0, 3), tuple(Recompute), (False, True), (False, True))))
def test_equals_the_validated_plan(tp: int, pp: int, interleave: int, zero: int, recompute: Recompute,
                                   sp: bool, slots: bool) -> None:
    knobs = dict(tp=tp, pp=pp, dp=8, cp=2, ep=1, zero_stage=zero, micro_batch=2, global_batch=64,
                 interleave=interleave, recompute=recompute, sequence_parallel=sp,
                 account_for_embedding_loss=slots)
    if (sp and tp == 1) or (slots and pp == 1):  # the validated plan refuses it: so does the fast one
        with pytest.raises(ConfigError) as refused:
            _validated(**knobs)
        with pytest.raises(ConfigError) as refused_fast:
            search_plan(**knobs)  # type: ignore[arg-type]
        assert str(refused_fast.value) == str(refused.value)
        return
    fast, validated = search_plan(**knobs), _validated(**knobs)  # type: ignore[arg-type]
    assert fast == validated and hash(fast) == hash(validated)
    assert fast.model_dump() == validated.model_dump()  # type: ignore[attr-defined]
    assert fast.model_fields_set == validated.model_fields_set  # type: ignore[attr-defined]
    assert repr(fast) == repr(validated)


@pytest.mark.parametrize(("field", "value"), [("tp", 0), ("dp", -1), ("micro_batch", 1.5), ("zero_stage", 4),
                                              ("global_batch", 0)])
def test_values_it_cannot_vouch_for_are_validated(field: str, value: object) -> None:
    knobs: dict[str, object] = dict(tp=2, pp=1, dp=8, cp=1, ep=1, zero_stage=1, micro_batch=1,
                                    global_batch=64, interleave=1, recompute=Recompute.NONE,
                                    sequence_parallel=False)
    knobs[field] = value
    with pytest.raises(ConfigError, match=field):
        search_plan(**knobs)  # type: ignore[arg-type]


def test_a_plain_number_of_another_type_is_converted_as_validation_does() -> None:
    knobs: dict[str, object] = dict(tp=True, pp=1, dp=8, cp=1, ep=1, zero_stage=1, micro_batch=1,
                                    global_batch=64, interleave=1, recompute="full", sequence_parallel=False)
    plan = search_plan(**knobs)  # type: ignore[arg-type]
    assert plan == _validated(**knobs) and type(plan.tp) is int and plan.recompute is Recompute.FULL


def test_the_fast_copy_has_the_state_model_copy_makes() -> None:
    """search_plan copies its default plan without pydantic's ``model_copy``: the same field dict (in
    order), fields set, extra and private state, so the plan behaves as the copy would."""
    from trnsim.cluster.plan import _copied

    base = make_plan()
    update: dict[str, object] = dict(tp=4, pp=2, dp=8, cp=1, ep=1, zero_stage=1, micro_batch=2,
                                     global_batch=64, interleave=2, schedule=Schedule.INTERLEAVED,
                                     recompute=Recompute.SELECTIVE, sequence_parallel=True,
                                     account_for_embedding_loss=False)
    fast, copied = _copied(base, update), base.model_copy(update=update)
    assert list(fast.__dict__.items()) == list(copied.__dict__.items())
    assert fast.__pydantic_fields_set__ == copied.__pydantic_fields_set__
    assert fast.__pydantic_extra__ == copied.__pydantic_extra__
    assert fast.__pydantic_private__ == copied.__pydantic_private__
    assert fast == copied and hash(fast) == hash(copied) and repr(fast) == repr(copied)
    assert base.__dict__["tp"] == 1 and base.model_fields_set == set()  # the default plan is left alone
