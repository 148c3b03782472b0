"""``trnsim catalog``: lists and shows catalog entries; unknown names are one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from trnsim.cli import cmd_catalog, main

Capture = pytest.CaptureFixture[str]
assert cmd_catalog.catalog_app is not None  # importing registers ``trnsim catalog``


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: Capture, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    monkeypatch.setenv("COLUMNS", "250")
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lists(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "systems")
    assert code == 0 and "trn2.48xlarge" in out and "98.32" in out
    # the UltraServer's scale-out: 4 x 3.2 Tbps, labelled as derived (the vendor table repeats 3.2)
    ultra = next(line for line in out.splitlines() if "trn2-ultraserver " in line)
    assert "12.8 Tbps" in ultra and "derived" in out
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "models")
    assert code == 0 and "deepseek-v3" in out and "afm-server" in out


def test_json(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "chips", "--json", "-")
    chips = {c["name"]: c for c in json.loads(out)}
    assert code == 0 and chips["trn2"]["peak_flops_bf16"] == 667e12


def test_show_prints_sources(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "show", "trn2")
    assert code == 0 and "trainium2.rst" in out and "estimate" in out


def test_unknown_name_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "show", "v100")
    assert code == 2 and "unknown chip, system or model 'v100'" in err


def test_data_lists_every_value_with_unit_and_source(monkeypatch: pytest.MonkeyPatch, capsys: Capture,
                                                     tmp_path: Path) -> None:
    from trnsim.hardware.datafile import value_sources
    from trnsim.hardware.neuroncore_timing import TIMING

    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "data", "neuroncore_timing/trn2", "--json", "-")
    rows = {r["key"]: r for r in json.loads(out)}
    assert code == 0 and len(rows) == len(value_sources(TIMING.load("trn2")))
    clock = rows["tensor.clock_hz"]
    assert clock["unit"] == "Hz" and clock["source"] and clock["value"] > 0
    # a user's efficiency file replaces the shipped one: its values name that file
    folder = tmp_path / "efficiency"
    folder.mkdir()
    shipped = Path(cmd_catalog.__file__).parents[1] / "devicetime" / "data" / "efficiency" / "a100.toml"
    text = shipped.read_text().replace('source = "', 'source = "my copy: ', 1)
    (folder / "a100.toml").write_text(text)
    code, out, _ = run_cli(monkeypatch, capsys, "catalog", "data", "efficiency/a100", "--catalog",
                           str(tmp_path), "--json", "-")
    assert code == 0 and all(r["source"].startswith("my copy: ") for r in json.loads(out))


@pytest.mark.parametrize(("arg", "needle"), [("efficiency/a10", "unknown efficiency file 'a10'; known: a100"),
                                             ("gpus/a100", "unknown data-file kind 'gpus'; known:")])
def test_data_unknown_file_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Capture, arg: str,
                                       needle: str) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "data", arg)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
