"""docs/walkthrough.md cannot go stale silently: its commands run, their output matches its blocks,
and the figures its prose and tables quote are those of the commands' ``--json`` output.

The blocks use README.md's conventions (see tests/test_readme.py, whose parser and comparison this
reuses). Each distinct command runs once, with ``--json`` added, and every test reads that run:
the blocks compare its printed output, the figure checks its JSON. A figure check formats the
JSON's value as the page does and asks for the phrase in the page's text (whitespace collapsed),
so a changed number fails with the phrase the page should now say — and its conclusion must then
be re-read by hand. Wall-clock timings are never checked (the page states them as measured).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from trnsim.cli import main

from .test_readme import ROOT, Block, mismatch, normalise, readme_blocks, text_sessions

WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
TEXT = WALKTHROUGH.read_text()
PROSE = " ".join(TEXT.split())
BLOCKS = [b for b in readme_blocks(TEXT) if b.lang in ("bash", "text", "")]
COMPARE = "trnsim compare --reference p5e --html compare.html"
SCALING = "trnsim compare --reference p5e --scaling 2048,32768,131072"
SCALING_SYSTEMS = ("trn2-ultraserver", "trn2", "p5e", "tpu-v5p")


@dataclass(frozen=True)
class Run:
    """One command's exit status, printed lines (its ``wrote ...`` lines dropped) and JSON."""

    code: int
    out: list[str]
    data: dict[str, Any]


class Runner:
    """Runs each trnsim command once, in-process, in a scratch directory, as the README test does."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs: dict[str, Run] = {}

    def __call__(self, command: str) -> Run:
        if command not in self.runs:
            self.runs[command] = self._run(command, len(self.runs))
        return self.runs[command]

    def _run(self, command: str, index: int) -> Run:
        words = shlex.split(command)
        assert words[0] == "trnsim", f"not a trnsim command: {command}"
        json_path = self.workdir / f"run{index}.json"
        stdout, stderr = io.StringIO(), io.StringIO()
        code: object = 0
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            patch.chdir(self.workdir)
            patch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")
            patch.setenv("COLUMNS", "100")
            patch.setattr("trnsim.cli.cmd_plan.console", Console(width=100))  # the page's width
            patch.setattr(sys, "argv", ["trnsim", *words[1:], "--json", str(json_path)])
            try:
                main()
            except SystemExit as exited:
                code = 0 if exited.code is None else exited.code
        out = [line for line in stdout.getvalue().splitlines() if not line.startswith("wrote ")]
        assert code == 0, f"`{command}` exited {code}:\n{stderr.getvalue()}"
        return Run(code if isinstance(code, int) else 1, out, json.loads(json_path.read_text()))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory.mktemp("walkthrough"))


def test_every_block_is_tested() -> None:
    assert BLOCKS and not [b.line for b in BLOCKS if b.skipped or b.lang != "text"], \
        "every block of docs/walkthrough.md is a '$ trnsim' text block the test runs"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"walkthrough.md:{b.line}" for b in BLOCKS])
def test_walkthrough_block(block: Block, run: Runner) -> None:
    sessions = text_sessions(block)
    assert sessions, f"walkthrough.md:{block.line}: a text block without '$ trnsim'"
    for command, expected in sessions:
        out = run(command).out
        why = mismatch(normalise(expected), normalise(out))
        assert why is None, (f"walkthrough.md:{block.line}: `{command}`: {why}\n--- its output now (update "
                             "the block, keeping '...' for what it leaves out):\n" + "\n".join(out))


# ---- figures quoted in the prose, from the JSON ----------------------------------------------


def _row(data: dict[str, Any], kind: str, system: str, chips: int | None = None) -> dict[str, Any]:
    return next(r for r in data["results"] if r["kind"] == kind and r["system"] == system
                and (chips is None or r["chips"] == chips))


def _eq(data: dict[str, Any], system: str) -> dict[str, Any]:
    return _row(data, "equal-chips", system)


def _days(row: dict[str, Any], digits: int = 1) -> str:
    return f"{row['time_to_train_days']:.{digits}f}"


def _pct(value: float, digits: int = 0) -> str:
    return f"{value * 100:.{digits}f}"


def _per_chip(row: dict[str, Any]) -> float:
    return float(row["tokens_per_s"]) / row["chips"]


def _ms(row: dict[str, Any], part: str | None = None) -> str:
    return f"{(row['step_time_s'] if part is None else row['breakdown_s'][part]) * 1e3:.1f}"


def _price(data: dict[str, Any], system: str) -> float:
    return float(data["meta"]["systems"][system]["price_usd_per_node_hour"])


def _budget_figures(d: dict[str, Any]) -> tuple[str, ...]:
    trn1, at_8192 = _row(d, "equal-budget", "trn1"), _eq(d, "trn1")
    return (f"{trn1['nodes']:,}", f"{trn1['chips']:,}", f"{trn1['nodes'] * _price(d, 'trn1'):,.0f}",
            _days(trn1), f"{trn1['cost_usd'] / 1e6:.1f}", trn1["plan"], _days(at_8192), _pct(trn1["mfu"]),
            _pct(trn1["goodput"]), f"{_per_chip(trn1):,.0f}", f"{_per_chip(at_8192):,.0f}",
            f"{trn1['cost_usd'] / at_8192['cost_usd']:.1f}", f"{at_8192['cost_usd'] / 1e6:.1f}")


def _p5_budget(d: dict[str, Any]) -> tuple[str, ...]:
    p5 = _row(d, "equal-budget", "p5")
    return f"{p5['nodes'] * _price(d, 'p5'):,.0f}", _days(p5), f"{p5['cost_usd'] / 1e6:.1f}"


def _ultra_vs_trn2(d: dict[str, Any]) -> tuple[str, ...]:
    ultra, trn2 = _eq(d, "trn2-ultraserver"), _eq(d, "trn2")
    assert ultra["plan"] == trn2["plan"] and _ms(ultra, "compute") == _ms(trn2, "compute") \
        and _ms(ultra, "tp_comm") == _ms(trn2, "tp_comm"), "the page says: same plan, compute and tp_comm"
    return (_ms(ultra, "dp_comm"), _ms(trn2, "dp_comm"), _ms(ultra), _ms(trn2), _pct(ultra["mfu"], 1),
            _pct(trn2["mfu"], 1))


def _claims(d: dict[str, Any]) -> tuple[str, ...]:
    ultra, trn2, trn1, p5e = (_eq(d, s) for s in ("trn2-ultraserver", "trn2", "trn1", "p5e"))
    low, high = sorted((_per_chip(trn2) / _per_chip(p5e), _per_chip(ultra) / _per_chip(p5e)))
    mfu_low, mfu_high = sorted((_pct(trn2["mfu"]), _pct(ultra["mfu"])))
    return (f"{_per_chip(ultra) / _per_chip(trn1):.2f}", f"{_per_chip(trn2) / _per_chip(trn1):.2f}",
            _pct(low), _pct(high), f"{_per_chip(trn2):,.0f}", f"{_per_chip(ultra):,.0f}",
            f"{_per_chip(p5e):,.0f}", mfu_low, mfu_high, _pct(p5e["mfu"]))


def _break_even(d: dict[str, Any]) -> tuple[str, ...]:
    found = re.search(r"at \$([\d.,]+) and \$([\d.,]+) per node-hour", d["meta"]["headline"])
    assert found, d["meta"]["headline"]
    return found.group(1), found.group(2)


def _scale_out(d: dict[str, Any]) -> tuple[str, ...]:
    small, mid, big = (_row(d, "scaling", "trn2-ultraserver", c) for c in (8192, 65536, 131072))
    return (_days(small), _days(big, 2), f"{mid['chips']:,}", _days(mid, 2), _pct(small["mfu"], 1),
            _pct(big["mfu"], 1), _pct(small["goodput"], 1), _pct(big["goodput"], 1))


def _at_2048(s: dict[str, Any]) -> tuple[str, ...]:
    ultra, trn2, p5e = (_row(s, "scaling", n, 2048) for n in ("trn2-ultraserver", "trn2", "p5e"))
    low, high = sorted((_pct(trn2["mfu"]), _pct(ultra["mfu"])))
    assert float(high) < float(_pct(p5e["mfu"])), "the page says: Trn2's MFU is below P5e's at 2,048 chips"
    return low, high, _pct(p5e["mfu"]), _days(p5e), _days(ultra), _days(ultra), _days(trn2)


def _ultra_pulls_ahead(s: dict[str, Any]) -> tuple[str, ...]:
    def pair(chips: int, digits: int) -> tuple[str, str]:
        return (_days(_row(s, "scaling", "trn2-ultraserver", chips), digits),
                _days(_row(s, "scaling", "trn2", chips), digits))
    return (*pair(32768, 1), *pair(131072, 2))


def _tpu_v5p(s: dict[str, Any]) -> tuple[str, ...]:
    big, mid = (_row(s, "scaling", "tpu-v5p", c) for c in (131072, 32768))
    assert big["time_to_train_days"] > mid["time_to_train_days"], "the page says: slower at 131,072"
    return _days(big), _days(mid)


def _caveats(d: dict[str, Any]) -> tuple[str, ...]:
    ultra, trn2, p5, p5e = (_eq(d, s) for s in ("trn2-ultraserver", "trn2", "p5", "p5e"))
    gib = 2**30
    mfu_trn2 = sorted((_pct(trn2["mfu"]), _pct(ultra["mfu"])))
    mfu_gpu = sorted((_pct(p5["mfu"]), _pct(p5e["mfu"])))
    return (_days(ultra), _days(trn2), f"{p5['memory_per_rank_bytes'] / gib:.1f}",
            f"{p5['memory_capacity_bytes'] / gib:.0f}", *mfu_trn2, *mfu_gpu)


#: (the phrase of the page, with ``{}`` for each figure; the command whose JSON gives them; how).
FIGURES: list[tuple[str, str, Callable[[dict[str, Any]], tuple[str, ...]]]] = [
    ("Trn1 buys {} instances ({} chips, ${}/h) for it: {} days at ${} M ({}) — faster than its {} days at "
     "8,192 chips, but at {} % MFU and {} % goodput ({} tokens/s per chip, against {} at 8,192 chips)",
     COMPARE, lambda d: _budget_figures(d)[:11]),
    ("it costs about {}× its ${} M at 8,192 chips", COMPARE, lambda d: _budget_figures(d)[11:]),
    ("P5 gets the same 1,024 instances as at equal chips (${}/h; {} days, ${} M)", COMPARE, _p5_budget),
    ("dp_comm {} ms against {} ms (step {} vs {} ms, MFU {} % vs {} %)", COMPARE, _ultra_vs_trn2),
    ("Trn2 about {}× Trn1 per chip on the UltraServer ({}× on trn2.48xlarge) — close to AWS's 4× — and "
     "about {}–{} % of an H200's throughput per chip ({} tokens/s on trn2.48xlarge and {} on the "
     "UltraServer, against {}) at about the same MFU ({}–{} % against {} %)", COMPARE, _claims),
    ("cost at most ${} per hour, about what an 8-GPU P5e costs ($107); 40 % needs at most ${}.",
     COMPARE, _break_even),
    ("cuts the time from {} to {} days, not 16×, and {} chips already take {} days: the batch leaves too "
     "little work per chip (MFU falls from {} % to {} %) and goodput falls from {} % to {} %",
     COMPARE, _scale_out),
    ("At 2,048 chips Trn2's MFU ({}–{} %) is below P5e's {} %, and P5e is faster per chip ({} vs {} days "
     "on the UltraServer)", SCALING, lambda s: _at_2048(s)[:5]),
    ("about level with plain trn2 instances at 2,048 chips ({} vs {} days)", SCALING,
     lambda s: _at_2048(s)[5:]),
    ("pulls ahead as data parallelism grows ({} vs {} days at 32,768 chips, {} vs {} days at 131,072)",
     SCALING, _ultra_pulls_ahead),
    ("TPU v5p is slower at 131,072 chips than at 32,768 ({} vs {} days)", SCALING, _tpu_v5p),
    ("faster than plain trn2 instances at 8,192 chips ({} vs {} days)", COMPARE, lambda d: _caveats(d)[:2]),
    ("P5's best plan uses {} of its {} GiB per GPU", COMPARE, lambda d: _caveats(d)[2:4]),
    ("Trn2's MFU ({}–{} %) is level with the GPUs' ({}–{} %)", COMPARE, lambda d: _caveats(d)[4:]),
]


@pytest.mark.parametrize(("phrase", "command", "figures"), FIGURES, ids=[f[0][:40] for f in FIGURES])
def test_prose_figures_are_the_json_s(phrase: str, command: str,
                                       figures: Callable[[dict[str, Any]], tuple[str, ...]],
                                       run: Runner) -> None:
    expected = phrase.format(*figures(run(command).data))
    assert expected in PROSE, f"docs/walkthrough.md should now say (then re-read its conclusion):\n{expected}"


def test_scaling_table_is_the_json_s(run: Runner) -> None:
    data = run(SCALING).data
    rows = [line for line in TEXT.splitlines() if re.match(r"\| [\d,]+ \|", line)]
    assert rows, "the scaling table of docs/walkthrough.md is gone"
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        chips = int(cells[0].replace(",", ""))
        want = [f"{_days(r)} ({_pct(r['mfu'])}%, {_pct(r['goodput'])}%)"
                for r in (_row(data, "scaling", s, chips) for s in SCALING_SYSTEMS)]
        assert cells[1:] == want, f"docs/walkthrough.md's {chips:,}-chip row should now be: {want}"


def test_p5_with_zero3(run: Runner) -> None:
    """The caveat's ZeRO-3 figure: the P5 best plan estimated again with ``--zero 3``."""
    args = list(_eq(run(COMPARE).data, "p5")["estimate_args"])
    args[args.index("--zero") + 1] = "3"
    estimate = run("trnsim estimate " + " ".join(args) + " --tokens 6.3T").data
    days = f"{estimate['expected_wall_time_s'] / 86400:.1f}"
    phrase = f"ZeRO-3 ({days} days: the same plan with `--zero 3` in `trnsim estimate`)"
    assert phrase in PROSE, f"docs/walkthrough.md should now say: {phrase}"

