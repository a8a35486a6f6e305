"""Vehicle/pack profiles and the fleet registry."""

import pytest

from evpm import chemistry
from evpm.errors import EvpmError, UnknownChoiceError
from evpm.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    check_vehicle_id,
    get_profile,
    profile_for_vehicle,
    read_registry,
    update_registry,
)
from evpm.twin.pack import AgingState, true_sop_w


def test_required_profiles_exist_with_their_pack_layout():
    for name in ["renault-zoe-ze50", "nissan-leaf-30", "chevrolet-bolt", "tesla-model3-rwd"]:
        profile = get_profile(name)
        assert profile.fastsim_vehicle and profile.series >= 90 and profile.parallel >= 1
        assert profile.cell_v_min < profile.cell_v_max
    lab = get_profile("lab-18650-2ah")
    assert (lab.series, lab.parallel, lab.cell_capacity_ah) == (1, 1, 2.0)
    assert (lab.cell_v_max, lab.cell_v_min) == (4.2, 2.7)
    assert DEFAULT_PROFILE == "renault-zoe-ze50"


@pytest.mark.parametrize("name", list(PROFILES))
def test_new_pack_sop_equals_its_rated_peak_power(name):
    profile = PROFILES[name]
    assert true_sop_w(profile, AgingState()) == pytest.approx(profile.rated_peak_power_w, rel=1e-3)


def test_pack_energy_matches_the_vehicle_class():
    # Rated energies of the real packs (kWh, gross), within 10 %.
    expected = {"renault-zoe-ze50": 54.7, "nissan-leaf-30": 30.0, "chevrolet-bolt": 66.0,
                "tesla-model3-rwd": 54.0}
    for name, kwh in expected.items():
        assert get_profile(name).nominal_energy_kwh == pytest.approx(kwh, rel=0.10)


def test_unknown_profile_names_the_choices():
    with pytest.raises(UnknownChoiceError, match="renault-zoe-ze50"):
        get_profile("tesla-roadster")


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "V 1", "x\n", "-lead", "é", "A" * 65])
def test_unsafe_vehicle_ids_are_rejected(bad):
    with pytest.raises(EvpmError):
        check_vehicle_id(bad)


def test_registry_round_trip_and_default_for_unknown(tmp_path):
    path = tmp_path / "fleet_registry.csv"
    assert read_registry(path) == {}
    update_registry(path, {"EV1": "nissan-leaf-30", "CELL1": "lab-18650-2ah"})
    update_registry(path, {"EV2": "chevrolet-bolt"})
    registry = read_registry(path)
    assert registry == {"EV1": "nissan-leaf-30", "CELL1": "lab-18650-2ah", "EV2": "chevrolet-bolt"}
    assert profile_for_vehicle("EV1", registry).name == "nissan-leaf-30"
    assert profile_for_vehicle("UNKNOWN", registry).name == DEFAULT_PROFILE


def test_ocv_curves_are_monotonic_and_invertible():
    for name, table in chemistry.OCV_TABLES.items():
        assert (table[1:] > table[:-1]).all(), name
        assert chemistry.soc_from_ocv(name, chemistry.ocv(name, 0.37)) == pytest.approx(0.37)


def test_a_bad_registry_edit_keeps_the_last_good_one(tmp_path, caplog):
    import os

    from evpm.profiles import RegistryCache

    path = tmp_path / "fleet_registry.csv"
    path.write_text("vehicle_id,profile\nEV1,nissan-leaf-30\n")
    cache = RegistryCache(path)
    assert cache.current() == {"EV1": "nissan-leaf-30"}
    path.write_text("vehicle_id,profile\nEV1,nissan-leaf-30\nEV2,no-such-car\n")
    os.utime(path, (1, 1))  # a different modification time: re-read
    assert cache.current() == {"EV1": "nissan-leaf-30"}
    assert "not loaded" in caplog.text and "no-such-car" in caplog.text
