"""90 % intervals: how well a trip read capacity, the calibration on held-out trips."""

import numpy as np
import pytest

from evpm.uncertainty import (
    MEASURED_READ,
    NO_WINDOW_READ,
    REAL_CELL_MODEL_SIGMA,
    Z90,
    IntervalCalibration,
    calibrate,
    soh_interval,
    soh_read_error,
    sop_interval,
)


def columns(**values):
    return {name: np.array([value], dtype=float) for name, value in values.items()}


def test_the_read_error_is_the_windows_error_over_the_window():
    read = soh_read_error(columns(soc_window=0.5, soc_error=0.05), np.array([np.nan]))
    assert read == pytest.approx([0.1])
    # A narrower window read as well is a worse reading of capacity.
    narrow = soh_read_error(columns(soc_window=0.1, soc_error=0.05), np.array([np.nan]))
    assert narrow[0] > read[0]


def test_a_capacity_test_reads_to_its_measurement_and_no_window_reads_poorly():
    measured = soh_read_error(columns(soc_window=0.9, soc_error=0.2), np.array([0.95]))
    assert measured == pytest.approx([MEASURED_READ])
    # The reference design's 13 features: a depth of discharge, no soc_error.
    reference = soh_read_error(columns(dod=78.5), np.array([np.nan]))
    assert reference == pytest.approx([NO_WINDOW_READ])
    tiny = soh_read_error(columns(soc_window=0.01, soc_error=0.001), np.array([np.nan]))
    assert tiny == pytest.approx([NO_WINDOW_READ])


def test_a_discharge_to_the_cutoff_is_read_over_what_it_delivered():
    full = soh_read_error(columns(soc_window=0.95, soc_error=0.05, soc_start=1.0,
                                  discharge_capacity_ratio=0.9), np.array([np.nan]))
    half = soh_read_error(columns(soc_window=0.45, soc_error=0.05, soc_start=0.5,
                                  discharge_capacity_ratio=0.9), np.array([np.nan]))
    assert full == pytest.approx([0.05]) and half == pytest.approx([0.1])


def test_intervals_hold_the_prediction_and_never_go_below_zero():
    calibration = IntervalCalibration(soh_model_sigma=0.01)
    low, high = soh_interval(np.array([0.9, 0.05]), np.array([0.1, 1.0]), calibration)
    assert low[0] < 0.9 < high[0] and low[1] == 0.0
    half = Z90 * np.hypot(0.9 * 0.1, max(0.01, REAL_CELL_MODEL_SIGMA))
    assert high[0] - 0.9 == pytest.approx(half)
    sop_low, sop_high = sop_interval(np.array([1000.0, 1000.0]), np.array([True, False]),
                                     IntervalCalibration(sop_relative=0.05,
                                                         sop_relative_no_resistance=0.2))
    assert sop_low.tolist() == pytest.approx([950.0, 800.0])
    assert sop_high.tolist() == pytest.approx([1050.0, 1200.0])


def test_calibration_covers_ninety_percent_of_the_held_out_trips():
    rng = np.random.default_rng(0)
    label = rng.uniform(0.7, 1.0, 4000)
    soh = label + rng.normal(0.0, 0.02, 4000)  # a model error the reads do not explain
    read = np.full(4000, 0.001)
    sop_label = rng.uniform(0.5, 1.0, 4000)
    sop = sop_label * (1 + rng.normal(0.0, 0.03, 4000))
    calibration = calibrate(soh, label, read, sop, sop_label, np.ones(4000, dtype=bool))
    assert calibration.soh_model_sigma == pytest.approx(0.02, rel=0.1)
    error = np.abs(soh - label)
    bound = Z90 * np.hypot(soh * read, calibration.soh_model_sigma)
    assert np.mean(error <= bound) == pytest.approx(0.90, abs=0.01)
    assert calibration.sop_relative == pytest.approx(1.645 * 0.03, rel=0.1)


def test_a_card_from_before_intervals_gets_the_defaults():
    assert IntervalCalibration.from_card({}) == IntervalCalibration()
    assert IntervalCalibration.from_card({"intervals": {"soh_model_sigma": 0.02}}
                                         ).soh_model_sigma == 0.02


def test_a_vehicle_interval_combines_its_trips_but_keeps_the_model_error():
    from evpm.uncertainty import vehicle_interval

    low, high = vehicle_interval(0.9, [0.8, 0.8, None], [1.0, 1.0, None])
    one = (1.0 - 0.8) / 2
    # Two trips of ±0.1 each (their read and the shared model error in quadrature): the reads
    # average to 1/√2 of themselves, the shared error stays whole.
    shared = Z90 * REAL_CELL_MODEL_SIGMA
    read = np.sqrt(one**2 - shared**2)
    assert high - 0.9 == pytest.approx(np.hypot(read / np.sqrt(2), shared))
    assert one / np.sqrt(2) < high - 0.9 < one
    low, high = vehicle_interval(0.9, [0.85] * 1000, [0.95] * 1000)
    assert high - 0.9 == pytest.approx(shared, rel=0.05)  # however many trips
    low, high = vehicle_interval(0.9, [0.89], [0.91])  # a trip with no read error
    assert high - 0.9 == pytest.approx(shared)
    assert vehicle_interval(None, [0.8], [1.0]) == (None, None)
    assert vehicle_interval(0.9, [None], [None]) == (None, None)
