"""The health signal in the twin's own output: capacity, voltage sag, heat."""

import numpy as np
import pytest

from evpm.errors import InvalidValueError
from evpm.profiles import get_profile
from evpm.twin import pack
from evpm.twin.trip import TripSpec, simulate_trip


def ah_per_soc(result) -> float:
    """Charge out of the pack per unit of SOC, counted from the trip table itself."""
    table = result.table
    charge_ah = -np.sum(table["current_A"].to_numpy()[1:] * np.diff(table["time_s"])) / 3600.0
    return charge_ah / (table["soc"].iloc[0] - table["soc"].iloc[-1])


@pytest.mark.parametrize("profile", ["renault-zoe-ze50", "tesla-model3-rwd"])
def test_lower_soh_gives_fewer_ah_per_unit_of_soc(profile):
    new = simulate_trip(TripSpec(profile=profile, cycle="wltc3", soh=1.0))
    worn = simulate_trip(TripSpec(profile=profile, cycle="wltc3", soh=0.75))
    rated_ah = get_profile(profile).pack_capacity_ah
    assert ah_per_soc(new) == pytest.approx(rated_ah, rel=0.01)
    assert ah_per_soc(worn) == pytest.approx(0.75 * rated_ah, rel=0.01)


def test_higher_resistance_gives_deeper_sag_at_the_same_current():
    runs = {}
    for factor in (1.0, 1.5, 2.0):
        result = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle="cc-2a",
                                        resistance_factor=factor))
        table = result.table
        # The first loaded sample: same current, same SOC, only resistance differs.
        loaded = table[table["current_A"] < 0].iloc[0]
        runs[factor] = (table["voltage_V"].iloc[0] - loaded["voltage_V"], loaded["current_A"])
    sags = [runs[f][0] for f in (1.0, 1.5, 2.0)]
    assert runs[1.0][1] == runs[2.0][1]
    assert sags[0] < sags[1] < sags[2]
    assert sags[2] / sags[0] == pytest.approx(2.0, rel=0.05)


def test_worn_battery_runs_hotter_on_the_same_trip():
    new = simulate_trip(TripSpec(profile="nissan-leaf-30", cycle="us06", ambient_c=20.0))
    worn = simulate_trip(TripSpec(profile="nissan-leaf-30", cycle="us06", ambient_c=20.0,
                                  resistance_factor=2.0))
    assert worn.trace.temperature_c.max() > new.trace.temperature_c.max() + 0.5


@pytest.mark.parametrize("cycle", ["cc-1a", "cc-2a", "cc-4a", "square-4a"])
def test_lab_cell_discharges_to_its_cutoff(cycle):
    result = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle=cycle, ambient_c=24.0))
    table = result.table
    assert result.truth["reached_cutoff"]
    assert table["voltage_V"].iloc[-1] == pytest.approx(2.7, abs=1e-6)
    assert table["voltage_V"].iloc[0] == pytest.approx(4.19, abs=0.01)
    assert "soc" not in table  # lab files carry no SOC, like the NASA cycler logs
    # A new cell delivers most of its 2.0 Ah before the cut-off, less at higher current.
    charge = -np.sum(table["current_A"].to_numpy()[1:] * np.diff(table["time_s"])) / 3600.0
    assert 1.7 < charge <= 2.0


def test_capacity_to_cutoff_scales_with_soh():
    charges = []
    for soh in (1.0, 0.8):
        table = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle="cc-1a", soh=soh)).table
        charges.append(-np.sum(table["current_A"].to_numpy()[1:] * np.diff(table["time_s"])))
    assert charges[1] / charges[0] == pytest.approx(0.8, abs=0.01)


def test_sop_falls_as_resistance_grows():
    profile = get_profile("chevrolet-bolt")
    sops = [pack.true_sop_w(profile, pack.AgingState(1.0, f)) for f in (1.0, 1.2, 1.5, 3.0)]
    assert sops == sorted(sops, reverse=True)
    assert sops[-1] == pytest.approx(sops[0] / 3.0)


@pytest.mark.parametrize("soh", [0.0, -0.1, 1.21, float("nan")])
def test_soh_outside_range_is_rejected(soh):
    with pytest.raises(InvalidValueError, match="SoH"):
        pack.AgingState(soh=soh)


def test_cold_raises_resistance_and_sag():
    warm = simulate_trip(TripSpec(profile="renault-zoe-ze50", cycle="us06", ambient_c=25.0))
    cold = simulate_trip(TripSpec(profile="renault-zoe-ze50", cycle="us06", ambient_c=-10.0))
    assert cold.trace.voltage_v.min() < warm.trace.voltage_v.min()
