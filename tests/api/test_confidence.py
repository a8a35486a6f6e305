"""POST /predict says where each profile came from and how far to trust the answer; a single
low-confidence (or assumed-profile) prediction is never Priority_Maintenance."""

from __future__ import annotations

import pytest

from evpm.health import MONITOR, PRIORITY
from evpm.profiles import DEFAULT_PROFILE
from tests.api.helpers import request


def capped(body: dict) -> bool:
    return any(w.startswith("status capped at Monitor") for w in body["warnings"])


def test_every_answer_names_its_profile_source_and_confidence(client):
    body = client.post("/predict", json=request(vehicle_id="LEAF1")).get_json()
    assert (body["profile"], body["profile_source"], body["confidence"]) == \
        ("nissan-leaf-30", "registered", "high")  # 78.5 % window, with temperature
    body = client.post("/predict", json=request(vehicle_id="X1", profile="chevrolet-bolt"))
    assert body.get_json()["profile_source"] == "given"
    named_as_registered = request(vehicle_id="LEAF1", profile="nissan-leaf-30")
    assert client.post("/predict", json=named_as_registered).get_json()["profile_source"] == \
        "registered"


@pytest.mark.parametrize(("changes", "confidence"), [
    ({}, "high"),
    ({"dod": 15.0}, "medium"),
    ({"delta_T_C": None, "mean_max_temp": None, "temperature_C_mean": None,
      "temperature_C_max": None}, "medium"),
    ({"dod": 4.0}, "low"),
    ({"dod": 90.0, "soc_window": 0.03}, "low"),  # soc_window, when sent, is the window
])
def test_confidence_follows_the_window_and_the_temperature(client, changes, confidence):
    body = client.post("/predict", json=request(vehicle_id="LEAF1", **changes)).get_json()
    assert body["confidence"] == confidence


def test_an_unregistered_vehicle_is_never_priority_from_one_request(strict):
    body = strict.post("/predict", json=request(vehicle_id="STRANGER1")).get_json()
    assert body["profile_source"] == "assumed" and body["confidence"] == "low"
    assert body["profile"] is None and body["status"] == MONITOR and capped(body)
    assert any(w.startswith("profile assumed (none") and "STRANGER1" in w
               for w in body["warnings"])
    batch = strict.post("/predict", json=[request(vehicle_id=f"NEW{i}") for i in range(12)])
    assert {(b["status"], b["profile_source"]) for b in batch.get_json()} == \
        {(MONITOR, "assumed")}  # the batch fast path too


def test_a_registered_vehicle_is_judged_by_its_score_as_before(strict):
    body = strict.post("/predict", json=request(vehicle_id="LEAF1")).get_json()
    assert body["status"] == PRIORITY and not capped(body)


def test_a_tiny_window_is_capped_and_says_why(strict):
    # A worn, resistive pack (score above zero), measured over 2 % of SOC.
    body = strict.post("/predict", json=request(vehicle_id="LEAF1", dod=2.0,
                                                r_dc_25c_ratio=3.0)).get_json()
    assert body["status"] == MONITOR and body["profile_source"] == "registered"
    assert capped(body) and any("covered 2.0% of SOC" in w for w in body["warnings"])


def test_the_pipelines_assumed_profile_and_pack_guess_reach_the_answer(strict, storage):
    sent = request(vehicle_id="NEWCAR", assumed_profile=DEFAULT_PROFILE,
                   pack_guess="~96 cells in series, ~120 Ah, NMC-type",
                   idempotency_key="sha256:NEWCAR:1")
    body = strict.post("/predict", json=sent).get_json()
    assert (body["profile"], body["profile_source"]) == (DEFAULT_PROFILE, "assumed")
    [assumed] = [w for w in body["warnings"] if w.startswith("profile assumed")]
    assert assumed.startswith(f"profile assumed ({DEFAULT_PROFILE}): vehicle NEWCAR is not")
    assert "its pack looks like ~96 cells in series, ~120 Ah, NMC-type" in assumed
    assert body["status"] == MONITOR
    # Stored as answered (status capped, both warnings kept); the same request again is the
    # stored answer, not a conflict.
    [record] = storage.history("NEWCAR")
    assert record.status == MONITOR and record.profile == DEFAULT_PROFILE
    assert record.warnings == body["warnings"]
    again = strict.post("/predict", json=sent).get_json()
    assert again.pop("duplicate") is True and body.pop("duplicate") is False
    assert again == body


def test_a_registry_entry_wins_over_the_pipelines_assumption(client):
    body = client.post("/predict", json=request(vehicle_id="LEAF1",
                                                assumed_profile=DEFAULT_PROFILE)).get_json()
    assert (body["profile"], body["profile_source"]) == ("nissan-leaf-30", "registered")
    assert not any(w.startswith("profile assumed") for w in body["warnings"])


@pytest.mark.parametrize(("field", "value", "status"), [
    ("assumed_profile", "Not A Name", 422), ("assumed_profile", 3, 422),
    ("assumed_profile", "some-future-van", 200),  # well formed, unknown here: no profile
    ("pack_guess", "bad\nline", 422), ("pack_guess", "x" * 201, 422), ("pack_guess", 7, 422)])
def test_the_pipeline_fields_are_checked(client, field, value, status):
    response = client.post("/predict", json=request(vehicle_id="V9", **{field: value}))
    assert response.status_code == status
    if status == 422:
        assert {d["field"] for d in response.get_json()["details"]} == {field}
    else:
        assert response.get_json()["profile"] is None
