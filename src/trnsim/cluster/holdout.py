"""Held-out validation of the per-chip ``calibration_scale`` (leave one calibration file out).

The GPU efficiency files carry one ``calibration_scale`` per chip, fitted end to end on the very
calibration files ``trnsim validate`` checks, so the validation MAPE with the shipped scale is an
in-sample figure. This module gives the out-of-sample one: for each file, refit the chip's scale
on the rows of the *other* files that use the same chip (the same one-parameter fit as
``benchmarks/calibrate_efficiency.py``: the scale with the least mean absolute percentage error,
on a 0.05 grid refined to 0.01), then predict this file's rows with it. A file that is the only
one for its chip gets no held-out figure. Pure: the caller supplies the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["FileHoldout", "ScaleFit", "fit_scale", "leave_one_file_out", "mape"]

#: Signed relative errors of every row of one chip at a given scale, keyed by row id.
ErrorsAt = Callable[[str, float], Mapping[int, float]]

#: The range and grids of the one-parameter fit (coarse, then fine around the coarse best).
SCALE_LO = 0.50
SCALE_HI = 1.00
COARSE_STEP = 0.05
FINE_STEP = 0.01


def mape(errors: Sequence[float]) -> float:
    """Mean absolute percentage error (as a fraction) of signed relative errors."""
    if not errors:
        raise ValueError("mape of no rows")
    return sum(abs(e) for e in errors) / len(errors)


def _grid(lo: float, hi: float, step: float) -> list[float]:
    count = round((hi - lo) / step)
    return [round(lo + i * step, 6) for i in range(count + 1)]


def fit_scale(mape_at: Callable[[float], float], lo: float = SCALE_LO, hi: float = SCALE_HI) -> float:
    """The scale in ``[lo, hi]`` with the least MAPE: a coarse grid, then a fine one around its best.

    Ties go to the smaller scale (the first one met), so the fit is deterministic.
    """
    coarse = min(_grid(lo, hi, COARSE_STEP), key=mape_at)
    fine_lo = max(lo, coarse - COARSE_STEP + FINE_STEP)
    fine_hi = min(hi, coarse + COARSE_STEP - FINE_STEP)
    return min(_grid(fine_lo, fine_hi, FINE_STEP), key=mape_at)


@dataclass(frozen=True)
class ScaleFit:
    """A scale fitted on some files' rows of one chip."""

    chip: str
    scale: float
    train_files: tuple[str, ...]
    train_mape: float


@dataclass(frozen=True)
class FileHoldout:
    """One calibration file's errors three ways: shipped scale, held-out refit, scale 1.0."""

    file: str
    chip: str
    rows: int
    in_sample_mape: float
    uncalibrated_mape: float
    held_out: ScaleFit | None  # None: no other file uses this chip
    held_out_mape: float | None

    @property
    def held_out_text(self) -> str:
        """The held-out figure, or why there is none."""
        if self.held_out is None or self.held_out_mape is None:
            return f"no held-out estimate (only file for {self.chip})"
        return f"{self.held_out_mape:.1%} (scale {self.held_out.scale:.2f})"


def leave_one_file_out(
    rows: Mapping[int, tuple[str, str]],
    shipped_errors: Mapping[int, float],
    errors_at: ErrorsAt,
) -> list[FileHoldout]:
    """Per file: in-sample MAPE, MAPE at scale 1.0, and the held-out MAPE with a refitted scale.

    ``rows`` maps a row id to its (file, chip); ``shipped_errors`` holds each row's signed error
    with the shipped scales; ``errors_at(chip, scale)`` evaluates every row of ``chip`` at
    ``scale`` (memoised here, so each (chip, scale) is evaluated once).
    """
    memo: dict[tuple[str, float], Mapping[int, float]] = {}

    def at(chip: str, scale: float) -> Mapping[int, float]:
        key = (chip, round(scale, 6))
        if key not in memo:
            memo[key] = errors_at(chip, scale)
        return memo[key]

    files: dict[str, tuple[str, list[int]]] = {}
    for row_id, (file, chip) in rows.items():
        files.setdefault(file, (chip, []))[1].append(row_id)
    out: list[FileHoldout] = []
    for file, (chip, ids) in files.items():
        others = sorted({f for f, (c, _) in files.items() if c == chip and f != file})
        train = [i for f in others for i in files[f][1]]
        fit: ScaleFit | None = None
        held: float | None = None
        if train:
            def train_mape(scale: float, chip: str = chip, train: list[int] = train) -> float:
                errors = at(chip, scale)
                return mape([errors[i] for i in train])

            scale = fit_scale(train_mape)
            fit = ScaleFit(chip, scale, tuple(others), train_mape(scale))
            held = mape([at(chip, scale)[i] for i in ids])
        out.append(FileHoldout(
            file=file, chip=chip, rows=len(ids),
            in_sample_mape=mape([shipped_errors[i] for i in ids]),
            uncalibrated_mape=mape([at(chip, 1.0)[i] for i in ids]),
            held_out=fit, held_out_mape=held,
        ))
    return out

