"""The catalog's tables show every name, field and source whole, in a pipe and on a narrow terminal.

On an 80-column terminal (and in a pipe, which rich lays out for 80 columns) the tables cut cells to
"…": `catalog systems` printed "trn3-ultr…" for both trn3-ultraserver and trn3-ultraserver-gen1,
`catalog models` "llama…" for six presets, and `catalog show` cut field names (the keys a user
catalog overrides) and sources — the names a user must type, and what the command is for.
"""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli


@pytest.fixture(autouse=True)
def _a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output to a pipe (capsys), no width given: rich's 80 columns, where the cells were cut."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)


def _listed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run_cli(monkeypatch, capsys, "catalog", *args)
    assert code == 0, err
    assert "…" not in out, out  # nothing cut short
    return out


@pytest.mark.parametrize("what", ["systems", "chips", "models"])
def test_every_name_whole(what: str, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.hardware.catalog import list_chips, list_systems, load_system
    from trnsim.workload.models import list_models

    out = _listed(monkeypatch, capsys, what)
    names = {"systems": list_systems, "chips": list_chips, "models": list_models}[what]()
    words = set(out.replace("│", " ").replace(",", " ").split())
    assert set(names) <= words, set(names) - words
    if what == "systems":
        aliases = {a for n in names for a in load_system(n).aliases}
        assert aliases <= words, aliases - words


@pytest.mark.parametrize("name", ["trn2", "p5e"])
def test_show_keeps_fields_and_sources(name: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.hardware.catalog import load_system

    out = _listed(monkeypatch, capsys, "show", name)
    system = load_system(name)
    words = set(out.replace("│", " ").split())
    fields = {k for k in system.model_dump() if k not in ("sources", "chip")}
    assert fields <= words, fields - words
    text = " ".join(out.replace("│", " ").split())
    for provenance in system.sources.values():
        assert provenance.source.split()[0] in text


def test_data_keeps_keys(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from trnsim.devicetime.efficiency import EFFICIENCY
    from trnsim.hardware.datafile import value_sources

    out = _listed(monkeypatch, capsys, "data", "efficiency/h100")
    words = set(out.replace("│", " ").split())
    keys = {v.key for v in value_sources(EFFICIENCY.load("h100"))}
    assert keys <= words, keys - words


@pytest.mark.parametrize("args", [["systems"], ["chips"], ["models"], ["show", "trn2"],
                                  ["data", "topologies/trn2"]])
def test_nothing_cut_on_an_80_column_terminal(args: list[str], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal, COLUMNS wide
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli(monkeypatch, capsys, "catalog", *args)
    assert code == 0 and "\x1b[" in out, err  # it did lay out for a terminal
    assert "…" not in out
