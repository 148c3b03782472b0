"""``trnsim compare`` on its default job: wall and CPU time (issue 13, goal 3: ≤ 2 s on 2 cores).

Run: ``PYTHONPATH=src python benchmarks/compare_speed.py [repeats]``. Starts the command as a user
would (a fresh interpreter, ``--no-progress``), alternating with the same job in one process
(``--workers 1``) and on a pool of two worker processes (``--workers 2``, the default before issue
13) so that machine load hits them alike, and prints the medians, the ratios, and CPU seconds
(children included). The default on two cores runs the other chip families' searches in a forked
child meanwhile: its wall time is about the larger half's CPU time where the second core is free.
As an installed copy runs: the children may write bytecode (``PYTHONDONTWRITEBYTECODE`` is
dropped for them) and an untimed first run writes it, so no timed run compiles trnsim's sources
(0.2-0.3 s here).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

GOAL_S = 2.0
COMMAND = "import sys; from trnsim.cli import main; sys.argv[0] = 'trnsim'; main()"


#: The children's environment: bytecode written and read, as an installed package has it.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run(*args: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children) of one ``trnsim`` run."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", COMMAND, "compare", "--no-progress", *args],
                   capture_output=True, check=True, env=ENV)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    default, single, pooled = [], [], []
    run("--scaling", "")  # untimed: writes the bytecode
    for _ in range(repeats):
        default.append(run())
        single.append(run("--workers", "1"))
        pooled.append(run("--workers", "2"))
    med = statistics.median
    wall, cpu = med(w for w, _ in default), med(c for _, c in default)
    one_wall, one_cpu = med(w for w, _ in single), med(c for _, c in single)
    pool_wall, pool_cpu = med(w for w, _ in pooled), med(c for _, c in pooled)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"trnsim compare (default job, {cores} cores), median of {repeats}; load average {load}")
    print(f"default (+ a forked child)   {wall:6.2f} s wall  {cpu:6.2f} s CPU  "
          f"(goal ≤ {GOAL_S:.0f} s: {'met' if wall <= GOAL_S else 'NOT met'})")
    print(f"--workers 1 (one process)    {one_wall:6.2f} s wall  {one_cpu:6.2f} s CPU")
    print(f"--workers 2 (process pool)   {pool_wall:6.2f} s wall  {pool_cpu:6.2f} s CPU (main process only "
          "where a fork server runs the workers)")
    print(f"ratio default / one process  {wall / one_wall:6.2f}×")
    print(f"ratio default / pool         {wall / pool_wall:6.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
