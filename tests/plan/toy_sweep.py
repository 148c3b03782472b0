"""A sweep point runner on the toy step model, and a script entry that runs a sweep on local Ray.

``python -m tests.plan.toy_sweep SPEC DB DELAY_S`` is what the kill-and-resume test starts in
its own process group and kills part-way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tests.plan.toy_steps import TOY_PEAK_FLOPS, ToyStepModel, toy_model, toy_system
from trnsim.plan.problem import Problem, TrainingJob
from trnsim.plan.runner import run_sweep
from trnsim.plan.search import search_plans
from trnsim.plan.space import SearchSpace
from trnsim.plan.store import PointStatus, SweepStore
from trnsim.plan.sweep import SweepPoint, load_sweep_spec

TOY_MODELS = {"toy-small": {"layers": 12, "hidden": 1024}, "toy-large": {"layers": 24, "hidden": 2048}}
SPACE = SearchSpace(cp=(1,), interleave=(1,), micro_batches=(1, 2))
DELAY_S = {"value": 0.0}


def run_toy_point(point: SweepPoint) -> tuple[PointStatus, dict[str, Any]]:
    """Best toy plan of a point; the what-if ``scale`` may multiply ``peak_flops``."""
    time.sleep(DELAY_S["value"])
    steps = ToyStepModel(peak_flops=TOY_PEAK_FLOPS * point.whatif.scale.get("peak_flops", 1.0))
    job = TrainingJob.model_validate(point.job)
    problem = Problem(toy_model(**TOY_MODELS[point.model]), toy_system(), point.chips, job)
    best = search_plans(problem, SPACE, top_k=1, steps=steps).best
    return PointStatus.OK, best.to_dict()


def run_toy_point_slowly(point: SweepPoint) -> tuple[PointStatus, dict[str, Any]]:
    """:func:`run_toy_point` after a pause, so a sweep can be killed part-way."""
    time.sleep(0.4)
    return run_toy_point(point)


def main(spec_path: str, db_path: str) -> None:
    spec = load_sweep_spec(Path(spec_path))
    with SweepStore(Path(db_path)) as store:
        run_sweep(spec.points(), store, run_toy_point_slowly, use_ray=True, num_cpus=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
