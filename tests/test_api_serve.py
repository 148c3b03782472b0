"""``trnsim.serve`` and ``trnsim.serve_compare``: serving from Python, as ``trnsim serve [--compare]``.

The API had no serving entry point. The two functions take the command's options as arguments with
its defaults, check them with the command's own checks (:mod:`trnsim.serve.inputs`), worded with the
argument names (``chips=3`` where the CLI says ``--chips 3``), and return results whose ``to_dict()``
is the command's ``--json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trnsim
from tests.cli_errors import one_error_line, run_cli
from trnsim.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[1] / "src")
LOAD: dict[str, Any] = {"input_tokens": 256, "output_tokens": 64}
CLI_LOAD = ["--input-tokens", "256", "--output-tokens", "64"]


def _cli_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run_cli(monkeypatch, capsys, "serve", "--model", "llama3-8b", *CLI_LOAD, *args,
                             "--json", "-")
    assert code == 0, err
    return json.loads(out)


def test_serve_to_dict_is_the_cli_s_json(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cli = _cli_json(monkeypatch, capsys, "--system", "trn2", "--chips", "1", "--tp", "4", "--concurrency",
                    "8", "--prefill-chunk", "128")
    result = trnsim.serve("llama3-8b", "trn2", chips=1, tp=4, concurrency=8, prefill_chunk=128, **LOAD)
    assert result.to_dict() == cli  # every key and value: the same defaults (bf16 weights and KV ...)
    assert (result.ttft_s, result.tpot_s, result.fits) == (cli["ttft_s"], cli["tpot_s"], cli["fits"])
    assert result.output_tokens_per_s == cli["output_tokens_per_s"] > 0
    assert cli["ranks"] == 4 and cli["kv_bytes"] == 2 and cli["concurrency"] == 8
    assert repr(result).startswith("ServingResult(llama3-8b on 4 ranks of trn2, tp4 pp1 ep1, 8 in flight")
    assert f"{cli['tpot_s'] * 1e3:,.2f} ms" in repr(result)
    assert f"{cli['tpot_s']:.4g}" in result._repr_html_()
    # by nodes and by ranks, fp8 KV: the same layout the CLI serves
    cli = _cli_json(monkeypatch, capsys, "--system", "trn2", "--ranks", "8", "--tp", "8", "--kv-dtype", "fp8")
    assert trnsim.serve("llama3-8b", "trn2", ranks=8, tp=8, kv_dtype="fp8", **LOAD).to_dict() == cli
    assert cli["kv_bytes"] == 1


def test_serve_with_a_draft_model_is_the_cli_s(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cli = _cli_json(monkeypatch, capsys, "--system", "trn2", "--chips", "1", "--tp", "4", "--draft-model",
                    "llama3.1-8b", "--acceptance-rate", "0.6")
    api = trnsim.serve("llama3-8b", "trn2", chips=1, tp=4, draft_model="llama3.1-8b", acceptance_rate=0.6,
                       **LOAD).to_dict()
    assert api == cli and api["speculation"]["acceptance_rate"] == 0.6
    model = trnsim.load_model("llama3.1-8b")  # a ModelConfig is taken as model and draft, as estimate's
    again = trnsim.serve(trnsim.load_model("llama3-8b"), "trn2", chips=1, tp=4, draft_model=model,
                         acceptance_rate=0.6, **LOAD).to_dict()
    assert again == api


def test_serve_compare_to_dict_is_the_cli_s_json(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cli = _cli_json(monkeypatch, capsys, "--compare", "--systems", "trn2,p5", "--concurrency", "4",
                    "--tpot-ms", "50")
    result = trnsim.serve_compare("llama3-8b", systems="trn2,p5", concurrency=4, tpot_ms=50, **LOAD)
    assert result.to_dict() == cli
    assert trnsim.serve_compare("llama3-8b", systems=["trn2", "p5"], concurrency=4, tpot_ms=50,
                                **LOAD).to_dict() == cli
    assert cli["tpot_target_s"] == 0.05 and "model_notes" in cli
    assert [r["system"] for r in result.rows] == [r["system"] for r in cli["systems"]]
    assert result.any_meets and max(r["concurrency"] for r in result.rows) <= 4
    assert repr(result).startswith("ServingCompareResult(2 systems; within the targets, best first: ")
    # nothing meets a target of 1 µs: the CLI writes its JSON and exits 3; the API returns the result
    code, out, _ = run_cli(monkeypatch, capsys, "serve", "--model", "llama3-8b", *CLI_LOAD, "--compare",
                           "--systems", "trn2", "--concurrency", "2", "--tpot-ms", "0.001", "--json", "-")
    none = trnsim.serve_compare("llama3-8b", systems="trn2", concurrency=2, tpot_ms=0.001, **LOAD)
    assert code == 3 and none.to_dict() == json.loads(out) and not none.any_meets
    assert "TPOT above" in none.rows[0]["why_none"]


def test_serve_compare_defaults_are_the_cli_s() -> None:
    from trnsim.serve.compare import DEFAULT_SYSTEMS

    result = trnsim.serve_compare("llama3-8b", concurrency=1, **LOAD)
    assert sorted(r["system"] for r in result.rows) == sorted(DEFAULT_SYSTEMS)


def test_serve_honours_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    # A user serving.toml with a host step cost 10 ms above the shipped one: each decode step of the
    # one-request layout pays it once, so the TPOT grows by exactly that (speculation off).
    from trnsim.serve import load_serving_params

    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    shipped_step = load_serving_params().overheads["trainium"].step_s
    (tmp_path / "serving.toml").write_text(f"[overhead.trainium]\nstep_s = {shipped_step + 0.010!r}\n")
    args = {"chips": 1, "tp": 4, **LOAD}
    shipped = trnsim.serve("llama3-8b", "trn2", **args)
    user = trnsim.serve("llama3-8b", "trn2", catalog=tmp_path, **args)
    assert "TRNSIM_CATALOG" not in os.environ  # the catalog ends with the call
    assert user.tpot_s - shipped.tpot_s == pytest.approx(0.010, rel=1e-9)
    cli = _cli_json(monkeypatch, capsys, "--system", "trn2", "--chips", "1", "--tp", "4", "--catalog",
                    str(tmp_path))
    assert user.to_dict() == cli
    assert trnsim.serve("llama3-8b", "trn2", **args).to_dict() == shipped.to_dict()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"chips": 3}, "chips=3 does not fit trn2 nodes of 16 chips"),
    ({"ranks": 3}, "ranks=3 does not fit trn2 nodes of 64 ranks"),
    ({"chips": 0}, "chips must be at least 1, got 0"),
    ({}, "give exactly one of chips=, nodes= or ranks="),
    ({"chips": 1, "nodes": 1}, "give exactly one of chips=, nodes= or ranks="),
    ({"chips": 1, "concurrency": 0}, "concurrency must be at least 1, got 0"),
    ({"chips": 1, "tp": -2}, "tp must be at least 1, got -2"),
    ({"chips": 1, "kv_dtype": "fp4"}, "kv_dtype 'fp4' is not known; valid: bf16, fp8"),
    ({"chips": 1, "precision": "fp32"}, "precision 'fp32' is not known; valid: bf16, fp8"),
    ({"chips": 1, "input_tokens": 8000, "output_tokens": 1000},
     "input_tokens + output_tokens = 9000 exceeds llama3-8b's max_seq_len=8192"),
    ({"chips": 1, "acceptance_rate": 0.5}, "speculation_length/acceptance_rate need draft_model"),
    ({"chips": 1, "draft_model": "llama9"}, "draft_model: unknown model 'llama9'"),
    # the layout's own checks (ServeConfig) name the arguments too
    ({"chips": 1, "tp": 4, "ep": 2}, "serve llama3-8b: ep=2 applies to MoE models only, and llama3-8b is "
                                     "dense; leave ep out (or give 1)"),
    ({"chips": 1, "tp": 4, "prefill_chunk": 0}, "serve llama3-8b: prefill_chunk must be at least 1, got 0"),
    ({"chips": 16, "tp": 64}, "serve llama3-8b: tp=64 must divide num_heads=32"),
    ({"chips": 1, "tp": 4, "draft_model": "llama3.1-8b", "speculation_length": 64},
     "serve llama3-8b: speculation length 64 exceeds output_tokens - 1 = 63 (a round keeps at most k + 1 "
     "tokens); give speculation_length 1..63"),
    ({"chips": 1, "tp": 4, "draft_model": "llama3.1-8b", "output_tokens": 1},
     "serve llama3-8b: output_tokens=1 leaves no token to draft; speculative decoding needs "
     "output_tokens >= 2"),
    # wrong types: a TypeError/AttributeError deep inside, or a silent bool, without these checks
    ({"chips": "1"}, "chips must be a whole number, got '1'"),
    ({"chips": 1, "tp": "4"}, "tp must be a whole number, got '4'"),
    ({"chips": 1, "tp": 2.5}, "tp must be a whole number, got 2.5"),
    ({"chips": 1, "concurrency": True}, "concurrency must be a whole number, got True"),
    ({"chips": 1, "input_tokens": None}, "input_tokens must be a whole number, got None"),
    ({"chips": 1, "precision": None}, "precision 'None' is not known; valid: bf16, fp8"),
    ({"chips": 1, "draft_model": "llama3.1-8b", "acceptance_rate": "high"},
     "acceptance_rate must be a number, got 'high'"),
    ({"chips": 1, "draft_model": "llama3.1-8b", "speculation_length": 2.5},
     "speculation_length must be a whole number, got 2.5"),
    ({"chips": 1, "draft_model": 5}, "draft_model must be a preset name, a config.json path or a "
                                     "ModelConfig, got 5"),
    ({"chips": 1, "catalog": 5}, "catalog must be a directory"),
    ({"chips": 1, "catalog": "no/such/dir"}, "catalog directory 'no/such/dir' does not exist"),
])
def test_serve_refuses_bad_arguments_in_one_line(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        trnsim.serve("llama3-8b", "trn2", **{**LOAD, **kwargs})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: trnsim.serve(None, "trn2", chips=1),  # type: ignore[arg-type]
     "model must be a preset name, a config.json path or a ModelConfig, got None"),
    (lambda: trnsim.serve("llama3-8b", None, chips=1),  # type: ignore[arg-type]
     "system must be a system name (e.g. 'trn2'), got None"),
    (lambda: trnsim.serve("llama3-8b", "trn9", chips=1), "unknown system 'trn9'"),
    (lambda: trnsim.serve_compare("llama3-8b", systems="trn2,,p5"), "systems 'trn2,,p5' has an empty name"),
    (lambda: trnsim.serve_compare("llama3-8b", systems=""), "systems is empty"),
    (lambda: trnsim.serve_compare("llama3-8b", systems=5),  # type: ignore[arg-type]
     "systems must be a comma-separated string"),
    (lambda: trnsim.serve_compare("llama3-8b", systems=["trn2", "trn2.48xlarge"]),
     "systems names 'trn2.48xlarge' and 'trn2' are both trn2; give each system once"),
    (lambda: trnsim.serve_compare("llama3-8b", tpot_ms=-1), "tpot_ms must be a positive number of "
                                                            "milliseconds, got -1"),
    (lambda: trnsim.serve_compare("llama3-8b", ttft_ms=float("nan")), "ttft_ms must be a positive number"),
    (lambda: trnsim.serve_compare("llama3-8b", tpot_ms="50"),  # type: ignore[arg-type]
     "tpot_ms must be a number, got '50'"),
    (lambda: trnsim.serve_compare("llama3-8b", concurrency=0), "concurrency must be at least 1, got 0"),
])
def test_bad_arguments_of_either_function_are_one_line(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("options", "kwargs"), [
    (["--chips", "3"], {"chips": 3}),
    (["--chips", "1", "--concurrency", "0"], {"chips": 1, "concurrency": 0}),
    (["--chips", "1", "--kv-dtype", "fp4"], {"chips": 1, "kv_dtype": "fp4"}),
    (["--chips", "1", "--tp", "4", "--ep", "2"], {"chips": 1, "tp": 4, "ep": 2}),
    (["--chips", "1", "--acceptance-rate", "0.5"], {"chips": 1, "acceptance_rate": 0.5}),
    (["--chips", "0"], {"chips": 0}),
    (["--chips", "1", "--tp", "4", "--draft-model", "llama3.1-8b", "--speculation-length", "64"],
     {"chips": 1, "tp": 4, "draft_model": "llama3.1-8b", "speculation_length": 64}),
])
def test_cli_and_api_say_the_same_in_their_own_words(options: list[str], kwargs: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "serve", "--model", "llama3-8b", "--system", "trn2",
                           *CLI_LOAD, *options)
    line = one_error_line(code, err).removeprefix("error: ")
    with pytest.raises(ConfigError) as caught:
        trnsim.serve("llama3-8b", "trn2", **{**LOAD, **kwargs})
    api = str(caught.value)
    # the CLI's words for the arguments: "--chips 3" for "chips=3", "--kv-dtype" for "kv_dtype"
    # (bare "chips" is also a unit, as in "nodes of 16 chips": only "chips=3" is an argument)
    api = re.sub(r"(?<![\w-])(chips|tp|ep)=(\S+)", r"--\1 \2", api)
    names = "|".join(("ep", "concurrency", "kv_dtype", "acceptance_rate", "draft_model",
                      "speculation_length", "output_tokens"))
    api = re.sub(rf"(?<![\w-])({names})\b", lambda m: f"--{m[1].replace('_', '-')}", api)
    # the CLI names the three ways of giving the count
    api = api.replace("chips must be at least 1", "--chips/--nodes/--ranks must be at least 1")
    assert api == line


def test_serve_can_be_called_again_after_the_serving_package_is_imported(tmp_path: Path) -> None:
    """``trnsim.serve`` is also the package of the serving model: its first import sets the attribute
    ``trnsim.serve`` over the API function, so the second call must still be the API's ``serve``."""
    code = ("import trnsim\n"
            "args = dict(chips=1, tp=4, input_tokens=256, output_tokens=64)\n"
            "a = trnsim.serve('llama3-8b', 'trn2', **args)\n"
            "b = trnsim.serve('llama3-8b', 'trn2', **args)\n"
            "from trnsim.serve import ServeConfig\n"
            "import trnsim.serve.compare as compare\n"
            "c = trnsim.serve('llama3-8b', 'trn2', **args)\n"
            "print(a.to_dict() == b.to_dict() == c.to_dict(), callable(compare.compare_serving),\n"
            "      ServeConfig.__name__, type(a).__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "ServeConfig", "ServingResult"]
