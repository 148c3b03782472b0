"""A sweep spec that cannot be read, or a what-if name that reads as a misspelt knob, is one line (exit 2).

A directory (or a binary file) given as the spec ended in a traceback; ``name = "hbm_bandwidth_x2"``
(the knob is ``hbm_bw``) silently became a second baseline, every point of it identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_error_line, run_cli

#: How every refusal of a sweep spec file begins.
SPEC_ERROR = "error: sweep spec "
SPEC = 'tokens = 1e12\nmodels = ["llama3-8b"]\nsystems = ["trn2"]\nchips = [64]\n'


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_unreadable_spec(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec"
    if kind == "directory":
        spec.mkdir()
    else:
        spec.write_bytes(bytes(range(128, 256)))
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(tmp_path / "s.sqlite"),
                           "--local")
    assert "cannot be read" in one_error_line(code, err, SPEC_ERROR)


def test_misspelt_knob_shorthand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC + '[[whatif]]\nname = "hbm_bandwidth_x2"\n')
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(tmp_path / "s.sqlite"),
                           "--local")
    line = one_error_line(code, err, SPEC_ERROR)
    assert "'hbm_bandwidth' is no knob" in line and "hbm_bw" in line and "Value error" not in line
    assert not (tmp_path / "s.sqlite").exists() or (tmp_path / "s.sqlite").stat().st_size == 0


def test_bad_unit_in_a_whatif_names_the_whatif_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC + '[[whatif]]\nname = "big"\nset = { "chip.hbm_bytes" = "96 GB/s" }\n')
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(tmp_path / "s.sqlite"),
                           "--local")
    # the override's whole name, not the tail a path split left of it ("trn2): field ...")
    line = one_error_line(code, err, SPEC_ERROR)
    assert "what-if 'big' (chips/trn2): field 'hbm_bytes': unit 'GB/s' is wrong" in line


def test_empty_whatif_list_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """``whatif = []`` ran 0 points and exited 0 ("Sweep: 0 feasible points"), while an empty
    ``models``/``systems``/``chips`` list is refused."""
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC + "whatif = []\n")
    code, _, err = run_cli(monkeypatch, capsys, "sweep", str(spec), "--db", str(tmp_path / "s.sqlite"),
                           "--local")
    line = one_error_line(code, err, SPEC_ERROR)
    assert "whatif" in line and "at least 1" in line and "leave it out" in line
