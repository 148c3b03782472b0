"""The import hook provides SDK module names only when asked; `trnsim kernel run` runs SDK files."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from trnsim.nki import hook
from trnsim.nki.runner import run_file

ROOT = Path(__file__).resolve().parents[2]


def test_sdk_names_absent_without_the_hook() -> None:
    assert not hook.installed()
    for name in ("neuronxcc", "nki"):
        assert name not in sys.modules
        with pytest.raises(ImportError):
            importlib.import_module(name)


def test_hook_resolves_both_generations_and_uninstalls() -> None:
    with hook.sdk_imports():
        legacy = importlib.import_module("neuronxcc.nki")
        nl = importlib.import_module("neuronxcc.nki.language")
        from neuronxcc import nki as nki_from  # type: ignore[import-not-found]

        current = importlib.import_module("nki")
        nisa = importlib.import_module("nki.isa")
        assert legacy is importlib.import_module("trnsim.nki.legacy") and nki_from is legacy
        assert nl is importlib.import_module("trnsim.nki.legacy.language")
        assert current is importlib.import_module("trnsim.nki.current")
        assert nisa is importlib.import_module("trnsim.nki.current.isa")
    assert "neuronxcc" not in sys.modules and "nki" not in sys.modules
    assert not hook.installed()


def test_run_file_returns_the_files_exit_status(tmp_path: Path) -> None:
    script = tmp_path / "k.py"
    script.write_text(
        "import sys\nimport numpy as np\nimport neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\n"
        "@nki.jit\ndef k(a):\n    o = nl.ndarray(a.shape, a.dtype, buffer=nl.shared_hbm)\n"
        "    nl.store(o, value=nl.load(a))\n    return o\n"
        "out = k(np.ones((2, 2), np.float32))\nsys.exit(int(sys.argv[1]) + int(out.sum()))\n"
    )
    assert run_file(script, ["3"]) == 7
    assert "neuronxcc" not in sys.modules


def test_cli_runs_the_readme_example() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trnsim.cli import main; main()",
            "kernel",
            "run",
            "examples/tensor_add.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "NKI and NumPy match: True" in result.stdout


def test_cli_kernel_error_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text(
        "import numpy as np\nimport neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\n"
        "@nki.jit\ndef k(a):\n    return nl.load(a)\nk(np.ones((300, 2), np.float32))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "from trnsim.cli import main; main()", "kernel", "run", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
    )
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.py:6" in lines[0] and "partition dimension 300" in lines[0]
    assert lines[0].endswith("[num_partition_exceed_arch_limit]")


def test_current_api_example_and_constants_module() -> None:
    assert run_file(ROOT / "examples" / "matmul_current.py", target="trn3") == 0
    with hook.sdk_imports():
        from neuronxcc.nki.language.constants import sizeinbytes  # type: ignore[import-not-found]

        assert sizeinbytes(importlib.import_module("neuronxcc.nki.language").bfloat16) == 2


def test_a_files_own_error_prints_its_traceback_only(tmp_path: Path) -> None:
    script = tmp_path / "buggy.py"
    script.write_text("def helper():\n    return None.shape\n\nhelper()\n")
    result = subprocess.run(
        [sys.executable, "-c", "from trnsim.cli import main; main()", "kernel", "run", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1  # as `python buggy.py` would
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'buggy.py", line 4' in result.stderr and "AttributeError" in result.stderr
    assert "runner.py" not in result.stderr and "typer" not in result.stderr
