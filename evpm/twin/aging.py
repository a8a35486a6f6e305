"""Battery aging from NREL's BLAST-Lite, behind one module: nothing else imports `blast`.

A vehicle's SOC and temperature history is built week by week from its duty pattern and
climate (hourly points: parked, driving, charging), and BLAST-Lite's cell degradation models
integrate capacity fade and resistance growth over it. Each profile names a BLAST-Lite model
for capacity and one for resistance (most BLAST-Lite models give only capacity; the
resistance models are the closest chemistry that reports it).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from evpm.errors import UnknownChoiceError
from evpm.profiles import Profile

DAY_S = 86400.0
STEP_DAYS = 7  # one BLAST-Lite update per simulated week


@dataclass(frozen=True)
class Climate:
    """Ambient temperature: yearly mean, seasonal swing, day/night swing (°C)."""

    name: str
    mean_c: float
    seasonal_amp_c: float
    daily_amp_c: float


@dataclass(frozen=True)
class Duty:
    """How a vehicle is used: its trips' drive cycles and its daily energy use."""

    name: str
    cycles: tuple[str, ...]
    km_per_day: float
    max_repeats: int  # a trip is its cycle driven 1..max_repeats times
    charge_to_soc: float


CLIMATES: dict[str, Climate] = {
    c.name: c
    for c in [
        Climate("cold", 2.0, 12.0, 5.0),
        Climate("temperate", 11.0, 8.0, 5.0),
        Climate("hot", 24.0, 8.0, 6.0),
        Climate("desert", 30.0, 9.0, 8.0),
        # Lab chambers at the NASA PCoE test temperatures.
        Climate("chamber-4c", 4.0, 0.0, 0.0),
        Climate("chamber-24c", 24.0, 0.0, 0.0),
        Climate("chamber-43c", 43.0, 0.0, 0.0),
    ]
}
ROAD_CLIMATES = ("cold", "temperate", "hot", "desert")
LAB_CLIMATES = ("chamber-4c", "chamber-24c", "chamber-43c")

DUTIES: dict[str, Duty] = {
    d.name: d
    for d in [
        Duty("urban", ("udds",), 45.0, 6, 0.90),
        Duty("highway", ("hwfet",), 140.0, 5, 1.00),
        Duty("aggressive", ("us06",), 90.0, 4, 1.00),
        Duty("mixed", ("wltc3", "udds", "hwfet"), 70.0, 3, 0.90),
        # Lab cells: the cycler's discharges, and drive cycles replayed on the cell (no SOC
        # logged, as on a cycler) — the real-data sets hold both.
        Duty("lab", ("cc-0.4a", "cc-1a", "cc-2a", "cc-4a", "square-4a", "cc-6a", "random-walk",
                     "udds", "us06", "hwfet"), 0.0, 1, 1.00),
    ]
}


def get_climate(name: str) -> Climate:
    """Return a climate preset by name."""
    try:
        return CLIMATES[name]
    except KeyError:
        raise UnknownChoiceError("climate", name, list(CLIMATES)) from None


def get_duty(name: str) -> Duty:
    """Return a duty preset by name."""
    try:
        return DUTIES[name]
    except KeyError:
        raise UnknownChoiceError("duty", name, list(DUTIES)) from None


def ambient_c(climate: Climate, day: float, hour: float = 14.0) -> float:
    """Ambient temperature on a day of the year (day 0 = 1 January) at an hour of the day."""
    seasonal = -climate.seasonal_amp_c * math.cos(2.0 * math.pi * (day - 15.0) / 365.0)
    daily = -climate.daily_amp_c * math.cos(2.0 * math.pi * (hour - 3.0) / 24.0)
    return climate.mean_c + seasonal + daily


def _blast_model(name: str, degradation_scalar: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import blast.models

    return getattr(blast.models, name)(degradation_scalar=degradation_scalar)


def _week_profile(
    climate: Climate, duty: Duty, first_day: float, daily_dsoc: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hourly (time s, SOC, cell temperature °C) for one week starting at `first_day`."""
    hours = np.arange(0, STEP_DAYS * 24 + 1, dtype=float)
    hour_of_day = hours % 24
    days = first_day + hours / 24.0
    seasonal = -climate.seasonal_amp_c * np.cos(2.0 * np.pi * (days - 15.0) / 365.0)
    daily = -climate.daily_amp_c * np.cos(2.0 * np.pi * (hour_of_day - 3.0) / 24.0)
    temp = climate.mean_c + seasonal + daily
    top = duty.charge_to_soc
    if duty.name == "lab":
        # Lab cycling: one full cycle a day (1 h discharge, rest, 2 h charge, rest),
        # in a chamber held at the climate's mean temperature.
        phase = hour_of_day
        soc = np.interp(phase, [0, 1, 2, 4, 24], [top, 0.05, 0.05, top, top])
        temp = np.full_like(hours, climate.mean_c) + 4.0 * (phase < 1)
    else:
        dsoc = min(daily_dsoc, top - 0.10)
        # Parked full overnight; two drives (07-09, 17-19); charging 19-22.
        soc = np.interp(
            hour_of_day,
            [0, 7, 9, 17, 19, 22, 24],
            [top, top, top - dsoc / 2, top - dsoc / 2, top - dsoc, top, top],
        )
        morning = (hour_of_day >= 7) & (hour_of_day < 9)
        driving = morning | ((hour_of_day >= 17) & (hour_of_day < 22))
        temp = temp + 4.0 * driving  # cells warm while driving and charging
    return (first_day * DAY_S + hours * 3600.0), soc, temp


def age_battery(
    profile: Profile,
    climate: Climate,
    duty: Duty,
    checkpoints_days: np.ndarray,
    *,
    start_age_days: float,
    degradation_scalar: float,
    kwh_per_km: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Relative capacity (SoH) and resistance factor at each checkpoint day.

    The battery is `start_age_days` old at day 0 of the simulation (it has been in service
    under the same duty and climate); checkpoints are days from the simulation's start.
    """
    capacity_model = _blast_model(profile.aging_capacity_model, degradation_scalar)
    if profile.aging_resistance_model == profile.aging_capacity_model:
        resistance_model = capacity_model
    else:
        resistance_model = _blast_model(profile.aging_resistance_model, degradation_scalar)
    models = {id(capacity_model): capacity_model, id(resistance_model): resistance_model}
    daily_dsoc = duty.km_per_day * kwh_per_km / profile.nominal_energy_kwh
    end_day = float(np.max(checkpoints_days)) + start_age_days if len(checkpoints_days) else 0.0
    steps = max(1, math.ceil(end_day / STEP_DAYS))
    step_end_days = [0.0]
    q_hist, r_hist = [1.0], [1.0]
    for step in range(steps):
        # Calendar day of the year follows the simulation calendar, aged backwards.
        first_day = step * STEP_DAYS - start_age_days
        t_secs, soc, temp = _week_profile(climate, duty, first_day, daily_dsoc)
        t_secs = t_secs - t_secs[0] + step * STEP_DAYS * DAY_S
        for model in models.values():
            model.update_battery_state(t_secs, soc, temp)
        step_end_days.append((step + 1) * STEP_DAYS)
        q_hist.append(float(capacity_model.outputs["q"][-1]))
        r_hist.append(float(resistance_model.outputs["r"][-1]))
    age_at_checkpoint = np.asarray(checkpoints_days, dtype=float) + start_age_days
    soh = np.interp(age_at_checkpoint, step_end_days, q_hist)
    resistance = np.interp(age_at_checkpoint, step_end_days, r_hist)
    return soh, resistance
