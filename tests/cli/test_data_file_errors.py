"""Bad data files and overrides reach the user as one line naming file, key and what is valid (exit 2);
a quantity string in an override is read in its unit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_errors import run_cli, run_main

EST = ["estimate", "--model", "llama3-8b", "--ranks", "64", "--tp", "8"]
_SHIPPED = Path(__file__).parents[2] / "src" / "trnsim" / "devicetime" / "data"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Step results are cached per catalog object, not per $TRNSIM_CATALOG: start from none, as a
    fresh ``trnsim`` process does."""
    from trnsim.cluster.step import clear_cache
    from trnsim.devicetime.timing import clear_memo

    clear_memo()
    clear_cache()


def _catalog(tmp_path: Path, kind: str, name: str, text: str) -> Path:
    (tmp_path / kind).mkdir(parents=True, exist_ok=True)
    (tmp_path / kind / f"{name}.toml").write_text(text)
    return tmp_path


def _one_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    return lines[0]


def test_unknown_key_in_a_user_efficiency_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = (_SHIPPED / "efficiency" / "h100.toml").read_text()
    text = shipped.replace("[matmul_bf16]\n", "[matmul_bf16]\nspeed = 2\n")
    monkeypatch.setenv("TRNSIM_CATALOG", str(_catalog(tmp_path, "efficiency", "h100", text)))
    line = _one_line(*run_main(capsys, monkeypatch, [*EST, "--system", "p5"]))
    assert f"{tmp_path / 'efficiency' / 'h100.toml'}: unknown key 'matmul_bf16.speed'" in line
    assert "valid keys there: efficiency, flash_flops_per_graph_flop, log10_flops, note" in line


def test_malformed_user_fusion_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRNSIM_CATALOG", str(_catalog(tmp_path, "fusion", "trainium", "[chain\n")))
    line = _one_line(*run_main(capsys, monkeypatch, [*EST, "--system", "trn2"]))
    assert line.startswith(f"error: {tmp_path / 'fusion' / 'trainium.toml'}: cannot read TOML")


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("scale_out.hop_latency_us=2 GB/s",
         "topology 'trn2': key 'scale_out.hop_latency_us': unit 'GB/s' is wrong for seconds; valid units: "),
        ("dimension.0.sizes=4", "topology 'trn2' dimension 0: unknown key 'sizes'; valid keys there: "
                                "bw_efficiency, confidence, hop_latency_us, kind, "
                                "link_bandwidth_gbytes_per_s, links, name, size, source"),
        ("speed=4", "trn2.toml: override key 'speed' does not exist; valid keys there: description, "
                    "dimension, name, on_chip, reliability, scale_out"),
    ],
)
def test_bad_topology_override(setting: str, needle: str, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)
    line = _one_line(*run_main(capsys, monkeypatch, [*EST, "--system", "trn2", "--topology-set", setting]))
    assert needle in line


def test_a_quantity_string_override_is_read_in_its_unit(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRNSIM_CATALOG", raising=False)

    def step_time(setting: str) -> float:
        code, out, err = run_cli(monkeypatch, capsys, *EST, "--system", "trn2", "--topology-set", setting,
                                 "--json", "-")
        assert code == 0, err
        return float(json.loads(out)["step_time_s"])

    # 40 us per scale-out hop, written in the key's unit and as a quantity string in ms and ns
    plain = step_time("scale_out.hop_latency_us=40")
    assert step_time("scale_out.hop_latency_us=0.04 ms") == plain
    assert step_time("scale_out.hop_latency_us=40000 ns") == plain


def test_topology_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """It was read as a bundled name: "unknown topology '<dir>'; known: ..." (wrong about what is wrong)."""
    line = _one_line(*run_main(capsys, monkeypatch, [*EST, "--system", "trn2", "--topology", str(tmp_path)]))
    assert f"--topology '{tmp_path}' is a directory" in line
