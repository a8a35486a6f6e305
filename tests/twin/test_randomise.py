"""The randomised twin: its draws stay in their documented ranges, leave a fleet without them
unchanged, and its BMS computes soc as a BMS does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evpm import chemistry
from evpm.twin import randomise
from evpm.twin.bms import bms_soc
from evpm.twin.fleet import FleetSpec, plan_fleet, simulate_fleet
from evpm.twin.trip import TripSpec, simulate_trip


def test_cell_draws_stay_in_their_ranges():
    draws = [randomise.draw_cell(seed) for seed in range(200)]
    assert all(abs(d.ocv_shape[0]) <= randomise.OCV_BEND_V[0] for d in draws)
    assert all(randomise.SLOW_TAU_S[0] <= d.slow_tau_s <= randomise.SLOW_TAU_S[1]
               for d in draws)
    assert all(randomise.SLOW_R_FRACTION[0] <= d.slow_r_fraction
               <= randomise.SLOW_R_FRACTION[1] for d in draws)
    # The BMS mostly believes the cell healthier than it is (its estimate lags the fade).
    assert np.mean([d.bms_capacity_error for d in draws]) > 0.005
    assert len({d.ocv_shape for d in draws}) == len(draws)  # every cell its own curve


def test_the_slow_time_constant_grows_with_age():
    assert randomise.aged_tau_s(100.0, 1.0) == 100.0
    assert randomise.aged_tau_s(100.0, 4.0) == pytest.approx(200.0)


def test_a_fleet_without_randomisation_draws_nothing():
    assert all(plan.draw is None and plan.ocv_shape == (0.0, 0.0)
               for plan in plan_fleet(FleetSpec(vehicles=4, trips=2, seed=4)))


def test_randomisation_changes_the_cells_not_their_aging(tmp_path):
    plain = simulate_fleet(FleetSpec(vehicles=2, trips=2, seed=4), tmp_path / "a", workers=1)
    varied = simulate_fleet(FleetSpec(vehicles=2, trips=2, seed=4, randomise=True),
                            tmp_path / "b", workers=1)
    # Its draws come from their own generators: the vehicles age and drive as before.
    assert [(r["true_soh"], r["cycle"], r["ambient_c"]) for r in plain] == \
        [(r["true_soh"], r["cycle"], r["ambient_c"]) for r in varied]
    first = pd.read_csv(tmp_path / "a" / plain[0]["file"])
    second = pd.read_csv(tmp_path / "b" / varied[0]["file"])
    assert not np.allclose(first["voltage_V"].iloc[:100], second["voltage_V"].iloc[:100])
    assert all(plan.draw is not None for plan in plan_fleet(
        FleetSpec(vehicles=3, trips=1, randomise=True)))


def test_the_bms_counts_charge_over_its_own_capacity():
    time_s = np.arange(0.0, 3601.0)
    current = np.full_like(time_s, -10.0)  # 10 Ah out of a 100 Ah pack it thinks is 110 Ah
    soc = bms_soc(time_s, current, 0.8, float(chemistry.ocv("nmc", 0.8)),
                  chemistry_name="nmc", capacity_ah=110.0, rest_corrected=True,
                  start_drift=0.0, stale_s=0.0, step=0.001)
    assert soc[0] == pytest.approx(0.8, abs=0.002)
    assert soc[0] - soc[-1] == pytest.approx(10.0 / 110.0, abs=0.002)


def test_the_bms_start_drifts_without_a_rest_and_may_be_stale():
    time_s = np.arange(0.0, 121.0)
    current = np.full_like(time_s, -36.0)
    soc = bms_soc(time_s, current, 0.7, 0.0, chemistry_name="nmc", capacity_ah=36.0,
                  rest_corrected=False, start_drift=0.03, stale_s=30.0, step=0.005)
    assert soc[0] == pytest.approx(0.73)
    assert np.all(soc[:30] == soc[0])  # the stored value, reported after wake-up
    assert soc[31] < soc[0]
    assert np.allclose(soc / 0.005, np.round(soc / 0.005))  # in its steps


def test_a_randomised_trip_logs_the_bms_soc_and_may_end_parked():
    base = dict(profile="renault-zoe-ze50", cycle="udds", soh=0.9, noise=False)
    true = simulate_trip(TripSpec(**base))
    bms = simulate_trip(TripSpec(**base, bms_capacity_error=0.05, bms_soc_step=0.005,
                                 rest_after_s=300.0))
    true_drop = true.table["soc"].iloc[0] - true.table["soc"].iloc[-1]
    bms_drop = bms.table["soc"].iloc[0] - bms.table["soc"].iloc[-1]
    assert bms_drop == pytest.approx(true_drop / 1.05, abs=0.006)
    assert (bms.table["current_A"].iloc[-300:] == 0).all()  # parked: no current
    assert len(bms.table) == len(true.table) + 300
