"""Predicted vs measured per calibration row; MAPE per file in-sample, held-out, scale 1.0.

    PYTHONPATH=src python benchmarks/validate_calibration.py
"""

from __future__ import annotations

from trnsim.cli.cmd_validate import holdouts
from trnsim.cluster.calibration import load_cases, validate_case


def main() -> None:
    cases, skipped = load_cases()
    rows = [validate_case(case) for case in cases]
    print(f"{'file':<28} {'case':<18} {'metric':<15} {'predicted':>10} {'measured':>10} {'error':>8} "
          f"{'compute ratio':>13}")
    for row in rows:
        c = row.case
        print(f"{c.file.removesuffix('.csv'):<28} {c.label:<18} {c.metric!s:<15} {row.predicted:>10.4g} "
              f"{c.measured:>10.4g} {row.error:>+8.1%} {row.compute_ratio:>13.2f}")
    print()
    print(f"{'MAPE per file':<32} {'in-sample':>9}  {'held-out (leave one model out)':<42} {'scale 1.0':>9}")
    for h in holdouts(cases, rows):
        print(f"{h.file.removesuffix('.csv'):<32} {h.in_sample_mape:>9.1%}  {h.held_out_text:<42} "
              f"{h.uncalibrated_mape:>9.1%}")

    for note in skipped:
        print(f"skipped: {note}")


if __name__ == "__main__":
    main()
