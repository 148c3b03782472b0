"""Fit one scale per GPU on its efficiency curves against the published runs, end to end.

Run: ``PYTHONPATH=src python benchmarks/calibrate_efficiency.py [--scales 0.7,0.8,0.9,1.0]``

For each scale s, writes copies of the shipped ``a100.toml`` and ``h100.toml`` with
``calibration_scale = s`` (the factor on every matmul and attention efficiency) into a temporary
``$TRNSIM_CATALOG/efficiency/``, runs
the cluster layer's validation (``trnsim.cluster.calibration``, communication and pipeline
included) in a fresh process, and prints the mean absolute percentage error per calibration file
(and the mean signed error). One parameter per chip, fitted on all its rows: the shape of the
curves (their size dependence) stays as documented in the TOML files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
EFFICIENCY = SRC / "trnsim" / "devicetime" / "data" / "efficiency"

_VALIDATE = """
import json
from trnsim.cluster.calibration import load_cases, validate_case
cases, _ = load_cases()
out = {}
for case in cases:
    row = validate_case(case)
    out.setdefault(case.file, []).append(row.error)
print(json.dumps(out))
"""


def scaled(text: str, scale: float) -> str:
    """The TOML text with its ``calibration_scale`` set to ``scale``."""
    return re.sub(r"(?m)^calibration_scale = .*$", f"calibration_scale = {scale}", text)


def errors_at(scale: float) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "efficiency").mkdir()
        for chip in ("a100", "h100"):
            text = (EFFICIENCY / f"{chip}.toml").read_text()
            (Path(tmp) / "efficiency" / f"{chip}.toml").write_text(scaled(text, scale))
        env = {**os.environ, "PYTHONPATH": str(SRC), "TRNSIM_CATALOG": tmp}
        done = subprocess.run([sys.executable, "-c", _VALIDATE], env=env, capture_output=True, text=True,
                              check=True)
        return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.7,0.75,0.8,0.85,0.9,0.95,1.0")
    args = parser.parse_args()
    print("| scale | file | MAPE | mean signed error |\n|---|---|---|---|")
    for scale in (float(s) for s in args.scales.split(",")):
        for file, errors in errors_at(scale).items():
            mape = sum(abs(e) for e in errors) / len(errors)
            print(f"| {scale:.2f} | {file} | {mape:.1%} | {sum(errors) / len(errors):+.1%} |", flush=True)


if __name__ == "__main__":
    main()
