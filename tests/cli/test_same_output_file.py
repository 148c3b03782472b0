"""Two outputs of one command naming the same file are refused: the second silently replaced the first.

``plan --json x --csv x`` left only the CSV, ``kernel profile --json x --trace x`` only the JSON,
and ``sweep --report db --html db`` would write the page over the results database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "tensor_add.py")


@pytest.mark.parametrize(("args", "first", "second"), [
    (["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2", "--nodes", "1"],
     "--json", "--csv"),
    (["compare", "--model", "llama3-8b", "--systems", "p5", "--chips", "8", "--scaling", ""],
     "--json", "--html"),
    (["serve", "--model", "llama3-8b", "--compare", "--systems", "p5"], "--csv", "--json"),
    (["validate"], "--json", "--write-bands"),
    (["kernel", "profile", EXAMPLE], "--json", "--trace"),
])
def test_two_outputs_to_one_file(args: list[str], first: str, second: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out"
    (tmp_path / "sub").mkdir()
    same = str(tmp_path / "sub" / ".." / "out")  # the same file, spelt another way
    code, _, err = run_cli(monkeypatch, capsys, *args, first, str(target), second, same)
    assert code == 2 and err.count("\n") == 1 and first in err and second in err, err
    assert not target.exists()


def test_sweep_report_over_its_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.sqlite"
    sqlite3.connect(db).close()
    before = db.read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, "sweep", "--report", str(db), "--html", str(db))
    assert code == 2 and "--report and --html" in err and db.read_bytes() == before, err


def _inputs(tmp_path: Path) -> dict[str, Path]:
    kernel = tmp_path / "k.py"
    kernel.write_text(Path(EXAMPLE).read_text())
    config = tmp_path / "m" / "config.json"
    config.parent.mkdir()
    config.write_text('{"model_type": "llama", "hidden_size": 256, "intermediate_size": 512, '
                      '"num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 1000}')
    spec = tmp_path / "s.toml"
    spec.write_text('tokens = 1e9\nmodels = ["llama3-8b"]\nsystems = ["trn2"]\nchips = [16]\n')
    return {"kernel": kernel, "config": config, "spec": spec}


@pytest.mark.parametrize(("make_args", "written"), [
    (lambda f: ["kernel", "profile", str(f["kernel"]), "--json", str(f["kernel"])], "kernel"),
    (lambda f: ["estimate", "--model", str(f["config"]), "--system", "trn2", "--nodes", "1",
                "--json", str(f["config"])], "config"),
    (lambda f: ["plan", "--model", str(f["config"].parent), "--tokens", "1T", "--system", "trn2",
                "--nodes", "1", "--csv", str(f["config"])], "config"),  # the directory's config.json
    (lambda f: ["serve", "--model", str(f["config"]), "--system", "trn2", "--chips", "1",
                "--json", str(f["config"])], "config"),
    (lambda f: ["sweep", str(f["spec"]), "--local", "--db", str(f["spec"].with_suffix(".db")),
                "--html", str(f["spec"])], "spec"),
])
def test_no_output_over_an_input(make_args: object, written: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``kernel profile k.py --json k.py`` wrote the summary over the kernel's source."""
    files = _inputs(tmp_path)
    before = files[written].read_bytes()
    code, _, err = run_cli(monkeypatch, capsys, *make_args(files))  # type: ignore[operator]
    assert code == 2 and err.count("\n") == 1 and "would replace it" in err, err
    assert files[written].read_bytes() == before
