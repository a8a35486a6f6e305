"""What the API (and later the dashboard and pipeline) do with predictions and storage.

Predict a batch of validated rows, store it idempotently, answer with the stored records;
summarise the fleet with the robust per-vehicle SoH. Routes call these in a line or two.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from evpm.batch import FEATURE_INDEX, ParsedBatch
from evpm.contract import INTERVAL_FIELDS
from evpm.health import (
    ASSUMED,
    RECENT_TRIPS,
    StatusRules,
    assumed_profile_warning,
    cap_statuses,
    confidences,
    is_assumed,
    profile_source,
    robust_soh,
    soc_windows,
    vehicle_status,
)
from evpm.predictor import PredictionColumns, Predictor
from evpm.profiles import Profile, all_profiles
from evpm.storage import Record, Storage
from evpm.uncertainty import vehicle_interval


def _profile(name: str | None, catalog: Mapping[str, Profile]) -> Profile | None:
    return catalog.get(name) if name is not None else None


def prediction_ids(count: int) -> list[str]:
    """`count` random (version 4) UUID strings, generated in one go."""
    if count < 16:  # numpy's set-up costs more than a few uuid4() calls
        return [str(uuid.uuid4()) for _ in range(count)]
    # uuid.uuid4() costs ~4 µs each; a 10,000-row batch would spend 40 ms on ids alone.
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex()
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-"
            f"{text[i + 16:i + 20]}-{text[i + 20:i + 32]}" for i in range(0, 32 * count, 32)]


@dataclass(slots=True)
class ScoredBatch:
    """A batch's predictions with the confidence rule applied: what the API stores and
    answers, and what `evpm predict` prints (one path, so both say the same)."""

    profiles: list[Profile | None]
    sources: list[str]  # given / registered / assumed
    confidences: list[str]  # high / medium / low
    statuses: list[str]  # the predictor's, capped at Monitor for low confidence
    warnings: list[list[str]]  # the request's, the predictor's, then the rule's
    result: PredictionColumns


_SOC_WINDOW, _DOD = FEATURE_INDEX["soc_window"], FEATURE_INDEX["dod"]
_TEMPERATURE = FEATURE_INDEX["temperature_C_mean"]  # absent: the predictor's "no temperature"
_SOC_ERROR = FEATURE_INDEX["soc_error"]


def confidence_rule(matrix: np.ndarray, result: PredictionColumns, assumed: np.ndarray
                    ) -> tuple[list[str], list[str], dict[int, str]]:
    """The confidence rule on a feature matrix (rows × FEATURES) and its predictions: each
    row's confidence, the statuses with low-confidence Priority_Maintenance capped at Monitor,
    and the warning of each capped row."""
    window = soc_windows(matrix[:, _SOC_WINDOW], matrix[:, _DOD])
    # A request without soc_error is judged by its window alone, as before there was one.
    read = np.where(np.isnan(matrix[:, _SOC_ERROR]), np.nan, result.soh_read)
    levels = confidences(window, ~np.isnan(matrix[:, _TEMPERATURE]), assumed, read)
    capped_statuses, capped = cap_statuses(result.statuses, levels, window, assumed, read)
    return levels, capped_statuses, capped


@dataclass(slots=True)
class RowScore:
    """One feature row's prediction as the pipeline would give it (`score_rows`)."""

    predicted_soh: float
    status: str
    confidence: str
    warnings: list[str]
    soh_low: float
    soh_high: float
    health_score: float = float("nan")


def score_rows(rows: Sequence[dict], profiles: Sequence[Profile],
               predictor: Predictor) -> list[RowScore]:
    """Feature rows read with profiles known to the caller (the real-data checks, whose
    cells' profiles are built in memory): predictions with the confidence rule applied, as
    `score_batch` applies it."""
    matrix = predictor.matrix(rows, profiles)
    result = predictor.predict_matrix(matrix, profiles)
    levels, statuses, capped = confidence_rule(matrix, result, np.zeros(len(rows), dtype=bool))
    return [RowScore(soh, status, level, [*warning, *([capped[i]] if i in capped else [])],
                     low, high, score)
            for i, (soh, status, level, warning, low, high, score) in enumerate(zip(
                result.soh, statuses, levels, result.warnings, result.soh_low, result.soh_high,
                result.scores, strict=True))]


def score_batch(batch: ParsedBatch, predictor: Predictor, registry: Mapping[str, str], *,
                explain: bool = False) -> ScoredBatch:
    """Predict every row, decide its profile source and confidence, cap its status.

    A row's profile is its own, else the fleet registry's, else the `assumed_profile` the
    pipeline read the trip with, else unknown; its source is `evpm.health.profile_source`'s.
    A low-confidence row (an assumed profile among them) is never Priority_Maintenance.
    """
    count = len(batch)
    catalog = all_profiles()  # built-in and user profiles, read once per batch
    registered = [registry.get(vehicle) for vehicle in batch.vehicle_ids]
    sources = [profile_source(name, known)
               for name, known in zip(batch.profiles, registered, strict=True)]
    fallbacks = batch.assumed_profiles or [None] * count
    profiles = [_profile(name or known or fallback, catalog) for name, known, fallback in
                zip(batch.profiles, registered, fallbacks, strict=True)]
    result = predictor.predict_matrix(batch.matrix, profiles, explain=explain)
    assumed = np.array([source == ASSUMED for source in sources], dtype=bool)
    levels, statuses, capped = confidence_rule(batch.matrix, result, assumed)
    warnings = [sent + found if sent else found
                for sent, found in zip(batch.warnings, result.warnings, strict=True)]
    if assumed.any():
        guesses = batch.pack_guesses or [None] * count
        for i in np.flatnonzero(assumed).tolist():
            name = profiles[i].name if profiles[i] else None
            warnings[i] = [*warnings[i], assumed_profile_warning(batch.vehicle_ids[i], name,
                                                                 guesses[i])]
    for i, text in capped.items():
        warnings[i] = [*warnings[i], text]
    return ScoredBatch(profiles, sources, levels, statuses, warnings, result)


def predict_and_store(batch: ParsedBatch, predictor: Predictor, storage: Storage,
                      registry: dict[str, str], *, explain: bool = False) -> list[dict]:
    """Predict every row (`score_batch`), store the batch in one transaction, return response
    objects.

    Rows whose idempotency key is already stored are answered with the first prediction (its
    `profile_source` and `confidence` are this request's: the same request resolves to the
    same, and they are not stored yet); a key stored for a different request raises
    IdempotencyConflictError and stores nothing.
    """
    count = len(batch)
    scored = score_batch(batch, predictor, registry, explain=explain)
    result, profiles, warnings = scored.result, scored.profiles, scored.warnings
    now = dt.datetime.now(dt.UTC)
    feature_dicts = batch.feature_dicts()
    profile_names = [p.name if p else None for p in profiles]
    columns = {
        "vehicle_id": batch.vehicle_ids,
        "timestamp": [stamp or now for stamp in batch.timestamps],
        "predicted_soh": result.soh,
        "predicted_sop": result.sop_w,
        "health_score": result.scores,
        "status": scored.statuses,
        "prediction_id": prediction_ids(count),
        "model_version": [predictor.version] * count,
        "idempotency_key": batch.idempotency_keys,
        "source_file": batch.source_files,
        "profile": profile_names,
        "features": [orjson.dumps(f).decode() for f in feature_dicts],
        "warnings": [orjson.dumps(w).decode() if w else "[]" for w in warnings],
        "soh_low": result.soh_low, "soh_high": result.soh_high,
        "sop_low": result.sop_low, "sop_high": result.sop_high,
    }
    duplicates = storage.save_columns(columns, _same_request(batch, feature_dicts))
    out = prediction_objects({**columns, "warnings": warnings}, profile_source=scored.sources,
                             confidence=scored.confidences, duplicate=[False] * count)
    for index, stored in duplicates.items():
        if isinstance(stored, int):
            out[index] = {**out[stored], "duplicate": True}
        else:
            [out[index]] = prediction_objects(
                record_columns([stored]), profile_source=[scored.sources[index]],
                confidence=[scored.confidences[index]], duplicate=[True])
    if explain:
        for body, contributions in zip(out, result.contributions, strict=True):
            body["explanation"] = contributions
    return out


def _same_request(batch: ParsedBatch, features: list[dict]):
    """The check that a repeated idempotency key comes with the same request.

    Same vehicle and same features; profile and timestamp only when this request sent them
    (a stored record holds the resolved profile and, without one sent, the arrival time).
    The file name is not compared: the same trip under another name is the same trip.
    """
    def differs(index: int, stored: Record | int) -> str | None:
        if isinstance(stored, int):  # an earlier row of this batch
            vehicle, sent, profile, stamp = (batch.vehicle_ids[stored], features[stored],
                                             batch.profiles[stored], batch.timestamps[stored])
        else:
            vehicle, sent, profile, stamp = (stored.vehicle_id, stored.features or {},
                                             stored.profile, stored.timestamp)
        if batch.vehicle_ids[index] != vehicle:
            return "vehicle_id"
        if features[index] != sent:
            return "features"
        if batch.profiles[index] is not None and batch.profiles[index] != profile:
            return "profile"
        if batch.timestamps[index] is not None and batch.timestamps[index] != stamp:
            return "timestamp"
        return None

    return differs


@functools.lru_cache(maxsize=64)
def _iso(stamp: dt.datetime) -> str:
    return stamp.isoformat().replace("+00:00", "Z")


# A prediction as the API shows it, fresh or stored: the reference design's fields first, the
# 90 % intervals last (null for a record stored before they were predicted).
PREDICTION_FIELDS = ("vehicle_id", "predicted_soh", "predicted_sop", "health_score", "status",
                     "prediction_id", "timestamp", "model_version", "warnings", "source_file",
                     "profile", *INTERVAL_FIELDS)
_TIMESTAMP = PREDICTION_FIELDS.index("timestamp")


def prediction_objects(columns: Mapping[str, Sequence], **extra: Sequence) -> list[dict]:
    """The API's prediction objects, one per row, from columns named as PREDICTION_FIELDS
    (`timestamp`: aware datetimes; `warnings`: lists), then the `extra` columns.

    The one shape of a prediction, made column-wise so a 10,000-row batch builds no other
    object per row; a stored record goes through `record_columns`.
    """
    names = (*PREDICTION_FIELDS, *extra) if extra else PREDICTION_FIELDS
    values = [columns[name] for name in PREDICTION_FIELDS]
    values[_TIMESTAMP] = map(_iso, values[_TIMESTAMP])
    return [dict(zip(names, row, strict=True))
            for row in zip(*values, *extra.values(), strict=True)]


def record_columns(records: Sequence[Record]) -> dict[str, list]:
    """Stored records as the columns `prediction_objects` takes."""
    columns = {name: [getattr(r, name) for r in records] for name in PREDICTION_FIELDS}
    columns["warnings"] = [w or [] for w in columns["warnings"]]
    return columns


def _robust_soh(records: Sequence[Record]) -> float | None:
    """The vehicle's robust SoH from its recent records (None without a usable one)."""
    value = robust_soh([r.timestamp.timestamp() / 86400.0 for r in records],
                       [r.predicted_soh for r in records], [r.features for r in records])
    return None if value != value else value


def fleet_snapshot(storage: Storage, recent: int = RECENT_TRIPS, *, after: str | None = None,
                   limit: int | None = None,
                   rules: StatusRules | None = None) -> list[dict]:
    """Latest state per vehicle (a page of them: ids after `after`, at most `limit`).

    The robust SoH, with its 90 % interval from its trips' (`vehicle_interval`), and the
    vehicle's status from them (`vehicle_status`) stand beside the latest per-trip prediction.
    """
    pages = sorted(storage.recent_by_vehicle(recent, after=after, limit=limit).items())
    latest = [records[-1] for _, records in pages]
    robust = [_robust_soh(records) for _, records in pages]
    intervals = [vehicle_interval(estimate, [r.soh_low for r in records],
                                  [r.soh_high for r in records])
                 for estimate, (_, records) in zip(robust, pages, strict=True)]
    states = [vehicle_status(estimate, high, r.predicted_soh, r.health_score, r.status,
                             is_assumed(r.warnings), rules or StatusRules())
              for estimate, (_, high), r in zip(robust, intervals, latest, strict=True)]
    return prediction_objects(
        record_columns(latest), latest_predicted_soh=[r.predicted_soh for r in latest],
        robust_soh=robust, robust_soh_low=[low for low, _ in intervals],
        robust_soh_high=[high for _, high in intervals],
        trips_in_estimate=[len(records) for _, records in pages],
        vehicle_status=[status for status, _ in states],
        vehicle_status_reason=[reason for _, reason in states])
