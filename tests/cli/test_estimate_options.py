"""``trnsim estimate`` refuses values it would accept without effect.

``--interleave 2`` with one pipeline stage ran, printed ``vpp2`` in the plan and gave the very
step time of ``--interleave 1``: there is nothing to interleave (Megatron refuses it; the planner
never generates it).
"""

from __future__ import annotations

import pytest

from tests.cli_errors import run_cli

EST = ["estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "1", "--tp", "4", "--zero", "1"]


def test_interleave_without_a_pipeline_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(monkeypatch, capsys, *EST, "--interleave", "2")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--interleave 2 needs --pp > 1" in lines[0], err
    code, _, err = run_cli(monkeypatch, capsys, *EST, "--interleave", "2", "--pp", "2",
                           "--global-batch", "16")
    assert code == 0, err  # with a pipeline it stands


def test_api_interleave_without_a_pipeline_is_refused() -> None:
    import trnsim
    from trnsim.errors import ConfigError

    with pytest.raises(ConfigError, match="needs pp > 1"):
        trnsim.estimate("llama3-8b", "trn2", nodes=1, tp=4, interleave=2)
