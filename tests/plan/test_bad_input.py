"""``trnsim plan``, ``compare`` and ``sweep`` on bad input: one line naming the problem, exit status 2.

Every case fails before any search runs, so the whole file takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import run_main

PLAN = ["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "trn2"]
SPEC = 'tokens = 1e12\nmodels = ["llama3-8b"]\nsystems = ["trn2"]\nchips = [64]\n'
FILES = {
    "syntax.toml": "models = [\n",
    "unknown.toml": SPEC + "bogus = 1\n",
    "wrongtype.toml": SPEC.replace("chips = [64]", 'chips = ["x"]'),
    "empty.toml": SPEC.replace('models = ["llama3-8b"]', "models = []"),
    "catalog/systems/bad.toml": "garbage = [\n",
    "broken.json": '{"model_type": "llama", "hidden_size": 4096',
    "badmodel.toml": SPEC.replace("llama3-8b", "nosuch"),
    "badsystem.toml": SPEC.replace('"trn2"', '"nosuch"'),
    "badchips.toml": SPEC.replace("[64]", "[100]"),
    "badwhatif.toml": SPEC + '[[whatif]]\nname = "x"\nscale = { "chip.nosuch" = 2.0 }\n',
}

CASES = [
    (["plan", "--model", "nosuch", "--tokens", "1T", "--system", "trn2", "--nodes", "1"],
     "unknown model 'nosuch'"),
    (["plan", "--model", "llama3-8b", "--tokens", "1T", "--system", "nosuch", "--nodes", "1"],
     "unknown system 'nosuch'; known:"),
    (["plan", "--model", "{tmp}/broken.json", "--tokens", "1T", "--system", "trn2", "--nodes", "1"],
     "not valid JSON"),
    ([*PLAN, "--nodes", "1", "--catalog", "{tmp}/catalog"], "bad.toml: cannot read TOML"),
    ([*PLAN, "--nodes", "1", "--catalog", "{tmp}/nodir"], "catalog directory '{tmp}/nodir' does not exist"),
    (["plan", "--model", "llama3-8b", "--tokens", "abc", "--system", "trn2", "--nodes", "1"],
     "--tokens 'abc' is not a number; write e.g. 6.3T"),
    (["plan", "--model", "llama3-8b", "--tokens", "0", "--system", "trn2", "--nodes", "1"],
     "--tokens must be positive"),
    # Range/type errors are typer's own words, which differ between typer releases (its bundled
    # click): only the option named is checked here.
    ([*PLAN, "--nodes", "0"], "Invalid value for '--nodes'"),
    ([*PLAN, "--nodes", "x"], "Invalid value for '--nodes'"),
    ([*PLAN, "--nodes", "1", "--ranks", "64"], "give exactly one of --nodes, --ranks or --max-ranks"),
    # a trn2 node has 64 ranks: 100 is neither a multiple nor a divisor
    ([*PLAN, "--ranks", "100"], "--ranks 100 does not fit trn2 nodes of 64 ranks"),
    ([*PLAN, "--max-ranks", "10"], "--max-ranks 10 is less than one trn2 node (64 ranks)"),
    ([*PLAN, "--nodes", "1", "--top", "0"], "Invalid value for '--top'"),
    ([*PLAN, "--nodes", "1", "--seq-len", "0"], "'--seq-len'"),
    ([*PLAN, "--nodes", "1", "--global-batch", "-1"], "'--global-batch'"),
    ([*PLAN, "--nodes", "1", "--precision", "fp4"], "'--precision': 'fp4' is not one of 'bf16', 'fp8'"),
    ([*PLAN, "--nodes", "1", "--lnc", "3"], "LNC=3 does not divide"),
    ([*PLAN, "--nodes", "1", "--deadline", "-1"], "--deadline -1.0: "),
    ([*PLAN, "--nodes", "1", "--pue", "0.5"], "pue"),
    ([*PLAN, "--nodes", "1", "--space", "huge"], "Invalid value for '--space'"),
    ([*PLAN, "--nodes", "1", "--json", "{tmp}/nodir/p.json"], "--json '{tmp}/nodir/p.json': directory"),
    ([*PLAN, "--nodes", "1", "--html", "{tmp}"], "--html '{tmp}' is a directory"),
    (["compare", "--systems", "nosuch"], "unknown system 'nosuch'"),
    (["compare", "--systems", ","], "--systems is empty"),
    (["compare", "--model", "nosuch"], "unknown model 'nosuch'"),
    (["compare", "--reference", "tpu-v9"], "--reference 'tpu-v9' is not among --systems"),
    # an alias names the same system as its catalog name, either way round: the reference is
    # found (the run goes on to the next check, the bad --scaling value)
    (["compare", "--systems", "p5e", "--reference", "p5e.48xlarge", "--scaling", "x"],
     "--scaling value 'x' is not a number"),
    (["compare", "--systems", "p5e.48xlarge", "--reference", "p5e", "--scaling", "x"],
     "--scaling value 'x' is not a number"),
    (["compare", "--chips", "0"], "Invalid value for '--chips'"),
    # a Trn2 UltraServer node has 64 chips: 100 chips are not whole nodes of it
    (["compare", "--chips", "100"], "--chips 100 does not fit trn2-ultraserver nodes of 64 chips"),
    (["compare", "--scaling", "64,x"], "--scaling value 'x' is not a number"),
    (["compare", "--scaling", "64,1.5"], "--scaling value '1.5' is not a whole number"),
    (["compare", "--hourly-budget", "-5"], "--hourly-budget must be a positive number"),
    (["compare", "--tokens", "lots"], "--tokens 'lots' is not a number"),
    (["compare", "--tokens", "1e400"], "--tokens '1e400' is too large to be a finite number"),
    (["compare", "--catalog", "{tmp}/catalog"], "bad.toml: cannot read TOML"),
    (["compare", "--csv", "{tmp}/nodir/c.csv"], "--csv '{tmp}/nodir/c.csv': directory"),
    (["sweep", "{tmp}/syntax.toml", "--local"], "is not valid TOML"),
    (["sweep", "{tmp}/unknown.toml", "--local"], "bogus: Extra inputs are not permitted"),
    (["sweep", "{tmp}/wrongtype.toml", "--local"], "chips.0: Input should be a valid integer"),
    (["sweep", "{tmp}/empty.toml", "--local"], "models: List should have at least 1 item"),
    (["sweep", "{tmp}/none.toml", "--local"], "does not exist"),
    (["sweep", "--report", "{tmp}/none.sqlite"], "does not exist"),
    (["sweep", "--report", "{tmp}/syntax.toml"], "file is not a database"),
    (["sweep"], "give a sweep spec to run, or --report DB"),
    # names and counts are resolved before any point runs (not reported per point, exit status 0)
    (["sweep", "{tmp}/badmodel.toml", "--local", "--db", "{tmp}/s.sqlite"],
     "badmodel.toml: unknown model 'nosuch'"),
    (["sweep", "{tmp}/badsystem.toml", "--local", "--db", "{tmp}/s.sqlite"], "unknown system 'nosuch'"),
    # a trn2 node has 16 chips
    (["sweep", "{tmp}/badchips.toml", "--local", "--db", "{tmp}/s.sqlite"],
     "chips value 100 does not fit trn2 nodes of 16 chips"),
    (["sweep", "{tmp}/badwhatif.toml", "--local", "--db", "{tmp}/s.sqlite"], "unknown chip field 'nosuch'"),
    ([*PLAN, "--nodes", "1", "--catalog", "{tmp}/syntax.toml"], "--catalog '{tmp}/syntax.toml' is a file"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[f"{c[0][0]} #{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line_with_status_2(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    code, err = run_main(capsys, monkeypatch, [a.replace("{tmp}", str(tmp_path)) for a in args])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert expected.replace("{tmp}", str(tmp_path)) in lines[0], err
