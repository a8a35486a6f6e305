"""Behavioural tests of the shipped models on twin sweeps (noise-free, one trip, one knob)."""

import numpy as np
import pytest

from evpm.features import extract
from evpm.profiles import get_profile
from evpm.trips import validate_trip
from evpm.twin import randomise
from evpm.twin.trip import TripSpec, simulate_trip

SOH_SWEEP = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6]
RF_SWEEP = [1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5]




def predict(predictor, spec: TripSpec):
    profile = get_profile(spec.profile)
    row = extract(validate_trip(simulate_trip(spec).table, profile))
    return predictor.predict([row], [profile])[0]


@pytest.mark.parametrize(("profile", "cycle", "repeats"), [
    ("renault-zoe-ze50", "wltc3", 2), ("nissan-leaf-30", "udds", 3),
    ("chevrolet-bolt", "hwfet", 3), ("tesla-model3-rwd", "us06", 2),
    ("lab-18650-2ah", "cc-2a", 1), ("lab-18650-2ah", "square-4a", 1)])
def test_lower_true_soh_never_predicts_higher_soh(predictor, profile, cycle, repeats):
    predicted = [predict(predictor, TripSpec(profile=profile, cycle=cycle, repeats=repeats,
                                             soh=soh, ambient_c=20.0)).predicted_soh
                 for soh in SOH_SWEEP]
    assert all(np.diff(predicted) <= 0), predicted
    assert predicted[0] - predicted[-1] > 0.25


@pytest.mark.parametrize(("profile", "seed"), [
    ("renault-zoe-ze50", 11), ("nissan-leaf-30", 12), ("chevrolet-bolt", 13),
    ("lab-18650-2ah", 14), ("lab-18650-2ah", 15)])
def test_lower_true_soh_never_predicts_higher_soh_on_randomised_cells(predictor, profile,
                                                                      seed):
    """The same sweep on a cell of the randomised twin: its own OCV curve, slow RC pair,
    hysteresis, surface lag, current sensor and (vehicles) BMS soc."""
    lab = profile.startswith("lab-")
    draw = randomise.draw_cell(seed, lab=lab)
    cell = dict(ocv_shape=draw.ocv_shape, slow_r_fraction=draw.slow_r_fraction,
                slow_tau_s=draw.slow_tau_s, hysteresis_v=draw.hysteresis_v,
                surface_lag=draw.surface_lag, surface_tau_s=draw.surface_tau_s,
                sensor_gain=draw.sensor_gain, sensor_offset_a=draw.sensor_offset_a)
    if not lab:
        cell.update(bms_capacity_error=draw.bms_capacity_error, bms_soc_step=draw.bms_soc_step)
    spec = dict(profile=profile, cycle="cc-2a" if lab else "udds", repeats=1 if lab else 3,
                ambient_c=20.0, **cell)
    predicted = [predict(predictor, TripSpec(**spec, soh=soh)).predicted_soh
                 for soh in SOH_SWEEP]
    assert all(np.diff(predicted) <= 0), predicted
    assert predicted[0] - predicted[-1] > 0.2


@pytest.mark.parametrize(("profile", "cycle"), [
    ("renault-zoe-ze50", "udds"), ("chevrolet-bolt", "us06"), ("tesla-model3-rwd", "wltc3"),
    ("lab-18650-2ah", "square-4a")])
def test_higher_resistance_never_predicts_higher_sop(predictor, profile, cycle):
    predicted = [predict(predictor, TripSpec(profile=profile, cycle=cycle, resistance_factor=f,
                                             ambient_c=25.0)).predicted_sop
                 for f in RF_SWEEP]
    assert all(np.diff(predicted) <= 0), predicted
    assert predicted[-1] < 0.6 * predicted[0]


def test_a_trip_ending_under_a_2c_load_and_the_same_after_a_rest_agree(predictor):
    """The same partial 2 C discharge logged to its last loaded sample, and with the rest that
    followed: consistent SoH, and the rested one (its end read at rest) the narrower."""
    spec = dict(profile="lab-18650-2ah", cycle="cc-4a", soh=0.9, stop_soc=0.4,
                rest_before_s=600, slow_r_fraction=0.5, surface_lag=0.06)
    loaded = predict(predictor, TripSpec(**spec))
    rested = predict(predictor, TripSpec(**spec, rest_after_s=3600))
    assert rested.soh_low <= loaded.predicted_soh <= rested.soh_high
    assert loaded.soh_low <= rested.predicted_soh <= loaded.soh_high
    assert rested.soh_high - rested.soh_low < loaded.soh_high - loaded.soh_low


def test_an_interval_widens_as_the_soc_window_shrinks(predictor):
    widths = []
    for stop in (0.2, 0.5, 0.8):  # from full to 20 %, 50 %, 80 %: windows 0.8, 0.5, 0.2
        p = predict(predictor, TripSpec(profile="lab-18650-2ah", cycle="cc-2a", soh=0.9,
                                        stop_soc=stop, rest_before_s=600, rest_after_s=1800))
        widths.append(p.soh_high - p.soh_low)
    assert widths[0] < widths[1] < widths[2], widths
