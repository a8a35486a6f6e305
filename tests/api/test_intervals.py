"""Every prediction carries 90 % intervals of SoH and SoP: answered, stored, served again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evpm.api.app import create_app
from evpm.predictor import Predictor
from tests.api.helpers import request

INTERVALS = ("soh_low", "soh_high", "sop_low", "sop_high")


def test_an_answer_holds_its_intervals_around_it(client):
    body = client.post("/predict", json=request(vehicle_id="V001")).get_json()
    assert body["soh_low"] < body["predicted_soh"] < body["soh_high"]
    assert body["sop_low"] < body["predicted_sop"] < body["sop_high"]


def test_a_window_read_well_gives_a_narrower_interval_than_one_read_under_load(client):
    """The same trip with its SOC window known to 1 % or to 15 % of SOC."""
    well = client.post("/predict", json=request(vehicle_id="V001", soc_window=0.6,
                                                soc_error=0.01)).get_json()
    poor = client.post("/predict", json=request(vehicle_id="V001", soc_window=0.6,
                                                soc_error=0.15)).get_json()
    width = {name: b["soh_high"] - b["soh_low"] for name, b in (("well", well), ("poor", poor))}
    assert width["well"] < 0.5 * width["poor"]
    # A narrower window read as well is less certain too (the interval widens as it shrinks).
    narrow = client.post("/predict", json=request(vehicle_id="V001", soc_window=0.15,
                                                  soc_error=0.01)).get_json()
    assert narrow["soh_high"] - narrow["soh_low"] > width["well"]


def test_intervals_are_stored_and_served_with_the_record(client, storage):
    body = client.post("/predict", json=request(vehicle_id="V001",
                                                idempotency_key="k-1")).get_json()
    (record,) = storage.history("V001")
    assert [getattr(record, name) for name in INTERVALS] == pytest.approx(
        [body[name] for name in INTERVALS])
    (served,) = client.get("/vehicles/V001/history").get_json()
    assert [served[name] for name in INTERVALS] == pytest.approx([body[name] for name in
                                                                 INTERVALS])
    again = client.post("/predict", json=request(vehicle_id="V001",
                                                 idempotency_key="k-1")).get_json()
    assert again["duplicate"] and [again[n] for n in INTERVALS] == pytest.approx(
        [body[n] for n in INTERVALS])


def test_a_vehicle_estimate_carries_the_interval_of_its_trips(client):
    for day, window in ((1, 0.6), (2, 0.5), (3, 0.7)):
        client.post("/predict", json=request(vehicle_id="V001", soc_window=window,
                                             soc_error=0.01,
                                             timestamp=f"2026-01-0{day}T00:00:00Z"))
    (vehicle,) = client.get("/vehicles").get_json()
    assert vehicle["robust_soh_low"] < vehicle["robust_soh"] < vehicle["robust_soh_high"]
    latest = client.get("/vehicles/V001/history").get_json()[-1]
    # Three readings of one capacity: narrower than one trip's, never below the model's error.
    assert vehicle["robust_soh_high"] - vehicle["robust_soh_low"] < \
        latest["soh_high"] - latest["soh_low"]
    assert vehicle["robust_soh_high"] - vehicle["robust_soh_low"] >= 2 * 1.6449 * 0.015 - 1e-9




def test_one_poorly_read_trip_does_not_put_a_vehicle_in_priority(client, settings, storage):
    probe = client.post("/predict", json=request(vehicle_id="PROBE", soc_window=0.6,
                                                 soc_error=0.01,
                                                 profile="lab-18650-2ah")).get_json()
    # Thresholds that make this trip's score Priority, and Healthy at half of it (the score
    # falls one for one as SoH rises).
    rules = replace(settings, priority_score=probe["health_score"] - 0.01,
                    monitor_score=probe["health_score"] / 2)
    api = create_app(rules, predictor=Predictor.from_settings(rules), storage=storage)
    strict = api.test_client()
    # A window read well: the vehicle's interval stays in Priority and Monitor territory …
    strict.post("/predict", json=request(vehicle_id="WELL", soc_window=0.6, soc_error=0.01,
                                         profile="lab-18650-2ah"))
    # … the same window read off a loaded voltage (±40 %) reaches Healthy: Monitor, and why.
    strict.post("/predict", json=request(vehicle_id="V009", soc_window=0.6, soc_error=0.25,
                                         profile="lab-18650-2ah"))
    vehicles = {v["vehicle_id"]: v for v in strict.get("/vehicles").get_json()}
    assert vehicles["WELL"]["vehicle_status"] == "Priority_Maintenance"
    assert vehicles["WELL"]["vehicle_status_reason"] is None
    poor = vehicles["V009"]
    assert poor["robust_soh"] == pytest.approx(vehicles["WELL"]["robust_soh"])
    assert poor["vehicle_status"] == "Monitor"
    assert "90 % interval reaches" in poor["vehicle_status_reason"]
    # A vehicle whose profile is assumed is not Priority either, however well read.
    strict.post("/predict", json=request(vehicle_id="GUESS", soc_window=0.6, soc_error=0.01))
    guessed = {v["vehicle_id"]: v for v in strict.get("/vehicles").get_json()}["GUESS"]
    assert guessed["vehicle_status"] == "Monitor"
    assert "profile is assumed" in guessed["vehicle_status_reason"]
