"""What the API (and later the dashboard and pipeline) do with predictions and storage.

Predict a batch of validated rows, store it idempotently, answer with the stored records;
summarise the fleet with the robust per-vehicle SoH. Routes call these in a line or two.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence

import numpy as np

from evpm.api.schemas import ParsedRow
from evpm.features import FEATURES
from evpm.health import vehicle_soh
from evpm.predictor import Predictor
from evpm.profiles import PROFILES, Profile, get_profile
from evpm.storage import Record, Storage


def profile_for(row: ParsedRow, registry: dict[str, str]) -> Profile | None:
    """The row's profile: explicit, else the fleet registry's, else unknown (None)."""
    name = row.profile or registry.get(row.vehicle_id)
    return get_profile(name) if name in PROFILES else None


def predict_and_store(rows: Sequence[ParsedRow], predictor: Predictor, storage: Storage,
                      registry: dict[str, str], *, explain: bool = False,
                      matrix: np.ndarray | None = None) -> list[dict]:
    """Predict every row, store the batch in one transaction, return response objects.

    `matrix` is the rows' features (FEATURES order, NaN = absent) when the caller built it.
    """
    profiles = [profile_for(row, registry) for row in rows]
    feature_rows = [{**row.features, "vehicle_id": row.vehicle_id} for row in rows]
    predictions = predictor.predict(feature_rows, profiles, explain=explain, matrix=matrix)
    if matrix is not None:
        for row, values in zip(rows, matrix.tolist(), strict=True):
            row.features = {k: v for k, v in zip(FEATURES, values, strict=True) if v == v}
    now = dt.datetime.now(dt.UTC)
    records = []
    for row, profile, prediction in zip(rows, profiles, predictions, strict=True):
        records.append(Record(
            vehicle_id=row.vehicle_id,
            timestamp=row.timestamp or now,
            predicted_soh=prediction.predicted_soh,
            predicted_sop=prediction.predicted_sop,
            health_score=prediction.health_score,
            status=prediction.status,
            prediction_id=str(uuid.uuid4()),
            model_version=prediction.model_version,
            idempotency_key=row.idempotency_key,
            source_file=row.source_file,
            profile=profile.name if profile else None,
            features=row.features,
            warnings=row.warnings + prediction.warnings,
        ))
    stored = storage.save(records)
    out = []
    for fresh, kept, prediction in zip(records, stored, predictions, strict=True):
        body = record_json(kept)
        body["duplicate"] = kept.prediction_id != fresh.prediction_id
        if explain:
            body["explanation"] = prediction.contributions
        out.append(body)
    return out


@functools.lru_cache(maxsize=64)
def _iso(stamp: dt.datetime) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


def record_json(record: Record) -> dict:
    """A stored prediction as the API shows it (reference fields first)."""
    return {
        "vehicle_id": record.vehicle_id,
        "predicted_soh": record.predicted_soh,
        "predicted_sop": record.predicted_sop,
        "health_score": record.health_score,
        "status": record.status,
        "prediction_id": record.prediction_id,
        "timestamp": _iso(record.timestamp),
        "model_version": record.model_version,
        "warnings": record.warnings or [],
        "source_file": record.source_file,
        "profile": record.profile,
    }


def _window(record: Record) -> float | None:
    features = record.features or {}
    if features.get("soc_window") is not None:
        return features["soc_window"]
    if features.get("dod") is not None:
        return features["dod"] / 100.0
    return None


def robust_soh(records: Sequence[Record]) -> float | None:
    """The vehicle's robust SoH from its recent records (evpm.health.vehicle_soh)."""
    if not records:
        return None
    days = [r.timestamp.timestamp() / 86400.0 for r in records]
    windows = [_window(r) for r in records]
    value = vehicle_soh(days, [r.predicted_soh for r in records],
                        [w if w is not None else float("nan") for w in windows])
    return None if value != value else value


def fleet_snapshot(storage: Storage, recent: int = 10) -> list[dict]:
    """Latest state per vehicle, with the robust SoH beside the latest per-trip prediction."""
    out = []
    for vehicle_id, records in sorted(storage.recent_by_vehicle(recent).items()):
        latest = records[-1]
        out.append({
            **record_json(latest),
            "latest_predicted_soh": latest.predicted_soh,
            "robust_soh": robust_soh(records),
            "trips_in_estimate": len(records),
            "vehicle_id": vehicle_id,
        })
    return out
