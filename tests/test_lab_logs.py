"""Lab logs as a cycler records them: partial starts, rests, the cut-off, dips under load."""

import math

import numpy as np
import pandas as pd
import pytest

from evpm import chemistry
from evpm.features import discharge_span, extract
from evpm.profiles import get_profile
from evpm.trips import validate_trip

LAB = get_profile("lab-18650-2ah")
R_OHM = 0.05


def cycler_log(*, soc0=1.0, amps=2.0, capacity_ah=1.8, rest_before_s=0, rest_after_s=0,
               stop_soc=0.0, dips=(), step=10.0):
    """A discharge on the lab cell's OCV curve with an IR drop: optional rests and dips."""
    time_s, soc, rows = 0.0, soc0, []
    for _ in range(int(rest_before_s // step) + 1):
        rows.append((time_s, float(chemistry.ocv("lab", soc)), 0.0))
        time_s += step
    while True:
        soc -= amps * step / 3600.0 / capacity_ah
        volts = float(chemistry.ocv("lab", soc)) - amps * R_OHM
        if volts <= LAB.cell_v_min or soc <= stop_soc:
            rows.append((time_s, max(volts, LAB.cell_v_min - 0.001), -amps))
            break
        if any(abs(time_s - d) < step / 2 for d in dips):
            volts = LAB.cell_v_min - 0.05  # a peak dips below the cut-off for one sample
        rows.append((time_s, volts, -amps))
        time_s += step
    for _ in range(int(rest_after_s // step)):
        time_s += step
        rows.append((time_s, float(chemistry.ocv("lab", soc)), 0.0))
    return pd.DataFrame(rows, columns=["time_s", "voltage_V", "current_A"])


def features(table):
    return extract(validate_trip(table, LAB))


def test_a_momentary_dip_under_load_is_not_the_end_of_the_discharge():
    clean = features(cycler_log())
    dipped = features(cycler_log(dips=(600.0, 1200.0)))
    assert dipped["charge_ah"] == pytest.approx(clean["charge_ah"])
    assert dipped["discharge_capacity_ratio"] == pytest.approx(clean["discharge_capacity_ratio"])


def test_a_log_that_goes_on_below_the_cutoff_ends_where_it_crossed_it():
    table = cycler_log()
    more = pd.DataFrame({"time_s": table["time_s"].iloc[-1] + 10.0 * np.arange(1, 20),
                         "voltage_V": np.linspace(2.65, 2.3, 19), "current_A": -2.0})
    longer = features(pd.concat([table, more], ignore_index=True))
    assert longer["charge_ah"] == pytest.approx(features(table)["charge_ah"])


def test_a_partial_start_is_scored_on_the_capacity_above_it():
    full = features(cycler_log(soc0=1.0))
    half = features(cycler_log(soc0=0.5))
    assert half["charge_ah"] == pytest.approx(full["charge_ah"] / 2, rel=0.05)
    # Read as capacity, not as charge over rated (which would halve the SoH).
    assert half["discharge_capacity_ratio"] == pytest.approx(
        full["discharge_capacity_ratio"], abs=0.03)


def test_rests_around_the_work_do_not_change_its_features():
    bare = features(cycler_log(stop_soc=0.3))
    rested = cycler_log(stop_soc=0.3, rest_before_s=1800, rest_after_s=600)
    with_rests = features(rested)
    for name in ("charge_ah", "duration_s", "discharge_time_s", "avg_current", "r_dc_ohm"):
        assert with_rests[name] == pytest.approx(bare[name], rel=1e-9, nan_ok=True), name
    assert math.isnan(with_rests["discharge_capacity_ratio"])  # stopped on charge, not cut-off


def test_a_rest_after_the_work_anchors_the_end_soc():
    loaded = features(cycler_log(stop_soc=0.3))
    rested = features(cycler_log(stop_soc=0.3, rest_after_s=600))
    true_window = 1.0 - 0.3
    assert abs(rested["soc_window"] - true_window) < 0.01
    assert abs(rested["soc_window"] - true_window) <= abs(loaded["soc_window"] - true_window)
    assert rested["capacity_ratio"] == pytest.approx(1.8 / 2.0, abs=0.02)


def test_span_skips_the_soak_and_keeps_the_relaxed_end_voltage():
    trip = validate_trip(cycler_log(stop_soc=0.3, rest_before_s=1800, rest_after_s=600), LAB)
    span = discharge_span(trip)
    assert trip.time_s[span.start] == pytest.approx(1800.0)
    assert span.starts_at_rest and not span.reached_cutoff
    assert span.end_rest_voltage == pytest.approx(float(chemistry.ocv("lab", 0.3)), abs=0.01)


def test_a_log_at_the_cutoff_from_its_first_load_is_a_named_error_not_a_crash():
    from evpm.trips import TripError

    time_s = np.arange(0.0, 120.0, 10.0)
    table = pd.DataFrame({"time_s": time_s, "voltage_V": np.r_[4.1, np.full(11, 2.5)],
                          "current_A": np.r_[0.0, np.full(11, -2.0)]})
    with pytest.raises(TripError) as caught:
        features(table)
    assert caught.value.reason == "insufficient_data"


def test_soc_error_says_how_well_the_window_is_known():
    """Ends read at rest are known to the OCV table's accuracy; an end under load, where the
    overpotential the read cannot see is, less well; a logged SOC to a BMS's accuracy."""
    rested = features(cycler_log(rest_before_s=600, stop_soc=0.4, rest_after_s=1800))
    under_load = features(cycler_log(rest_before_s=600, stop_soc=0.4))
    assert rested["soc_error"] < under_load["soc_error"] < 0.5 * under_load["soc_window"]
    assert rested["soc_error"] < 0.05
    table = cycler_log(rest_before_s=600, stop_soc=0.4)
    logged = features(table.assign(soc=np.linspace(1.0, 0.4, len(table))))
    # A BMS's window is off by its capacity estimate's error (3 %) and its reporting step.
    assert logged["soc_error"] == pytest.approx(math.hypot(0.03 * logged["soc_window"],
                                                           math.sqrt(2) * 0.005))
