"""CLI conventions: --version, -h, python -m trnsim, completion, `--json -`, one spelling per idea,
a help line for every option, and Ray shut down when a sweep is interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import typer

import trnsim
from tests.cli_errors import run_cli
from trnsim.cli.apps import app
from trnsim.plan import runner

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tensor_add.py"


# typer may vendor its own click: classes are recognised by what they have, not by isinstance.
Command = Any


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "option"


def _commands() -> list[tuple[str, Command]]:
    """Every leaf command of ``trnsim`` with its full name."""
    found: list[tuple[str, Command]] = []

    def walk(command: Command, name: str) -> None:
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                walk(sub, f"{name} {sub_name}".strip())
        else:
            found.append((name, command))

    walk(typer.main.get_command(app), "")
    return found


def _option(command: Command, name: str) -> Any:
    return next((p for p in command.params if _is_option(p) and name in p.opts), None)


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(monkeypatch, capsys, "--version") == (0, f"trnsim {trnsim.__version__}\n", "")


@pytest.mark.parametrize("command", [[], ["plan"], ["catalog", "chips"], ["kernel", "run"]])
def test_h_is_help(command: list[str], monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    short = run_cli(monkeypatch, capsys, *command, "-h")
    long = run_cli(monkeypatch, capsys, *command, "--help")
    assert short == long and short[0] == 0 and "Usage: trnsim" in short[1]


def test_python_m_trnsim() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "trnsim", "--version"], capture_output=True, text=True,
                          check=False, env=env)
    assert done.returncode == 0 and done.stdout == f"trnsim {trnsim.__version__}\n", done.stderr


def test_shell_completion_is_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


def test_every_option_has_a_help_line() -> None:
    missing = [f"trnsim {name} {'/'.join(p.opts)}" for name, command in _commands() for p in command.params
               if _is_option(p) and not p.hidden and not (p.help or "").strip()]
    assert not missing, missing


def test_json_dash_is_offered_wherever_json_is() -> None:
    for name, command in _commands():
        option = _option(command, "--json")
        if option is not None:
            assert not option.is_flag, f"trnsim {name}: --json must take PATH|-"
            text = option.help or ""
            assert "-" in text and ("standard output" in text or "stdout" in text), name


def test_one_spelling_per_idea() -> None:
    commands = dict(_commands())
    for name in ("estimate", "plan", "compare"):
        tokens = _option(commands[name], "--tokens")
        assert tokens is not None and "15T" in (tokens.help or ""), name
    for name, command in commands.items():  # a user catalog is --catalog wherever one is taken
        for param in command.params:
            spelled = [o for o in getattr(param, "opts", []) if "catalog" in o]
            assert not spelled or "--catalog" in spelled, (name, spelled)
    assert {n for n, c in commands.items() if _option(c, "--catalog")} >= {
        "estimate", "plan", "compare", "catalog chips", "catalog systems", "catalog show"}
    old = _option(commands["estimate"], "--train-tokens")
    assert old is not None and old.hidden
    # plan and compare differ in --space default: compare's help says why
    assert "unlike plan" in (_option(commands["compare"], "--space").help or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("command", [
    ["estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "1"],
    ["plan", "--model", "llama3-8b", "--system", "trn2", "--tokens", "1T", "--nodes", "1"],
    ["compare"],
    ["serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "1"],
])
def test_precision_is_a_choice_everywhere(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *command, "--precision", "fp4")
    assert code == 2
    assert err == "error: Invalid value for '--precision': 'fp4' is not one of 'bf16', 'fp8'.\n"


def test_train_tokens_still_works_with_a_deprecation_warning(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    base = ["estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "1", "--recompute", "full",
            "--zero", "3", "--json", "-"]
    code, out, err = run_cli(monkeypatch, capsys, *base, "--tokens", "15T")
    new = json.loads(out)["train_time_s"]
    code_old, out_old, err_old = run_cli(monkeypatch, capsys, *base, "--train-tokens", "1.5e13")
    assert code == code_old == 0 and json.loads(out_old)["train_time_s"] == new
    assert err == "" and err_old == "warning: --train-tokens is deprecated; use --tokens (e.g. 15T)\n"


@pytest.mark.parametrize("args", [
    ["estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "1", "--recompute", "full", "--zero",
     "3"],
    ["catalog", "chips"],
    ["catalog", "systems"],
    ["catalog", "models"],
    ["plan", "--model", "llama3-8b", "--system", "trn2", "--tokens", "1T", "--nodes", "1", "--space",
     "quick"],
    ["kernel", "profile", str(EXAMPLE)],
])
def test_json_dash_writes_only_json_to_stdout(args: list[str], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")  # `kernel` sets it; restored after
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--json", "-")
    assert code == 0
    json.loads(out)  # the whole of stdout is one JSON document


def test_two_outputs_on_stdout_are_refused(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--system", "trn2",
                           "--tokens", "1T", "--nodes", "1", "--json", "-", "--csv", "-")
    assert code == 2 and err.startswith("error: --json and --csv are both '-'") and err.count("\n") == 1


class _FakeRay(types.ModuleType):
    """Stands in for ray: the driver is interrupted while waiting (as by SIGTERM or Ctrl-C)."""

    def __init__(self) -> None:
        super().__init__("ray")
        self.calls: list[str] = []
        self.running = False

    def is_initialized(self) -> bool:
        return self.running

    def init(self, **kwargs: Any) -> None:
        self.running = True
        self.calls.append("init")

    def shutdown(self) -> None:
        self.running = False
        self.calls.append("shutdown")

    def remote(self, function: Any) -> Any:
        return types.SimpleNamespace(remote=lambda *args: object())

    def available_resources(self) -> dict[str, float]:
        return {"CPU": 1.0}

    def wait(self, refs: list[Any], num_returns: int) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler turns it into KeyboardInterrupt here
        raise AssertionError("SIGTERM did not interrupt the driver")


def test_sigterm_during_a_ray_sweep_shuts_ray_down(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        runner._run_on_ray([object()], lambda point: None, lambda *a: None, None, 1)  # type: ignore[list-item]
    assert fake.calls == ["init", "shutdown"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_interrupt_is_one_line_status_130(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("trnsim.plan.search.search_plans", interrupted)  # imported where it runs
    code, _, err = run_cli(monkeypatch, capsys, "plan", "--model", "llama3-8b", "--system", "trn2",
                           "--tokens", "1T", "--nodes", "1")
    assert (code, err) == (130, "error: interrupted\n")
