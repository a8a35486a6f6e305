"""Stored predictions as the page can use them, whatever a database holds.

The API validates what it stores, but an old database (or one written by hand) may hold
anything: timestamps in year 1 or 9999, NaN or infinite numbers, text in numeric columns,
unknown statuses, empty ids, text that is not UTF-8. One such row must not take the page down.
So the page reads raw values through the storage's driver-level reads (`Storage.record_rows`),
converts them column-wise here, and every row it cannot use left out and counted by
reason (`Skipped`), which the page shows as a note. A missing or unusable 90 % interval (every
record stored before intervals) is NaN, never a reason to leave a row out. Features and
warnings (JSON) are read only for the records whose figures need them (`Details`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evpm.dashboard.fleet import recent_ids, vehicle_statuses, vehicle_table, week_before
from evpm.health import RECENT_TRIPS, STATUSES, StatusRules
from evpm.storage import Storage

# Predictions outside these years are corrupt or test data, not trips: the page's time axes
# and 7-day windows would be meaningless with them.
FIRST_DAY = pd.Timestamp("2000-01-01", tz="UTC")
END_DAY = pd.Timestamp("2101-01-01", tz="UTC")
MAX_SOH = 2.0  # a model's SoH is near 0–1.1; far beyond, a chart's scale would be useless

NO_VEHICLE = "no vehicle id"
BAD_TIME = "timestamp outside 2000–2100"
BAD_SOH = f"SoH not a number between 0 and {MAX_SOH:g}"
BAD_SOP = "SoP not a number ≥ 0"
BAD_SCORE = "health score not a number"
BAD_STATUS = "unknown status"

COLUMNS = list(Storage.SCALAR_COLUMNS)
TEXT_COLUMNS = ["profile", "source_file", "model_version"]
# The 90 % intervals (low, high, largest usable high). Records stored before intervals have
# none (NULL): a missing or unusable interval is NaN, never a reason to leave the row out.
INTERVALS = (("soh_low", "soh_high", MAX_SOH), ("sop_low", "sop_high", math.inf))
# Spellings of the three statuses seen in older data and by hand ("priority maintenance").
_STATUS_KEYS = {s.lower(): s for s in STATUSES}


@dataclass(frozen=True)
class Skipped:
    """Stored rows left out of the page: how many per reason, and the first few record ids."""

    reasons: dict[str, int] = field(default_factory=dict)
    ids: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        """Rows left out."""
        return sum(self.reasons.values())

    def note(self, max_ids: int = 10) -> str | None:
        """The page's note about them (None if there are none); plain text, no Markdown."""
        if not self.total:
            return None
        noun = "prediction" if self.total == 1 else "predictions"
        why = ", ".join(f"{n} {reason}" for reason, n in self.reasons.items())
        ids = ", ".join(str(i) for i in self.ids[:max_ids])
        more = " …" if self.total > max_ids else ""
        return (f"{self.total} stored {noun} could not be shown: {why} "
                f"(record id {ids}{more}; the database is left as it is).")


def text_value(value: object) -> str | None:
    """A stored value as text: None for NULL or NaN, bytes decoded leniently."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _number(value: object) -> float:
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(text_value(value) or "nan")
    except ValueError:
        return math.nan


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as floats (NaN where not a number); the common all-float case is vectorised."""
    if column.dtype.kind in "fi":
        return column.to_numpy(dtype=float)
    return np.array([_number(v) for v in column], dtype=float)


def _all_text(column: pd.Series) -> bool:
    """True if every value is str or NULL (the common case: nothing to convert)."""
    return pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")


def _texts(column: pd.Series) -> pd.Series:
    """A column as str or None, converting each distinct value once."""
    if column.empty or _all_text(column):
        return column.astype(object)
    mapping = {v: text_value(v) for v in pd.unique(column)}
    return column.map(mapping).astype(object)


def status_value(value: object) -> str | None:
    """One of STATUSES for a stored status (case, spaces and hyphens ignored), else None."""
    text = text_value(value)
    if text is None:
        return None
    return _STATUS_KEYS.get(text.strip().lower().replace(" ", "_").replace("-", "_"))


def interval_values(low: pd.Series, high: pd.Series,
                    top: float) -> tuple[np.ndarray, np.ndarray]:
    """Stored interval ends as floats: both NaN unless both are finite, 0 ≤ low ≤ high ≤ top."""
    lows, highs = _numbers(low), _numbers(high)
    usable = np.isfinite(lows) & np.isfinite(highs) & (lows >= 0) & (lows <= highs) \
        & (highs <= top)
    return np.where(usable, lows, np.nan), np.where(usable, highs, np.nan)


def clean_records(raw: pd.DataFrame) -> tuple[pd.DataFrame, Skipped]:
    """The rows of `raw` (COLUMNS, values as a driver returns them) the page can use, typed.

    A row is left out for the first of: no vehicle id, timestamp unreadable or outside
    2000–2100, SoH / SoP / health score not a finite number in range, unknown status. An
    interval that is missing or unusable (`interval_values`) is NaN; its row stays.
    """
    frame = pd.DataFrame({"id": pd.to_numeric(raw["id"], errors="coerce")})
    ids = _texts(raw["vehicle_id"])
    frame["vehicle_id"] = ids
    # As text whatever the driver gave (an epoch number is not a timestamp the API stores).
    stamps = raw["timestamp"].astype(object)
    if not _all_text(stamps):
        stamps = stamps.map(lambda v: v if isinstance(v, str) else text_value(v))
    frame["timestamp"] = pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce")
    for name in ("predicted_soh", "predicted_sop", "health_score"):
        frame[name] = _numbers(raw[name])
    statuses = {v: status_value(v) for v in pd.unique(raw["status"])}
    frame["status"] = raw["status"].map(statuses).astype(object)
    for name in TEXT_COLUMNS:
        frame[name] = _texts(raw[name])
    for low, high, top in INTERVALS:
        frame[low], frame[high] = interval_values(raw[low], raw[high], top)

    soh, sop, score = (frame[n].to_numpy() for n in ("predicted_soh", "predicted_sop",
                                                      "health_score"))
    checks = [
        (NO_VEHICLE, (ids.isna() | (ids.str.strip() == "")).to_numpy(dtype=bool)),
        (BAD_TIME, ~((frame["timestamp"] >= FIRST_DAY) & (frame["timestamp"] < END_DAY))
         .to_numpy(dtype=bool)),
        (BAD_SOH, ~(np.isfinite(soh) & (soh >= 0) & (soh <= MAX_SOH))),
        (BAD_SOP, ~(np.isfinite(sop) & (sop >= 0))),
        (BAD_SCORE, ~np.isfinite(score)),
        (BAD_STATUS, frame["status"].isna().to_numpy(dtype=bool)),
        (None, frame["id"].isna().to_numpy(dtype=bool)),  # no id: cannot happen, never shown
    ]
    bad = np.zeros(len(frame), dtype=bool)
    reasons: Counter[str] = Counter()
    for reason, failed in checks:
        new = failed & ~bad
        if reason and new.any():
            reasons[reason] = int(new.sum())
        bad |= new
    skipped = Skipped(dict(reasons), tuple(int(i) for i in frame["id"][bad].dropna()[:50]))
    good = frame[~bad].reset_index(drop=True)
    good["id"] = good["id"].astype("int64")
    return good, skipped


def clean_features(value: object) -> dict[str, float]:
    """Stored features (JSON text) as {name: number}; anything else in them is dropped."""
    text = text_value(value)
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    out = {}
    for name, number in parsed.items():
        if isinstance(number, int | float) and not isinstance(number, bool) \
                and math.isfinite(number):
            out[str(name)] = float(number)
    return out


def clean_warnings(value: object) -> list[str]:
    """Stored warnings (JSON text) as a list of strings; anything else is no warning."""
    text = text_value(value)
    if not text or text == "[]":  # most records: no warning, no parsing
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        return []
    return [w for w in parsed if isinstance(w, str)] if isinstance(parsed, list) else []


@dataclass(frozen=True)
class Details:
    """What the page reads for a few records only, by record id: their numeric features (the
    robust SoH's weights) and warnings (whether a latest trip's profile was assumed)."""

    features: dict[int, dict[str, float]] = field(default_factory=dict)
    warnings: dict[int, list[str]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> Details:
        """Details from raw (id, features, warnings) rows (`Storage.DETAIL_COLUMNS`)."""
        return cls({int(i): clean_features(f) for i, f, _ in rows},
                   {int(i): clean_warnings(w) for i, _, w in rows})

    def merged(self, other: Details) -> Details:
        """These details and `other`'s."""
        return Details({**self.features, **other.features}, {**self.warnings, **other.warnings})


def read_records(store) -> tuple[pd.DataFrame, Skipped]:
    """Every usable prediction's scalar columns (COLUMNS), and what was left out."""
    rows = store.record_rows()
    return clean_records(pd.DataFrame.from_records(rows, columns=COLUMNS))


def read_recent_details(store, per_vehicle: int) -> Details:
    """The details of the newest `per_vehicle` records of every vehicle."""
    return Details.from_rows(store.recent_detail_rows(per_vehicle))


def read_details(store, ids: Iterable[int]) -> Details:
    """The details of the records with these ids."""
    ids = list(ids)
    return Details.from_rows(store.detail_rows(ids)) if ids else Details()


@dataclass(frozen=True)
class Fleet:
    """One load of the page: usable records, the vehicle table, each vehicle's status as it
    stood 7 days before the newest record (the attention count's change), the rows left out."""

    records: pd.DataFrame
    table: pd.DataFrame
    before: pd.Series
    skipped: Skipped


def read_fleet(store, rules: StatusRules | None = None) -> Fleet:
    """Read every usable record; build the vehicle table and the statuses of a week before.

    Features and warnings come for each vehicle's newest RECENT_TRIPS records, now and as of
    a week before: the same trips the robust SoH reads, so a week-old status is computed as
    it would have been then.
    """
    records, skipped = read_records(store)
    details = read_recent_details(store, RECENT_TRIPS)
    table = vehicle_table(records, details.features, details.warnings, rules)
    earlier = week_before(records)
    # A vehicle with no trip in the last week stood then as it stands now: only the others'
    # week-old statuses are computed (from the trips the robust SoH read then that are not
    # among the newest now).
    moved = set(records.loc[~records["id"].isin(earlier["id"]), "vehicle_id"])
    earlier = earlier[earlier["vehicle_id"].isin(moved)]
    missing = set(recent_ids(earlier)) - details.features.keys()
    details = details.merged(read_details(store, missing))
    kept = table[~table["vehicle_id"].isin(moved)].set_index("vehicle_id")["status"]
    before = pd.concat([kept, vehicle_statuses(earlier, details.features, details.warnings,
                                               rules)]) if len(table) else kept
    return Fleet(records, table, before.rename("status"), skipped)


def read_history(store, vehicle_id: str) -> pd.DataFrame:
    """One vehicle's usable records, oldest first, with their numeric features.

    Columns: timestamp, predicted_soh, soh_low, soh_high (NaN without an interval), sop_kw,
    health_score, status, source_file, profile, model_version, features. Rows left out are
    already counted by `read_records`.
    """
    rows = store.record_rows(vehicle_id=vehicle_id, with_features=True)
    raw = pd.DataFrame.from_records(rows, columns=[*COLUMNS, "features"])
    frame, _ = clean_records(raw)
    features = dict(zip(raw["id"], raw["features"], strict=True))
    return pd.DataFrame({
        "timestamp": frame["timestamp"], "predicted_soh": frame["predicted_soh"],
        "soh_low": frame["soh_low"], "soh_high": frame["soh_high"],
        "sop_kw": frame["predicted_sop"] / 1000.0, "health_score": frame["health_score"],
        "status": frame["status"], "source_file": frame["source_file"],
        "profile": frame["profile"], "model_version": frame["model_version"],
        "features": [clean_features(features.get(i)) for i in frame["id"]],
    })

