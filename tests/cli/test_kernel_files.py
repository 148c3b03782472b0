"""``trnsim kernel run`` and ``kernel profile`` on failing files: the file's own status, Python's message.

A script must be able to trust ``kernel profile``'s status: it is the file's (the first non-zero
one over several targets), not 0 with a note. A syntax error in the user's file reads as Python
itself prints it (file, line, caret), with no frame of trnsim's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_errors import run_cli, run_main

HEADER = "import numpy as np\nimport neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\n\n"
KERNEL = ("@nki.jit\ndef k(a):\n    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)\n"
          "    nl.store(out, nl.load(a))\n    return out\n\n")
FILES = {
    "syntax.py": HEADER + "@nki.jit\ndef k(a):\n    return nl.load(a\n",
    # one good launch, then a tile of 129 partitions (the limit is 128): KernelError, status 2
    "partition129.py": HEADER + KERNEL + "k(np.ones((128, 2), np.float32))\n"
                       "k(np.ones((129, 2), np.float32))\n",
    "out_of_bounds.py": HEADER + "@nki.jit\ndef k(a):\n    return nl.load(a[0:256, 0:2])\n\n"
                        "k(np.ones((128, 2), np.float32))\n",
    "exit3.py": HEADER + KERNEL + "k(np.ones((128, 2), np.float32))\nraise SystemExit(3)\n",
    "bug.py": HEADER + KERNEL + "k(np.ones((128, 2), np.float32))\n1 / 0\n",
}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEURON_PLATFORM_TARGET_OVERRIDE", "trn2")  # `kernel run` sets it; restore after
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("name", "status"), [("syntax.py", 1), ("partition129.py", 2),
                                              ("out_of_bounds.py", 2), ("exit3.py", 3), ("bug.py", 1)])
@pytest.mark.parametrize("command", ["run", "profile"])
def test_status_is_the_files_own(name: str, status: int, command: str, files: Path,
                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["kernel", command, str(files / name)])
    assert code == status, err
    assert "trnsim" not in err  # no frame of trnsim's (paths under src/trnsim) in what the user sees


@pytest.mark.parametrize("name", ["partition129.py", "out_of_bounds.py"])
def test_kernel_error_is_one_error_line(name: str, files: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["kernel", "run", str(files / name)])
    lines = err.rstrip("\n").split("\n")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: kernel 'k'"), err


def test_profile_with_several_targets_returns_the_first_failure(
        files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = run_main(capsys, monkeypatch, ["kernel", "profile", str(files / "exit3.py"),
                                               "--target", "trn1,trn2"])
    assert code == 3, err
    out = capsys.readouterr().out
    # the launch made before the exit is still profiled on both targets, each noted once on stderr
    assert err.count("exited with status 3") == 2 and "profiling the 1 launch it made" in err, (err, out)


def test_profile_of_a_good_file_exits_0(files: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    good = files / "good.py"
    good.write_text(HEADER + KERNEL + "k(np.ones((128, 2), np.float32))\n")
    code, err = run_main(capsys, monkeypatch, ["kernel", "profile", str(good), "--target", "trn1,trn2"])
    assert code == 0 and err == "", err


@pytest.mark.parametrize("command", ["run", "profile"])
def test_syntax_error_reads_as_pythons_own(command: str, files: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = files / "syntax.py"
    python = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=False)
    code, err = run_main(capsys, monkeypatch, ["kernel", command, str(path)])
    assert code == python.returncode == 1
    assert err == python.stderr, (err, python.stderr)
    assert f'File "{path}", line 7' in err and "^" in err and "SyntaxError: '(' was never closed" in err


@pytest.mark.parametrize(("targets", "status"), [("trn2,trn1", 5), ("trn1,trn3", 5), ("trn3,trn1", 7),
                                                 ("trn2", 0)])
def test_first_non_zero_status_over_targets(targets: str, status: int, files: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    per_target = files / "per_target.py"  # exits with a status that depends on the target it runs on
    per_target.write_text("import os, sys\ntarget = os.environ['NEURON_PLATFORM_TARGET_OVERRIDE']\n"
                          "sys.exit({'trn1': 5, 'trn2': 0, 'trn3': 7}[target])\n")
    code, _ = run_main(capsys, monkeypatch, ["kernel", "profile", str(per_target), "--target", targets])
    assert code == status


@pytest.mark.parametrize(("command", "target", "expected"), [
    ("run", "", "--target is empty"),  # ran on the default target, silently
    ("profile", "trn1,,trn2", "has an empty item"),  # profiled trn1 and trn2 as if ',,' were ','
    ("profile", "trn2,gen3", "names trn2 twice"),  # gen3 is trn2: every column came twice
])
def test_bad_target_lists_are_one_line(command: str, target: str, expected: str, files: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    good = files / "good.py"
    good.write_text(HEADER + KERNEL + "k(np.ones((128, 2), np.float32))\n")
    code, err = run_main(capsys, monkeypatch, ["kernel", command, str(good), "--target", target])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], err


@pytest.mark.parametrize("command", ["run", "profile"])
def test_deadline_before_the_kernel_body_is_one_line(command: str, files: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The watchdog's interrupt can land while a launch is being set up (outside the kernel's frames
    that turn it into a KernelError): `--time-limit 0.001` then printed a TimeLimitInterrupt traceback."""
    import trnsim.nki.runner
    from trnsim.nki.budget import TimeLimitInterrupt

    def interrupted(*_: object, **__: object) -> int:
        raise TimeLimitInterrupt

    monkeypatch.setattr(trnsim.nki.runner, "run_file", interrupted)
    code, err = run_main(capsys, monkeypatch,
                         ["kernel", command, str(files / "exit3.py"), "--time-limit", "0.5"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "wall-time budget of 0.5 s exceeded" in lines[0], err


def test_profile_passes_arguments_to_the_file(files: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`kernel run FILE ARGS` passed sys.argv; `kernel profile` had no way to, so a file that reads its
    size from the command line could not be profiled. The launch's rows follow the argument given."""
    sized = files / "sized.py"
    sized.write_text(HEADER + KERNEL + "import sys\nk(np.ones((int(sys.argv[1]), 2), np.float32))\n")
    for rows in (32, 128):
        code, out, err = run_cli(monkeypatch, capsys, "kernel", "profile", str(sized), str(rows),
                                 "--json", "-")
        summary = json.loads(out)
        # one load and one store of rows x 2 fp32
        assert code == 0 and err == "" and summary[0]["dma_bytes"] == 2 * rows * 2 * 4, err
    code, err = run_main(capsys, monkeypatch, ["kernel", "profile", str(sized), "--jsn", "x"])
    assert code == 2 and "No such option: --jsn" in err  # a mistyped option is still refused


def test_a_kernels_own_exception_shows_no_trnsim_frame(files: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel raising its own exception showed trnsim's launch frames (kernel.py __call__, run,
    launch) between the file's frames; only the file's frames remain, in order."""
    raising = files / "raising.py"
    raising.write_text(HEADER + "@nki.jit\ndef k(a):\n    raise RuntimeError('my own')\n\n\n"
                       "def main():\n    k(np.ones((128, 2), np.float32))\n\n\nmain()\n")
    code, err = run_main(capsys, monkeypatch, ["kernel", "run", str(raising)])
    frames = [line.strip() for line in err.splitlines() if line.strip().startswith("File ")]
    assert code == 1 and err.rstrip().endswith("RuntimeError: my own"), err
    assert [f.split(", ")[1] for f in frames] == ["line 14", "line 11", "line 7"], err
    assert all("raising.py" in f for f in frames) and "trnsim" not in err, err
