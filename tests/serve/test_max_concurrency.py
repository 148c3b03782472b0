"""The largest concurrency that fits is a property of the layout, not of the concurrency asked.

Each request in flight adds its KV cache and its decode logits; the logits of the *requested*
concurrency were counted as fixed, so llama3-8b on one trn2 chip could hold 41 requests when asked
about 1, 38 when asked about 1,000 and 0 when asked about 100,000.
"""

from __future__ import annotations

import json

import pytest

from tests.cli_errors import run_cli

ONE = ["serve", "--model", "llama3-8b", "--system", "trn2", "--chips", "1", "--json", "-"]


def _serve(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], concurrency: int) -> dict:
    code, out, err = run_cli(monkeypatch, capsys, *ONE, "--concurrency", str(concurrency))
    assert code == 0, err
    return json.loads(out)


def test_max_concurrency_is_the_same_whatever_is_asked(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    found = {c: _serve(monkeypatch, capsys, c)["max_concurrency"] for c in (1, 1000, 100000)}
    assert len(set(found.values())) == 1 and found[1] > 1, found


def test_max_concurrency_fits_and_one_more_does_not(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    most = _serve(monkeypatch, capsys, 1)["max_concurrency"]
    assert _serve(monkeypatch, capsys, most)["fits"]
    assert not _serve(monkeypatch, capsys, most + 1)["fits"]
