"""Health score, status and the SoH forecast (one definition each, in evpm.health)."""

import numpy as np
import pytest

from evpm.health import (
    ASSUMED,
    CAPPED_ASSUMED,
    END_OF_LIFE_SOH,
    GIVEN,
    HEALTHY,
    HIGH,
    LOW,
    MEDIUM,
    MONITOR,
    PRIORITY,
    REGISTERED,
    StatusRules,
    assumed_profile_warning,
    cap_statuses,
    confidences,
    health_score,
    information_window,
    is_assumed,
    profile_source,
    robust_soh,
    soc_window,
    soc_windows,
    soh_forecast,
    status_for,
    statuses_for,
    vehicle_soh,
    vehicle_status,
)
from evpm.settings import Settings


def test_status_rules_follow_the_contract():
    soh = np.array([0.95, 0.95, 0.95, 0.80, 0.70, 0.81])
    score = np.array([0.2, 0.5, 0.8, 0.1, 0.1, 0.1])
    assert statuses_for(soh, score) == [
        HEALTHY, MONITOR, PRIORITY,
        MONITOR,  # never Healthy at or below end of life (80 % SoH)
        PRIORITY,  # Priority at or below 70 %
        HEALTHY]
    assert END_OF_LIFE_SOH == 0.80
    # One rule: the single-prediction form is the vectorised one.
    assert [status_for(s, c) for s, c in zip(soh, score, strict=True)] == \
        statuses_for(soh, score)
    assert health_score(1.0, 50_000, 50_000) == 0.0


def test_status_rules_come_from_the_settings():
    assert StatusRules() == StatusRules.from_settings(Settings())  # defaults in one place
    rules = StatusRules.from_settings(Settings(priority_score=0.4, monitor_score=0.2))
    assert (rules.priority_score, rules.monitor_score) == (0.4, 0.2)
    assert statuses_for(np.array([0.95] * 3), np.array([0.1, 0.25, 0.45]), rules) == \
        [HEALTHY, MONITOR, PRIORITY]
    assert status_for(0.95, 0.25, rules) == MONITOR


def test_robust_soh_weights_trips_by_their_soc_window():
    assert soc_window({"soc_window": 0.3, "dod": 90.0}) == 0.3
    assert soc_window({"dod": 45.0}) == 0.45
    assert np.isnan(soc_window({})) and np.isnan(soc_window(None))
    days, soh = [0.0, 1.0, 2.0], [0.90, 0.70, 0.91]
    # The short hop (1 % window) barely counts against the two wide trips.
    features = [{"soc_window": 0.6}, {"soc_window": 0.01}, {"dod": 60.0}]
    assert robust_soh(days, soh, features) == vehicle_soh(days, soh, [0.6, 0.01, 0.6])
    assert robust_soh(days, soh, features) >= 0.90
    assert np.isnan(robust_soh([], [], []))


def test_forecast_says_so_with_too_little_history():
    few = soh_forecast([0, 5, 10], [0.9, 0.9, 0.89])
    assert few.reason and "3 trip(s)" in few.reason and few.soh == ()
    short = soh_forecast([0, 1, 2, 3, 4], [0.9] * 5)
    assert short.reason and "4 day(s)" in short.reason


def test_forecast_projects_the_fade_and_its_end_of_life_crossing():
    rng = np.random.default_rng(1)
    days = np.linspace(0, 200, 40)
    soh = 0.90 - 0.0002 * days + rng.normal(0, 0.004, len(days))  # −7.3 %/year
    forecast = soh_forecast(days, soh)
    assert forecast.reason is None
    assert forecast.slope_per_day == pytest.approx(-0.0002, rel=0.25)
    assert forecast.days[0] == 200 and forecast.days[-1] == pytest.approx(230)
    assert all(lo < mid < hi for lo, mid, hi in zip(forecast.low, forecast.soh, forecast.high,
                                                    strict=True))
    # The band widens away from the data.
    assert forecast.high[-1] - forecast.low[-1] > forecast.high[0] - forecast.low[0]
    # 0.86 at day 200, 0.06 above end of life at 0.0002/day: ≈ day 500.
    assert forecast.eol_day == pytest.approx(500, rel=0.15)


def test_a_rising_or_flat_trend_never_crosses_end_of_life():
    days = np.linspace(0, 100, 20)
    rising = soh_forecast(days, 0.90 + 0.0001 * days)
    assert rising.slope_per_day == 0.0 and rising.eol_day is None
    slow = soh_forecast(days, 0.99 - 0.000001 * days)  # 0.04 %/year: centuries away
    assert slow.eol_day is None and not slow.already_below


def test_a_vehicle_already_below_end_of_life():
    days = np.linspace(0, 60, 12)
    below = soh_forecast(days, 0.78 - 0.0001 * days)
    assert below.already_below and below.eol_day == 60


def test_profile_source_is_given_registered_or_assumed():
    assert profile_source("nissan-leaf-30", None) == GIVEN
    assert profile_source("nissan-leaf-30", "chevrolet-bolt") == GIVEN  # named: the caller's
    assert profile_source("nissan-leaf-30", "nissan-leaf-30") == REGISTERED  # the same one
    assert profile_source(None, "nissan-leaf-30") == REGISTERED
    assert profile_source(None, None) == ASSUMED


@pytest.mark.parametrize(("window", "temperature", "assumed", "level"), [
    (0.50, True, False, HIGH),
    (0.20, True, False, HIGH),  # 20 % is wide enough
    (-0.30, True, False, HIGH),  # a charging trip counts by its size
    (0.50, False, False, MEDIUM),  # no temperature
    (0.10, True, False, MEDIUM),  # a narrow window
    (0.05, True, False, MEDIUM),
    (0.049, True, False, LOW),  # a tiny window
    (float("nan"), True, False, LOW),  # unknown window
    (0.80, True, True, LOW),  # an assumed profile, however good the trip
])
def test_confidence_rule(window, temperature, assumed, level):
    assert confidences(np.array([window]), np.array([temperature]), np.array([assumed])) == \
        [level]


def test_the_window_is_soc_window_else_dod_as_a_fraction():
    window = soc_windows(np.array([0.3, np.nan, np.nan]), np.array([90.0, 45.0, np.nan]))
    assert window[:2].tolist() == [0.3, 0.45] and np.isnan(window[2])


def test_a_low_confidence_prediction_is_never_priority_by_itself():
    statuses = [PRIORITY, PRIORITY, PRIORITY, MONITOR, PRIORITY]
    levels = [LOW, LOW, LOW, LOW, MEDIUM]
    window = np.array([0.5, 0.02, np.nan, 0.02, 0.1])
    assumed = np.array([True, False, False, False, False])
    capped, warnings = cap_statuses(statuses, levels, window, assumed)
    assert capped == [MONITOR, MONITOR, MONITOR, MONITOR, PRIORITY]
    assert set(warnings) == {0, 1, 2}  # only rows the rule changed say so, each why
    assert all(text.startswith("status capped at Monitor") for text in warnings.values())
    assert CAPPED_ASSUMED in warnings[0] and "2.0% of SOC" in warnings[1]
    assert "unknown" in warnings[2]
    assert cap_statuses([HEALTHY], [LOW], np.array([0.01]), np.array([True])) == ([HEALTHY], {})


def test_the_assumed_profile_warning_names_the_vehicle_profile_and_guess():
    text = assumed_profile_warning("X7", "renault-zoe-ze50", "~96 cells in series, ~120 Ah")
    assert text.startswith("profile assumed (renault-zoe-ze50): vehicle X7 is not in the fleet")
    assert "its pack looks like ~96 cells in series, ~120 Ah" in text and "register" in text
    assert "none" in assumed_profile_warning("X7", None)


@pytest.mark.parametrize(("window", "read_error", "level"), [
    (0.50, 0.02, HIGH),  # read at rest, from a BMS or a capacity test: to 2 % of itself
    (0.50, float("nan"), HIGH),  # no soc_error sent: not held against the row
    (0.50, 0.08, MEDIUM),
    (0.50, 0.20, LOW),  # ends read off loaded voltages: capacity to ±20 %
    (0.20, 0.12, MEDIUM),
])
def test_a_capacity_read_only_roughly_lowers_the_confidence(window, read_error, level):
    assert confidences(np.array([window]), np.array([True]), np.array([False]),
                       np.array([read_error])) == [level]


def test_a_poor_read_caps_priority_and_says_why():
    capped, warnings = cap_statuses([PRIORITY], [LOW], np.array([0.4]), np.array([False]),
                                    np.array([0.3]))
    assert capped == [MONITOR]
    assert "40.0%" in warnings[0] and "±30%" in warnings[0] and "loaded" in warnings[0]


def test_a_poorly_read_window_weighs_less_in_the_vehicle_estimate():
    assert information_window({"soc_window": 0.4}) == 0.4  # no soc_error sent: as before
    assert information_window({"soc_window": 0.4, "soc_error": 0.012}) == 0.4  # read well
    assert information_window({"soc_window": 0.4, "soc_error": 0.2}) == pytest.approx(
        0.4 * 0.15 * 0.4 / 0.2)  # read to ±50 % of itself: weighs as 30 % of the window
    # Two trips a day apart: a well-read 0.92 outweighs a loaded-voltage read of 0.60.
    well = {"soc_window": 0.4, "soc_error": 0.012}
    poor = {"soc_window": 0.5, "soc_error": 0.25}
    assert robust_soh([1.0, 2.0], [0.92, 0.60], [well, poor]) == pytest.approx(0.92)


def test_a_vehicle_is_priority_only_when_even_its_interval_is_not_healthy():
    # Latest trip: SoH 0.65, score 0.45 (Priority by SoH); the robust estimate agrees, and at
    # 0.75 (the interval's upper end) it is still Monitor.
    assert vehicle_status(0.65, 0.75, 0.65, 0.45, PRIORITY) == (PRIORITY, None)
    # The same estimate with an interval reaching 0.95 (score 0.15, Healthy): Monitor, and why.
    status, reason = vehicle_status(0.65, 0.95, 0.65, 0.45, PRIORITY)
    assert status == MONITOR and "95.0%" in reason and "Healthy" in reason
    # An assumed profile never makes it either.
    status, reason = vehicle_status(0.65, 0.75, 0.65, 0.45, MONITOR, assumed=True)
    assert status == MONITOR and "assumed" in reason
    assert is_assumed([assumed_profile_warning("V1", "renault-zoe-ze50")])
    assert not is_assumed(["out of range: x"])


def test_a_vehicle_status_follows_its_robust_soh_not_its_latest_trip():
    # One poor latest trip (0.60) against a robust 0.92: the vehicle is Healthy.
    assert vehicle_status(0.92, 0.95, 0.60, 0.45, MONITOR) == (HEALTHY, None)
    # A robust SoH at end of life is never Healthy, whatever the latest trip said.
    assert vehicle_status(0.79, 0.81, 0.95, 0.05, HEALTHY)[0] == MONITOR
    # No robust SoH: the latest trip's status stands.
    assert vehicle_status(None, None, 0.6, 0.9, MONITOR) == (MONITOR, None)
