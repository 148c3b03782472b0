"""Start-up: ``import trnsim.cli`` against ``import numpy``, measured side by side (issue 13, goal 1).

Run: ``PYTHONPATH=src python benchmarks/startup_speed.py [repeats]``. Each repeat starts fresh
interpreters in turn (so load on a shared machine hits both alike) and reads the cumulative import
time of the module from ``python -X importtime``; the medians and their ratio are printed (goal:
≤ 3×). Also the wall time of ``trnsim --help`` and of ``python -c "import numpy"`` beside it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

GOAL_RATIO = 3.0
HELP = "import sys; from trnsim.cli import main; sys.argv[0] = 'trnsim'; main()"


def import_time_s(module: str) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter, from ``-X importtime``."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                         capture_output=True, text=True, check=True)
    for line in reversed(run.stderr.splitlines()):
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[2] == module:  # the top-level line: no indentation
            return int(fields[1]) / 1e6
    raise RuntimeError(f"no import-time line for {module}")


def wall_s(code: str, *args: str) -> float:
    """Wall time of a fresh interpreter running ``code`` with ``args``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    cli, numpy, help_s, numpy_wall = [], [], [], []
    for _ in range(repeats):
        numpy.append(import_time_s("numpy"))
        cli.append(import_time_s("trnsim.cli"))
        numpy_wall.append(wall_s("import numpy"))
        help_s.append(wall_s(HELP, "--help"))
    med = statistics.median
    ratio = med(cli) / med(numpy)
    print(f"import numpy      {med(numpy) * 1e3:7.1f} ms (median of {repeats}, -X importtime)")
    print(f"import trnsim.cli {med(cli) * 1e3:7.1f} ms")
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"ratio             {ratio:7.2f}×  (goal ≤ {GOAL_RATIO:.0f}×: {verdict})")
    print(f"wall: python -c 'import numpy' {med(numpy_wall):.3f} s; trnsim --help {med(help_s):.3f} s "
          f"({med(help_s) / med(numpy_wall):.2f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
