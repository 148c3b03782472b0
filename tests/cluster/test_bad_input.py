"""``trnsim estimate`` and ``validate`` on bad input: one line naming the problem, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_main

EST = ["estimate", "--model", "llama3-8b", "--system", "trn2"]
HF = '{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, ' \
     '"vocab_size": 32000, "intermediate_size": 11008'
FILES = {
    "broken.json": HF,  # no closing brace
    "heads.json": HF.replace('"num_attention_heads": 32', '"num_attention_heads": 30') + "}",
    "missing.json": HF.replace('"num_hidden_layers": 32, ', "") + "}",
    "text.json": HF.replace('"hidden_size": 4096', '"hidden_size": "big"') + "}",
    "notype.json": '{"hidden_size": 4096}',
    "zeroheads.json": HF.replace('"num_attention_heads": 32', '"num_attention_heads": 0') + "}",
}

CASES = [
    (["estimate", "--model", "nosuch", "--system", "trn2", "--ranks", "64"],
     "unknown model 'nosuch'; known:"),
    (["estimate", "--model", "llama3-8b", "--system", "nosuch", "--ranks", "64"], "unknown system 'nosuch'"),
    (["estimate", "--model", "{tmp}/broken.json", "--system", "p5", "--ranks", "8"], "not valid JSON"),
    (["estimate", "--model", "{tmp}/heads.json", "--system", "p5", "--ranks", "8"],
     "hidden_size=4096 is not divisible by num_attention_heads=30"),
    (["estimate", "--model", "{tmp}/missing.json", "--system", "p5", "--ranks", "8"],
     "missing 'num_hidden_layers'"),
    (["estimate", "--model", "{tmp}/text.json", "--system", "p5", "--ranks", "8"],
     "'hidden_size' must be a whole number, got 'big'"),
    (["estimate", "--model", "{tmp}/notype.json", "--system", "p5", "--ranks", "8"], "unknown architecture"),
    (["estimate", "--model", "{tmp}/zeroheads.json", "--system", "p5", "--ranks", "8"],
     "'num_attention_heads' must be at least 1, got 0"),
    # Range/type errors are typer's own words, which differ between typer releases (its bundled
    # click): only the option named is checked here.
    ([*EST, "--ranks", "64", "--tp", "x"], "Invalid value for '--tp'"),
    ([*EST, "--ranks", "64", "--tp", "0"], "Invalid value for '--tp'"),
    ([*EST, "--ranks", "64", "--cp", "0"], "Invalid value for '--cp'"),
    ([*EST, "--ranks", "64", "--micro-batch", "0"], "'--micro-batch'"),
    ([*EST, "--ranks", "64", "--global-batch", "-4"], "'--global-batch'"),
    ([*EST, "--ranks", "64", "--seq-len", "0"], "Invalid value for '--seq-len'"),
    ([*EST, "--ranks", "64", "--zero", "5"], "'--zero'"),
    ([*EST, "--ranks", "64", "--recompute", "bogus"], "'bogus' is not one of 'none', 'selective', 'full'"),
    ([*EST, "--nodes", "0"], "--nodes must be at least 1"),
    ([*EST, "--ranks", "64", "--nodes", "1"], "give exactly one of --nodes or --ranks"),
    # a trn2 node has 64 ranks (16 chips x 4 logical cores at LNC=2): 63 ranks fill no whole node
    ([*EST, "--ranks", "63"], "--ranks 63 does not fit trn2 nodes of 64 ranks"),
    ([*EST, "--ranks", "64", "--tp", "3", "--dp", "4"], "= 12, not the 64 ranks"),
    ([*EST, "--ranks", "64", "--tokens", "-1"], "--tokens must be positive, got '-1'"),
    ([*EST, "--ranks", "64", "--json", "{tmp}/nodir/out.json"], "directory '{tmp}/nodir' does not exist"),
    ([*EST, "--ranks", "64", "--topology", "nosuch"], "unknown topology 'nosuch'"),
    ([*EST, "--ranks", "64", "--topology-set", "foo"], "--topology-set expects KEY=VALUE"),
    # the message names a TOML table: printed verbatim, not eaten as console markup (a TPU slice,
    # 4,096 chips, is whole trn2 nodes but has no on-chip level for trn2's 4 ranks a chip)
    ([*EST, "--ranks", "8", "--tp", "8", "--topology", "tpu-v4"], "has no [on_chip] level"),
    # an NVL72 rack is not whole 16-chip trn2 nodes
    ([*EST, "--ranks", "8", "--tp", "8", "--topology", "gb200-nvl72"], "not whole nodes of 16 chips"),
    ([*EST, "--ranks", "64", "--bogus"], "No such option: --bogus"),
    (["validate", "--dir", "{tmp}/nodir"], "--dir '{tmp}/nodir' is not a directory"),
    (["validate", "--dir", "{tmp}"], "cannot read calibration settings"),
    (["validate", "--json", "{tmp}/nodir/v.json"], "directory '{tmp}/nodir' does not exist"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(c[0][1:4]) + f" #{i}"
                                                           for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_with_status_2(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    code, err = run_main(capsys, monkeypatch, [a.replace("{tmp}", str(tmp_path)) for a in args])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert expected.replace("{tmp}", str(tmp_path)) in lines[0], err
