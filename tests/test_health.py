"""Health score, status and the SoH forecast (one definition each, in evpm.health)."""

import numpy as np
import pytest

from evpm.health import (
    HEALTHY,
    MONITOR,
    PRIORITY,
    health_score,
    soh_forecast,
    status_for,
)


def test_status_rules_follow_the_contract():
    assert status_for(0.95, 0.2) == HEALTHY
    assert status_for(0.95, 0.5) == MONITOR and status_for(0.95, 0.8) == PRIORITY
    assert status_for(0.80, 0.1) == MONITOR  # never Healthy at or below 80 % SoH
    assert status_for(0.70, 0.1) == PRIORITY  # Priority at or below 70 %
    assert health_score(1.0, 50_000, 50_000) == 0.0


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
