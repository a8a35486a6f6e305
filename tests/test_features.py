"""Feature definitions on hand-made trips with known answers."""

import math

import numpy as np
import pandas as pd
import pytest

from evpm.features import (
    FEATURES,
    PHYSICS_FEATURES,
    REFERENCE_FEATURES,
    extract,
    measured_soh,
    soh_anchor,
)
from evpm.profiles import get_profile
from evpm.trips import validate_trip

LAB = get_profile("lab-18650-2ah")
ZOE = get_profile("renault-zoe-ze50")


def lab_discharge(*, amps=1.0, seconds=3600, volts=None, soc=None, temps=None, step=10):
    time_s = np.arange(0, seconds + 1, step, dtype=float)
    current = np.full_like(time_s, -amps)
    current[0] = 0.0
    table = pd.DataFrame({
        "time_s": time_s,
        "voltage_V": np.linspace(4.1, 3.0, len(time_s)) if volts is None else volts(time_s),
        "current_A": current,
    })
    if soc is not None:
        table["soc"] = soc(time_s)
    if temps is not None:
        table["temperature_C"] = temps(time_s)
    return table


def test_there_are_13_reference_and_at_least_7_physics_features():
    assert len(REFERENCE_FEATURES) == 13 and len(PHYSICS_FEATURES) >= 7
    assert len(FEATURES) >= 20 and len(set(FEATURES)) == len(FEATURES)


def test_constant_current_discharge_known_answers():
    table = lab_discharge(soc=lambda t: 1.0 - 0.5 * t / 3600.0,
                          temps=lambda t: 25.0 + 6.0 * t / 3600.0)
    row = extract(validate_trip(table, LAB))
    expected_ah = (0.5 * 10 + 359 * 10) / 3600.0  # the first interval ramps from rest
    assert row["charge_ah"] == pytest.approx(expected_ah)
    assert row["discharge_time_s"] == 3600.0
    assert row["avg_current"] == pytest.approx(-1.0)
    assert row["current_A_mean"] == pytest.approx(-360 / 361)
    assert row["dod"] == pytest.approx(50.0)
    assert row["soc_window"] == pytest.approx(0.5)
    assert row["capacity_ratio"] == pytest.approx(expected_ah / (0.5 * 2.0))
    assert row["delta_T_C"] == pytest.approx(6.0)
    assert row["temperature_C_max"] == pytest.approx(31.0)
    assert row["temp_rise_rate_c_per_h"] == pytest.approx(6.0)
    assert row["c_rate_mean"] == pytest.approx(0.5) and row["c_rate_max"] == pytest.approx(0.5)
    assert row["rest_voltage"] == pytest.approx(4.1)
    assert row["duration_s"] == 3600.0
    assert math.isnan(row["discharge_capacity_ratio"])  # has SOC: not a lab cut-off log
    # Per-minute maxima of a linear ramp sampled every 10 s: the mean of each minute's last value.
    minute_max = [25.0 + 6.0 * min(60 * m + 50, 3600) / 3600.0 for m in range(61)]
    assert row["mean_max_temp"] == pytest.approx(np.mean(minute_max))


def test_voltage_drop_time_is_time_to_fall_10_percent_of_the_window():
    # Lab cell window 4.2-2.7 V: 10 % = 0.15 V below the starting 4.1 V, i.e. under 3.95 V.
    table = lab_discharge(volts=lambda t: np.where(t < 100, 4.1, 3.9))
    assert extract(validate_trip(table, LAB))["voltage_drop_time_s"] == 100.0
    flat = lab_discharge(volts=lambda t: np.full_like(t, 4.0))
    assert extract(validate_trip(flat, LAB))["voltage_drop_time_s"] == 3600.0  # censored


def test_dc_resistance_from_voltage_and_current_steps():
    time_s = np.arange(0, 300, 1.0)
    current = np.where((time_s // 30) % 2 == 1, -2.0, 0.0)  # 2 A pulses
    voltage = 3.9 + 0.05 * current  # 50 mΩ, no polarisation
    table = pd.DataFrame({"time_s": time_s, "voltage_V": voltage, "current_A": current})
    row = extract(validate_trip(table, LAB))
    assert row["r_dc_ohm"] == pytest.approx(0.05)
    assert row["r_dc_norm"] == pytest.approx(0.05 * 2.0)
    assert row["r_dc_rated_ratio"] == pytest.approx(0.05 / LAB.rated_pulse_resistance_ohm)


def test_lab_log_stops_at_the_cutoff_and_gives_discharge_capacity():
    # Voltage reaches 2.7 V at t = 3000 s; the log goes on below it (as NASA's do).
    table = lab_discharge(amps=2.0, seconds=3600, volts=lambda t: 4.15 - 1.45 * t / 3000.0)
    row = extract(validate_trip(table, LAB))
    assert row["duration_s"] == 3000.0
    expected = (1.0 * 10 + 299 * 2.0 * 10) / 3600.0
    assert row["charge_ah"] == pytest.approx(expected)
    assert row["discharge_capacity_ratio"] == pytest.approx(expected / 2.0)
    assert row["soc_start"] > 0.95  # 4.15 V at rest on the lab OCV curve


def test_pack_values_are_divided_into_cells():
    cell = lab_discharge(amps=10.0, soc=lambda t: 0.9 - 0.05 * t / 3600.0,
                         volts=lambda t: np.linspace(4.0, 3.9, len(t)))
    pack = cell.assign(voltage_V=cell["voltage_V"] * 96, current_A=cell["current_A"] * 2)
    row = extract(validate_trip(pack, ZOE))
    assert row["avg_voltage"] == pytest.approx(cell["voltage_V"][1:].mean())
    assert row["avg_current"] == pytest.approx(-10.0)
    assert row["rated_capacity_ah"] == 78.0


def test_missing_temperature_gives_nan_temperature_features():
    row = extract(validate_trip(lab_discharge(), LAB))
    for name in ("delta_T_C", "mean_max_temp", "temperature_C_mean", "temperature_C_max"):
        assert math.isnan(row[name])


def test_soh_anchor_prefers_measured_capacity_then_reference_then_constant():
    rows = pd.DataFrame([
        {"discharge_capacity_ratio": 0.8, "capacity_ratio": 0.9},
        {"discharge_capacity_ratio": np.nan, "capacity_ratio": 0.9},
        {"avg_current": -1.0, "discharge_time_s": 3600.0, "dod": 50.0, "rated_capacity_ah": 2.5},
        {"avg_current": -1.0, "discharge_time_s": 3600.0, "dod": 50.0},
    ])
    assert soh_anchor(rows).tolist() == pytest.approx([0.8, 0.9, 0.8, 0.85])


def _capacity_test(rate: float, ratio: float = 1.05, regen_ah: float = 0.0) -> dict:
    # A discharge from full to the cut-off at a steady `rate` (C) of a 2 Ah cell.
    gross_ah = ratio * 2.0
    return {"discharge_capacity_ratio": [ratio], "soc_start": [1.0], "c_rate_mean": [rate],
            "avg_current": [-rate * 2.0], "discharge_time_s": [gross_ah / (rate * 2.0) * 3600.0],
            "charge_ah": [gross_ah - regen_ah]}


def test_a_capacity_test_near_1c_reports_its_measurement():
    for rate in (0.5, 1.0, 2.0):
        assert measured_soh(_capacity_test(rate))[0] == pytest.approx(1.05)


def test_a_slow_capacity_test_is_brought_to_the_standard_1c():
    # C/20 delivers ~8 % more than 1 C on real 18650s (DMEGC: 2.752 against 2.523 Ah).
    assert measured_soh(_capacity_test(0.05, ratio=1.058))[0] == pytest.approx(0.975, abs=0.003)
    slower = measured_soh(_capacity_test(0.1))[0]
    assert slower < measured_soh(_capacity_test(0.3))[0] < 1.05


def test_a_drive_cycle_or_a_very_slow_log_is_left_to_the_model():
    assert np.isnan(measured_soh(_capacity_test(0.5, regen_ah=0.3))[0])
    assert np.isnan(measured_soh(_capacity_test(0.02))[0])


def test_a_bms_correction_is_not_counted_as_charge():
    from evpm.features import bms_window

    t = np.arange(0.0, 601.0)
    discharge = np.full_like(t, 2.0)  # 2 A on a 2 Ah cell: 1/1800 of SOC a second
    soc = 0.8 - t / 1800.0
    assert bms_window(soc, discharge, t, 2.0) == pytest.approx((soc[-1], 600 / 1800))
    # The BMS re-reads its soc 25 % lower at 60 s (a rest-voltage correction after wake-up).
    jumped = np.where(t < 60, soc, soc - 0.25)
    assert bms_window(jumped, discharge, t, 2.0) == pytest.approx(
        (jumped[-1], 599 / 1800), abs=1e-3)


def test_the_slow_overpotential_the_read_cannot_see_grows_near_empty_and_in_the_cold():
    from evpm import chemistry

    assert chemistry.diffusion_cold_factor(25.0) == chemistry.diffusion_cold_factor(40.0) == 1.0
    assert chemistry.diffusion_cold_factor(0.0) > 1.5
    assert chemistry.diffusion_cold_factor(-20.0) > 3.0
    assert chemistry.diffusion_soc_factor(0.0) == pytest.approx(3.0)
    assert chemistry.diffusion_soc_factor(0.5) == pytest.approx(1.0, abs=0.02)


def test_the_same_loaded_end_logged_in_the_cold_is_read_less_surely():
    from evpm.twin.trip import TripSpec, simulate_trip

    table = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle="cc-2a", stop_soc=0.4)).table
    profile = get_profile("lab-18650-2ah")
    warm = extract(validate_trip(table.assign(temperature_C=25.0), profile))
    cold = extract(validate_trip(table.assign(temperature_C=-10.0), profile))
    # Same voltages and currents: the window read is the same, its uncertainty is not.
    assert cold["soc_window"] == pytest.approx(warm["soc_window"])
    assert cold["soc_error"] > 1.3 * warm["soc_error"]


@pytest.mark.parametrize(("cycle", "grows"), [("cc-2a", False), ("random-walk", True)])
def test_a_cut_off_reached_steadily_is_empty_one_reached_on_a_peak_may_not_be(cycle, grows):
    from evpm.twin.trip import TripSpec, simulate_trip

    table = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle=cycle, soh=0.8,
                                   resistance_factor=2.0, seed=1)).table
    profile = get_profile("lab-18650-2ah")
    warm = extract(validate_trip(table.assign(temperature_C=25.0), profile))
    cold = extract(validate_trip(table.assign(temperature_C=-10.0), profile))
    assert (cold["soc_error"] > 1.05 * warm["soc_error"]) == grows
