"""Held-out validation of the per-chip ``calibration_scale`` (leave one model out).

Every chip carries one ``calibration_scale`` (GPUs in their efficiency files, Trainium in
``devicetime/data/trainium_scale/``), fitted end to end on the very calibration files ``trnsim
validate`` checks, so the validation MAPE with the shipped scale is an in-sample figure. This
module gives the out-of-sample one, per model size: for each model shape, refit the chip's scale
on every row of that chip (all files) whose model is a *different* shape (the same one-parameter
fit as ``benchmarks/calibrate_efficiency.py``: the scale with the least mean absolute percentage
error, on a 0.05 grid refined to 0.01), then predict the rows of that model with it. A file's
held-out MAPE is the mean over its rows of these held-out errors, so a chip with a single
calibration file still gets one; a chip whose rows are all one model gets no held-out figure. The
same fit on all of a chip's rows is the scale to ship. Pure: the caller supplies the evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["FileHoldout", "RowKey", "ScaleFit", "fit_scale", "leave_one_model_out", "mape"]

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
class RowKey:
    """What the held-out split needs to know of one calibration row."""

    file: str
    chip: str
    model: str  # the model shape; rows of one shape are held out together


@dataclass(frozen=True)
class ScaleFit:
    """A scale fitted on the rows of one chip that are not of the held-out model."""

    chip: str
    scale: float
    held_out_model: str
    train_rows: int
    train_mape: float


@dataclass(frozen=True)
class FileHoldout:
    """One calibration file's errors three ways: shipped scale, held-out refits, scale 1.0."""

    file: str
    chip: str
    rows: int
    in_sample_mape: float
    uncalibrated_mape: float
    #: The scale fitted on every row of the chip (all its files): what the shipped scale should be.
    fit_on_all_rows: float
    folds: tuple[ScaleFit, ...]  # one refit per model of this file (empty: none possible)
    held_out_mape: float | None
    #: Signed held-out error of each row of this file, by row id.
    row_errors: Mapping[int, float]
    #: Signed error of each row at scale 1.0 (uncalibrated curves, unscaled kernel times).
    uncalibrated_errors: Mapping[int, float]

    @property
    def held_out_text(self) -> str:
        """The held-out figure and the refitted scales, or why there is none."""
        if self.held_out_mape is None:
            return f"no held-out estimate (one model only on {self.chip})"
        scales = sorted(f.scale for f in self.folds)
        span = f"{scales[0]:.2f}" if scales[0] == scales[-1] else f"{scales[0]:.2f}-{scales[-1]:.2f}"
        return f"{self.held_out_mape:.1%} (scale {span})"


def leave_one_model_out(
    rows: Mapping[int, RowKey],
    shipped_errors: Mapping[int, float],
    errors_at: ErrorsAt,
) -> list[FileHoldout]:
    """Per file: in-sample MAPE, MAPE at scale 1.0, and the held-out MAPE by leave-one-model-out.

    ``rows`` maps a row id to its :class:`RowKey`; ``shipped_errors`` holds each row's signed
    error with the shipped scales; ``errors_at(chip, scale)`` evaluates every row of ``chip`` at
    ``scale`` (memoised here, so each (chip, scale) is evaluated once).
    """
    memo: dict[tuple[str, float], Mapping[int, float]] = {}

    def at(chip: str, scale: float) -> Mapping[int, float]:
        key = (chip, round(scale, 6))
        if key not in memo:
            memo[key] = errors_at(chip, scale)
        return memo[key]

    folds: dict[tuple[str, str], ScaleFit | None] = {}
    held_errors: dict[int, float] = {}
    for row_id, key in rows.items():
        fold = (key.chip, key.model)
        if fold not in folds:
            train = [i for i, k in rows.items() if k.chip == key.chip and k.model != key.model]
            fit: ScaleFit | None = None
            if train:
                def train_mape(scale: float, chip: str = key.chip, train: list[int] = train) -> float:
                    errors = at(chip, scale)
                    return mape([errors[i] for i in train])

                scale = fit_scale(train_mape)
                fit = ScaleFit(key.chip, scale, key.model, len(train), train_mape(scale))
            folds[fold] = fit
        fitted_fold = folds[fold]
        if fitted_fold is not None:
            held_errors[row_id] = at(key.chip, fitted_fold.scale)[row_id]

    full_fits: dict[str, float] = {}
    for chip in sorted({k.chip for k in rows.values()}):
        def all_mape(scale: float, chip: str = chip) -> float:
            errors = at(chip, scale)
            return mape([errors[i] for i, k in rows.items() if k.chip == chip])

        full_fits[chip] = fit_scale(all_mape)
    files: dict[str, list[int]] = {}
    for row_id, key in rows.items():
        files.setdefault(key.file, []).append(row_id)
    out: list[FileHoldout] = []
    for file, ids in files.items():
        first = rows[ids[0]]
        file_folds = {folds[(first.chip, rows[i].model)] for i in ids}
        complete = all(i in held_errors for i in ids)
        raw = {i: at(first.chip, 1.0)[i] for i in ids}
        out.append(FileHoldout(
            file=file, chip=first.chip, rows=len(ids), in_sample_mape=mape([shipped_errors[i] for i in ids]),
            uncalibrated_mape=mape(list(raw.values())), uncalibrated_errors=raw,
            fit_on_all_rows=full_fits[first.chip],
            folds=tuple(sorted((f for f in file_folds if f is not None), key=lambda f: f.held_out_model)),
            held_out_mape=mape([held_errors[i] for i in ids]) if complete else None,
            row_errors={i: held_errors[i] for i in ids if i in held_errors},
        ))
    return out
