"""Machine instructions a benchmark's worker process executes, counted by valgrind (cachegrind).

Shared by benchmarks/core_instructions.py and benchmarks/trace_instructions.py: each starts its own
script as a worker under valgrind, once per source tree and repeat count, and takes the difference.
Counts repeat where wall and CPU times on a shared machine scatter: the hash seed is fixed, address
randomisation is off where ``setarch`` exists, and numpy's OpenBLAS runs one thread (its idle pool
otherwise moves a count by millions; measured by benchmarks/plan_instructions.py's author).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def check_usable(name: str, repeats: int, fallback: str) -> None:
    """Exit 2 with one line when valgrind is missing (``fallback``: the benchmark that times the same
    work in CPU seconds instead) or ``repeats`` is below 1."""
    if shutil.which("valgrind") is None:
        print(f"{name}: valgrind is not on the PATH (it counts the instructions); "
              f"use {fallback} for CPU times instead", file=sys.stderr)
        sys.exit(2)
    if repeats < 1:
        print(f"{name}: --repeats {repeats}: must be at least 1", file=sys.stderr)
        sys.exit(2)


def per_repeat(name: str, script: str, src: Path, worker_arg: str, repeats: int) -> float:
    """Instructions of one repeat: ``script --worker worker_arg N`` run with ``repeats`` and with 0
    repeats side by side (two processes), the difference divided by ``repeats``."""
    without = start_count(script, src, worker_arg, "0")
    with_repeats = start_count(script, src, worker_arg, str(repeats))
    return (instructions(with_repeats, name) - instructions(without, name)) / repeats


def start_count(script: str, src: Path, *worker_args: str) -> subprocess.Popen[str]:
    """Start ``script --worker *worker_args`` under cachegrind with ``src`` on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    prefix = ["setarch", os.uname().machine, "-R"] if shutil.which("setarch") else []
    command = [*prefix, "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, script, "--worker", *worker_args]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def instructions(process: subprocess.Popen[str], name: str) -> int:
    """The instructions counted by a run :func:`start_count` started (``name``: the calling
    benchmark, for the message if valgrind failed)."""
    _, err = process.communicate()
    match = _REFS.search(err or "")
    if process.returncode != 0 or match is None:
        raise SystemExit(f"{name}: a valgrind run failed:\n{(err or '')[-2000:]}")
    return int(match.group(1).replace(",", ""))
