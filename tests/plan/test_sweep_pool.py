"""Sweeps at home: a local process pool by default, Ray only when asked, per-knob columns, the spec
recorded in SQLite, and progress lines when stderr is not a terminal.

The no-Ray case runs in a fresh interpreter whose path starts with a ``ray`` package that fails to
import, as on a machine without ``trnsim[ray]``.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.plan.test_sweep import SPEC
from tests.plan.toy_sweep import run_toy_point
from trnsim.plan.runner import run_sweep
from trnsim.plan.store import SweepStore
from trnsim.plan.sweep import load_sweep_spec
from trnsim.report.entries import entries_from_sweep
from trnsim.report.export import to_csv

ROOT = Path(__file__).resolve().parents[2]

# The CLI's sweep on the toy runner, as a script (the fresh interpreter has no pytest fixtures).
DRIVER = """
import sys
from tests.plan.toy_sweep import run_toy_point
from trnsim.cli import cmd_plan, main
cmd_plan.run_point = run_toy_point
cmd_plan.check_sweep_names = lambda spec, path: None
cmd_plan.PROGRESS_LINE_S = 0.0
sys.argv = ["trnsim", "sweep", *sys.argv[1:]]
main()
"""


def _no_ray_env(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "no_ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    path = os.pathsep.join([str(fake.parent), str(ROOT / "src"), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path}


def test_pool_sweep_stores_what_one_process_stores(tmp_path: Path) -> None:
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(SPEC)
    points = load_sweep_spec(spec_path).points()
    with SweepStore(tmp_path / "one.sqlite") as one, SweepStore(tmp_path / "pool.sqlite") as pool:
        run_sweep(points, one, run_toy_point, use_ray=False)
        summary = run_sweep(points, pool, run_toy_point, use_ray=False, workers=2)
        assert summary.ran == summary.written == len(points)
        by_key = {r.key: r.result for r in one.results()}
        assert {r.key: r.result for r in pool.results()} == by_key


def test_sweep_without_ray_runs_on_the_pool_and_ray_options_say_how_to_get_it(tmp_path: Path) -> None:
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(SPEC)
    env = _no_ray_env(tmp_path)
    db, out_csv = tmp_path / "sweep.sqlite", tmp_path / "sweep.csv"
    done = subprocess.run([sys.executable, "-c", DRIVER, str(spec_path), "--db", str(db), "--workers", "2",
                           "--csv", str(out_csv)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).replace(str(tmp_path), "TMP")
    assert "ray" not in output.lower()  # no Ray log line, no Ray mention at all
    total = len(load_sweep_spec(spec_path).points())
    # stderr is a pipe: progress comes as lines with done/total and an ETA
    progress = [line for line in done.stderr.splitlines() if line.startswith("sweep points: ")]
    assert progress and progress[-1].startswith(f"sweep points: {total}/{total} done")
    assert any("ETA" in line for line in progress)
    with sqlite3.connect(db) as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(results)")}
        assert "results_by_model_system_chips" in indexes
        columns = [row[2] for row in conn.execute("PRAGMA index_info(results_by_model_system_chips)")]
        assert columns == ["model", "system", "chips"]
        specs = conn.execute("SELECT path, points FROM specs").fetchall()
    assert specs == [(str(spec_path), total)]
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == total
    assert {r["scale_peak_flops"] for r in rows} == {"1.0", "2.0"}  # one column for the swept knob
    for flag in (["--ray"], ["--address", "ray://example:10001"]):
        refused = subprocess.run([sys.executable, "-c", DRIVER, str(spec_path), "--db",
                                  str(tmp_path / "other.sqlite"), *flag], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            "error: Ray is not installed: pip install 'trnsim[ray]' for --ray/--address, or leave them out "
            "to sweep on a local process pool")


def test_swept_knobs_are_columns_with_neutral_values_where_a_point_leaves_them(tmp_path: Path) -> None:
    spec_path = tmp_path / "sweep.toml"
    spec_path.write_text(SPEC + '\n[[whatif]]\nname = "hbm_bw_x2"\n')
    points = load_sweep_spec(spec_path).points()
    with SweepStore(tmp_path / "db.sqlite") as store:
        run_sweep(points, store, run_toy_point, use_ray=False)
        entries = entries_from_sweep(store.results())
    by_whatif = {e["whatif"]: (e["scale_peak_flops"], e["knob_hbm_bw"]) for e in entries}
    assert by_whatif == {"baseline": (1.0, 1.0), "peak-x2": (2.0, 1.0), "hbm_bw_x2": (1.0, 2.0)}
    header = to_csv(entries).splitlines()[0].split(",")
    assert "scale_peak_flops" in header and "knob_hbm_bw" in header
