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


def test_topology_size_override_that_breaks_whole_nodes_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """It exited 0 with a dp group of 'x x2, y x3, efa x11' = 66 ranks for a 64-rank group."""
    code, _, err = run_cli(monkeypatch, capsys, "estimate", "--model", "llama3-70b", "--system", "trn2",
                           "--nodes", "32", "--tp", "8", "--pp", "4", "--zero", "1",
                           "--topology-set", "dimension.1.size=3")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "dimension.1.size" in lines[0] and "16" in lines[0]


def test_scale_out_bandwidth_override_without_chips_sharing_says_what_it_is(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """It said "missing key 'chips_sharing'" without saying why the bandwidth needs it."""
    args = ("estimate", "--model", "llama3-8b", "--system", "trn2", "--nodes", "2",
            "--topology-set", "scale_out.bandwidth_gbit_per_s=3.2 Tbps")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    lines = err.strip().splitlines()
    # the example is the system's chips per node (16 trn2 chips share an instance's EFA)
    assert code == 2 and len(lines) == 1 and "chips_sharing=16" in lines[0] and "share" in lines[0]
    code, _, _ = run_cli(monkeypatch, capsys, *args, "--topology-set", "scale_out.chips_sharing=16",
                         "--json", "-")
    assert code == 0


def test_sequence_longer_than_the_model_names_the_option(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """As plan's and compare's: the default 4096 on gpt3-175b (2048 positions) read "plan tp1 pp1 ...:
    seq_len=4096 exceeds ...", naming no option and not what to give."""
    code, _, err = run_cli(monkeypatch, capsys, "estimate", "--model", "gpt3-175b", "--system", "p5",
                           "--nodes", "1")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: --seq-len 4096 exceeds gpt3-175b's max_seq_len=2048")
    assert "at most" in lines[0]
    import trnsim
    from trnsim.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^seq_len=4096 exceeds gpt3-175b's max_seq_len=2048"):
        trnsim.estimate("gpt3-175b", "p5", nodes=1)


@pytest.mark.parametrize("lnc", ["0", "3"])
def test_bad_lnc_lists_the_valid_sizes(lnc: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """"LNC=0 does not divide its 8 NeuronCores" said what is wrong, not what would be valid."""
    code, _, err = run_cli(monkeypatch, capsys, *EST, "--lnc", lnc)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"LNC={lnc}" in lines[0] and "valid: 1, 2, 4, 8" in lines[0]
