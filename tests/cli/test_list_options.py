"""``compare``'s comma lists: an empty item or a repeated chip count is one error line (exit 2).

``--systems trn2,,p5`` compared two systems as if ',,' were ',' (a name left out, as ``kernel
profile --target trn1,,trn2`` already refuses), and ``--scaling 1024,1024`` searched the point twice
and doubled its rows in every output.
"""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--systems", "trn2,,p5", "--systems 'trn2,,p5' has an empty item"),
    ("--systems", "trn2,p5,", "--systems 'trn2,p5,' has an empty item"),
    ("--scaling", "64,,128", "--scaling '64,,128' has an empty item"),
    ("--scaling", "64,64", "--scaling names 64 chips twice"),
    ("--scaling", "64,6.4e1", "--scaling names 64 chips twice"),
])
def test_list_option_is_one_line(option: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = {"--systems": "p5,trn2", "--scaling": "64", option: value}
    code, out, err = run_cli(monkeypatch, capsys, "compare", "--model", "llama3-8b", "--tokens", "1T",
                             "--chips", "64", *(x for pair in args.items() for x in pair))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), (code, err)
    assert out == ""


def test_empty_scaling_is_still_no_curve(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "compare", "--model", "llama3-8b", "--tokens", "1T",
                             "--systems", "p5", "--chips", "8", "--scaling", "", "--workers", "1",
                             "--json", "-")
    assert code == 0, err
    assert '"kind": "scaling"' not in out
