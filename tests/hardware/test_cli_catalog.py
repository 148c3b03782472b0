"""``trnsim catalog``: lists and shows catalog entries; unknown names are one line."""

from __future__ import annotations

import json
import sys

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
