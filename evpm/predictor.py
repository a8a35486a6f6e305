"""Models loaded once; pre-process → predict → post-process; explanations; range warnings.

Both models predict a correction to a physics anchor (`features.soh_anchor`, and for SoP the
log of `features.sop_anchor`, passed as XGBoost's base margin). SoP is predicted as a fraction
of the profile's rated peak power, which post-processing turns into watts. Each model is an
ensemble: the mean of its members' outputs (model card `members`; one member for older cards).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evpm.batch import FEATURE_INDEX, feature_matrix
from evpm.features import (
    CELL_SIZE_FEATURES,
    FEATURES,
    MODEL_FEATURES,
    measured_soh,
    soh_anchor,
    sop_anchor,
    sop_margin,
    sop_ratio,
)
from evpm.forest import SMALL_BATCH, CompiledForest
from evpm.health import UNKNOWN_RATED_SOP_W, StatusRules, health_score, statuses_for
from evpm.model_files import MODEL_CARD_FILE, SOP_OUTPUT, member_files
from evpm.profiles import Profile
from evpm.settings import Settings
from evpm.uncertainty import IntervalCalibration, soh_interval, soh_read_error, sop_interval

# A trip without a pack temperature is predicted with the temperature features missing.
NO_TEMPERATURE = ("no temperature in this trip: predicted without the temperature features "
                  "(resistance read at 25 °C), so SoH and SoP are less certain")


@dataclass
class Prediction:
    """One prediction, as the API returns it (plus optional contributions)."""

    vehicle_id: str | None
    predicted_soh: float
    predicted_sop: float
    health_score: float
    status: str
    model_version: str
    warnings: list[str] = field(default_factory=list)
    contributions: list[dict] | None = None
    # 90 % intervals (evpm.uncertainty)
    soh_low: float = math.nan
    soh_high: float = math.nan
    sop_low: float = math.nan
    sop_high: float = math.nan


@dataclass(slots=True)
class PredictionColumns:
    """Predictions for a batch, one list per output, rows in request order."""

    soh: list[float]
    sop_w: list[float]
    scores: list[float]
    statuses: list[str]
    warnings: list[list[str]]
    contributions: list[list[dict] | None]
    soh_low: list[float]
    soh_high: list[float]
    sop_low: list[float]
    sop_high: list[float]
    # How well each trip read capacity, relative (evpm.uncertainty): the confidence rule's too.
    soh_read: np.ndarray


_RATED_CAPACITY = FEATURE_INDEX["rated_capacity_ah"]
# The matrix's columns the models read, in their order (not the uncertainty features).
_MODEL_COLUMNS = np.array([FEATURE_INDEX[name] for name in MODEL_FEATURES])
# A value warns only when it is clearly beyond what the models were trained on: a margin of
# this share of the training span on each side (a full cell at 4.198 V is not unusual when
# training reached 4.197 V).
RANGE_MARGIN = 0.05


def _warning_range(low: float, high: float) -> tuple[float, float]:
    """The training range [low, high] widened by RANGE_MARGIN of its span on each side."""
    margin = RANGE_MARGIN * (high - low)
    return low - margin, high + margin


def _mean_output(boosters: list, matrix: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """The members' mean raw output on the same base margin."""
    return np.mean([b.inplace_predict(matrix, base_margin=margin, missing=np.nan)
                    for b in boosters], axis=0)


def _with_rated_capacity(matrix: np.ndarray, profiles: Sequence[Profile | None], *,
                         copy: bool = False) -> np.ndarray:
    """The matrix with each known profile's cell capacity where `rated_capacity_ah` is absent
    (on a copy with `copy`, and only when one is filled in)."""
    capacity = np.array([p.cell_capacity_ah if p else np.nan for p in profiles])
    absent = np.isnan(matrix[:, _RATED_CAPACITY]) & ~np.isnan(capacity)
    if absent.any():
        matrix = matrix.copy() if copy else matrix
        matrix[absent, _RATED_CAPACITY] = capacity[absent]
    return matrix


class Predictor:
    """Both models (each one or more ensemble members) and the model card, loaded once."""

    def __init__(self, soh_models: Sequence, sop_models: Sequence, card: dict,
                 rules: StatusRules | None = None, threads: int = 2) -> None:
        self.soh_boosters = [model.get_booster() for model in soh_models]
        self.sop_boosters = [model.get_booster() for model in sop_models]
        # Small requests never reach XGBoost (see `forest`); batches use `threads` threads.
        for booster in (*self.soh_boosters, *self.sop_boosters):
            booster.set_param({"nthread": threads})
        self.card = card
        self.version = card["model_version"]
        # Models from before the SoP factor (card without `sop_output`) add to the anchor.
        self._sop_log = card.get("sop_output") == SOP_OUTPUT
        self.rules = rules or StatusRules()
        self.intervals = IntervalCalibration.from_card(card)
        self.ranges = {f["name"]: _warning_range(f["min"], f["max"]) for f in card["features"]
                       if f["min"] is not None and f["name"] not in CELL_SIZE_FEATURES}
        self.forest = CompiledForest([self.soh_boosters, self.sop_boosters], MODEL_FEATURES)
        self._low = np.array([self.ranges.get(n, (np.nan, np.nan))[0] for n in FEATURES],
                             dtype=float)
        self._high = np.array([self.ranges.get(n, (np.nan, np.nan))[1] for n in FEATURES],
                              dtype=float)

    @classmethod
    def load(cls, models_dir: Path, rules: StatusRules | None = None) -> Predictor:
        """Load the shipped models (every member the card lists) and their card from a folder."""
        import joblib

        card = json.loads((models_dir / MODEL_CARD_FILE).read_text())
        members = card.get("members") or [member_files(0)]  # older cards: one model each
        return cls([joblib.load(models_dir / m["soh"]) for m in members],
                   [joblib.load(models_dir / m["sop"]) for m in members], card, rules)

    @classmethod
    def from_settings(cls, settings: Settings) -> Predictor:
        """The models of `settings.models_dir`, judging status by the configured rules."""
        return cls.load(settings.models_dir, StatusRules.from_settings(settings))

    def matrix(self, rows: Sequence[dict], profiles: Sequence[Profile | None]) -> np.ndarray:
        """Pre-process: feature rows (missing → NaN) in model order, profile facts filled in."""
        return _with_rated_capacity(feature_matrix(rows), profiles)

    def _columns(self, matrix: np.ndarray) -> dict[str, np.ndarray]:
        return {name: matrix[:, i] for i, name in enumerate(FEATURES)}

    def _dmatrix(self, matrix: np.ndarray, margin: np.ndarray | None = None):
        from xgboost import DMatrix

        return DMatrix(matrix, feature_names=MODEL_FEATURES, base_margin=margin, missing=np.nan)

    def predict(self, rows: Sequence[dict], profiles: Sequence[Profile | None],
                explain: bool = False, top: int = 5) -> list[Prediction]:
        """Predict SoH, SoP (W), health score and status for each feature row, in order."""
        result = self.predict_matrix(self.matrix(rows, profiles), profiles, explain, top)
        return [Prediction(row.get("vehicle_id"), soh, sop, score, status, self.version, warning,
                           contribution, *bounds)
                for row, soh, sop, score, status, warning, contribution, *bounds in zip(
                    rows, result.soh, result.sop_w, result.scores, result.statuses,
                    result.warnings, result.contributions, result.soh_low, result.soh_high,
                    result.sop_low, result.sop_high, strict=True)]

    def predict_matrix(self, matrix: np.ndarray, profiles: Sequence[Profile | None],
                       explain: bool = False, top: int = 5) -> PredictionColumns:
        """Predict column-wise from a feature matrix (rows × FEATURES, NaN = absent).

        Range warnings are about the values sent; the profile's rated capacity then fills an
        absent `rated_capacity_ah` (on a copy).
        """
        warnings = self.matrix_warnings(matrix)
        matrix = _with_rated_capacity(matrix, profiles, copy=True)
        columns = self._columns(matrix)
        margin = soh_anchor(columns)
        sop_base = sop_margin(columns) if self._sop_log else sop_anchor(columns)
        inputs = matrix[:, _MODEL_COLUMNS]
        if len(matrix) <= SMALL_BATCH:
            both = self.forest.predict(inputs, np.column_stack([margin, sop_base]))
            soh, sop_out = both[:, 0], both[:, 1]
        else:  # a large batch is worth XGBoost's threads
            soh = _mean_output(self.soh_boosters, inputs, margin)
            sop_out = _mean_output(self.sop_boosters, inputs, sop_base)
        sop_fraction = sop_ratio(sop_out) if self._sop_log else sop_out
        measured = measured_soh(columns)  # a capacity test reports its measurement
        # A correction can overshoot an anchor that was already at its floor (a request whose
        # numbers do not fit its profile): no capacity is below none.
        soh = np.where(np.isfinite(measured), measured, np.maximum(soh, 0.0))
        rated = np.array([p.rated_peak_power_w if p else UNKNOWN_RATED_SOP_W for p in profiles])
        sop_w = sop_fraction * rated
        scores = health_score(soh, sop_w, rated)
        contributions = self._contributions(inputs, margin, top) if explain else \
            [None] * len(matrix)
        read = soh_read_error(columns, measured)
        soh_low, soh_high = soh_interval(soh, read, self.intervals)
        sop_low, sop_high = sop_interval(sop_w, np.isfinite(columns["r_dc_25c_ratio"]),
                                         self.intervals)
        return PredictionColumns(soh.tolist(), sop_w.tolist(), scores.tolist(),
                                 statuses_for(soh, scores, self.rules), warnings, contributions,
                                 soh_low.tolist(), soh_high.tolist(), sop_low.tolist(),
                                 sop_high.tolist(), read)

    def matrix_warnings(self, matrix: np.ndarray) -> list[list[str]]:
        """Per row: no temperature, and the features outside the models' training range."""
        no_temperature = np.isnan(matrix[:, FEATURE_INDEX["temperature_C_mean"]]).tolist()
        if len(matrix) == 1:  # one row: a plain loop is cheaper than numpy's set-up
            return [[NO_TEMPERATURE] * no_temperature[0] + [
                self._warning(name, value) for name, value in zip(
                    FEATURES, matrix[0].tolist(), strict=True)
                if name in self.ranges and not self.ranges[name][0] <= value
                <= self.ranges[name][1] and value == value]]
        with np.errstate(invalid="ignore"):
            outside = (matrix < self._low) | (matrix > self._high)
        warnings: list[list[str]] = [[NO_TEMPERATURE] if missing else []
                                     for missing in no_temperature]
        rows, columns = np.nonzero(outside)
        # Plain lists: indexing numpy element by element costs more than the formatting.
        for r, i, value in zip(rows.tolist(), columns.tolist(), matrix[rows, columns].tolist(),
                               strict=True):
            warnings[r].append(self._warning(FEATURES[i], value))
        return warnings

    def _warning(self, name: str, value: float) -> str:
        low, high = self.ranges[name]
        return (f"{name}={value:.6g} is outside the training range [{low:.6g}, {high:.6g}] "
                "(with its margin)")

    def _contributions(self, matrix: np.ndarray, margin: np.ndarray, top: int) -> list[list]:
        """Top SoH contributions per row (`matrix`: the models' columns): the members' mean
        TreeSHAP (`pred_contribs`)."""
        data = self._dmatrix(matrix, margin)
        # SHAP values add up like the models do: the mean's are the members' mean.
        shap = np.mean([b.predict(data, pred_contribs=True) for b in self.soh_boosters], axis=0)
        result = []
        for r in range(len(matrix)):
            order = np.argsort(-np.abs(shap[r, :-1]))[:top]
            result.append([
                {"feature": MODEL_FEATURES[i],
                 "value": None if math.isnan(matrix[r, i]) else float(matrix[r, i]),
                 "contribution": float(shap[r, i])}
                for i in order if shap[r, i] != 0.0
            ])
        return result
