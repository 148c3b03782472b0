"""Predicted vs measured for every calibration row, and the MAPE per file (same as ``trnsim validate``).

    PYTHONPATH=src python benchmarks/validate_calibration.py
"""

from __future__ import annotations

from trnsim.cluster.calibration import load_cases, mape_by_file, validate_case


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
    for file, mape in mape_by_file(rows).items():
        print(f"MAPE {file:<34} {mape:6.1%}")
    for note in skipped:
        print(f"skipped: {note}")


if __name__ == "__main__":
    main()
