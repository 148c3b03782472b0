"""Sweeps: spec validation, point identity, results stored once, resumable after a kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plan.toy_sweep import run_toy_point
from trnsim.plan.errors import SweepSpecError
from trnsim.plan.runner import run_sweep
from trnsim.plan.store import PointStatus, SweepStore
from trnsim.plan.sweep import load_sweep_spec

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
tokens = 1e9
seq_len = 2048
global_batch = 64
models = ["toy-small", "toy-large"]
systems = ["toy-system"]
chips = [8, 16, 32]

[[whatif]]
name = "baseline"

[[whatif]]
name = "peak-x2"
scale = { "peak_flops" = 2.0 }
"""


@pytest.fixture()
def spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(SPEC)
    return path


def test_spec_points_have_distinct_stable_keys(spec_path: Path) -> None:
    points = load_sweep_spec(spec_path).points()
    assert len(points) == 2 * 1 * 3 * 2
    assert len({p.key for p in points}) == len(points)
    assert [p.key for p in points] == [p.key for p in load_sweep_spec(spec_path).points()]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tokens = 1e9\nmodels = []\nsystems = ['a']\nchips = [8]", "models"),
        ("tokens = 1e9\nmodels = ['m']\nsystems = ['a']\nchips = [0]", "chips.0"),
        ("tokens = 1e9\nmodels = ['m']\nsystems = ['a']\nchips = [8]\ncolour = 1", "colour"),
        ("tokens = ", "not valid TOML"),
    ],
)
def test_bad_spec_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepSpecError) as info:
        load_sweep_spec(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_serial_sweep_writes_each_point_once_and_resumes(spec_path: Path, tmp_path: Path) -> None:
    points = load_sweep_spec(spec_path).points()
    db = tmp_path / "results.sqlite"
    with SweepStore(db) as store:
        first = run_sweep(points[:5], store, run_toy_point, use_ray=False)
        assert (first.ran, first.written) == (5, 5)
        second = run_sweep(points, store, run_toy_point, use_ray=False)
        assert (second.already_done, second.ran, second.written) == (5, len(points) - 5, len(points) - 5)
        assert store.count() == len(points)
        results = store.results()
    assert {r.key for r in results} == {p.key for p in points}
    assert all(r.status is PointStatus.OK for r in results)
    # The what-if doubling peak FLOP/s must speed up the compute-bound toy model.
    by_point = {(r.point["model"], r.point["chips"], r.point["whatif"]["name"]): r.result for r in results}
    for chips in (8, 16, 32):
        base, fast = by_point[("toy-large", chips, "baseline")], by_point[("toy-large", chips, "peak-x2")]
        assert fast["step_time_s"] < base["step_time_s"]


def _rows(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return [r[0] for r in conn.execute("SELECT key FROM results")]
    except sqlite3.OperationalError:  # table not created yet
        return []


def test_killed_ray_sweep_resumes_without_loss_or_duplicates(spec_path: Path, tmp_path: Path) -> None:
    """A real local Ray sweep in its own process group, killed after some results, then rerun."""
    db = tmp_path / "results.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, "-m", "tests.plan.toy_sweep", str(spec_path), str(db)]
    total = len(load_sweep_spec(spec_path).points())
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while len(_rows(db)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and the Ray processes it started
        proc.wait()
    partial = _rows(db)
    assert 3 <= len(partial) < total, "the sweep must be killed part-way for this test to mean anything"
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                           start_new_session=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    final = _rows(db)
    assert len(final) == len(set(final)) == total
    assert set(partial) <= set(final)
    with SweepStore(db) as store:
        assert {r.key for r in store.results()} == {p.key for p in load_sweep_spec(spec_path).points()}
