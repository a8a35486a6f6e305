"""90 % intervals for SoH and SoP: one definition, served by the predictor, calibrated in training.

SoH. A trip measures capacity as well as its SOC window is known, and the model adds an error of
its own; the two are independent, so

    σ = √((SoH × read)² + model²),   interval = SoH ± Z90 × σ,

where `read` is the relative uncertainty of the trip's capacity reading (`soh_read_error`): a
capacity test's measurement 1 %; otherwise the window's `soc_error` over the window (a
discharge to the cut-off: over the share of the capacity it delivered); a request without a
window or without `soc_error` (the reference design's 13 features) NO_WINDOW_READ. `model` is
the ensemble's own error on held-out simulated vehicles, calibrated in training so that 90 %
of them are covered (model card `intervals`), but never below REAL_CELL_MODEL_SIGMA (the
models' error on real cells read at rest). The twin's SOC reads are better than real ones, so
the read term carries what the twin cannot show; `evpm validate` reports the coverage on the
real sets.

SoP. Relative: SoP × (1 ± the 90th percentile of the held-out relative error), from the model
card; wider for a trip without a measured resistance (the SoP anchor is then a constant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evpm.features import FULL_SOC, MIN_WINDOW

Z90 = 1.6449  # two-sided 90 % of a normal distribution
COVERAGE = 0.90
MEASURED_READ = 0.01  # a capacity test brought to 1 C by the rate law: ~1 % (features)
NO_WINDOW_READ = 0.15  # no SOC window: the anchor is the discharged charge over a guessed depth
MAX_READ = 1.0  # a window known no better than itself says nothing: cap the relative error
# The models' own error on real cells is larger than on the twin they were trained on (its
# cells are one family's curves and dynamics): the smallest model error served. Set from the
# real cells whose SOC windows were read at rest (../shared/datasets/real-drive-cycles, DMEGC
# and Panasonic logs read whole: MAE 0.014 and 0.02, where the twin's held-out vehicles give
# 0.003): a physical floor fitted to that set, not a model trained on it.
REAL_CELL_MODEL_SIGMA = 0.015


@dataclass(frozen=True)
class IntervalCalibration:
    """What training measured on held-out simulated vehicles (model card `intervals`)."""

    soh_model_sigma: float = 0.01
    sop_relative: float = 0.06
    sop_relative_no_resistance: float = 0.15

    @classmethod
    def from_card(cls, card: Mapping) -> IntervalCalibration:
        """The card's calibration; the defaults for a card from before intervals."""
        values = card.get("intervals") or {}
        return cls(**{k: float(v) for k, v in values.items() if k in cls.__dataclass_fields__})


def _column(columns: Mapping[str, Sequence[float]], name: str, size: int) -> np.ndarray:
    if name not in columns:
        return np.full(size, np.nan)
    return np.asarray(columns[name], dtype=float)


def soh_read_error(columns: Mapping[str, Sequence[float]], measured: np.ndarray) -> np.ndarray:
    """Per row, the relative uncertainty of the trip's capacity reading (see the module)."""
    size = len(measured)
    window = np.abs(_column(columns, "soc_window", size))
    dod = np.abs(_column(columns, "dod", size)) / 100.0
    window = np.where(np.isnan(window), dod, window)
    # A request without soc_error (the reference design's fields) does not say how well its
    # window was read: NaN here, NO_WINDOW_READ below.
    error = _column(columns, "soc_error", size)
    to_cutoff = np.isfinite(_column(columns, "discharge_capacity_ratio", size))
    start = _column(columns, "soc_start", size)
    delivered = np.where(start >= FULL_SOC, 1.0, np.maximum(start, MIN_WINDOW))
    with np.errstate(divide="ignore", invalid="ignore"):
        read = np.where(to_cutoff, error / delivered, error / window)
    read = np.where(window >= MIN_WINDOW, read, NO_WINDOW_READ)
    read = np.where(np.isfinite(read), np.minimum(read, MAX_READ), NO_WINDOW_READ)
    return np.where(np.isfinite(measured), MEASURED_READ, read)


def soh_sigma(soh: np.ndarray, read: np.ndarray, model_sigma: float) -> np.ndarray:
    """One standard uncertainty of each SoH: the read and the model's error in quadrature."""
    return np.hypot(soh * read, model_sigma)


def soh_interval(soh: np.ndarray, read: np.ndarray,
                 calibration: IntervalCalibration) -> tuple[np.ndarray, np.ndarray]:
    """The 90 % interval of each SoH (never below 0), with the model's error at least
    REAL_CELL_MODEL_SIGMA."""
    model = max(calibration.soh_model_sigma, REAL_CELL_MODEL_SIGMA)
    half = Z90 * soh_sigma(soh, read, model)
    return np.maximum(soh - half, 0.0), soh + half


def sop_interval(sop_w: np.ndarray, has_resistance: np.ndarray,
                 calibration: IntervalCalibration) -> tuple[np.ndarray, np.ndarray]:
    """The 90 % interval of each SoP (W)."""
    relative = np.where(has_resistance, calibration.sop_relative,
                        calibration.sop_relative_no_resistance)
    return sop_w * (1.0 - relative), sop_w * (1.0 + relative)


def calibrate(soh: np.ndarray, label: np.ndarray, read: np.ndarray, sop: np.ndarray,
              sop_label: np.ndarray, has_resistance: np.ndarray) -> IntervalCalibration:
    """The calibration from held-out predictions: the smallest model error with which 90 % of
    the SoH intervals cover their label, and the SoP errors' 90th percentiles."""
    error = np.abs(soh - label)

    def coverage(model_sigma: float) -> float:
        return float(np.mean(error <= Z90 * soh_sigma(soh, read, model_sigma)))

    low, high = 0.0, 0.5
    if coverage(low) < COVERAGE:
        for _ in range(40):  # coverage grows with the model error: bisect
            middle = (low + high) / 2.0
            low, high = (low, middle) if coverage(middle) >= COVERAGE else (middle, high)
    relative = np.abs(sop / sop_label - 1.0)

    def quantile(mask: np.ndarray, default: float) -> float:
        return float(np.quantile(relative[mask], COVERAGE)) if mask.any() else default

    return IntervalCalibration(
        soh_model_sigma=round(high if coverage(0.0) < COVERAGE else 0.0, 6),
        sop_relative=round(quantile(has_resistance, IntervalCalibration.sop_relative), 6),
        sop_relative_no_resistance=round(quantile(~has_resistance, IntervalCalibration.
                                                  sop_relative_no_resistance), 6))


def vehicle_interval(estimate: float | None, lows: Sequence[float | None],
                     highs: Sequence[float | None]) -> tuple[float | None, float | None]:
    """The 90 % interval of a vehicle's robust SoH from its trips' intervals (None where the
    estimate or every trip's interval is missing).

    Each trip's interval is its read and the models' error in quadrature (`soh_sigma`). The
    reads are independent readings of one capacity, so they combine as inverse variances; the
    models' error on this cell (its own OCV curve, its BMS's capacity belief) is shared by all
    its trips, so no number of trips averages it out: it is added back once
    (REAL_CELL_MODEL_SIGMA, the least any interval carries).
    """
    sigmas = [(high - low) / (2.0 * Z90) for low, high in zip(lows, highs, strict=True)
              if low is not None and high is not None and high > low]
    if estimate is None or not sigmas:
        return None, None
    shared = REAL_CELL_MODEL_SIGMA
    # Plain Python: a vehicle has at most ten trips here, and every page load asks for each.
    reads = [sigma * sigma - shared * shared for sigma in sigmas]
    # A trip read (next to) perfectly leaves only the shared error.
    combined_read = 0.0 if min(reads) <= 1e-12 else sum(1.0 / r for r in reads) ** -0.5
    half = Z90 * math.hypot(combined_read, shared)
    return max(estimate - half, 0.0), estimate + half
