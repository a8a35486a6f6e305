"""Health score, maintenance status, confidence and the robust per-vehicle SoH (one
definition each).

Used by the predictor (per prediction), the API's /vehicles and the dashboard, so every view
shows the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evpm.settings import Settings

HEALTHY, MONITOR, PRIORITY = "Healthy", "Monitor", "Priority_Maintenance"
STATUSES = (HEALTHY, MONITOR, PRIORITY)
UNKNOWN_RATED_SOP_W = 50_000.0  # PRODUCT.md: rated SoP when the vehicle's profile is unknown
END_OF_LIFE_SOH = 0.80  # the usual end of an EV battery's first life: 80 % of rated capacity
_DEFAULTS = Settings()  # the score thresholds' defaults are the settings' (EVPM_*_SCORE)


@dataclass(frozen=True)
class StatusRules:
    """Score thresholds (configurable) and the SoH floors that override the score."""

    priority_score: float = _DEFAULTS.priority_score
    monitor_score: float = _DEFAULTS.monitor_score
    # A battery at or past end of life is never called Healthy, whatever its score.
    never_healthy_at_or_below_soh: float = END_OF_LIFE_SOH
    priority_at_or_below_soh: float = 0.70

    @classmethod
    def from_settings(cls, settings: Settings) -> StatusRules:
        """The rules a deployment configured (EVPM_PRIORITY_SCORE, EVPM_MONITOR_SCORE)."""
        return cls(priority_score=settings.priority_score, monitor_score=settings.monitor_score)


def health_score(soh: float, sop_w: float, rated_sop_w: float) -> float:
    """(1 − SoH) + (1 − SoP / rated SoP): 0 for a new battery, higher is worse."""
    return (1.0 - soh) + (1.0 - sop_w / rated_sop_w)


def statuses_for(soh: np.ndarray, score: np.ndarray,
                 rules: StatusRules = StatusRules()) -> list[str]:
    """Maintenance status per row from the score; never Healthy at or below end of life,
    Priority at or below 70 % SoH (whatever the score)."""
    priority = (score >= rules.priority_score) | (soh <= rules.priority_at_or_below_soh)
    monitor = (score >= rules.monitor_score) | (soh <= rules.never_healthy_at_or_below_soh)
    return np.where(priority, PRIORITY, np.where(monitor, MONITOR, HEALTHY)).tolist()


def status_for(soh: float, score: float, rules: StatusRules = StatusRules()) -> str:
    """`statuses_for` for one prediction (the same rule: there is only one)."""
    return statuses_for(np.array([soh]), np.array([score]), rules)[0]


# Where a prediction's profile came from: the caller named it, the fleet registry maps the
# vehicle to it, or neither (the default profile, or none at all, is assumed).
GIVEN, REGISTERED, ASSUMED = "given", "registered", "assumed"
PROFILE_SOURCES = (GIVEN, REGISTERED, ASSUMED)


def profile_source(named: str | None, registered: str | None) -> str:
    """The one rule: `given` when the caller named a profile (`registered` if the fleet registry
    maps the vehicle to that same one), else `registered` when the registry knows the vehicle,
    else `assumed`."""
    if named is not None:
        return REGISTERED if named == registered else GIVEN
    return REGISTERED if registered is not None else ASSUMED


# How far one prediction can be trusted. The rule (one definition, `confidences`):
#   low    the profile is assumed, the trip's SOC window is under TINY_WINDOW (or unknown),
#          or the trip read capacity only to worse than POOR_READ of it (the relative read
#          error of evpm.uncertainty: a window's `soc_error` over the window, its ends read
#          off loaded voltages; a capacity test reads it to 1 %): a guessed pack, a short hop
#          or a reading that may be a third off says little about capacity;
#   medium no pack temperature, a window under NARROW_WINDOW or a read worse than ROUGH_READ;
#   high   otherwise.
HIGH, MEDIUM, LOW = "high", "medium", "low"
CONFIDENCES = (HIGH, MEDIUM, LOW)
TINY_WINDOW = 0.05
NARROW_WINDOW = 0.20
POOR_READ = 0.15
ROUGH_READ = 0.05

# Every warning the confidence rule and the profile source add, in one place.
PROFILE_ASSUMED = ("profile assumed ({profile}): vehicle {vehicle} is not in the fleet "
                   "registry{guess}; register it (`evpm profile add`, the registry) for a "
                   "trusted status")
PROFILE_ASSUMED_NONE = "none, rated SoP 50 kW"
PACK_GUESS = "; its pack looks like {guess}"
STATUS_CAPPED = ("status capped at Monitor (the score or SoH says Priority_Maintenance): {why}; "
                 "one such trip is not enough")
CAPPED_ASSUMED = "the profile is assumed"
CAPPED_TINY_WINDOW = "low confidence, the trip covered {window:.1%} of SOC (under {limit:.0%})"
CAPPED_NO_WINDOW = "low confidence, the trip's SOC window is unknown"
CAPPED_POOR_READ = ("low confidence, the trip read capacity only to ±{error:.0%} (its SOC "
                    "window, {window:.1%}, was read off loaded voltages)")


def assumed_profile_warning(vehicle: str | None, profile: str | None,
                            guess: str | None = None) -> str:
    """The warning every assumed-profile prediction carries (with the pack guess, if any)."""
    return PROFILE_ASSUMED.format(profile=profile or PROFILE_ASSUMED_NONE, vehicle=vehicle,
                                  guess=PACK_GUESS.format(guess=guess) if guess else "")


def soc_windows(soc_window: np.ndarray, dod: np.ndarray) -> np.ndarray:
    """Per row, the SOC window a trip covered (a fraction): `soc_window`, else `dod` / 100,
    NaN when neither (the vector form of `soc_window`)."""
    return np.where(np.isnan(soc_window), dod / 100.0, soc_window)


def confidences(window: np.ndarray, has_temperature: np.ndarray, assumed: np.ndarray,
                read_error: np.ndarray | None = None) -> list[str]:
    """Per row, `high` / `medium` / `low` by the rule above (a negative window, a charging
    trip, counts by its size; NaN is unknown, so low; an unknown read error — a request
    without `soc_error` — is not held against a row)."""
    size = np.abs(window)
    with np.errstate(invalid="ignore"):
        read = np.zeros_like(size) if read_error is None else read_error
        low = assumed | ~(size >= TINY_WINDOW) | (read > POOR_READ)
        medium = ~has_temperature | (size < NARROW_WINDOW) | (read > ROUGH_READ)
    return np.where(low, LOW, np.where(medium, MEDIUM, HIGH)).tolist()


def cap_statuses(statuses: list[str], levels: list[str], window: np.ndarray,
                 assumed: np.ndarray,
                 read_error: np.ndarray | None = None) -> tuple[list[str], dict[int, str]]:
    """A low-confidence (or assumed-profile) prediction never makes Priority_Maintenance by
    itself: such rows become Monitor. Returns the statuses and, per capped row, the warning."""
    capped = [i for i, (status, level) in enumerate(zip(statuses, levels, strict=True))
              if status == PRIORITY and level == LOW]
    if not capped:
        return statuses, {}
    out, warnings = list(statuses), {}
    for i in capped:
        if assumed[i]:
            why = CAPPED_ASSUMED
        elif window[i] != window[i]:
            why = CAPPED_NO_WINDOW
        elif abs(window[i]) < TINY_WINDOW:
            why = CAPPED_TINY_WINDOW.format(window=abs(float(window[i])), limit=TINY_WINDOW)
        else:
            why = CAPPED_POOR_READ.format(window=abs(float(window[i])),
                                          error=float(read_error[i]))
        out[i] = MONITOR
        warnings[i] = STATUS_CAPPED.format(why=why)
    return out, warnings


RECENT_TRIPS = 10
MIN_TREND_TRIPS = 4
MIN_TREND_DAYS = 14.0
MAX_FADE_PER_DAY = 0.5 / 365.0  # a slope steeper than 50 %/year is noise, not aging


def vehicle_soh(
    days: Sequence[float], soh: Sequence[float], soc_window: Sequence[float] | None = None,
    recent: int = RECENT_TRIPS,
) -> float:
    """One robust SoH for a vehicle from its recent per-trip predictions (NaN if none).

    Uses the last `recent` trips, weighting each by its SOC window squared (a trip over a wide
    window measures capacity far better than a short hop). With at least four trips spanning two
    weeks it fits a weighted line (slope clamped between 0 and −50 %/year, since SoH does not
    rise) and reads it at the latest trip, so the estimate does not lag a fading battery;
    otherwise it is the weighted median.
    """
    # Plain Python: at most `recent` points, for every vehicle on every page load (numpy's
    # per-call cost on ten values is several times the arithmetic).
    t_all = [float(v) for v in list(days)[-recent:]]
    y_all = [float(v) for v in list(soh)[-recent:]]
    if soc_window is None:
        w_all = [1.0] * len(y_all)
    else:
        w_all = [min(max(0.02 if math.isnan(x) else x, 0.01), 1.0) ** 2
                 for x in (float(v) for v in list(soc_window)[-recent:])]
    points = [(a, b, c) for a, b, c in zip(t_all, y_all, w_all, strict=True)
              if math.isfinite(a) and math.isfinite(b)]
    if not points:
        return math.nan
    t, y, w = zip(*points, strict=True)
    if len(y) >= MIN_TREND_TRIPS and max(t) - min(t) >= MIN_TREND_DAYS:
        total = sum(w)
        t_mean = sum(a * c for a, c in zip(t, w, strict=True)) / total
        y_mean = sum(b * c for b, c in zip(y, w, strict=True)) / total
        slope = sum(c * (a - t_mean) * (b - y_mean) for a, b, c in zip(t, y, w, strict=True)) \
            / sum(c * (a - t_mean) ** 2 for a, c in zip(t, w, strict=True))
        slope = min(max(slope, -MAX_FADE_PER_DAY), 0.0)
        return float(y_mean + slope * (max(t) - t_mean))
    # The weighted median: the first value, in order, at which half the weight is reached.
    ordered = sorted(zip(y, w, strict=True), key=lambda pair: pair[0])
    half, cumulative = sum(w) / 2.0, 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= half:
            return float(value)
    return float(ordered[-1][0])


def soc_window(features: Mapping[str, float | None] | None) -> float:
    """The SOC window a trip covered, from its stored features (`soc_window`, else `dod` / 100;
    NaN when neither): the weight of the trip in the robust SoH."""
    features = features or {}
    if features.get("soc_window") is not None:
        return features["soc_window"]
    if features.get("dod") is not None:
        return features["dod"] / 100.0
    return math.nan


def information_window(features: Mapping[str, float | None] | None) -> float:
    """The SOC window a trip's capacity reading is worth: its window, shrunk in proportion
    where it was read worse than POOR_READ of itself (`soc_error` / window: its ends read
    off loaded voltages — a low-confidence trip), so such a trip weighs as a smaller one; NaN
    when the window is unknown."""
    window = soc_window(features)
    error = (features or {}).get("soc_error")
    if error is None or not abs(error) > POOR_READ * abs(window):
        return window
    return window * POOR_READ * abs(window) / error


def robust_soh(days: Sequence[float], soh: Sequence[float],
               features: Sequence[Mapping[str, float | None] | None]) -> float:
    """`vehicle_soh` of a vehicle's trips (oldest first), each weighted by the SOC window its
    features say it covered, shrunk where that window was read poorly (`information_window`):
    what /vehicles and the dashboard show (NaN without trips)."""
    # Only the trips vehicle_soh reads (it aligns the weights with the days from the end).
    return vehicle_soh(days, soh, [information_window(f) for f in features[-RECENT_TRIPS:]])


# A vehicle's status (one definition, `vehicle_status`): the status of its robust SoH, with the
# latest trip's SoP, except that Priority_Maintenance needs the interval's optimistic end to say
# at least Monitor (a vehicle is taken off the road only when even the best reading of its
# trips is not Healthy: a wide interval, few or poorly read trips, makes Monitor instead), and
# a profile that is assumed (its latest trip says so) never makes it, as for one trip.
VEHICLE_CAPPED = ("Monitor, not Priority_Maintenance: the robust SoH {soh:.1%} says "
                  "Priority_Maintenance but {why}")
VEHICLE_WIDE = ("its 90 % interval reaches {high:.1%} (Healthy); more trips, or one over a "
                "wider SOC window, will settle it")
VEHICLE_ASSUMED = "its profile is assumed; register the vehicle for a trusted status"


def is_assumed(warnings: Sequence[str] | None) -> bool:
    """True if a prediction's warnings say its profile was assumed (PROFILE_ASSUMED)."""
    prefix = PROFILE_ASSUMED.split("(", 1)[0]
    return any(w.startswith(prefix) for w in warnings or ())


def vehicle_status(robust: float | None, high: float | None, latest_soh: float,
                   latest_score: float, latest_status: str, assumed: bool = False,
                   rules: StatusRules = StatusRules()) -> tuple[str, str | None]:
    """A vehicle's status and, when the interval or an assumed profile changed it, why.

    The score moves with SoH one for one (`health_score`), so the latest trip's score is
    re-read at the robust SoH and at the interval's upper end. Without a robust SoH the latest
    trip's status stands.
    """
    if robust is None or robust != robust:
        return latest_status, None
    status = status_for(robust, latest_score + (latest_soh - robust), rules)
    if status != PRIORITY:
        return status, None
    if assumed:
        return MONITOR, VEHICLE_CAPPED.format(soh=robust, why=VEHICLE_ASSUMED)
    if high is not None and \
            status_for(high, latest_score + (latest_soh - high), rules) == HEALTHY:
        return MONITOR, VEHICLE_CAPPED.format(soh=robust, why=VEHICLE_WIDE.format(high=high))
    return status, None


FORECAST_HORIZON_DAYS = 30.0
FORECAST_MAX_YEARS = 10.0


@dataclass(frozen=True)
class SohForecast:
    """A SoH trend with its uncertainty, projected ahead, and when it crosses end of life.

    `reason` is set (and the numbers are not) when the history is too short to fit a trend.
    """

    reason: str | None = None
    slope_per_day: float = math.nan
    days: tuple[float, ...] = ()  # the projection's days (from the latest trip onwards)
    soh: tuple[float, ...] = ()
    low: tuple[float, ...] = ()  # 95 % band
    high: tuple[float, ...] = ()
    eol_day: float | None = None  # day the trend crosses end of life; None: not within the limit
    already_below: bool = False


def soh_forecast(days: Sequence[float], soh: Sequence[float],
                 horizon_days: float = FORECAST_HORIZON_DAYS, eol: float = END_OF_LIFE_SOH,
                 max_years: float = FORECAST_MAX_YEARS, points: int = 16) -> SohForecast:
    """Least-squares SoH trend over the vehicle's history, projected `horizon_days` ahead.

    Needs the same history as `vehicle_soh`'s trend (four trips over two weeks). The band is the
    95 % prediction interval of a single future trip (residual spread plus the line's own
    uncertainty). SoH does not rise, so a rising fit is read as flat (slope 0).
    """
    t = np.asarray(days, dtype=float)
    y = np.asarray(soh, dtype=float)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    span = float(t.max() - t.min()) if len(t) else 0.0
    if len(y) < MIN_TREND_TRIPS or span < MIN_TREND_DAYS:
        return SohForecast(reason=f"too little history for a trend: {len(y)} trip(s) over "
                           f"{span:.0f} day(s); a forecast needs at least {MIN_TREND_TRIPS} "
                           f"trips over {MIN_TREND_DAYS:.0f} days")
    t_mean, y_mean = t.mean(), y.mean()
    sxx = float(np.sum((t - t_mean) ** 2))
    slope = min(0.0, float(np.sum((t - t_mean) * (y - y_mean)) / sxx))
    residual = y - (y_mean + slope * (t - t_mean))
    spread = float(np.sqrt(np.sum(residual ** 2) / max(len(y) - 2, 1)))
    ahead = np.linspace(t.max(), t.max() + horizon_days, points)
    centre = y_mean + slope * (ahead - t_mean)
    half = 1.96 * spread * np.sqrt(1.0 + 1.0 / len(y) + (ahead - t_mean) ** 2 / sxx)
    now = float(centre[0])
    eol_day = None
    if now <= eol:
        eol_day = float(t.max())
    elif slope < 0:
        crossing = float(t.max() + (now - eol) / -slope)
        eol_day = crossing if crossing - t.max() <= max_years * 365.25 else None
    return SohForecast(None, slope, tuple(ahead.tolist()), tuple(centre.tolist()),
                       tuple((centre - half).tolist()), tuple((centre + half).tolist()),
                       eol_day, now <= eol)
