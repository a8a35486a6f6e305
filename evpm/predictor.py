"""Models loaded once; pre-process → predict → post-process; explanations; range warnings.

Both models predict a correction to a physics anchor (`features.soh_anchor`,
`features.sop_anchor`, passed as XGBoost's base margin). SoP is predicted as a fraction of the
profile's rated peak power, which post-processing turns into watts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.features import FEATURES, soh_anchor, sop_anchor
from evpm.health import UNKNOWN_RATED_SOP_W, StatusRules, health_score, status_for
from evpm.profiles import Profile
from evpm.training import MODEL_CARD_FILE, SOH_MODEL_FILE, SOP_MODEL_FILE


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


class Predictor:
    """Both models and the model card, loaded once per process."""

    def __init__(self, soh_model, sop_model, card: dict, rules: StatusRules | None = None,
                 threads: int = 1) -> None:
        self.soh_booster = soh_model.get_booster()
        self.sop_booster = sop_model.get_booster()
        # One thread per call: a per-row request pays XGBoost's thread-pool start-up otherwise.
        for booster in (self.soh_booster, self.sop_booster):
            booster.set_param({"nthread": threads})
        self.card = card
        self.version = card["model_version"]
        self.rules = rules or StatusRules()
        self.ranges = {f["name"]: (f["min"], f["max"]) for f in card["features"]
                       if f["min"] is not None}

    @classmethod
    def load(cls, models_dir: Path, rules: StatusRules | None = None) -> Predictor:
        """Load the shipped models and their card from a folder."""
        import joblib

        card = json.loads((models_dir / MODEL_CARD_FILE).read_text())
        return cls(joblib.load(models_dir / SOH_MODEL_FILE),
                   joblib.load(models_dir / SOP_MODEL_FILE), card, rules)

    def frame(self, rows: Sequence[dict], profiles: Sequence[Profile | None]) -> pd.DataFrame:
        """Pre-process: feature rows (missing → NaN) in model order, profile facts filled in."""
        matrix = np.full((len(rows), len(FEATURES)), np.nan)
        index = {name: i for i, name in enumerate(FEATURES)}
        for r, row in enumerate(rows):
            for name, value in row.items():
                i = index.get(name)
                if i is not None and value is not None:
                    matrix[r, i] = float(value)
        frame = pd.DataFrame(matrix, columns=FEATURES)
        rated = np.array([p.cell_capacity_ah if p else np.nan for p in profiles])
        missing = frame["rated_capacity_ah"].isna().to_numpy()
        frame.loc[missing, "rated_capacity_ah"] = rated[missing]
        return frame

    def _dmatrix(self, frame: pd.DataFrame, margin: np.ndarray | None = None):
        from xgboost import DMatrix

        return DMatrix(frame.to_numpy(), feature_names=FEATURES, base_margin=margin,
                       missing=np.nan)

    def predict(self, rows: Sequence[dict], profiles: Sequence[Profile | None],
                explain: bool = False, top: int = 5) -> list[Prediction]:
        """Predict SoH, SoP (W), health score and status for each row, in order."""
        frame = self.frame(rows, profiles)
        values = frame.to_numpy()
        margin = soh_anchor(frame)
        soh = self.soh_booster.inplace_predict(values, base_margin=margin, missing=np.nan)
        sop_ratio = self.sop_booster.inplace_predict(values, base_margin=sop_anchor(frame),
                                                     missing=np.nan)
        contributions = self._contributions(frame, margin, top) if explain else None
        out = []
        for r, row in enumerate(rows):
            profile = profiles[r]
            rated = profile.rated_peak_power_w if profile else UNKNOWN_RATED_SOP_W
            soh_r = float(soh[r])
            sop_w = float(sop_ratio[r]) * rated
            score = health_score(soh_r, sop_w, rated)
            out.append(Prediction(
                vehicle_id=row.get("vehicle_id"),
                predicted_soh=soh_r,
                predicted_sop=sop_w,
                health_score=score,
                status=status_for(soh_r, score, self.rules),
                model_version=self.version,
                warnings=self.range_warnings(row),
                contributions=None if contributions is None else contributions[r],
            ))
        return out

    def _contributions(self, frame: pd.DataFrame, margin: np.ndarray, top: int) -> list[list]:
        """Top SoH contributions per row from XGBoost's TreeSHAP (`pred_contribs`)."""
        shap = self.soh_booster.predict(self._dmatrix(frame, margin), pred_contribs=True)
        result = []
        for r in range(len(frame)):
            order = np.argsort(-np.abs(shap[r, :-1]))[:top]
            result.append([
                {"feature": FEATURES[i],
                 "value": None if math.isnan(frame.iat[r, i]) else float(frame.iat[r, i]),
                 "contribution": float(shap[r, i])}
                for i in order if shap[r, i] != 0.0
            ])
        return result

    def range_warnings(self, row: dict) -> list[str]:
        """Features outside the range the models were trained on."""
        warnings = []
        for name, value in row.items():
            bounds = self.ranges.get(name)
            if bounds is None or value is None:
                continue
            low, high = bounds
            if not low <= float(value) <= high:
                warnings.append(f"{name}={float(value):.6g} is outside the training range "
                                f"[{low:.6g}, {high:.6g}]")
        return warnings
