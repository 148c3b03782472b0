"""The Python API as a notebook user calls it: a fresh interpreter, ``import trnsim``, one call.

Each scenario runs in its own interpreter (subprocess) so that it sees what a user sees: the lazy
facade, no test fixtures, the real catalog and cluster model. The estimate is checked against
``trnsim estimate --json`` run with the same arguments: same defaults, same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _python(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_trnsim_loads_no_heavy_module(tmp_path: Path) -> None:
    out = _python("import sys, trnsim\n"
                  "heavy = ['trnsim.api', 'pandas', 'plotly', 'ray', 'ml_dtypes', 'transformers', 'numpy',\n"
                  "         'pydantic']\n"
                  "print(sorted(m for m in heavy if m in sys.modules))\n"
                  "print(callable(trnsim.estimate), 'trnsim.api' in sys.modules)", tmp_path)
    assert out.split("\n")[:2] == ["[]", "True True"]


def test_estimate_in_a_fresh_interpreter_equals_the_cli(tmp_path: Path) -> None:
    out = _python(
        "import json, trnsim\n"
        "r = trnsim.estimate('llama3-8b', 'trn2', nodes=2, tp=4, pp=2, recompute='full', micro_batch=2)\n"
        "print(json.dumps(r.to_dict()))\n"
        "print(repr(r))\n"
        "print(r._repr_html_())", tmp_path)
    data_line, repr_line, html_line = out.strip().split("\n")[:3]
    data = json.loads(data_line)
    cli_json = tmp_path / "cli.json"
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", "from trnsim.cli import main; main()", "estimate",
                    "--model", "llama3-8b", "--system", "trn2", "--nodes", "2", "--tp", "4", "--pp", "2",
                    "--recompute", "full", "--micro-batch", "2", "--json", str(cli_json)],
                   check=True, capture_output=True, env=env, cwd=tmp_path, timeout=300)
    cli = json.loads(cli_json.read_text())
    assert data == cli  # every key and value, so every default matches the CLI's
    assert data["params_total"] == data["params_active"] > 8e9
    assert repr_line.startswith("EstimateResult(llama3-8b on 128 ranks of trn2")
    assert f"{data['step_time_s']:.4g}" in html_line and html_line.startswith("<div>")


def test_plan_and_load_model_in_a_fresh_interpreter(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "model_type": "qwen3_moe", "hidden_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 16,
        "num_key_value_heads": 4, "head_dim": 64, "moe_intermediate_size": 256, "num_experts": 16,
        "num_experts_per_tok": 2, "vocab_size": 32000, "max_position_embeddings": 8192}))
    out = _python(
        "import json, trnsim\n"
        "m = trnsim.load_model('config.json')\n"
        "print(m.n_params(), m.n_active_params())\n"
        "p = trnsim.plan('config.json', 'trn2', tokens='20B', nodes=1, space='quick', top=2)\n"
        "print(json.dumps(p.to_dict()))\n"
        "print(repr(p))\n"
        "try:\n"
        "    trnsim.estimate('llama3-8b', 'trn2')\n"
        "except trnsim.errors.TrnsimError as e:\n"
        "    print('error:', e)\n", tmp_path)
    counts, doc, rep, error = out.strip().split("\n")[:4]
    total, active = (int(x) for x in counts.split())
    data = json.loads(doc)
    assert (data["meta"]["params_total"], data["meta"]["params_active"]) == (total, active)
    assert active < total  # top-2 of 16 experts
    top = [r for r in data["results"] if r["kind"] == "top"]
    assert len(top) == 2 and top[0]["time_to_train_s"] <= top[1]["time_to_train_s"]  # ranked by time
    # the CLI's JSON: Trn2's error band, labelled as not validated on it
    assert data["meta"]["error_bars"]["bands"]["trainium-unvalidated"]["validated"] is False
    assert top[0]["step_time_s_low"] == top[0]["step_time_s"] * (1 - top[0]["error_band"])
    assert rep.startswith("PlanResult(config.json on trn2: best ")
    assert error == "error: give exactly one of nodes= or ranks="


def test_to_frame_without_pandas_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        out = _python("import trnsim\n"
                      "r = trnsim.estimate('llama3-8b', 'trn2', nodes=1, tp=4, recompute='full')\n"
                      "try:\n    r.to_frame()\n"
                      "except trnsim.errors.TrnsimError as e:\n    print(e)", tmp_path)
        assert out.strip() == "to_frame() needs pandas: pip install pandas (or use to_dict())"
    else:
        out = _python("import trnsim\n"
                      "r = trnsim.estimate('llama3-8b', 'trn2', nodes=1, tp=4, recompute='full')\n"
                      "f = r.to_frame()\nprint(len(f), f['step_time_s'][0] == r.step_time_s,"
                      " 'breakdown_s_compute' in f.columns)", tmp_path)
        assert out.split() == ["1", "True", "True"]


@pytest.mark.parametrize(("call", "message"), [
    ("trnsim.estimate('llama3-8b', 'trn2', nodes=1, recompute='most')",
     "recompute='most' is not valid; valid: none, selective, full"),
    ("trnsim.plan('llama3-8b', 'trn2', tokens='lots', nodes=1)", "tokens 'lots' is not a number"),
    ("trnsim.load_model('llama9')", "unknown model 'llama9'"),
])
def test_bad_arguments_raise_the_cli_s_one_line_errors(tmp_path: Path, call: str, message: str) -> None:
    out = _python(f"import trnsim\ntry:\n    {call}\nexcept trnsim.errors.TrnsimError as e:\n    print(e)",
                  tmp_path)
    assert out.startswith(message) and out.count("\n") == 1


def test_plan_can_be_called_again_after_the_planner_package_is_imported(tmp_path: Path) -> None:
    """The first call imports the package ``trnsim.plan``, which Python sets as the attribute
    ``trnsim.plan`` over the API function: the second call (and one after ``compare``, which uses the
    planner too) must still be the API's ``plan``, and the package's modules still importable."""
    out = _python(
        "import trnsim\n"
        "args = dict(tokens='1T', nodes=1, space='quick', top=1)\n"
        "a = trnsim.plan('llama3-8b', 'trn2', **args)\n"
        "b = trnsim.plan('llama3-8b', 'trn2', **args)\n"
        "import trnsim.plan.search as search\n"
        "from trnsim.plan.problem import Problem\n"
        "c = trnsim.plan('llama3-8b', 'trn2', **args)\n"
        "print(a.best['plan'] == b.best['plan'] == c.best['plan'], callable(search.search_plans))\n",
        tmp_path)
    assert out.strip() == "True True"
