"""Everything in a user catalog directory is read, or named in one error line (exit 2).

``--catalog DIR`` with a misspelt ``system/`` folder, a ``systems/trn2.json`` or a
``neuroncore_timing/trn2.toml`` (no catalog folder: the op tables rest on the shipped timing) ran
on the shipped data as if the user's file were not there: their price or timing silently unused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import trnsim
from tests.cli_errors import run_cli
from trnsim.errors import ConfigError

PRICE = 'name = "trn2"\nprice_usd_per_node_hour = 45.0\n'


@pytest.fixture(autouse=True)
def _no_user_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)


@pytest.mark.parametrize(("path", "message"), [
    ("system/trn2.toml", "folder 'system' is not read (did you mean 'systems'?)"),
    ("systems/trn2.json", "'systems/trn2.json' is not read: only .toml files are"),
    ("trn2.toml", "'trn2.toml' is not read: catalog entries go in chips/ or systems/"),
    ("neuroncore_timing/trn2.toml", "--timing"),
    ("topologies/trn2.toml", "--topology"),
    # a serving override in another format was passed over at the top of the catalog
    ("serving.json", "'serving.json' is not read: only .toml files are"),
    ("serving.yaml", "'serving.yaml' is not read: only .toml files are"),
])
def test_a_file_the_loaders_pass_over_is_one_line(path: str, message: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(PRICE)
    estimate = ["estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "1"]
    for args in (["catalog", "systems"], estimate):
        code, out, err = run_cli(monkeypatch, capsys, *args, "--catalog", str(tmp_path))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and out == "", (args, code, err)
        assert message in lines[0] and str(tmp_path) in lines[0], lines[0]
    monkeypatch.setenv("TRNSIM_CATALOG", str(tmp_path))  # the variable's directory the same
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "systems")
    assert code == 2 and message in err and "$TRNSIM_CATALOG" in err, err
    monkeypatch.delenv("TRNSIM_CATALOG")
    with pytest.raises(ConfigError, match="is not read"):
        trnsim.estimate("llama3-8b", "trn2", nodes=1, catalog=tmp_path)


def test_a_well_formed_catalog_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "systems").mkdir()
    (tmp_path / "systems" / "my-price.toml").write_text(PRICE)
    (tmp_path / "README.md").write_text("our prices\n")  # notes beside the files are fine
    (tmp_path / ".git").mkdir()
    code, out, err = run_cli(monkeypatch, capsys, "catalog", "systems", "--catalog", str(tmp_path))
    assert code == 0 and "45.00" in out, err
