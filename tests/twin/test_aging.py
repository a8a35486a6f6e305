"""BLAST-Lite aging: fade over time, faster in heat and with harder use."""

import numpy as np
import pytest

from evpm.errors import UnknownChoiceError
from evpm.profiles import get_profile
from evpm.twin import aging


def run(profile="renault-zoe-ze50", climate="temperate", duty="urban", scalar=1.0, years=4):
    days = np.linspace(0, years * 365, 9)
    return aging.age_battery(
        get_profile(profile), aging.get_climate(climate), aging.get_duty(duty), days,
        start_age_days=0.0, degradation_scalar=scalar, kwh_per_km=0.15,
    )


def test_capacity_fades_and_resistance_grows_monotonically():
    soh, resistance = run()
    assert soh[0] == pytest.approx(1.0, abs=0.01)
    assert (np.diff(soh) <= 1e-9).all() and soh[-1] < 0.97
    assert (np.diff(resistance) >= -1e-9).all() and resistance[-1] > 1.02


def test_heat_and_harder_use_age_faster():
    mild, _ = run(climate="cold")
    hot, _ = run(climate="desert")
    harsh, _ = run(scalar=2.0)
    assert hot[-1] < mild[-1]
    assert harsh[-1] < run()[0][-1]


@pytest.mark.parametrize("profile", ["nissan-leaf-30", "tesla-model3-rwd", "lab-18650-2ah"])
def test_every_chemistry_ages(profile):
    soh, resistance = run(profile=profile, duty="lab" if profile.startswith("lab") else "mixed")
    assert 0.3 < soh[-1] < 1.0 and resistance[-1] > 1.0


def test_start_age_shifts_the_curve():
    profile, climate, duty = get_profile("chevrolet-bolt"), aging.get_climate("hot"), \
        aging.get_duty("highway")
    young, _ = aging.age_battery(profile, climate, duty, np.array([0.0]), start_age_days=0.0,
                                 degradation_scalar=1.0, kwh_per_km=0.15)
    old, _ = aging.age_battery(profile, climate, duty, np.array([0.0]), start_age_days=1500.0,
                               degradation_scalar=1.0, kwh_per_km=0.15)
    assert old[0] < young[0] - 0.02


def test_unknown_presets_name_the_choices():
    with pytest.raises(UnknownChoiceError, match="temperate"):
        aging.get_climate("arctic")
    with pytest.raises(UnknownChoiceError, match="urban"):
        aging.get_duty("racing")
