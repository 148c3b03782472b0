"""An output path that cannot be written fails before the work, in one line (exit 2).

``compare --json /proc/x.json`` (a directory that exists but takes no new file) searched every
system, printed every table, and only then failed to write; a sweep's ``--html`` failed at its end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.cli_errors import run_cli

UNWRITABLE = Path("/proc/trnsim-qa-output.json")  # /proc takes no new file, even for root

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/proc").is_dir(),
                                reason="needs Linux's /proc for a directory no one can write to")


@pytest.mark.parametrize("args", [
    ["compare", "--model", "llama3-8b", "--systems", "p5", "--chips", "8", "--scaling", "", "--json"],
    ["estimate", "--model", "llama3-8b", "--system", "p5", "--nodes", "1", "--json"],
    ["catalog", "chips", "--json"],
])
def test_unwritable_output_fails_first(args: list[str], monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, *args, str(UNWRITABLE))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, out, err)
    assert f"--json '{UNWRITABLE}'" in lines[0] and "cannot write" in lines[0]


def test_a_writable_new_path_is_not_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The check leaves no empty file where the command then fails for another reason."""
    target = tmp_path / "out.json"
    code, _, _ = run_cli(monkeypatch, capsys, "estimate", "--model", "nosuch", "--system", "p5", "--nodes",
                         "1", "--json", str(target))
    assert code == 2 and not target.exists()


def test_a_fifo_output_is_not_opened_by_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Opening a named pipe for the check would block until a reader came, and then hand it an
    end-of-file before the real output: the check leaves pipes and devices alone."""
    import os
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:  # a second read too, so that an early end-of-file fails the test, not hangs it
        received.append(fifo.read_bytes())
        if not received[0]:
            received.append(fifo.read_bytes())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code, _, err = run_cli(monkeypatch, capsys, "catalog", "chips", "--json", str(fifo))
    reader.join(timeout=30)
    assert code == 0, err
    assert len(received) == 1 and b'"name": "trn2"' in received[0], received[:1]
