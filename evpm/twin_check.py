"""The randomised twin as a check: a fleet no model was trained on (its own seed), every cell
drawn with domain randomisation (`evpm.twin.randomise`), scored as `evpm validate` scores the
real sets: per trip (SOC windows of 10 % and more, and every lab discharge) and per vehicle
(the robust SoH /vehicles gives, against the label at its latest trip).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.drive_cycles import SegmentResult
from evpm.health import robust_soh, vehicle_status
from evpm.predictor import Predictor
from evpm.service import score_rows
from evpm.training import Progress, TrainConfig, generate_dataset, trip_profile
from evpm.uncertainty import vehicle_interval

SET = "randomised-twin"
HELD_OUT_SEED = 7919  # no training member's fleets (seeds 2026 onwards, a few apart) use it
MIN_WINDOW = 0.10  # the per-trip target counts trips over ≥ 10 % of SOC


@dataclass(frozen=True)
class TwinCheck:
    """How big a held-out randomised fleet to simulate."""

    vehicles: int = 40
    lab_cells: int = 20
    trips: int = 8
    seed: int = HELD_OUT_SEED


def _kind(profile: str) -> str:
    return "lab cell" if profile.startswith("lab-") else "vehicle"


def validate_twin(check: TwinCheck, predictor: Predictor, work_dir: Path,
                  progress: Progress | None = None) -> list[SegmentResult]:
    """Simulate the held-out fleet, predict every trip; one result per trip and per vehicle."""
    config = TrainConfig(vehicles=check.vehicles, lab_cells=check.lab_cells, trips=check.trips,
                         seed=check.seed, randomise=True, members=1)
    data = generate_dataset(config, work_dir, progress) if progress else \
        generate_dataset(config, work_dir)
    rows = data.to_dict("records")
    scores = score_rows(rows, [trip_profile(row) for row in rows], predictor)
    data = data.assign(pred=[s.predicted_soh for s in scores], low=[s.soh_low for s in scores],
                       high=[s.soh_high for s in scores], status=[s.status for s in scores],
                       score=[s.health_score for s in scores],
                       warnings=[s.warnings for s in scores])
    results = []
    wide = (data["true_window"] >= MIN_WINDOW) | data["discharge_capacity_ah"].notna()
    for row in data[wide].itertuples():
        results.append(SegmentResult(
            SET, "held-out", f"{row.vehicle_id}/{row.trip_id}", _kind(row.profile),
            _ambient_bin(row.ambient_c), "trip", float(row.soh_label),
            predicted_soh=float(row.pred), status=row.status, warnings=list(row.warnings),
            soh_low=float(row.low), soh_high=float(row.high)))
    for vehicle, trips in data.sort_values("date").groupby("vehicle_id"):
        days = [dt.datetime.fromisoformat(d).timestamp() / 86400.0 for d in trips["date"]]
        features = trips[["soc_window", "dod", "soc_error"]].to_dict("records")
        estimate = robust_soh(days, trips["pred"].to_numpy(), features)
        low, high = vehicle_interval(estimate, trips["low"].tolist(), trips["high"].tolist())
        latest = trips.iloc[-1]
        # The status /vehicles gives: the robust estimate's, within its interval.
        status, reason = vehicle_status(estimate, high, float(latest["pred"]),
                                        float(latest["score"]), str(latest["status"]))
        results.append(SegmentResult(
            SET, "held-out", str(vehicle), _kind(latest["profile"]),
            _ambient_bin(float(trips["ambient_c"].mean())), "vehicle",
            float(latest["soh_label"]), predicted_soh=float(estimate),
            status=status, warnings=[reason] if reason else [],
            soh_low=np.nan if low is None else low, soh_high=np.nan if high is None else high))
    return results


def _ambient_bin(celsius: float) -> float:
    """Below 0 °C, 0-20 °C, 20 °C and warmer: the real sets' temperature groups."""
    return -10.0 if celsius < 0 else (10.0 if celsius < 20 else 25.0)


def frame(results: list[SegmentResult]) -> pd.DataFrame:
    """The results as `evpm.validation` groups them."""
    return pd.DataFrame([r.__dict__ for r in results])
