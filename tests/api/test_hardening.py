"""Client mistakes and hostile input: named 4xx errors, never a 500 or another vehicle's answer."""

import datetime as dt
import threading

import pytest

from evpm.api.schemas import IDEMPOTENCY_KEY_MAX
from tests.api.helpers import REFERENCE_REQUEST, request


def _problem_fields(response) -> set[str]:
    return {d["field"] for d in response.get_json()["details"]}


# --- idempotency: a reused key never returns another request's prediction --------------------

def test_key_reused_for_another_vehicle_is_refused_naming_the_key(client, storage):
    client.post("/predict", json=request(vehicle_id="V001"), headers={"Idempotency-Key": "k-1"})
    other = client.post("/predict", json=request(vehicle_id="V002"),
                        headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    [detail] = other.get_json()["details"]
    assert detail["field"] == "Idempotency-Key" and "'k-1'" in detail["problem"]
    assert "vehicle_id differs" in detail["problem"]
    assert storage.history("V002") == [] and storage.count() == 1


def test_body_key_reused_with_other_features_is_refused(client, storage):
    client.post("/predict", json=request(idempotency_key="trip-7"))
    other = client.post("/predict", json=request(idempotency_key="trip-7", dod=12.0))
    assert other.status_code == 422
    assert _problem_fields(other) == {"idempotency_key"}
    assert "features differs" in other.get_json()["details"][0]["problem"]
    same = client.post("/predict", json=request(idempotency_key="trip-7"))
    assert same.status_code == 200 and same.get_json()["duplicate"] is True
    assert storage.count() == 1


def test_conflicting_row_in_a_batch_stores_nothing(client, storage):
    client.post("/predict", json=request(vehicle_id="A1", idempotency_key="a"))
    rows = [request(vehicle_id="B1", idempotency_key="b"),
            request(vehicle_id="B2", idempotency_key="a")]
    response = client.post("/predict", json=rows)
    assert response.status_code == 422 and _problem_fields(response) == {"[1].idempotency_key"}
    assert storage.count() == 1 and storage.history("B1") == []


def test_timestamp_sent_again_must_match(client):
    body = request(idempotency_key="t", timestamp="2026-01-01T00:00:00Z")
    assert client.post("/predict", json=body).status_code == 200
    moved = client.post("/predict", json={**body, "timestamp": "2026-01-02T00:00:00Z"})
    assert moved.status_code == 422 and "timestamp differs" in moved.get_data(as_text=True)
    assert client.post("/predict", json=body).get_json()["duplicate"] is True


def test_batch_header_key_never_collides_with_a_single_request_key(client, storage):
    rows = [request(vehicle_id="H1"), request(vehicle_id="H2")]
    assert client.post("/predict", json=rows, headers={"Idempotency-Key": "K"}).status_code == 200
    single = client.post("/predict", json=request(vehicle_id="H9"),
                         headers={"Idempotency-Key": "K:0"})
    assert single.status_code == 200 and single.get_json()["duplicate"] is False
    assert [r.vehicle_id for r in storage.history("H9")] == ["H9"]
    again = client.post("/predict", json=rows, headers={"Idempotency-Key": "K"}).get_json()
    assert [a["duplicate"] for a in again] == [True, True]
    assert storage.count() == 3


@pytest.mark.parametrize("key", ["x" * (IDEMPOTENCY_KEY_MAX + 1), "x" * 5000, "has space",
                                 "tab\there"])
def test_header_key_outside_the_rules_is_refused(client, storage, key):
    response = client.post("/predict", json=REFERENCE_REQUEST, headers={"Idempotency-Key": key})
    assert response.status_code == 422 and _problem_fields(response) == {"Idempotency-Key"}
    assert storage.count() == 0


def test_longest_header_key_is_stored(client, storage):
    key = "k" * IDEMPOTENCY_KEY_MAX
    for _ in range(2):
        response = client.post("/predict", json=REFERENCE_REQUEST,
                               headers={"Idempotency-Key": key})
        assert response.status_code == 200
    assert storage.count() == 1


def test_parallel_requests_with_one_key_all_get_the_stored_answer(app, storage):
    """PostgreSQL: parallel inserts of one key collide on the unique index; none may 500."""
    answers: list = []
    senders = 20
    start = threading.Barrier(senders)

    def send() -> None:
        with app.test_client() as own:
            start.wait()  # all at once: their look-ups run before the first insert commits
            answers.append(own.post("/predict", json=REFERENCE_REQUEST,
                                    headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * senders
    assert len({a.get_json()["prediction_id"] for a in answers}) == 1
    assert storage.count() == 1


# --- client mistakes that used to give a 500 ------------------------------------------------

@pytest.mark.parametrize("profile", [[], {}, 3, True])
def test_profile_that_is_not_a_name(client, profile):
    response = client.post("/predict", json=request(profile=profile))
    assert response.status_code == 422 and _problem_fields(response) == {"profile"}


def test_huge_integer_is_named(client):
    body = ('{"vehicle_id": "V1", "discharge_time_s": 1, "voltage_drop_time_s": 1, '
            '"avg_current": -1, "avg_voltage": 3.7, "current_std": 0, "voltage_std": 0, '
            '"voltage_V_mean": 3.7, "current_A_mean": -1, "dod": 1' + "0" * 400 + "}")
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 422 and _problem_fields(response) == {"dod"}


def test_huge_integers_in_a_batch_are_named(client):
    rows = [request(vehicle_id=f"Z{i}") for i in range(12)]
    rows[5]["dod"] = 10**400
    import json
    response = client.post("/predict", data=json.dumps(rows), content_type="application/json")
    assert response.status_code == 422 and _problem_fields(response) == {"[5].dod"}


def test_number_of_5000_digits_is_malformed_json(client):
    body = '{"vehicle_id": "V1", "dod": ' + "9" * 5000 + "}"
    response = client.post("/predict", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "malformed JSON"


def test_deep_nesting_is_malformed_json(client):
    response = client.post("/predict", data="[" * 5000 + "]" * 5000,
                           content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.get_data(as_text=True)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "1500-06-01T00:00:00Z", "0001-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59Z", "1999-12-31T23:59:59Z"])
def test_timestamps_outside_the_window_are_refused(client, storage, stamp):
    response = client.post("/predict", json=request(timestamp=stamp))
    assert response.status_code == 422 and _problem_fields(response) == {"timestamp"}
    assert "accepted window" in response.get_json()["details"][0]["problem"] or \
        "ISO 8601" in response.get_json()["details"][0]["problem"]
    assert storage.count() == 0


def test_timestamps_inside_the_window_are_stored(client, storage):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)).isoformat()
    for stamp in ["2000-01-01T00:00:00Z", soon]:
        assert client.post("/predict", json=request(timestamp=stamp)).status_code == 200
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    assert client.post("/predict", json=request(timestamp=tomorrow)).status_code == 422


@pytest.mark.parametrize("name", ["a\x00b.csv", "line\nbreak.csv", "\ud800.csv"])
def test_source_file_that_no_database_can_store(client, storage, name):
    response = client.post("/predict", json=request(source_file=name))
    assert response.status_code == 422 and _problem_fields(response) == {"source_file"}


# --- a trip without temperature is served, and says so ---------------------------------------

def test_trip_without_temperature_is_predicted_with_a_warning(client):
    response = client.post("/predict", json=request(
        delta_T_C=None, mean_max_temp=None, temperature_C_mean=None, temperature_C_max=None))
    assert response.status_code == 200
    assert any("no temperature" in w for w in response.get_json()["warnings"])
    with_temperature = client.post("/predict", json=REFERENCE_REQUEST).get_json()
    assert not any("no temperature" in w for w in with_temperature["warnings"])


# --- protocol details ---------------------------------------------------------------------------

def test_405_names_the_allowed_methods(client):
    response = client.delete("/predict")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert response.is_json


def test_database_that_cannot_write_is_a_503_with_retry_after(client, storage, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def full(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(storage, "_save_columns", full)
    response = client.post("/predict", json=REFERENCE_REQUEST)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert "disk is full" in response.get_data(as_text=True)


def test_health_reports_a_database_that_cannot_be_written(client, storage, monkeypatch):
    monkeypatch.setattr(storage, "write_problem", lambda: "database is read-only")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "not writable"


def test_vehicles_are_paginated(client):
    rows = [request(vehicle_id=f"P{i:02d}") for i in range(7)]
    assert client.post("/predict", json=rows).status_code == 200
    seen, url, pages = [], "/vehicles?limit=3", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [v["vehicle_id"] for v in response.get_json()]
        cursor = response.headers.get("X-Next-Cursor")
        url = f"/vehicles?limit=3&cursor={cursor}" if cursor else None
        pages += 1
    assert seen == [f"P{i:02d}" for i in range(7)] and pages == 3
    assert len(client.get("/vehicles").get_json()) == 7


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "cursor=%2A%2A"])
def test_vehicles_page_arguments_are_checked(client, query):
    response = client.get(f"/vehicles?{query}")
    assert response.status_code == 422


@pytest.mark.parametrize(("query", "status"), [("explain=true", 200), ("explain=1", 200),
                                               ("explain=false", 200), ("explain=-1", 422),
                                               ("explain=flase", 422), ("explain=yes", 422)])
def test_explain_takes_true_or_false_only(client, query, status):
    response = client.post(f"/predict?{query}", json=REFERENCE_REQUEST)
    assert response.status_code == status
    if status == 200:
        assert ("explanation" in response.get_json()) == (query in ("explain=true",
                                                                    "explain=1"))


def test_earliest_timestamp_holds_in_any_zone(client):
    assert client.post("/predict", json=request(
        timestamp="2000-01-01T00:30:00+01:00")).status_code == 200
    late = client.post("/predict", json=request(timestamp="0001-01-01T00:00:00+14:00"))
    assert "outside the accepted window" in late.get_json()["details"][0]["problem"]
