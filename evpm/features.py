"""Trip → feature row: the only definition of every feature, shared by training and serving.

All features are at cell level (pack voltage ÷ series count, pack current ÷ parallel count), so
one model serves packs of any size. Definitions hold for a full lab discharge and for a partial
road trip alike; see docs/FEATURES.md for the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evpm import chemistry
from evpm.profiles import Profile
from evpm.trips import InsufficientDataError, Trip, read_trip

# The reference design's 13 features, in its request order.
REFERENCE_FEATURES = [
    "discharge_time_s", "voltage_drop_time_s", "delta_T_C", "avg_current", "avg_voltage",
    "current_std", "voltage_std", "mean_max_temp", "dod", "voltage_V_mean", "current_A_mean",
    "temperature_C_mean", "temperature_C_max",
]
# Physics-informed features that carry the health signal.
PHYSICS_FEATURES = [
    "charge_ah", "soc_window", "capacity_ratio", "discharge_capacity_ratio", "energy_wh",
    "r_dc_ohm", "r_dc_norm", "c_rate_mean", "c_rate_max", "temp_rise_rate_c_per_h",
    "rest_voltage", "soc_start", "rated_capacity_ah", "duration_s", "r_dc_rated_ratio",
    "r_dc_25c_ratio", "soc_error",
]
FEATURES = REFERENCE_FEATURES + PHYSICS_FEATURES
# Features that say how well the others were measured: sent and stored with every trip, read by
# the intervals and the confidence rule (evpm.uncertainty, evpm.health), not by the models.
UNCERTAINTY_FEATURES = frozenset({"soc_error"})
MODEL_FEATURES = [name for name in FEATURES if name not in UNCERTAINTY_FEATURES]
# Features in amperes, ampere-hours, watt-hours or ohms of one cell: their size follows the
# cell's (1 C is 2 A on an 18650, 60 A on a car cell), so a value beyond the training range
# says the cell is big, not that the trip is unusual. Range warnings use their per-capacity
# counterparts (C-rates, r_dc_norm, the capacity and resistance ratios) instead.
CELL_SIZE_FEATURES = frozenset({
    "avg_current", "current_std", "current_A_mean", "charge_ah", "energy_wh", "r_dc_ohm",
    "rated_capacity_ah",
})

DISCHARGE_C = 0.01  # a step counts as discharging above 0.01 C
REST_C = 0.02  # the cell is at rest below 0.02 C
STEP_C = 0.1  # current steps of at least 0.1 C are used for the DC resistance
MAX_STEP_S = 15.0
VOLTAGE_DROP_FRACTION = 0.10  # of the cell's voltage window, for voltage_drop_time_s
MIN_WINDOW = 0.02  # capacity from coulomb counting needs at least 2 % of SOC
CUTOFF_TOLERANCE_V = 0.02
REST_ANCHOR_S = 60.0  # a rest this long after the work gives a relaxed end voltage
MIN_SPAN_S = 30.0  # the work itself must last this long to say anything
FULL_SOC = 0.97  # a start read at or above this is a full cell (OCV noise near the top)
MEASURED_C_RATES = (0.04, 2.2)  # a capacity test at these mean rates is a measurement
# Below this rate a capacity test is brought to the standard 1 C: a slow discharge delivers more,
# about RATE_CAPACITY_SLOPE of the 1 C capacity per e-fold of rate. Fitted to the real cells'
# capacity tests (../shared/datasets/real-drive-cycles, README and capacity_tests.csv): DMEGC
# INR18650 2.752 Ah at C/20, 2.571 at 0.5 C, 2.523 at 1 C (0.027 and 0.028 per e-fold);
# Panasonic NCR18650PF 2.997 Ah at C/20, 2.775 at 1 C (0.025). From 0.45 C up the measurement is
# reported as it is (within ~2 % of the 1 C capacity), as the NASA set's labels are.
SLOW_TEST_C_RATE = 0.45
RATE_CAPACITY_SLOPE = 0.026
# Charge given back above this share of the charge taken is a drive cycle, not a test (the
# trapezoid of a short test at 10-s samples already differs from the sum by ~2 %).
REGEN_SHARE = 0.05
# How well the SOC window is known (`soc_error`). A BMS counts charge over its own capacity
# estimate, so the window it reports is off by that estimate's error (a few per cent:
# BMS_CAPACITY_ERROR of the window), plus its reporting step at each end. A voltage read off an
# OCV table: the tables' own ±20 mV (evpm/chemistry.py) at rest; under load, plus the
# overpotential the read cannot see (the slow part that builds up under a long load), taken
# as UNSEEN_POLARISATION_SHARE of the ohmic
# drop of the mean current over the last SLOW_POLARISATION_S. The share was set so that the
# spread of the windows it implies matches the SOC-window errors of the NASA discharges cut to
# end under load (../shared/datasets/nasa-pcoe-discharge, 20-80 % deep: std 0.12-0.20).
BMS_CAPACITY_ERROR = 0.03
BMS_SOC_STEP = 0.005
# A BMS corrects its soc now and then (from a rest voltage after wake-up, at a full charge): the
# soc jumps without the charge to move it. A step that moves the soc by more than BMS_JUMP_SOC
# beyond what the current counted in it is such a correction, not charge, and is left out of
# the SOC window (the window counts what the charge moved; its start is read after the jump).
BMS_JUMP_SOC = 0.02
OCV_READ_ERROR_V = 0.02
SLOW_POLARISATION_S = 300.0
UNSEEN_POLARISATION_SHARE = 0.5
STEADY_END = 0.1  # a load within 10 % of its last-5-minute mean at the end is a steady one


@dataclass(frozen=True)
class Span:
    """Where the battery worked in a log, and what the rests around it say.

    `start`..`end` (end exclusive) runs from the last rest sample before the first load (the
    relaxed voltage the work starts from) to the end of the discharge; features are computed
    over it, so a cycler's soak before a test and its rest after do not change them. A rest of
    at least `REST_ANCHOR_S` after the last load gives `end_rest_voltage`, the relaxed voltage
    the work ended at.
    """

    start: int
    end: int
    reached_cutoff: bool
    starts_at_rest: bool
    end_rest_voltage: float = math.nan


def discharge_span(trip: Trip) -> Span:
    """The span of a log the features describe (see `Span`).

    A lab log (no SOC column) ends at the cut-off only where the loaded voltage stays at or
    below it: a momentary dip under a current peak, after which the voltage recovers while the
    load goes on, is not the end of the discharge (cold drive cycles dip many times). Logs that
    go on under load below the profile's cut-off (cells cycled to a lower one) end where they
    first crossed it for good. On the road (SOC logged) a BMS derates power near the minimum
    voltage and the trip goes on: no cut-off there.
    """
    profile = trip.profile
    rated = profile.cell_capacity_ah
    current, voltage, time_s = trip.cell_current, trip.cell_voltage, trip.time_s
    active = np.abs(current) >= REST_C * rated
    working = np.flatnonzero(active)
    if len(working) == 0:
        return Span(0, len(time_s), False, True)
    first, last = int(working[0]), int(working[-1])
    start = first - 1 if first > 0 else 0
    end = last + 1
    reached = False
    if trip.soc is None:
        loaded = np.flatnonzero(-current[first:end] > DISCHARGE_C * rated) + first
        above = loaded[voltage[loaded] > profile.cell_v_min]
        after = loaded[loaded > above[-1]] if len(above) else loaded
        if len(after):  # the load went on at or below the cut-off: the discharge ended there
            end, reached = int(after[0]) + 1, True
        elif len(loaded):  # a log that stops within sensor noise of the cut-off reached it
            reached = bool(voltage[loaded[-1]] <= profile.cell_v_min + CUTOFF_TOLERANCE_V)
    rest_voltage = math.nan
    if last + 1 < len(time_s) and time_s[-1] - time_s[last] >= REST_ANCHOR_S:
        rest_voltage = relaxed_voltage(time_s[last + 1:] - time_s[last], voltage[last + 1:])
    return Span(start, end, reached, first > 0, rest_voltage)


def relaxed_voltage(elapsed_s: np.ndarray, voltage: np.ndarray) -> float:
    """The voltage a rest is recovering towards: v(t) ≈ v∞ − b/√t fitted over its last 3/4.

    Diffusion in the electrodes relaxes as 1/√t, so a rest of minutes after a deep or cold
    discharge ends below the open-circuit voltage (after the Panasonic cell's drive cycles in
    ../shared/datasets/real-drive-cycles the fit adds a median 19-34 mV to a 300-s rest's last
    voltage, up to 121 mV). A rest that has stopped recovering (b ≤ 0) gives its last voltage.
    """
    last = float(voltage[-1])
    late = elapsed_s >= elapsed_s[-1] / 4.0
    if late.sum() < 3:
        return last
    design = np.column_stack([np.ones(late.sum()), -1.0 / np.sqrt(elapsed_s[late])])
    (v_inf, b), *_ = np.linalg.lstsq(design, voltage[late], rcond=None)
    return float(v_inf) if b > 0 and np.isfinite(v_inf) else last


def soc_read_error(chemistry_name: str, voltage: float, unseen_v: float = 0.0) -> float:
    """SOC uncertainty of reading the OCV curve at `voltage`: half the SOC span of
    ± (OCV_READ_ERROR_V + `unseen_v`), so a flat stretch of the curve reads worse."""
    spread = OCV_READ_ERROR_V + abs(unseen_v)
    high, low = chemistry.soc_from_ocv(chemistry_name, np.array([voltage + spread,
                                                                  voltage - spread]))
    return float(high - low) / 2.0


def _dc_resistance(voltage: np.ndarray, discharge: np.ndarray, time_s: np.ndarray,
                   capacity_ah: float, temperature: np.ndarray | None = None) -> float:
    """Ω from voltage steps over current steps: −Σ ΔV·ΔI / Σ ΔI² over steps ≥ 0.1 C.

    With `temperature`, each step's ΔV is first brought to 25 °C (÷ the Arrhenius factor at
    that step's temperature), giving the resistance the cell would show at 25 °C.
    """
    d_v, d_i, d_t = np.diff(voltage), np.diff(discharge), np.diff(time_s)
    mask = (np.abs(d_i) >= STEP_C * capacity_ah) & (d_t <= MAX_STEP_S)
    if not mask.any():
        return math.nan
    if temperature is not None:
        d_v = d_v / chemistry.resistance_temperature_factor(temperature[1:])
    return float(-np.sum(d_v[mask] * d_i[mask]) / np.sum(d_i[mask] ** 2))


def bms_window(soc: np.ndarray, discharge: np.ndarray, t: np.ndarray,
               rated_ah: float) -> tuple[float, float]:
    """(soc at the end, SOC window) of a BMS soc trace, its corrections left out (BMS_JUMP_SOC).

    `discharge`: cell current, + discharging; `rated_ah`: the cell's rated capacity (the
    charge a step counted is judged against it: a worn cell moves further, well within the
    margin)."""
    fell = soc[:-1] - soc[1:]
    counted = discharge[1:] * np.diff(t) / 3600.0 / rated_ah
    moved = np.where(np.abs(fell - counted) > BMS_JUMP_SOC, 0.0, fell)
    return float(soc[-1]), float(np.sum(moved))


def _slow_growth(trip: Trip, span: Span, soc_end: float, recent: np.ndarray) -> float:
    """How much more slow overpotential a loaded end carries than mid-range at 25 °C: it grows
    near empty and in the cold beyond what the measured (ohmic) resistance shows, the physics
    the twin's slow RC pair follows (evpm.chemistry). A steady discharge that reached its
    cut-off is not grown: its end is where the cell is empty at that rate, which its window
    counts. One that reached it on a peak of a varying load may have charge left."""
    steady = abs(float(recent[-1]) - float(recent.mean())) <= STEADY_END * abs(float(recent.mean()))
    if span.reached_cutoff and steady:
        return 1.0
    end_temp = float(trip.temperature_c[span.end - 1]) if trip.temperature_c is not None \
        else 25.0
    return chemistry.diffusion_soc_factor(soc_end) * chemistry.diffusion_cold_factor(end_temp)


def extract(trip: Trip) -> dict[str, float]:
    """Compute every feature of one validated trip (NaN where a feature does not apply)."""
    profile: Profile = trip.profile
    rated = profile.cell_capacity_ah
    span = discharge_span(trip)
    start, end = span.start, span.end
    t = trip.time_s[start:end]
    v = trip.cell_voltage[start:end]
    current = trip.cell_current[start:end]
    discharge = -current
    dt = np.diff(t)
    duration = float(t[-1] - t[0])
    if len(t) < 3 or duration < MIN_SPAN_S:
        raise InsufficientDataError(
            f"the battery works for {duration:.0f} s ({len(t)} samples) in this log — from the "
            f"rest before the first load to the end of the discharge (the cut-off, for a lab "
            f"log); at least {MIN_SPAN_S:.0f} s are needed")
    step_discharging = discharge[1:] > DISCHARGE_C * rated
    discharging = discharge > DISCHARGE_C * rated

    charge_ah = float(np.trapz(discharge, t) / 3600.0)
    energy_wh = float(np.sum(v[1:] * discharge[1:] * dt) / 3600.0)
    r_dc = _dc_resistance(v, discharge, t, rated)

    drop_to = v[0] - VOLTAGE_DROP_FRACTION * (profile.cell_v_max - profile.cell_v_min)
    below = np.flatnonzero(v < drop_to)
    voltage_drop_time = float(t[below[0]] - t[0]) if len(below) else duration

    at_rest = abs(current[0]) < REST_C * rated
    rest_voltage = float(v[0]) if at_rest else math.nan
    if trip.soc is not None:
        soc_end, window_counted = bms_window(trip.soc[start:end], discharge, t, rated)
        soc_start = soc_end + window_counted
        soc_error = math.hypot(BMS_CAPACITY_ERROR * (soc_start - soc_end),
                               math.sqrt(2.0) * BMS_SOC_STEP)
    else:
        # No SOC column (lab logs): read the SOC off the OCV curve where the cell is relaxed —
        # a rest before the work, a rest after it — else off a loaded voltage with the IR drop
        # of the load added back (the cut-off is a loaded voltage).
        r_est = r_dc if math.isfinite(r_dc) and r_dc > 0 else 0.0
        chem = profile.chemistry
        start_voltage = v[0] + discharge[0] * r_est
        soc_start = float(chemistry.soc_from_ocv(chem, start_voltage))
        relaxed_end = math.isfinite(span.end_rest_voltage) and not span.reached_cutoff
        end_voltage = span.end_rest_voltage if relaxed_end else v[-1] + discharge[-1] * r_est
        soc_end = float(chemistry.soc_from_ocv(chem, end_voltage))
        # Without a measured resistance the profile's rated one scales the unseen part.
        r_scale = r_est or profile.rated_pulse_resistance_ohm
        recent = discharge[t >= t[-1] - SLOW_POLARISATION_S]
        unseen = UNSEEN_POLARISATION_SHARE * r_scale
        end_unseen = 0.0 if relaxed_end else unseen * max(float(recent.mean()), 0.0) * \
            _slow_growth(trip, span, soc_end, recent)
        soc_error = math.hypot(
            soc_read_error(chem, start_voltage, 0.0 if at_rest else unseen * abs(discharge[0])),
            soc_read_error(chem, end_voltage, end_unseen))
    window = soc_start - soc_end
    # A discharge to the cut-off from a partial start delivered the capacity above its start.
    full_share = 1.0 if soc_start >= FULL_SOC else max(soc_start, MIN_WINDOW)

    temp = None if trip.temperature_c is None else trip.temperature_c[start:end]
    # Without a temperature log, 25 °C is assumed for the correction.
    r_dc_25c = _dc_resistance(v, discharge, t, rated, np.full_like(t, 25.0) if temp is None
                              else temp)
    if temp is not None:
        minute = np.floor((t - t[0]) / 60.0).astype(int)
        starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
        per_minute_max = np.maximum.reduceat(temp, starts)
        delta_t = float(temp.max() - temp[0])
        temps = {
            "delta_T_C": delta_t,
            "mean_max_temp": float(per_minute_max.mean()),
            "temperature_C_mean": float(temp.mean()),
            "temperature_C_max": float(temp.max()),
            "temp_rise_rate_c_per_h": delta_t / (duration / 3600.0),
        }
    else:
        temps = dict.fromkeys(
            ["delta_T_C", "mean_max_temp", "temperature_C_mean", "temperature_C_max",
             "temp_rise_rate_c_per_h"], math.nan)

    row = {
        "discharge_time_s": float(np.sum(dt[step_discharging])),
        "voltage_drop_time_s": voltage_drop_time,
        "delta_T_C": temps["delta_T_C"],
        "avg_current": float(current[discharging].mean()) if discharging.any() else math.nan,
        "avg_voltage": float(v[discharging].mean()) if discharging.any() else math.nan,
        "current_std": float(current.std()),
        "voltage_std": float(v.std()),
        "mean_max_temp": temps["mean_max_temp"],
        "dod": 100.0 * window,
        "voltage_V_mean": float(v.mean()),
        "current_A_mean": float(current.mean()),
        "temperature_C_mean": temps["temperature_C_mean"],
        "temperature_C_max": temps["temperature_C_max"],
        "charge_ah": charge_ah,
        "soc_window": window,
        "capacity_ratio": charge_ah / (window * rated) if window >= MIN_WINDOW else math.nan,
        "discharge_capacity_ratio": charge_ah / (rated * full_share) if span.reached_cutoff
        else math.nan,
        "energy_wh": energy_wh,
        "r_dc_ohm": r_dc,
        "r_dc_norm": r_dc * rated,
        "c_rate_mean": float(discharge[discharging].mean() / rated) if discharging.any()
        else math.nan,
        "c_rate_max": float(discharge.max() / rated),
        "temp_rise_rate_c_per_h": temps["temp_rise_rate_c_per_h"],
        "rest_voltage": rest_voltage,
        "soc_start": soc_start,
        "rated_capacity_ah": rated,
        "duration_s": duration,
        # Measured resistance over the profile's rated pulse resistance (from its rated power).
        "r_dc_rated_ratio": r_dc / profile.rated_pulse_resistance_ohm,
        # The same at 25 °C: resistance growth, with the trip's temperature taken out.
        "r_dc_25c_ratio": r_dc_25c / profile.rated_pulse_resistance_ohm,
        # How well the SOC window is known, from how its two ends were read (SOC fraction).
        "soc_error": soc_error,
    }
    return row


DEFAULT_SOH_ANCHOR = 0.85


def _size(rows: Mapping[str, Sequence[float]]) -> int:
    # Works for a DataFrame (iterates column names) and a dict of arrays alike.
    first = next(iter(rows), None)
    return 0 if first is None else len(rows[first])


def _column(rows: Mapping[str, Sequence[float]], name: str, size: int) -> np.ndarray:
    if name not in rows:
        return np.full(size, np.nan)
    return np.asarray(rows[name], dtype=float)


def soh_anchor(rows: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The physics estimate of SoH that the model corrects: measured capacity over rated.

    `rows` maps feature names to equal-length columns (a DataFrame or a dict of arrays). In
    order: discharge capacity to the cut-off when the trip reached it; capacity from coulomb
    counting over the SOC window; for a reference-only request whose profile is known, the
    discharged charge (avg_current × discharge_time_s) over the depth of discharge; else a
    constant. The SoH model learns the residual, so it carries across pack sizes and beyond
    the SoH range of its training vehicles, as the physics does.
    """
    size = _size(rows)
    gross_ah = -_column(rows, "avg_current", size) * _column(rows, "discharge_time_s", size) \
        / 3600.0
    window = _column(rows, "dod", size) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        reference = np.where(window >= MIN_WINDOW, gross_ah / (
            window * _column(rows, "rated_capacity_ah", size)), np.nan)
    anchor = _column(rows, "discharge_capacity_ratio", size)
    for fallback in (_column(rows, "capacity_ratio", size), reference):
        anchor = np.where(np.isfinite(anchor), anchor, fallback)
    return np.where(np.isfinite(anchor), np.clip(anchor, 0.2, 1.3), DEFAULT_SOH_ANCHOR)


def measured_soh(rows: Mapping[str, Sequence[float]]) -> np.ndarray:
    """SoH where the trip itself is a capacity test, else NaN.

    A discharge from full (`soc_start` ≥ FULL_SOC) to the cut-off at a steady rate (mean
    0.04-2.2 C), discharging only, measures the capacity, the way a lab does and the NASA labels
    are: its SoH is that measurement (`discharge_capacity_ratio`), not a model's estimate of it
    — a correction learned on simulated cells can only add the simulation's differences from
    the real one. A test slower than SLOW_TEST_C_RATE is brought to the standard 1 C with the
    real cells' rate law (a C/20 test delivers ~8 % more). Other trips (a drive cycle touches
    the cut-off at a peak) are the model's.
    """
    size = _size(rows)
    ratio = _column(rows, "discharge_capacity_ratio", size)
    full = _column(rows, "soc_start", size) >= FULL_SOC
    rate = _column(rows, "c_rate_mean", size)
    near_standard = (rate >= MEASURED_C_RATES[0]) & (rate <= MEASURED_C_RATES[1])
    # A capacity test only discharges; a drive cycle gives charge back (regen) and reaches the
    # cut-off at a peak, before the capacity is out.
    gross = -_column(rows, "avg_current", size) * _column(rows, "discharge_time_s", size) \
        / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        no_regen = (gross - _column(rows, "charge_ah", size)) <= REGEN_SHARE * gross
    with np.errstate(divide="ignore", invalid="ignore"):
        to_standard = np.where(rate < SLOW_TEST_C_RATE,
                               1.0 - RATE_CAPACITY_SLOPE * np.log(1.0 / rate), 1.0)
    return np.where(full & near_standard & no_regen & np.isfinite(ratio), ratio * to_standard,
                    np.nan)


def sop_anchor(rows: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The physics estimate of SoP / rated that the SoP model corrects: 1 / resistance growth.

    SoP is voltage-limited, so it scales as 1 / (10-s resistance at 25 °C); the measured
    resistance over the rated one (`r_dc_25c_ratio`) gives it, up to the pulse-length factor
    the model learns. A constant for requests without it.
    """
    size = _size(rows)
    ratio = _column(rows, "r_dc_25c_ratio", size)
    with np.errstate(divide="ignore", invalid="ignore"):
        anchor = 1.0 / ratio
    return np.where(np.isfinite(anchor) & (ratio > 0), np.clip(anchor, 0.1, 2.0), 1.0)


def sop_margin(rows: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The SoP model's base margin: the log of `sop_anchor`; the model corrects it by a factor.

    SoP scales as 1 / resistance, so what the model learns (the pulse-length factor, the cell's
    own dynamics) multiplies the anchor. Learned as an added fraction of rated power instead, a
    correction fitted on ordinary cells took cells with twice their rated resistance far below
    what their resistance allows (new NASA cells at 0.27 of rated power for an anchor of 0.48).
    """
    return np.log(sop_anchor(rows))


def sop_ratio(output: np.ndarray) -> np.ndarray:
    """SoP as a fraction of rated peak power, from the SoP model's raw output (margin included)."""
    return np.exp(output)


def extract_file(path: Path | str, profile: Profile | str | None = None, *,
                 registry: Mapping[str, str] | None = None) -> dict[str, float]:
    """Read, validate and extract one trip CSV.

    Its vehicle and profile are `trip_identity`'s: `profile` when given (an explicit
    override), else the registry's profile for the vehicle the file name or column names.
    """
    return extract(read_trip(path, registry=registry, profile=profile))
