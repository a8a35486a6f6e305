"""Vehicle/pack profiles (built-in and user-defined, as data) and the fleet registry."""

import json
import logging
import os
import subprocess
import sys

import pytest

from evpm import chemistry
from evpm import profiles as profiles_module
from evpm.errors import EvpmError, InvalidValueError, UnknownChoiceError
from evpm.profiles import (
    DEFAULT_PROFILE,
    LAB_PROFILE,
    PROFILES,
    ProfileCatalog,
    RegistryCache,
    add_user_profile,
    all_profiles,
    builtin_profiles,
    check_vehicle_id,
    find_profile,
    get_profile,
    is_profile,
    make_profile,
    profile_for_vehicle,
    read_registry,
    read_user_profiles,
    remove_user_profile,
    typical_pulse_resistance_ohm_ah,
    update_registry,
)
from evpm.twin.pack import AgingState, true_sop_w
from tests.conftest import REPO


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


# --- profiles as data -------------------------------------------------------------------------

# The built-ins as they were defined in code before they became data: the trained models
# and the twin depend on every one of these values.
BUILTINS = {
    "renault-zoe-ze50": ("2022 Renault Zoe ZE50 R135", "2022_Renault_Zoe_ZE50_R135.yaml", 96, 2,
                         78.0, 3.0, 4.2, "nmc", 110_000.0, 1050.0, 0.20,
                         "Nmc622_Gr_DENSO50Ah_Battery", "Nmc111_Gr_Sanyo2Ah_Battery", "road"),
    "nissan-leaf-30": ("2016 Nissan Leaf 30 kWh", "2016 Nissan Leaf 30 kWh thrml.yaml", 96, 2,
                       41.0, 3.0, 4.2, "lmo-nmc", 86_000.0, 460.0, 0.14,
                       "Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery", "Nmc111_Gr_Sanyo2Ah_Battery",
                       "road"),
    "chevrolet-bolt": ("2020 Chevrolet Bolt EV", "2020 Chevrolet Bolt EV thrml.yaml", 96, 3,
                       63.0, 3.0, 4.2, "nmc", 165_000.0, 850.0, 0.20,
                       "Nmc622_Gr_DENSO50Ah_Battery", "Nmc111_Gr_Sanyo2Ah_Battery", "road"),
    "tesla-model3-rwd": ("2022 Tesla Model 3 RWD (LFP)", "2022 Tesla Model 3 RWD thrml.yaml",
                         106, 1, 161.5, 2.5, 3.65, "lfp", 201_000.0, 3100.0, 0.45,
                         "Lfp_Gr_250AhPrismatic", "Lfp_Gr_SonyMurata3Ah_Battery", "road"),
    "lab-18650-2ah": ("18650 lab cell, 2.0 Ah (NASA PCoE type)", None, 1, 1, 2.0, 2.7, 4.2,
                      "lab", 27.0, 45.0, 0.045, "Nmc111_Gr_Sanyo2Ah_Battery",
                      "Nmc111_Gr_Sanyo2Ah_Battery", "lab"),
}
FIELDS = ("label", "fastsim_vehicle", "series", "parallel", "cell_capacity_ah", "cell_v_min",
          "cell_v_max", "chemistry", "rated_peak_power_w", "cell_thermal_mass_j_per_k",
          "cell_cooling_w_per_k", "aging_capacity_model", "aging_resistance_model", "kind")
BMW = dict(chemistry_name="nmc", cell_ah=60.0, series=96, parallel=1, v_min=2.5, v_max=4.2)


def test_builtins_are_unchanged_data():
    assert list(PROFILES) == list(BUILTINS)
    for name, values in BUILTINS.items():
        profile = PROFILES[name]
        assert tuple(getattr(profile, f) for f in FIELDS) == values, name
        assert (profile.r1_fraction, profile.tau1_s, profile.source) == (0.5, 30.0, "builtin")
        assert profile.rated_power_source == "given"
    vehicles = profiles_module.VEHICLE_PROFILES  # computed on first use
    assert vehicles == list(BUILTINS)[:4]
    assert LAB_PROFILE == "lab-18650-2ah" and PROFILES[LAB_PROFILE].kind == "lab"
    # The rated pulse resistance the features divide by: unchanged to the last digit.
    assert PROFILES["renault-zoe-ze50"].cell_r0_ohm == pytest.approx(0.003302153286042376,
                                                                     rel=1e-12)


def test_builtins_ship_as_package_data_and_load_lazily():
    assert (REPO / "evpm" / profiles_module.BUILTIN_FILE).is_file()
    assert profiles_module.BUILTIN_FILE in (REPO / "pyproject.toml").read_text()
    code = ("import evpm.profiles as p; "
            "print(p.builtin_profiles.cache_info().currsize, p.PROFILES['lab-18650-2ah'].kind)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["0", "lab"]  # nothing read at import; read on first use


def test_user_profile_defaults_and_derived_rated_power():
    typical = make_profile("bmw-i3-60ah", **BMW)
    assert (typical.source, typical.kind, typical.fastsim_vehicle) == ("user", "road", None)
    assert typical.rated_power_source == "typical"
    # Typical: R_10s × Ah is the built-ins' median (the Leaf's, 0.217 Ω·Ah).
    assert typical_pulse_resistance_ohm_ah() == pytest.approx(0.2169, abs=1e-4)
    assert typical.rated_pulse_resistance_ohm * 60.0 == pytest.approx(
        typical_pulse_resistance_ohm_ah(), rel=1e-4)
    assert typical.rated_peak_power_w == pytest.approx(80_982, rel=1e-3)
    # From a resistance: the profile's own rule inverted, so its R0 is the one given.
    from_r = make_profile("bmw-i3-60ah", **BMW, cell_r_mohm=2.0)
    assert from_r.rated_power_source == "from resistance"
    assert from_r.cell_r0_ohm == pytest.approx(0.002, rel=1e-5)
    given = make_profile("bmw-i3-60ah", **BMW, rated_power_kw=125, cell_r_mohm=2.0)
    assert (given.rated_peak_power_w, given.rated_power_source) == (125_000.0, "given")
    # Twin-only fields: thermal mass 13.5 J/K per Ah, a 4250-s time constant, the aging models
    # of the built-ins of the same chemistry.
    assert typical.cell_thermal_mass_j_per_k == pytest.approx(810.0)
    assert typical.cell_cooling_w_per_k == pytest.approx(810.0 / 4250.0)
    assert typical.aging_capacity_model == PROFILES["renault-zoe-ze50"].aging_capacity_model
    lfp = make_profile("lfp-pack", chemistry_name="lfp", cell_ah=100, series=100, parallel=1,
                       v_min=2.5, v_max=3.65, kind="lab", label="An LFP test pack")
    assert lfp.aging_capacity_model == "Lfp_Gr_250AhPrismatic"
    assert (lfp.kind, lfp.label) == ("lab", "An LFP test pack")
    assert typical.label == "bmw-i3-60ah (96s1p, 60 Ah nmc)"


BAD = [
    ({"name": "BMW-i3"}, "profile name"), ({"name": "bmw_i3"}, "profile name"),
    ({"name": "-bmw"}, "profile name"), ({"name": "bmw--i3"}, "profile name"),
    ({"name": ""}, "profile name"), ({"name": "a" * 65}, "profile name"),
    ({"name": "renault-zoe-ze50"}, "built in"),
    ({"chemistry_name": "unobtainium"}, "unknown chemistry"),
    ({"series": 0}, "series"), ({"series": -96}, "series"), ({"series": 1.5}, "series"),
    ({"series": True}, "series"), ({"parallel": 0}, "parallel"), ({"parallel": 1001}, "parallel"),
    ({"cell_ah": 0}, "cell capacity"), ({"cell_ah": -60}, "cell capacity"),
    ({"cell_ah": 2001}, "cell capacity"), ({"cell_ah": float("nan")}, "finite"),
    ({"v_min": 1.4}, "voltage limits"), ({"v_max": 5.1}, "voltage limits"),
    ({"v_min": 4.2, "v_max": 4.2}, "voltage limits"), ({"v_min": 4.2, "v_max": 2.5}, "voltage"),
    ({"v_min": 3.8}, "open-circuit voltage at 50 %"),
    ({"rated_power_kw": 0}, "rated power"), ({"rated_power_kw": -5}, "rated power"),
    ({"cell_r_mohm": 0}, "cell resistance"), ({"cell_r_mohm": -1}, "cell resistance"),
    ({"kind": "sea"}, "unknown kind"), ({"label": "two\nlines"}, "label"),
    ({"label": ""}, "label"),
]


@pytest.mark.parametrize(("change", "text"), BAD)
def test_every_invalid_value_is_a_one_line_error(change, text):
    arguments = {"name": "bmw-i3-60ah", **BMW} | change
    with pytest.raises(EvpmError, match=text) as caught:
        make_profile(arguments.pop("name"), **arguments)
    assert "\n" not in str(caught.value)


def test_a_new_chemistry_family_is_valid_at_once(monkeypatch):
    # Families are read when a profile is checked, not when the module is imported.
    monkeypatch.setitem(chemistry.OCV_TABLES, "nca", chemistry.OCV_TABLES["nmc"])
    assert make_profile("nca-pack", **(BMW | {"chemistry_name": "nca"})).chemistry == "nca"


def test_add_show_list_remove_a_user_profile(profiles_file, tmp_path):
    assert all_profiles() == dict(builtin_profiles()) and not is_profile("bmw-i3-60ah")
    added = add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **BMW))
    assert get_profile("bmw-i3-60ah") == added and find_profile("bmw-i3-60ah") == added
    assert is_profile("bmw-i3-60ah") and list(all_profiles())[-1] == "bmw-i3-60ah"
    assert read_user_profiles(profiles_file) == {"bmw-i3-60ah": added}
    stored = json.loads(profiles_file.read_text())["profiles"]
    assert stored[0]["series"] == 96 and stored[0]["rated_power_source"] == "typical"
    assert oct(profiles_file.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(InvalidValueError, match="--replace"):
        add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **BMW))
    bigger = make_profile("bmw-i3-60ah", **(BMW | {"parallel": 2}))
    assert add_user_profile(profiles_file, bigger, replace=True).parallel == 2
    assert get_profile("bmw-i3-60ah").pack_capacity_ah == 120.0
    with pytest.raises(InvalidValueError, match="built in"):
        remove_user_profile(profiles_file, "renault-zoe-ze50")
    with pytest.raises(UnknownChoiceError, match="bmw-i3-60ah"):
        remove_user_profile(profiles_file, "nope")
    registry = tmp_path / "fleet_registry.csv"
    update_registry(registry, {"I3A": "bmw-i3-60ah", "I3B": "bmw-i3-60ah", "Z1": DEFAULT_PROFILE})
    with pytest.raises(InvalidValueError, match=r"still used by 2 vehicle\(s\).*I3A, I3B"):
        remove_user_profile(profiles_file, "bmw-i3-60ah", registry)
    update_registry(registry, {"I3A": DEFAULT_PROFILE, "I3B": DEFAULT_PROFILE})
    assert remove_user_profile(profiles_file, "bmw-i3-60ah", registry).name == "bmw-i3-60ah"
    assert not is_profile("bmw-i3-60ah")
    with pytest.raises(UnknownChoiceError):
        get_profile("bmw-i3-60ah")


def test_the_registry_takes_user_profiles(profiles_file, tmp_path):
    registry = tmp_path / "fleet_registry.csv"
    with pytest.raises(UnknownChoiceError):
        update_registry(registry, {"I3": "bmw-i3-60ah"})
    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **BMW))
    assert update_registry(registry, {"I3": "bmw-i3-60ah"}) == {"I3": "bmw-i3-60ah"}
    assert read_registry(registry) == {"I3": "bmw-i3-60ah"}
    assert profile_for_vehicle("I3", read_registry(registry)).cell_capacity_ah == 60.0


def _write_by_hand(path, entries) -> None:
    """As an operator's editor or another process would: no cache invalidated here."""
    tmp = path.with_name("edit.tmp")
    tmp.write_text(json.dumps({"profiles": entries}))
    os.replace(tmp, path)


ENTRY = {"name": "bmw-i3-60ah", "chemistry": "nmc", "series": 96, "parallel": 1,
         "cell_capacity_ah": 60.0, "cell_v_min": 2.5, "cell_v_max": 4.2,
         "rated_peak_power_w": 125_000.0}


def test_a_changed_file_is_read_again_without_a_restart(profiles_file):
    catalog = ProfileCatalog(profiles_file)
    assert "bmw-i3-60ah" not in catalog.current()
    _write_by_hand(profiles_file, [ENTRY])
    assert catalog.current()["bmw-i3-60ah"].rated_peak_power_w == 125_000.0
    _write_by_hand(profiles_file, [ENTRY | {"rated_peak_power_w": 130_000.0}])
    assert catalog.current()["bmw-i3-60ah"].rated_peak_power_w == 130_000.0
    # The module-level look-ups (what the services call) see edits as well.
    _write_by_hand(profiles_file, [ENTRY | {"name": "kia-niro-64"}])
    assert is_profile("kia-niro-64") and not is_profile("bmw-i3-60ah")
    profiles_file.unlink()
    assert set(catalog.current()) == set(PROFILES)


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "not valid JSON"),
    ('{"profile": []}', '"profiles" list'),
    (json.dumps({"profiles": [ENTRY | {"series": 0}]}), "series"),
    (json.dumps({"profiles": [ENTRY | {"name": "renault-zoe-ze50"}]}), "built in"),
    (json.dumps({"profiles": [ENTRY, ENTRY]}), "appears twice"),
    (json.dumps({"profiles": [ENTRY | {"capacity": 60}]}), "unknown field capacity"),
    (json.dumps({"profiles": [{k: v for k, v in ENTRY.items() if k != "series"}]}),
     "missing series"),
    (json.dumps({"profiles": [ENTRY | {"rated_peak_power_w": -1}]}), "rated_peak_power_w"),
    (json.dumps({"profiles": [ENTRY | {"chemistry": "unobtainium"}]}), "unknown chemistry"),
])
def test_a_broken_file_keeps_the_last_good_set(profiles_file, caplog, text, problem):
    catalog = ProfileCatalog(profiles_file)
    _write_by_hand(profiles_file, [ENTRY])
    assert "bmw-i3-60ah" in catalog.current()
    profiles_file.write_text(text)
    os.utime(profiles_file, ns=(1, 1))  # certainly another stamp
    with caplog.at_level(logging.ERROR, logger="evpm.profiles"):
        assert "bmw-i3-60ah" in catalog.current()  # the services keep working
    assert "not loaded" in caplog.text and problem in caplog.text
    assert problem in catalog.error
    with pytest.raises(EvpmError, match=problem) as caught:  # the CLI's strict read
        read_user_profiles(profiles_file)
    assert "\n" not in str(caught.value)
    caplog.clear()
    catalog.current()
    assert caplog.text == ""  # logged once per change, not per request


def test_a_registry_line_waiting_for_its_profile_loads_when_it_is_added(profiles_file, tmp_path,
                                                                          caplog):
    registry = tmp_path / "fleet_registry.csv"
    registry.write_text("vehicle_id,profile\nZ1,renault-zoe-ze50\nI3,bmw-i3-60ah\n")
    cache = RegistryCache(registry)
    assert cache.current() == {}  # refused: the profile does not exist yet
    assert "bmw-i3-60ah" in caplog.text
    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **BMW))
    assert cache.current() == {"Z1": "renault-zoe-ze50", "I3": "bmw-i3-60ah"}


def test_a_user_profile_reads_its_pack(profiles_file):
    from evpm.features import extract
    from evpm.trips import read_trip
    from tests.synthetic_trips import discharge_trip

    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **BMW))
    profile = get_profile("bmw-i3-60ah")
    raw = discharge_trip(profile)
    trip = read_trip(raw, name="tripdata.I3.csv", registry={"I3": "bmw-i3-60ah"})
    assert trip.profile == profile
    row = extract(trip)
    assert row["rated_capacity_ah"] == 60.0
    assert row["c_rate_max"] == pytest.approx(1.0, rel=1e-3)  # 60 A on 60 Ah cells
    assert row["r_dc_rated_ratio"] == pytest.approx(1.0, abs=0.1)  # a new cell's resistance


def test_hand_set_twin_fields_survive_a_rewrite(profiles_file):
    _write_by_hand(profiles_file, [ENTRY | {"cell_thermal_mass_j_per_k": 900,
                                            "aging_capacity_model": "Nmc811_GrSi_LGMJ1_4Ah"}])
    add_user_profile(profiles_file, make_profile("kia-niro-64", **BMW))
    kept = get_profile("bmw-i3-60ah")
    assert kept.cell_thermal_mass_j_per_k == 900.0
    assert kept.aging_capacity_model == "Nmc811_GrSi_LGMJ1_4Ah"
    assert kept.cell_cooling_w_per_k == pytest.approx(60 * 13.5 / 4250)  # the default
    stored = {p["name"]: p for p in json.loads(profiles_file.read_text())["profiles"]}
    assert "cell_cooling_w_per_k" not in stored["bmw-i3-60ah"]
    assert "cell_thermal_mass_j_per_k" not in stored["kia-niro-64"]
