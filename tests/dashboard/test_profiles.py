"""The dashboard names user profiles' vehicle models (EVPM_PROFILES), added while it runs."""

from __future__ import annotations

from evpm.dashboard.data import read_recent_details, read_records
from evpm.dashboard.fleet import model_label, vehicle_table
from evpm.profiles import add_user_profile, make_profile
from evpm.storage import Storage
from tests.dashboard.test_fleet import record

I3 = dict(chemistry_name="nmc", cell_ah=60.0, series=96, parallel=1, v_min=2.5, v_max=4.2)


def test_a_user_profile_is_a_vehicle_model_from_the_next_refresh(tmp_path, profiles_file):
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.init()
    storage.save([record("I3A", 2, 0.93, profile="bmw-i3-60ah"), record("Z1", 2, 0.95)])
    frame, _ = read_records(storage)
    features = read_recent_details(storage, 10).features
    before = vehicle_table(frame, features).set_index("vehicle_id")["model"]
    assert before.to_dict() == {"I3A": "unknown", "Z1": "2022 Renault Zoe ZE50 R135"}
    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **I3, label="BMW i3 (60 Ah)"))
    after = vehicle_table(frame, features).set_index("vehicle_id")["model"]
    assert after["I3A"] == "BMW i3 (60 Ah)"
    assert model_label("bmw-i3-60ah") == "BMW i3 (60 Ah)" and model_label(None) == "unknown"
