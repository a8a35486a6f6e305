"""The twin's cycler tests: rests, partial starts, set-charge stops, drawn cells, slow RC."""

import numpy as np
import pytest

from evpm.twin import pack
from evpm.twin.fleet import FleetSpec, plan_fleet
from evpm.twin.trip import TripSpec, cell_profile, simulate_trip

LAB = "lab-18650-2ah"


def test_a_rest_after_the_cutoff_is_logged_and_relaxes_upwards():
    result = simulate_trip(TripSpec(profile=LAB, cycle="cc-2a", rest_after_s=600.0))
    table = result.table
    resting = table[table["current_A"] == 0.0]
    assert resting["time_s"].iloc[-1] - resting["time_s"].iloc[1] >= 590.0
    assert table["voltage_V"].iloc[-1] > table["voltage_V"].min() + 0.1  # relaxed
    assert result.truth["reached_cutoff"]
    # The cut-off sample itself is logged even between the cycler's 10-s samples.
    assert table["voltage_V"].min() == pytest.approx(2.7, abs=0.01)


def test_a_part_charged_start_after_a_soak():
    result = simulate_trip(TripSpec(profile=LAB, cycle="cc-1a", soc0=0.5, rest_before_s=900.0))
    table = result.table
    assert (table[table["time_s"] <= 900.0]["current_A"] == 0.0).all()
    assert result.truth["soc_start"] == pytest.approx(0.5)
    assert result.truth["discharge_capacity_ah"] < 0.55 * 2.0


def test_a_drive_test_on_a_cell_ends_on_charge_without_a_soc_column():
    result = simulate_trip(TripSpec(profile=LAB, cycle="udds", repeats=50, stop_soc=0.4,
                                    drive_power_scale=3.0, rest_after_s=300.0))
    assert "soc" not in result.table and "speed_mps" not in result.table
    assert result.truth["soc_end"] == pytest.approx(0.4, abs=0.01)
    assert not result.truth["reached_cutoff"] and result.truth["discharge_capacity_ah"] is None


def test_the_random_walk_steps_every_two_minutes():
    result = simulate_trip(TripSpec(profile=LAB, cycle="random-walk", seed=3))
    current = -result.table["current_A"].to_numpy()[1:-1]
    assert current.min() >= 0.0 and current.max() <= 4.6 + 0.05
    assert len(np.unique(np.round(current, 3))) > 10


def test_a_drawn_cell_is_simulated_and_read_with_its_own_rating():
    spec = TripSpec(profile=LAB, cycle="cc-2a", cell_ah=3.0, cell_v_min=2.5, chemistry="nca")
    profile = cell_profile(spec)
    assert (profile.cell_capacity_ah, profile.cell_v_min, profile.chemistry) == (3.0, 2.5, "nca")
    result = simulate_trip(spec)
    assert result.truth["discharge_capacity_ah"] == pytest.approx(3.0, rel=0.1)
    assert result.table["voltage_V"].min() == pytest.approx(2.5, abs=0.01)


def test_lab_cells_of_a_fleet_draw_different_ratings():
    plans = plan_fleet(FleetSpec(vehicles=12, trips=2, profiles=(LAB,), seed=5))
    assert len({p.cell_ah for p in plans}) == 12
    assert {p.chemistry for p in plans} <= {"lab", "nmc", "nca"}
    assert all(0.3 <= p.resistance_scale <= 1.5 for p in plans)


def test_a_slow_rc_pair_lowers_the_1c_capacity_against_c20():
    profile = cell_profile(TripSpec(profile=LAB))
    aging = pack.AgingState()

    def delivered(c_rate, slow):
        time_s = np.arange(0.0, 21 * 3600.0 / (20 * c_rate), 10.0)
        current = np.full_like(time_s, c_rate * 2.0)
        current[0] = 0.0
        trace = pack.simulate(profile, aging, time_s, current, mode="current", soc0=1.0,
                              ambient_c=25.0, stop_at_cutoff=True, slow_r_fraction=slow)
        return np.trapz(-trace.current_a, trace.time_s) / 3600.0

    gap_plain = delivered(1.0, 0.0) / delivered(0.05, 0.0)
    gap_slow = delivered(1.0, 3.0) / delivered(0.05, 3.0)
    assert gap_slow < gap_plain - 0.01


def _discharge(c_rate, ambient_c=25.0, rest_after_s=0.0, **cell):
    profile = cell_profile(TripSpec(profile=LAB, cell_ah=2.6, cell_v_min=2.5, chemistry="nmc"))
    time_s = np.arange(0.0, 1.3 * 3600.0 / c_rate + rest_after_s, 10.0)
    current = np.full_like(time_s, c_rate * 2.6)
    current[0] = 0.0
    return pack.simulate(profile, pack.AgingState(), time_s, current, mode="current", soc0=1.0,
                         ambient_c=ambient_c, stop_at_cutoff=True, rest_after_s=rest_after_s,
                         **cell)


def _ah(trace):
    return np.trapz(-trace.current_a, trace.time_s) / 3600.0


def test_a_surface_lag_gives_a_real_cells_rate_dependent_capacity():
    # DMEGC INR18650 (real-drive-cycles): C/20 delivers 9 % more than 1 C, 0.5 C 2 % more.
    lagging = {"surface_lag": 0.1, "surface_tau_s": 600.0}
    at_1c = _ah(_discharge(1.0, **lagging))
    assert _ah(_discharge(0.05, **lagging)) / at_1c == pytest.approx(1.08, abs=0.02)
    assert _ah(_discharge(0.5, **lagging)) / at_1c == pytest.approx(1.02, abs=0.01)
    plain = _ah(_discharge(0.05)) / _ah(_discharge(1.0))
    assert plain < 1.05  # without the lag the gap is the resistance's alone


def test_after_a_deep_discharge_the_lag_relaxes_for_many_minutes():
    trace = _discharge(1.0, rest_after_s=3600.0, surface_lag=0.1, surface_tau_s=600.0)
    at = trace.stop_index
    volts = trace.voltage_v
    recovered = [volts[at + n] - volts[at] for n in (30, 180, 359)]  # 5, 30, 60 min
    assert recovered[0] > 0.3 and recovered[1] > recovered[0] + 0.03
    assert recovered[2] > recovered[1]


def test_the_lag_relaxes_more_slowly_in_the_cold():
    def recovery(ambient_c):
        trace = _discharge(0.5, ambient_c=ambient_c, rest_after_s=1800.0, surface_lag=0.1,
                           surface_tau_s=600.0)
        volts = trace.voltage_v
        return (volts[-1] - volts[trace.stop_index + 30]) / (volts[-1] - volts[trace.stop_index])

    # The share of the recovery still to come after 5 minutes is larger at 0 °C.
    assert recovery(0.0) > recovery(25.0)



def test_a_lagging_cells_slow_test_delivers_more_than_its_standard_capacity():
    plain = simulate_trip(TripSpec(profile=LAB, cycle="cc-0.4a")).truth
    lagging = simulate_trip(TripSpec(profile=LAB, cycle="cc-0.4a", surface_lag=0.1)).truth
    # The label (1 C at 25 °C) drops with the lag; a 0.2 C test still gets most of the charge.
    assert lagging["standard_capacity_ah"] < plain["standard_capacity_ah"] - 0.05
    assert lagging["discharge_capacity_ah"] > lagging["standard_capacity_ah"] * 1.03


def test_an_ocv_bend_moves_the_middle_of_the_curve_not_its_ends():
    def rest_voltage(soc0, shape):
        profile = cell_profile(TripSpec(profile=LAB))
        time_s = np.arange(0.0, 20.0, 10.0)
        trace = pack.simulate(profile, pack.AgingState(), time_s, np.zeros_like(time_s),
                              mode="current", soc0=soc0, ambient_c=25.0, ocv_shape=shape)
        return trace.voltage_v[-1]

    # The DMEGC cells rest ~70 mV below the NMC table at half charge (their C/20 curve).
    assert rest_voltage(0.5, (-0.07, 0.0)) == pytest.approx(rest_voltage(0.5, (0.0, 0.0)) - 0.07)
    assert rest_voltage(1.0, (-0.07, 0.03)) == pytest.approx(rest_voltage(1.0, (0.0, 0.0)))
    # Less voltage above the cut-off at half charge: less power in the SoP truth too.
    profile, aging = cell_profile(TripSpec(profile=LAB)), pack.AgingState()
    assert pack.true_sop_w(profile, aging, ocv_shape=(-0.07, 0.0)) < pack.true_sop_w(profile, aging)


def test_a_pulse_test_rests_twenty_minutes_between_its_ten_minute_pulses():
    result = simulate_trip(TripSpec(profile=LAB, cycle="pulse-2a", stop_soc=0.2,
                                    rest_after_s=1200.0))
    table = result.table
    loaded = table[table["current_A"] < -1.9]["time_s"].to_numpy()
    pulse_starts = loaded[np.r_[True, np.diff(loaded) > 60.0]]
    assert np.allclose(np.diff(pulse_starts)[:3], 1800.0, atol=20.0)
    # It stops on charge, at rest: no cut-off, the last voltage a relaxed one.
    assert result.truth["soc_end"] == pytest.approx(0.2, abs=0.01)
    assert not result.truth["reached_cutoff"] and table["current_A"].iloc[-1] == 0.0


def _rest_after(soc0, soc_stop, hysteresis_v, hysteresis0=1.0):
    """Relaxed cell voltage after discharging at 0.5 C from `soc0` to `soc_stop`, 1 h rest."""
    profile = cell_profile(TripSpec(profile=LAB))
    time_s = np.arange(0.0, 3.0 * 3600.0, 10.0)
    current = np.full_like(time_s, 0.5 * profile.cell_capacity_ah)
    current[0] = 0.0
    trace = pack.simulate(profile, pack.AgingState(), time_s, current, mode="current",
                          soc0=soc0, ambient_c=25.0, stop_soc=soc_stop, rest_after_s=3600.0,
                          hysteresis_v=hysteresis_v, hysteresis0=hysteresis0)
    return trace.voltage_v[0], trace.voltage_v[-1], trace.soc[-1]


def test_after_a_discharge_a_cell_rests_on_its_lower_branch():
    start, plain, soc = _rest_after(1.0, 0.5, 0.0)
    start_h, low, soc_h = _rest_after(1.0, 0.5, 0.02)
    assert start_h == pytest.approx(start)  # a charged cell sits on its table at the top
    assert soc_h == pytest.approx(soc)
    assert low == pytest.approx(plain - 0.02, abs=0.002)
    # Near empty the gap is wider (× up to 3 at 0 %).
    _, plain_low, _ = _rest_after(1.0, 0.08, 0.0)
    _, low_low, _ = _rest_after(1.0, 0.08, 0.02)
    assert plain_low - low_low == pytest.approx(0.02 * (1 + 2 * 0.6), abs=0.004)


def test_the_branch_flips_within_a_few_percent_of_discharge():
    # A cell last charged starts on its upper branch; 5 % of discharge takes it to the lower one.
    start, end, _ = _rest_after(0.6, 0.55, 0.02, hysteresis0=1.0)
    assert start == pytest.approx(_rest_after(0.6, 0.55, 0.0)[0] + 0.02)
    assert end < _rest_after(0.6, 0.55, 0.0)[1] - 0.015


def test_lab_cells_draw_a_hysteresis_and_road_vehicles_none():
    plans = plan_fleet(FleetSpec(vehicles=12, trips=2, profiles=(LAB, "nissan-leaf-30"), seed=5))
    lab = [p for p in plans if p.profile == LAB]
    assert lab and all(0.005 <= p.hysteresis_v <= 0.03 for p in lab)
    assert len({p.hysteresis_v for p in lab}) == len(lab)
    assert all(p.hysteresis_v == 0.0 for p in plans if p.profile != LAB)


def test_lab_cells_draw_their_rate_capability_and_road_vehicles_none():
    from evpm.twin.fleet import LAB_SURFACE_LAG, LAB_SURFACE_TAU_S

    plans = plan_fleet(FleetSpec(vehicles=40, trips=2, profiles=(LAB, "nissan-leaf-30"), seed=5))
    lab = [p for p in plans if p.profile == LAB]
    assert all(LAB_SURFACE_LAG[0] <= p.surface_lag <= LAB_SURFACE_LAG[1] for p in lab)
    assert all(LAB_SURFACE_TAU_S[0] <= p.surface_tau_s <= LAB_SURFACE_TAU_S[1] for p in lab)
    # Cells with next to none and cells losing ~8 % at 1 C, as real ones do, are both drawn.
    lags = [p.surface_lag for p in lab]
    assert min(lags) < 0.03 and max(lags) > 0.09
    assert all(p.surface_lag == 0.0 for p in plans if p.profile != LAB)


def test_a_hysteresis_outside_what_cells_show_is_refused():
    from evpm.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="hysteresis"):
        TripSpec(profile=LAB, hysteresis_v=-0.01)
