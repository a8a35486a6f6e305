"""Request validation for /predict: a request's rows → a `ParsedBatch`, or every problem.

Every problem is reported as {"field": ..., "problem": ...}, all of them at once, so an
integrator can fix a request in one go. Nothing here touches the models or the database.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np

# The contract's limits and the parsed types are defined in evpm.contract and evpm.batch;
# they stay importable from here, where the API's checks use them.
from evpm.batch import (
    FEATURE_INDEX,
    NotNumbersError,
    ParsedBatch,
    ParsedRow,
    feature_matrix,
)
from evpm.contract import (  # noqa: F401 — IDEMPOTENCY_KEY_MAX: re-exported
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_KEY_RULE,
    SOURCE_FILE_MAX,
    VEHICLE_ID_RULE,
)
from evpm.features import FEATURES, REFERENCE_FEATURES
from evpm.profiles import (
    PROFILE_NAME_MAX,
    PROFILE_NAME_PATTERN,
    PROFILE_NAME_RULE,
    VEHICLE_ID_PATTERN,
    all_profiles,
    is_profile,
)

# Physically possible ranges (cell level). Outside → 422; inside but outside the training
# range → a warning on the prediction.
RANGES: dict[str, tuple[float, float]] = {
    "discharge_time_s": (0.0, 1e7), "voltage_drop_time_s": (0.0, 1e7),
    "delta_T_C": (-100.0, 150.0), "avg_current": (-2000.0, 0.0),
    "avg_voltage": (0.5, 5.0), "current_std": (0.0, 2000.0), "voltage_std": (0.0, 5.0),
    "mean_max_temp": (-50.0, 100.0), "dod": (-100.0, 100.0), "voltage_V_mean": (0.5, 5.0),
    "current_A_mean": (-2000.0, 2000.0), "temperature_C_mean": (-50.0, 100.0),
    "temperature_C_max": (-50.0, 100.0),
    "charge_ah": (-1e5, 1e5), "soc_window": (-1.0, 1.0), "capacity_ratio": (0.0, 5.0),
    "discharge_capacity_ratio": (0.0, 5.0), "energy_wh": (-1e7, 1e7),
    "r_dc_ohm": (-10.0, 10.0), "r_dc_norm": (-100.0, 100.0), "c_rate_mean": (0.0, 50.0),
    "c_rate_max": (0.0, 50.0), "temp_rise_rate_c_per_h": (-1e4, 1e4),
    "rest_voltage": (0.5, 5.0), "soc_start": (0.0, 1.0), "rated_capacity_ah": (0.01, 5000.0),
    "duration_s": (0.0, 1e7), "r_dc_rated_ratio": (-100.0, 100.0),
    "r_dc_25c_ratio": (-100.0, 100.0), "soc_error": (0.0, 1.0),
}
# Many telematics feeds carry no pack temperature: a trip without one is served, and its
# prediction says so in `warnings` (the models treat the features as missing).
TEMPERATURE_FEATURES = frozenset({"delta_T_C", "mean_max_temp", "temperature_C_mean",
                                  "temperature_C_max"})
REQUIRED = frozenset(REFERENCE_FEATURES) - TEMPERATURE_FEATURES
OPTIONAL_FEATURES = frozenset(FEATURES) - REQUIRED
META_FIELDS = frozenset({"vehicle_id", "profile", "idempotency_key", "source_file", "timestamp",
                         "assumed_profile", "pack_guess"})
PACK_GUESS_MAX = 200  # `pack_guess`: one phrase from evpm.pack_inference, shown in a warning
# Integers beyond this are no physical quantity; converting them to float would overflow.
_INT_LIMIT = 10**300


def _number_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, got {type(value).__name__}"
    if isinstance(value, int) and not -_INT_LIMIT < value < _INT_LIMIT:
        return "is far outside any physical range"
    if not math.isfinite(value):
        return "must be a finite number (NaN and infinity are not allowed)"
    return None


def parse_row(raw: object, prefix: str = "") -> tuple[ParsedRow | None, list[dict]]:
    """Validate one request object; return the row or the list of problems."""
    if not isinstance(raw, dict):
        return None, [{"field": prefix or "(body)", "problem": "must be a JSON object"}]
    problems: list[dict] = []

    def problem(name: str, text: str) -> None:
        problems.append({"field": f"{prefix}{name}", "problem": text})

    features: dict[str, float] = {}
    for name in REFERENCE_FEATURES:  # request order, so the details read like the docs
        if name in REQUIRED and raw.get(name) is None:
            problem(name, "is required")
    warnings: list[str] = []
    for name, value in raw.items():
        if name in REQUIRED or name in OPTIONAL_FEATURES:
            if value is None and name in OPTIONAL_FEATURES:
                continue  # an absent optional feature
            if value is None:
                continue  # already reported as required
            text = _number_problem(value)
            if text:
                problem(name, text)
                continue
            low, high = RANGES[name]
            if not low <= value <= high:
                problem(name, f"{value} is physically impossible (allowed {low:g} to {high:g})")
                continue
            features[name] = float(value)
        elif name not in META_FIELDS:
            warnings.append(f"unknown field {name!r} ignored")

    vehicle_id = raw.get("vehicle_id")
    if vehicle_id is None:
        problem("vehicle_id", "is required")
    elif not valid_vehicle_id(vehicle_id):
        problem("vehicle_id", f"must be {VEHICLE_ID_RULE}")
    profile = raw.get("profile")
    if profile is not None and not is_profile(profile):  # built-in or user (EVPM_PROFILES)
        problem("profile", f"unknown profile; valid: {', '.join(all_profiles())}")
    # The pipeline's profile for an unregistered vehicle: a hint, so a well-formed name this
    # server does not know is no error (the row is then predicted as of an unknown profile).
    assumed = raw.get("assumed_profile")
    if assumed is not None and not (isinstance(assumed, str) and len(assumed) <= PROFILE_NAME_MAX
                                    and PROFILE_NAME_PATTERN.fullmatch(assumed)):
        problem("assumed_profile", f"must be {PROFILE_NAME_RULE}")
    guess = raw.get("pack_guess")
    if guess is not None and not (valid_source_file(guess) and len(guess) <= PACK_GUESS_MAX):
        problem("pack_guess", f"must be a string of at most {PACK_GUESS_MAX} characters "
                "without control characters")
    key = raw.get("idempotency_key")
    if key is not None and not valid_idempotency_key(key):
        problem("idempotency_key", f"must be {IDEMPOTENCY_KEY_RULE}")
    source = raw.get("source_file")
    if source is not None and not valid_source_file(source):
        problem("source_file", f"must be a string of at most {SOURCE_FILE_MAX} characters "
                "without control characters")
    stamp = None
    if raw.get("timestamp") is not None:
        stamp, text = check_timestamp(raw["timestamp"])
        if text:
            problem("timestamp", text)
    if problems:
        return None, problems
    return ParsedRow(features, vehicle_id, profile, key, source, stamp, warnings, assumed,
                     guess), []


def valid_vehicle_id(value: object) -> bool:
    """True for a vehicle id the API accepts."""
    return isinstance(value, str) and VEHICLE_ID_PATTERN.fullmatch(value) is not None


def valid_idempotency_key(value: object) -> bool:
    """True for an idempotency key the API accepts (body field or header)."""
    return isinstance(value, str) and IDEMPOTENCY_KEY_PATTERN.fullmatch(value) is not None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def valid_source_file(value: object) -> bool:
    """True for a storable file name: short, printable, valid Unicode (databases refuse NUL)."""
    if not isinstance(value, str) or len(value) > SOURCE_FILE_MAX or _CONTROL.search(value):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        return False
    return True


def _written_time(value: object) -> dt.datetime | None:
    """ISO 8601 text → datetime as written (its own zone, or none); None if not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_timestamp(value: object) -> dt.datetime | None:
    """ISO 8601 → aware UTC datetime (naive means UTC); None if not a valid date-time."""
    stamp = _written_time(value)
    if stamp is None:
        return None
    try:
        return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else \
            stamp.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        return None


def timestamp_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The accepted trip times: EARLIEST_TIMESTAMP to now + FUTURE_TOLERANCE."""
    return EARLIEST_TIMESTAMP, (now or dt.datetime.now(dt.UTC)) + FUTURE_TOLERANCE


def check_timestamp(value: object) -> tuple[dt.datetime | None, str | None]:
    """(the UTC time, None), or (None, the problem) for a time no fleet can have.

    The earliest bound applies to the date as written (2000-01-01T00:30+01:00 is accepted,
    though a minute before 2000 in UTC), so that "from the year 2000" holds in any zone.
    """
    written = _written_time(value)
    if written is None:
        return None, "must be an ISO 8601 date-time, e.g. 2026-11-27T08:30:00Z"
    stamp = parse_timestamp(value)
    low, high = timestamp_window()
    if stamp is None or written.year < low.year or stamp > high:
        return None, (f"{value} is outside the accepted window {low:%Y-%m-%d} to one day "
                      "from now (UTC)")
    return stamp, None


_LOW = np.array([RANGES[name][0] for name in FEATURES])
_HIGH = np.array([RANGES[name][1] for name in FEATURES])
_SIMPLE_META = frozenset({"vehicle_id", "idempotency_key", "source_file"})
FAST_PATH_MIN_ROWS = 8
_OPTIONAL_COLUMNS = np.array([FEATURE_INDEX[name] for name in FEATURES
                              if name in OPTIONAL_FEATURES])


def missing_optional(matrix: np.ndarray) -> int:
    """How many optional (physics) feature values the rows left out."""
    return int(np.isnan(matrix[:, _OPTIONAL_COLUMNS]).sum())


def parse_rows(items: list, many: bool) -> tuple[ParsedBatch | None, list[dict]]:
    """Validate a request's rows: (the batch, []) or (None, every problem found).

    Common batches (plain numbers, known fields, valid ids) are checked column by column with
    numpy; anything unusual falls back to `parse_row`, which names every problem.
    """
    # Below a few rows the per-row checks are cheaper than building numpy columns.
    fast = _parse_fast(items) if len(items) > FAST_PATH_MIN_ROWS else None
    if fast is not None:
        return fast, []
    rows, problems = [], []
    for index, item in enumerate(items):
        row, found = parse_row(item, f"[{index}]." if many else "")
        problems += found
        if row is not None:
            rows.append(row)
    if problems:
        return None, problems
    return ParsedBatch.from_rows(rows), []


def _parse_fast(items: list) -> ParsedBatch | None:
    if not all(type(item) is dict for item in items):
        return None
    first = items[0]
    keys = first.keys()
    if any(item.keys() != keys for item in items):
        return None  # rows with different fields: check one by one
    names = [k for k in keys if k in FEATURE_INDEX]
    if not set(names) >= REQUIRED or any(k not in FEATURE_INDEX and k not in _SIMPLE_META
                                         for k in keys):
        return None
    try:
        matrix = feature_matrix(items, names)
    except NotNumbersError:  # null, text, a bool, a huge integer: named by the slow path
        return None
    present = matrix[:, [FEATURE_INDEX[n] for n in names]]
    if not np.isfinite(present).all():
        return None
    with np.errstate(invalid="ignore"):
        outside = (matrix < _LOW) | (matrix > _HIGH)
    if outside.any():
        return None
    vehicle_ids = [item.get("vehicle_id") for item in items]
    if not all(type(v) is str and VEHICLE_ID_PATTERN.fullmatch(v) for v in vehicle_ids):
        return None
    meta: dict[str, list] = {}
    for name, valid in (("idempotency_key", valid_idempotency_key),
                        ("source_file", valid_source_file)):
        meta[name] = [item[name] for item in items] if name in keys else [None] * len(items)
        if name in keys and not all(map(valid, meta[name])):
            return None
    # The request objects become the stored feature objects: dropping three keys per row is
    # far cheaper than building 10,000 new dictionaries.
    for name in _SIMPLE_META.intersection(keys):
        for item in items:
            del item[name]
    empty = [None] * len(items)
    return ParsedBatch(vehicle_ids, matrix, empty, meta["idempotency_key"], meta["source_file"],
                       empty, [[] for _ in items], items)
