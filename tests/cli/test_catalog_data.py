"""``trnsim catalog data`` of a catalog entry (chips/, systems/) says where its fields are shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_cli


def test_catalog_data_of_a_catalog_entry_points_to_catalog_show(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It said "unknown data-file kind 'chips'; known: chips (trnsim catalog show), ...": both at once."""
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "data", "chips/trn2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "trnsim catalog show trn2" in lines[0]
    assert "unknown" not in lines[0]


def test_catalog_data_refuses_a_user_file_the_model_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An efficiency file without its keys was listed (exit 0) while `estimate` refused it: both now
    refuse it with one and the same line."""
    (tmp_path / "efficiency").mkdir()
    (tmp_path / "efficiency" / "h100.toml").write_text("foo = 1\n")
    code, out, err = run_cli(monkeypatch, capsys, "catalog", "data", "efficiency/h100",
                             "--catalog", str(tmp_path))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "h100.toml" in lines[0] and "foo" not in out
    est_code, _, est_err = run_cli(monkeypatch, capsys, "estimate", "--model", "llama3-8b", "--system", "p5",
                                   "--nodes", "1", "--catalog", str(tmp_path))
    assert est_code == 2 and est_err.strip() == lines[0]


@pytest.mark.parametrize("file", ["topologies/dgx-a100", "topologies/trn2", "fusion/trainium",
                                  "neuroncore_timing/trn2", "serving/serving"])
def test_catalog_data_shows_every_shipped_file(file: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Validation must not refuse a shipped file (a system's topology takes its bandwidth from the system)."""
    code, out, err = run_cli(monkeypatch, capsys, "catalog", "data", file, "--json", "-")
    assert code == 0 and err == "" and out.strip().startswith("[")


@pytest.mark.parametrize(("text", "expected"), [
    ('[speculative]\nacceptance_rate = "x"\n', "'acceptance_rate' must be a number, got 'x'"),
    ("[speculative]\nspeculation_length = 2.5\n", "'speculation_length' must be a whole number"),
])
def test_a_malformed_serving_file_is_one_line(text: str, expected: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A user serving.toml with a string for a number was a ValueError traceback (serve and catalog data)."""
    (tmp_path / "serving.toml").write_text(text)
    for args in (("catalog", "data", "serving/serving"),
                 ("serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "1")):
        code, _, err = run_cli(monkeypatch, capsys, *args, "--catalog", str(tmp_path))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and expected in lines[0], err
