"""What the dashboard shows, computed from stored predictions: one row per vehicle (and the
scorecard made of it), KPIs, the fleet trend, a vehicle's forecast and the alerts.

Plain functions on the DataFrame `evpm.dashboard.data.read_records` returns (the columns of
`Storage.SCALAR_COLUMNS`, typed, unusable rows left out), so the page is a script of calls and every
number on it is tested without a browser. Trend windows ("7 days") end at the newest stored
prediction (the data's own "now"); staleness is measured against the clock.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evpm.health import (
    END_OF_LIFE_SOH,
    FORECAST_MAX_YEARS,
    HEALTHY,
    PRIORITY,
    RECENT_TRIPS,
    STATUSES,
    SohForecast,
    StatusRules,
    is_assumed,
    robust_soh,
    soh_forecast,
    vehicle_status,
)
from evpm.profiles import Profile, all_profiles
from evpm.settings import Settings
from evpm.uncertainty import vehicle_interval

WEEK = pd.Timedelta(days=7)
SECONDS_PER_DAY = 86_400.0
# In STATUSES' order (the legend's); zip's strict: a new status cannot go without a colour.
STATUS_COLOURS = dict(zip(STATUSES, ("#2ca02c", "#ff7f0e", "#d62728"), strict=True))
_DEFAULTS = Settings()  # the alert thresholds' defaults are the settings' (EVPM_ALERT_*, …)


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the alerts panel (from the settings)."""

    soh_drop_7d: float = _DEFAULTS.alert_soh_drop
    fleet_drop_7d: float = _DEFAULTS.alert_fleet_drop
    stale_days: float = _DEFAULTS.stale_days

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules:
        """The thresholds a deployment configured (EVPM_ALERT_SOH_DROP, EVPM_ALERT_FLEET_DROP,
        EVPM_STALE_DAYS)."""
        return cls(soh_drop_7d=settings.alert_soh_drop, fleet_drop_7d=settings.alert_fleet_drop,
                   stale_days=settings.stale_days)


@dataclass(frozen=True)
class Alert:
    """One line of the alerts panel."""

    level: str  # "error" or "warning"
    title: str
    detail: str  # the page's own words (may hold a configured URL), shown as Markdown
    vehicles: list[str] = field(default_factory=list)
    # Stored text (vehicle ids with figures): shown as plain text, never as Markdown.
    items: list[str] = field(default_factory=list)


def _days(stamps: pd.Series) -> np.ndarray:
    return stamps.astype("int64").to_numpy() / 1e9 / SECONDS_PER_DAY


def model_label(profile: str | None, catalog: Mapping[str, Profile] | None = None) -> str:
    """The vehicle model a profile name stands for ("unknown" when none).

    `catalog`: the profiles to look in (default: built-in and user profiles as they are now).
    """
    catalog = all_profiles() if catalog is None else catalog
    found = catalog.get(profile) if isinstance(profile, str) else None
    return found.label if found else "unknown"


TABLE_COLUMNS = ["vehicle_id", "model", "profile", "soh", "soh_low", "soh_high", "latest_soh",
                 "sop_kw", "health_score", "status", "status_reason", "latest_status", "trips",
                 "last_trip", "soh_drop_7d", "source_file", "model_version"]


def _optional(values: np.ndarray) -> list[float | None]:
    """Floats with NaN as None: a record without an interval, as storage gives it."""
    return [None if math.isnan(v) else float(v) for v in values]


def _floats(values: Iterable[float | None]) -> np.ndarray:
    """Floats with None as NaN (the table's numeric columns)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _robust(days: np.ndarray, soh: np.ndarray, lows: np.ndarray, highs: np.ndarray,
            features: Sequence[dict | None]) -> tuple[float | None, float | None, float | None]:
    """A vehicle's robust SoH (None without one) and its 90 % interval from its recent trips,
    as GET /vehicles computes them (`evpm.service.fleet_snapshot`)."""
    estimate = robust_soh(days, soh, features)
    estimate = None if math.isnan(estimate) else estimate
    return (estimate, *vehicle_interval(estimate, _optional(lows), _optional(highs)))


def _statuses(robust: list[tuple], latest: pd.DataFrame, warnings: Mapping[int, list[str]],
              rules: StatusRules) -> list[tuple[str, str | None]]:
    """Each vehicle's status and why (`vehicle_status`): its robust SoH and the interval's
    upper end, with its latest record's SoH, score, status and whether its profile was
    assumed (that record's warnings), as GET /vehicles decides it."""
    return [vehicle_status(estimate, high, latest_soh, score, status,
                           is_assumed(warnings.get(int(i))), rules)
            for (estimate, _, high), latest_soh, score, status, i in zip(
                robust, latest["predicted_soh"], latest["health_score"], latest["status"],
                latest["id"], strict=True)]


def _vehicles(records: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The records by vehicle, then id (oldest first), and where each vehicle's run starts
    and ends."""
    records = records.sort_values(["vehicle_id", "id"], kind="stable")
    vehicles = records["vehicle_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, vehicles[1:] != vehicles[:-1]])
    return records, starts, np.r_[starts[1:], len(records)]


def _estimates(records: pd.DataFrame, starts: np.ndarray, ends: np.ndarray,
               features: Mapping[int, dict]) -> list[tuple]:
    """Per vehicle, `_robust` over its newest RECENT_TRIPS records (the trips robust_soh
    reads)."""
    days = _days(records["timestamp"])
    soh = records["predicted_soh"].to_numpy()
    lows, highs = records["soh_low"].to_numpy(float), records["soh_high"].to_numpy(float)
    ids = records["id"].to_numpy()
    out = []
    for start, end in zip(starts, ends, strict=True):
        recent = slice(max(start, end - RECENT_TRIPS), end)
        out.append(_robust(days[recent], soh[recent], lows[recent], highs[recent],
                           [features.get(int(i)) for i in ids[recent]]))
    return out


def vehicle_statuses(records: pd.DataFrame, features: Mapping[int, dict],
                     warnings: Mapping[int, list[str]] | None = None,
                     rules: StatusRules | None = None) -> pd.Series:
    """Each vehicle's status, by vehicle id: `vehicle_table`'s `status` alone (the attention
    count of a week before needs no more)."""
    if records.empty:
        return pd.Series(dtype=object, name="status")
    records, starts, ends = _vehicles(records)
    latest = records.iloc[ends - 1]
    states = _statuses(_estimates(records, starts, ends, features), latest, warnings or {},
                       rules or StatusRules())
    return pd.Series([status for status, _ in states], index=latest["vehicle_id"].to_numpy(),
                     name="status")


def vehicle_table(records: pd.DataFrame, features: Mapping[int, dict],
                  warnings: Mapping[int, list[str]] | None = None,
                  rules: StatusRules | None = None) -> pd.DataFrame:
    """One row per vehicle, worst first: robust SoH with its 90 % interval, the vehicle's
    status, the latest prediction, 7-day SoH drop, trips.

    `features` and `warnings` map record ids to theirs (at least each vehicle's newest
    `RECENT_TRIPS`): features weight the robust SoH by each trip's SOC window; the latest
    trip's warnings say whether its profile was assumed. `status` is `vehicle_status`'s under
    `rules` (default `StatusRules()`), with `status_reason`, as GET /vehicles gives it;
    `latest_status` is the latest trip's, as stored.
    """
    if records.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    records, starts, ends = _vehicles(records)
    robust = _estimates(records, starts, ends, features)
    days, soh = _days(records["timestamp"]), records["predicted_soh"].to_numpy()
    drops = [_drop_7d(days[start:end], soh[start:end])
             for start, end in zip(starts, ends, strict=True)]
    latest = records.iloc[ends - 1]
    states = _statuses(robust, latest, warnings or {}, rules or StatusRules())
    catalog = all_profiles()  # once per table: user profiles added since show their label
    table = pd.DataFrame({
        "vehicle_id": latest["vehicle_id"].to_numpy(),
        "model": [model_label(p, catalog) for p in latest["profile"]],
        "profile": latest["profile"].to_numpy(),
        "soh": _floats(r[0] for r in robust),
        "soh_low": _floats(r[1] for r in robust),
        "soh_high": _floats(r[2] for r in robust),
        "latest_soh": latest["predicted_soh"].to_numpy(),
        "sop_kw": latest["predicted_sop"].to_numpy() / 1000.0,
        "health_score": latest["health_score"].to_numpy(),
        "status": [status for status, _ in states],
        "status_reason": [reason for _, reason in states],
        "latest_status": latest["status"].to_numpy(),
        "trips": ends - starts,
        "last_trip": latest["timestamp"].to_numpy(),
        "soh_drop_7d": drops,
        "source_file": latest["source_file"].to_numpy(),
        "model_version": latest["model_version"].to_numpy(),
    })
    table["last_trip"] = pd.to_datetime(table["last_trip"], utc=True)
    return table.sort_values(["health_score", "vehicle_id"], ascending=[False, True],
                             ignore_index=True)


def _drop_7d(days: np.ndarray, soh: np.ndarray) -> float:
    """Median per-trip SoH of the week before the vehicle's last 7 days minus that of the
    last 7 days (medians: one noisy trip does not raise an alert). NaN without both weeks."""
    last = days[-1]
    week = (days > last - 7) & (days <= last)
    before = (days > last - 14) & (days <= last - 7)
    if not before.any():
        before = days <= last - 7
        before[: max(0, np.count_nonzero(before) - 1)] = False  # the last trip before the week
    if not before.any() or not week.any():
        return float("nan")
    return float(np.median(soh[before]) - np.median(soh[week]))


def interval_text(low: float, high: float) -> str:
    """A SoH interval as the page writes it ("87.1–91.3 %"); empty without one."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"{low * 100:.1f}–{high * 100:.1f} %"


def scorecard_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's columns, from `vehicle_table` rows (also what the CSV download holds)."""
    return pd.DataFrame({
        "Vehicle": table["vehicle_id"], "Model": table["model"], "Status": table["status"],
        "SoH %": (table["soh"] * 100).round(1),
        "SoH 90 %": [interval_text(low, high)
                     for low, high in zip(table["soh_low"], table["soh_high"], strict=True)],
        "Latest trip SoH %": (table["latest_soh"] * 100).round(1),
        "Latest trip status": table["latest_status"],
        "Health score": table["health_score"].round(3), "SoP kW": table["sop_kw"].round(1),
        "SoH drop 7 d %": (table["soh_drop_7d"] * 100).round(1), "Trips": table["trips"],
        "Last trip (UTC)": table["last_trip"].dt.tz_convert(None),
        "Why": table["status_reason"].fillna(""),
    })


def week_before(records: pd.DataFrame) -> pd.DataFrame:
    """The records up to 7 days before the newest one: the fleet as it stood a week earlier."""
    if records.empty:
        return records
    return records[records["timestamp"] <= records["timestamp"].max() - WEEK]


def recent_ids(records: pd.DataFrame) -> list[int]:
    """The ids of each vehicle's newest RECENT_TRIPS records: the trips its robust SoH reads
    (`vehicle_table`), whose features and warnings it needs."""
    if records.empty:
        return []
    records, starts, ends = _vehicles(records)
    # Each row's distance from its vehicle's end: the newest RECENT_TRIPS are 1…RECENT_TRIPS.
    from_end = np.repeat(ends, ends - starts) - np.arange(len(records))
    return records["id"].to_numpy()[from_end <= RECENT_TRIPS].tolist()


@dataclass(frozen=True)
class Kpis:
    """The three summary numbers and the attention count's change over 7 days."""

    vehicles: int
    fleet_soh: float
    attention: int
    attention_delta: int | None  # vs 7 days before the newest data; None without that history


def kpis(table: pd.DataFrame, before: pd.Series | None = None) -> Kpis:
    """Vehicles monitored, fleet average (robust) SoH, vehicles whose status is not Healthy
    and their change since `before` (`vehicle_statuses` of `week_before`; None or empty: no
    change). Both count the vehicle's status (`vehicle_table`'s `status`)."""
    attention = int((table["status"] != HEALTHY).sum())
    delta = None
    if before is not None and not before.empty:
        delta = attention - int((before != HEALTHY).sum())
    return Kpis(len(table), float(table["soh"].mean()) if len(table) else float("nan"),
                attention, delta)


def fleet_trend(records: pd.DataFrame) -> pd.DataFrame:
    """Per day: mean per-trip SoH, trips, and the 7-day rolling mean."""
    daily = records.set_index("timestamp")["predicted_soh"].resample("D").agg(["mean", "count"])
    daily = daily[daily["count"] > 0].rename(columns={"mean": "soh", "count": "trips"})
    daily["soh_7d"] = daily["soh"].rolling("7D").mean()
    return daily.reset_index().rename(columns={"timestamp": "day"})


def alerts(table: pd.DataFrame, records: pd.DataFrame, rules: AlertRules,
           api_problem: str | None = None, now: dt.datetime | None = None) -> list[Alert]:
    """The reference design's alert rules, most urgent first (Priority_Maintenance: the
    vehicle's status, `table`'s `status`)."""
    now = now or dt.datetime.now(dt.UTC)
    out: list[Alert] = []
    if api_problem:
        out.append(Alert("error", "Model API unreachable", api_problem))
    priority = table[table["status"] == PRIORITY]["vehicle_id"].tolist()
    if priority:
        out.append(Alert("error", f"{len(priority)} vehicle(s) in {PRIORITY}",
                         "Take off the road within 0-7 days: inspection and capacity test.",
                         priority))
    if not records.empty:
        as_of = records["timestamp"].max()
        week = records[records["timestamp"] > as_of - WEEK]["predicted_soh"]
        before = records[(records["timestamp"] > as_of - 2 * WEEK)
                         & (records["timestamp"] <= as_of - WEEK)]["predicted_soh"]
        if len(week) and len(before) and before.mean() - week.mean() > rules.fleet_drop_7d:
            out.append(Alert("error", "Fleet average SoH dropped",
                             f"{before.mean():.1%} → {week.mean():.1%} in 7 days (rule: more "
                             f"than {rules.fleet_drop_7d:.0%}); check data quality or a "
                             "fleet-wide issue."))
    falling = table[table["soh_drop_7d"] > rules.soh_drop_7d]
    if len(falling):
        out.append(Alert("warning", f"{len(falling)} vehicle(s) lost more than "
                         f"{rules.soh_drop_7d:.0%} SoH in 7 days",
                         "median per-trip SoH of the last 7 days against the week before:",
                         falling["vehicle_id"].tolist(),
                         [f"{v} (−{d:.1%})" for v, d in
                          list(zip(falling["vehicle_id"], falling["soh_drop_7d"],
                                   strict=True))[:20]] + (["…"] if len(falling) > 20 else [])))
    stale = table[table["last_trip"] < pd.Timestamp(now) - pd.Timedelta(days=rules.stale_days)]
    if len(stale):
        out.append(Alert("warning", f"{len(stale)} vehicle(s) sent no trip for "
                         f"{rules.stale_days:g} days", "check the vehicle or its data feed:",
                         stale["vehicle_id"].tolist(),
                         stale["vehicle_id"].head(20).tolist()
                         + (["…"] if len(stale) > 20 else [])))
    return out


def vehicle_forecast(history: pd.DataFrame) -> tuple[SohForecast, pd.DataFrame | None]:
    """A vehicle's SoH forecast and, when there is one, its points as dates for the chart."""
    forecast = soh_forecast(_days(history["timestamp"]), history["predicted_soh"].to_numpy())
    if forecast.reason:
        return forecast, None
    points = pd.DataFrame({
        "day": pd.to_datetime(np.asarray(forecast.days) * SECONDS_PER_DAY, unit="s", utc=True),
        "soh": forecast.soh, "low": forecast.low, "high": forecast.high})
    return forecast, points


def eol_text(forecast: SohForecast, eol: float = END_OF_LIFE_SOH,
             max_years: float = FORECAST_MAX_YEARS) -> str:
    """The end-of-life line under the forecast chart."""
    if forecast.reason:
        return forecast.reason
    if forecast.already_below:
        return f"The trend is already at or below {eol:.0%} SoH: end of life reached."
    if forecast.eol_day is None:
        return f"Not projected to cross {eol:.0%} SoH within {max_years:g} years."
    when = dt.datetime.fromtimestamp(forecast.eol_day * SECONDS_PER_DAY, dt.UTC).date()
    return (f"Projected to cross {eol:.0%} SoH around {when:%Y-%m-%d} "
            f"(trend {forecast.slope_per_day * 365.25:+.1%} SoH per year).")
