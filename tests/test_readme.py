"""The README's command blocks run, and their output still matches what the README shows.

Every fenced ``bash`` or ``text`` block of README.md is a test unless the line before it is
``<!-- no-test -->`` (installs, and runs too long for the suite). In a ``text`` block, a line
``$ trnsim ...`` is a command and the lines after it are its expected output; a line ``...``
stands for any number of lines left out. In a ``bash`` block every command must exit 0 (the README
shows no output for them). Output is compared line by line with whitespace collapsed and
wall-clock timings masked, so that only a change in what trnsim says fails the test.

When trnsim's output changes on purpose, the failure shows the new output: paste the lines the
README wants into its block (keeping ``...`` for the parts it leaves out).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from trnsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NO_TEST = "<!-- no-test -->"
ELLIPSIS = "..."
#: Wall-clock figures vary from run to run: "in 4.1 s", "2,438 candidates/s".
TIMING = re.compile(r"\bin [\d.,]+ s\b|[\d.,]+ candidates/s")


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: where it starts, its language and its lines."""

    line: int
    lang: str
    lines: tuple[str, ...]
    skipped: bool


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, marked skipped when ``<!-- no-test -->`` precedes it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*)\s*", lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        blocks.append(Block(i + 1, fence.group(1), tuple(lines[i + 1:end]), before == NO_TEST))
        i = end + 1
    return blocks


def bash_commands(block: Block) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments dropped, ``&&`` split."""
    joined, current = [], ""
    for raw in block.lines:
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            joined.append(current.strip())
        current = ""
    return [" ".join(part.split()) for command in joined for part in command.split("&&")]


def text_sessions(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` for each ``$ `` line of a text block."""
    sessions: list[tuple[str, list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            sessions.append((line[2:].strip(), []))
        elif sessions:
            sessions[-1][1].append(line)
    return sessions


def normalise(lines: list[str]) -> list[str]:
    """Whitespace collapsed, timings masked, blank lines dropped."""
    out = []
    for line in lines:
        text = TIMING.sub("<timing>", " ".join(line.split()))
        if text:
            out.append(text)
    return out


def mismatch(expected: list[str], actual: list[str]) -> str | None:
    """Why ``actual`` does not show ``expected`` (segments between ``...`` in order), or None."""
    segments: list[list[str]] = [[]]
    for line in expected:
        if line == ELLIPSIS:
            segments.append([])
        else:
            segments[-1].append(line)
    anchored_start, anchored_end = bool(segments[0]), bool(segments[-1])
    position = 0
    for index, segment in enumerate(segments):
        if not segment:
            continue
        size = len(segment)
        starts = [0] if index == 0 and anchored_start else range(position, len(actual) - size + 1)
        found = next((s for s in starts if actual[s:s + size] == segment), None)
        if found is None:
            return "these lines are not in the output (in this order):\n  " + "\n  ".join(segment)
        position = found + size
    if anchored_end and position != len(actual):
        return "the output goes on after the README's last line (end the block with '...' if that is meant)"
    return None


def run_trnsim(command: str, workdir: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Run ``trnsim ARGS`` in-process in ``workdir``; its status and stdout lines (100 columns)."""
    words = shlex.split(command)
    assert words[0] == "trnsim", f"not a trnsim command: {command} (mark the block {NO_TEST})"
    args = [str(ROOT / w) if (ROOT / w).exists() and not w.startswith("-") else w for w in words[1:]]
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")  # `kernel run` changes it: restore
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("trnsim.cli.cmd_plan.console", Console(width=100))  # the README's width
    monkeypatch.setattr(sys, "argv", ["trnsim", *args])
    code: object = 0
    try:
        main()
    except SystemExit as exited:
        code = 0 if exited.code is None else exited.code
    out = capsys.readouterr().out
    return (code if isinstance(code, int) else 1), out.splitlines()


BLOCKS = [b for b in readme_blocks(README.read_text()) if b.lang in ("bash", "text", "")]
TESTED = [b for b in BLOCKS if not b.skipped]


def test_few_blocks_are_skipped() -> None:
    skipped = [b.line for b in BLOCKS if b.skipped]
    assert len(TESTED) >= 2 and len(skipped) <= 3, f"README blocks skipped at lines {skipped}"


def test_parsing_of_blocks_and_output() -> None:
    text = "a\n<!-- no-test -->\n```bash\npip install x\n```\n```text\n$ trnsim x\nout\n...\nend\n```\n"
    first, second = readme_blocks(text)
    assert first.skipped and not second.skipped and second.line == 6
    assert text_sessions(second) == [("trnsim x", ["out", "...", "end"])]
    assert bash_commands(Block(1, "bash", ("trnsim a \\", "  --b 1  # note", "# c", "trnsim d && trnsim e"),
                                  False)) == ["trnsim a --b 1", "trnsim d", "trnsim e"]
    assert normalise(["  x   y ", "", "in 4.1 s (2,438 candidates/s)"]) == ["x y", "<timing> (<timing>)"]
    assert mismatch(["a", "...", "c"], ["a", "b", "c"]) is None
    assert mismatch(["...", "b", "..."], ["a", "b", "c"]) is None
    assert mismatch(["a", "c"], ["a", "b", "c"]) is not None  # no '...': lines must follow on
    assert mismatch(["b"], ["a", "b"]) is not None  # anchored at the start
    assert mismatch(["a"], ["a", "b"]) is not None  # and at the end


@pytest.mark.parametrize("block", TESTED, ids=[f"README.md:{b.line}" for b in TESTED])
def test_readme_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    if block.lang == "text":
        sessions = text_sessions(block)
        assert sessions, f"README.md:{block.line}: a text block without '$ trnsim' (mark it {NO_TEST})"
    else:
        sessions = [(command, [ELLIPSIS]) for command in bash_commands(block)]
    for command, expected in sessions:
        code, out = run_trnsim(command, tmp_path, monkeypatch, capsys)
        assert code == 0, f"README.md:{block.line}: `{command}` exited {code}:\n" + "\n".join(out)
        why = mismatch(normalise(expected), normalise(out))
        assert why is None, (f"README.md:{block.line}: `{command}`: {why}\n--- its output now (update the "
                             "README block, keeping '...' for what it leaves out):\n" + "\n".join(out))
