"""``--catalog DIR`` is the user catalog of every data file, as ``$TRNSIM_CATALOG`` is.

The catalog loaders took the directory as an argument, but the device-time files (efficiency/ ...)
are found through ``$TRNSIM_CATALOG`` only: ``--catalog`` changed chips and systems and silently
left a user's efficiency file unused. Each command's result with ``--catalog DIR`` must equal its
result with ``TRNSIM_CATALOG=DIR``, and differ from the shipped data's when the file changes a number.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

_SHIPPED = Path(__file__).parents[2] / "src" / "trnsim" / "devicetime" / "data" / "efficiency" / "h100.toml"
EST = ["estimate", "--model", "llama3-8b", "--system", "p5", "--nodes", "1", "--tp", "8", "--json", "-"]


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user catalog in the environment (restored after), and no step cached from another test."""
    from trnsim.cluster.step import clear_cache
    from trnsim.devicetime.timing import clear_memo

    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    clear_memo()
    clear_cache()


@pytest.fixture
def slow_h100(tmp_path: Path) -> Path:
    """A user catalog whose H100 efficiency file halves the shipped calibration scale."""
    text = _SHIPPED.read_text()
    scale = float(re.search(r"^calibration_scale = ([0-9.]+)$", text, re.M).group(1))  # type: ignore[union-attr]
    (tmp_path / "efficiency").mkdir()
    (tmp_path / "efficiency" / "h100.toml").write_text(
        re.sub(r"^calibration_scale = .*$", f"calibration_scale = {scale / 2}", text, flags=re.M))
    return tmp_path


def _step_s(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> float:
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    return float(json.loads(out)["step_time_s"])


def test_estimate_catalog_option_reaches_the_efficiency_files(
        slow_h100: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = _step_s(monkeypatch, capsys, *EST)
    with_option = _step_s(monkeypatch, capsys, *EST, "--catalog", str(slow_h100))
    assert "TRNSIM_CATALOG" not in os.environ  # the option's catalog ends with its command
    monkeypatch.setenv("TRNSIM_CATALOG", str(slow_h100))
    with_env = _step_s(monkeypatch, capsys, *EST)
    assert with_option == with_env
    assert with_option > shipped * 1.2  # half the scale on every GEMM: clearly slower


def test_plan_catalog_option_reaches_the_efficiency_files(
        slow_h100: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    plan = ["plan", "--model", "llama3-8b", "--system", "p5", "--nodes", "1", "--tokens", "1T", "--top", "1",
            "--space", "quick", "--json", "-"]

    def best(*extra: str) -> float:
        code, out, err = run_cli(monkeypatch, capsys, *plan, *extra)
        assert code == 0, err
        return float(json.loads(out)["results"][0]["step_time_s"])

    shipped = best()
    assert best("--catalog", str(slow_h100)) > shipped * 1.2


def test_missing_catalog_directory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *EST, "--catalog", str(tmp_path / "nope"))
    assert code == 2 and err.count("\n") == 1 and "--catalog" in err and "does not exist" in err, err


def test_api_catalog_argument_reaches_the_efficiency_files(slow_h100: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import trnsim

    args = {"nodes": 1, "tp": 8}
    shipped = trnsim.estimate("llama3-8b", "p5", **args).step_time_s
    with_argument = trnsim.estimate("llama3-8b", "p5", catalog=slow_h100, **args).step_time_s
    assert "TRNSIM_CATALOG" not in os.environ
    monkeypatch.setenv("TRNSIM_CATALOG", str(slow_h100))
    assert trnsim.estimate("llama3-8b", "p5", **args).step_time_s == with_argument > shipped * 1.2
    monkeypatch.delenv("TRNSIM_CATALOG")
    plan = {"tokens": "1T", "nodes": 1, "top": 1, "space": "quick"}
    assert (trnsim.plan("llama3-8b", "p5", catalog=slow_h100, **plan).best["step_time_s"]
            > trnsim.plan("llama3-8b", "p5", **plan).best["step_time_s"] * 1.2)


def test_catalog_variable_naming_a_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """$TRNSIM_CATALOG set to a file read "catalog directory '<file>' does not exist" (it does)."""
    afile = tmp_path / "catalog.toml"
    afile.write_text("")
    monkeypatch.setenv("TRNSIM_CATALOG", str(afile))
    code, _, err = run_cli(monkeypatch, capsys, *EST)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"'{afile}' is a file, not a directory (given by $TRNSIM_CATALOG)" in lines[0]


@pytest.mark.parametrize("key", ["price_date", "price_source"])
def test_price_date_in_a_user_file_says_where_it_goes(key: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`catalog show trn2` lists price_date and price_source as fields, but a user file refused them
    ("unknown field") without saying that they are the price's date and source, given in its table."""
    (tmp_path / "systems").mkdir()
    (tmp_path / "systems" / "trn2.toml").write_text(f'name = "trn2"\nprice_usd_per_node_hour = 45.0\n'
                                                    f'{key} = "2026"\n')
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "systems", "--catalog", str(tmp_path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"unknown field '{key}'" in lines[0]
    assert "price_usd_per_node_hour = { value = ..., source = ..., date = ... }" in lines[0]
