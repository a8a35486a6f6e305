"""POST /predict: the reference contract, batches, explanations, every error, idempotency."""

import json

import pytest

from evpm.health import STATUSES
from tests.api.helpers import REFERENCE_FIELDS, REFERENCE_REQUEST, request


def test_reference_sample_request_returns_the_reference_fields(client, storage):
    response = client.post("/predict", json=REFERENCE_REQUEST)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= REFERENCE_FIELDS
    assert body["vehicle_id"] == "V001" and body["status"] in STATUSES
    assert {"prediction_id", "timestamp", "model_version", "warnings"} <= set(body)
    assert 0.3 < body["predicted_soh"] < 1.2 and body["predicted_sop"] > 0
    assert storage.count() == 1


def test_batch_is_answered_row_by_row_in_order(client, storage):
    rows = [request(vehicle_id=f"EV{i}", dod=10.0 + i) for i in range(25)]
    response = client.post("/predict", json=rows)
    assert response.status_code == 200
    body = response.get_json()
    assert [b["vehicle_id"] for b in body] == [f"EV{i}" for i in range(25)]
    assert storage.count() == 25
    single = client.post("/predict", json=rows[7]).get_json()
    assert single["predicted_soh"] == pytest.approx(body[7]["predicted_soh"], abs=1e-9)


def test_large_batch_uses_the_same_models(client):
    rows = [request(vehicle_id=f"B{i}", dod=5.0 + (i % 90)) for i in range(200)]
    big = client.post("/predict", json=rows).get_json()
    small = client.post("/predict", json=rows[:10]).get_json()
    assert [b["predicted_soh"] for b in big[:10]] == pytest.approx(
        [s["predicted_soh"] for s in small], abs=1e-5)


def test_explain_adds_top_contributions(client):
    body = client.post("/predict?explain=true", json=REFERENCE_REQUEST).get_json()
    assert 0 < len(body["explanation"]) <= 5
    assert all({"feature", "contribution"} <= set(c) for c in body["explanation"])


def test_explaining_more_rows_than_the_limit_is_a_named_422(settings, storage, predictor):
    from dataclasses import replace

    from evpm.api.app import create_app

    client = create_app(replace(settings, max_explain_rows=3), predictor=predictor,
                        storage=storage).test_client()
    rows = [request(vehicle_id=f"V{i}") for i in range(4)]
    refused = client.post("/predict?explain=true", json=rows)
    assert refused.status_code == 422
    [detail] = refused.get_json()["details"]
    assert detail["field"] == "explain" and "at most 3 rows" in detail["problem"]
    assert "has 4" in detail["problem"]
    # Nothing was stored: the same rows without explanations are new predictions.
    assert not any(r["duplicate"] for r in client.post("/predict", json=rows).get_json())
    explained = client.post("/predict?explain=true", json=rows[:3]).get_json()
    assert all(r["explanation"] for r in explained)


def test_unknown_fields_are_ignored_with_a_warning(client):
    body = client.post("/predict", json=request(colour="red")).get_json()
    assert "unknown field 'colour' ignored" in body["warnings"]


def test_training_range_warning(client):
    # -40 °C: within the API's limits, beyond the training range and its margin.
    body = client.post("/predict", json=request(temperature_C_max=-40.0)).get_json()
    assert any(w.startswith("temperature_C_max=-40") for w in body["warnings"])


def test_registry_profile_sets_the_rated_power(client):
    leaf = client.post("/predict", json=request(vehicle_id="LEAF1")).get_json()
    unknown = client.post("/predict", json=request(vehicle_id="X9")).get_json()
    assert leaf["profile"] == "nissan-leaf-30" and unknown["profile"] is None
    # The health score uses the profile's rated power (86 kW), or 50 kW for an unknown vehicle.
    for body, rated in ((leaf, 86_000.0), (unknown, 50_000.0)):
        expected = (1 - body["predicted_soh"]) + (1 - body["predicted_sop"] / rated)
        assert body["health_score"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (request(dod=None), "dod", "is required"),
        (request(vehicle_id=None), "vehicle_id", "is required"),
        (request(dod="78.5"), "dod", "must be a number, got str"),
        (request(dod=True), "dod", "must be a number, got bool"),
        (request(avg_voltage=42.0), "avg_voltage", "physically impossible"),
        (request(avg_current=5.0), "avg_current", "physically impossible"),
        (request(temperature_C_max=-300.0), "temperature_C_max", "physically impossible"),
        (request(vehicle_id="../etc/passwd"), "vehicle_id", "must be 1-64 letters"),
        (request(profile="ford-t"), "profile", "unknown profile"),
        (request(timestamp="yesterday"), "timestamp", "ISO 8601"),
        (request(capacity_ratio="x"), "capacity_ratio", "must be a number"),
    ],
)
def test_invalid_fields_are_422_naming_each(client, storage, body, field, problem):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert any(d["field"] == field and problem in d["problem"] for d in details), details
    assert storage.count() == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_422(client, storage, literal):
    raw = json.dumps(REFERENCE_REQUEST).replace("16.2", literal)
    response = client.post("/predict", data=raw, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["details"][0]["field"] == "delta_T_C"
    assert storage.count() == 0


def test_every_missing_field_is_named_at_once(client):
    response = client.post("/predict", json={"vehicle_id": "V1"})
    fields = {d["field"] for d in response.get_json()["details"]}
    assert len(fields) == 9  # the 13 reference features less the 4 optional temperatures


def test_batch_errors_name_the_row(client, storage):
    rows = [request(vehicle_id="A1"), request(vehicle_id="A2", dod="x")]
    response = client.post("/predict", json=rows)
    assert response.status_code == 422
    assert response.get_json()["details"] == [{"field": "[1].dod",
                                               "problem": "must be a number, got str"}]
    assert storage.count() == 0  # a batch is all or nothing


def test_malformed_json_is_400(client):
    response = client.post("/predict", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "malformed JSON"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_wrong_content_type_is_415(client, content_type):
    response = client.post("/predict", data=json.dumps(REFERENCE_REQUEST),
                           content_type=content_type)
    assert response.status_code == 415


@pytest.mark.parametrize("body", [[], "text", 42, [1, 2]])
def test_wrong_json_shapes_are_422(client, body):
    assert client.post("/predict", json=body).status_code == 422


def test_body_over_the_limit_is_413(settings, storage, predictor):
    from dataclasses import replace

    from evpm.api.app import create_app

    small = create_app(replace(settings, max_body_bytes=2000), predictor=predictor,
                       storage=storage).test_client()
    response = small.post("/predict", json=[REFERENCE_REQUEST] * 10)
    assert response.status_code == 413 and response.get_json()["error"]
    assert storage.count() == 0


def test_too_many_rows_is_413(settings, storage, predictor):
    from dataclasses import replace

    from evpm.api.app import create_app

    small = create_app(replace(settings, max_batch_rows=5), predictor=predictor,
                       storage=storage).test_client()
    response = small.post("/predict", json=[REFERENCE_REQUEST] * 6)
    assert response.status_code == 413 and "exceeds the limit of 5" in response.get_json()["error"]


def test_same_key_twice_is_stored_once_and_answered_with_the_first(client, storage):
    first = client.post("/predict", json=REFERENCE_REQUEST, headers={"Idempotency-Key": "trip-1"})
    again = client.post("/predict", json=REFERENCE_REQUEST,
                        headers={"Idempotency-Key": "trip-1"})
    assert first.get_json()["duplicate"] is False and again.get_json()["duplicate"] is True
    for field in ("prediction_id", "predicted_soh", "timestamp"):
        assert again.get_json()[field] == first.get_json()[field]
    assert storage.count() == 1


def test_row_keys_and_batch_header_keys(client, storage):
    rows = [request(vehicle_id="K1", idempotency_key="file-abc"), request(vehicle_id="K2")]
    first = client.post("/predict", json=rows, headers={"Idempotency-Key": "batch-9"}).get_json()
    again = client.post("/predict", json=rows, headers={"Idempotency-Key": "batch-9"}).get_json()
    assert [a["prediction_id"] for a in again] == [f["prediction_id"] for f in first]
    assert storage.count() == 2
    dup_in_one = client.post("/predict", json=[request(idempotency_key="z"),
                                                request(idempotency_key="z")]).get_json()
    assert dup_in_one[0]["prediction_id"] == dup_in_one[1]["prediction_id"]
    assert storage.count() == 3


def test_source_file_and_timestamp_are_stored(client, storage):
    client.post("/predict", json=request(vehicle_id="S1", source_file="tripdata.S1.csv",
                                         timestamp="2026-03-01T08:00:00Z"))
    [record] = storage.history("S1")
    assert record.source_file == "tripdata.S1.csv"
    assert record.timestamp.isoformat().startswith("2026-03-01T08:00:00")
    assert record.features["dod"] == 78.5 and record.model_version


def test_large_batch_stores_the_features_and_metadata_like_single_rows(client, storage):
    # More than a few uniform rows take the column-wise path; what is stored must not differ.
    rows = [request(vehicle_id=f"F{i}", idempotency_key=f"trip-{i}", source_file=f"f{i}.csv",
                    dod=10.0 + i) for i in range(20)]
    rows[19] = dict(rows[3])  # the same trip repeated inside the batch
    body = client.post("/predict", json=rows).get_json()
    assert [b["duplicate"] for b in body] == [False] * 19 + [True]
    assert body[19]["prediction_id"] == body[3]["prediction_id"]
    assert storage.count() == 19
    single = client.post("/predict", json=request(vehicle_id="G1", dod=12.0)).get_json()
    [record] = storage.history("F2")
    [reference] = storage.history("G1")
    assert record.features == reference.features
    assert record.source_file == "f2.csv" and record.idempotency_key == "trip-2"
    assert body[2]["predicted_soh"] == pytest.approx(single["predicted_soh"], abs=1e-5)


def test_metrics_count_a_resent_trip_once_and_only_range_warnings(client):
    def count(name: str) -> float:
        text = client.get("/metrics").get_data(as_text=True)
        values = [float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith(name) and not line.startswith("#")]
        return sum(values)

    before = count("evpm_predictions_total")
    for _ in range(2):
        client.post("/predict", json=request(vehicle_id="M1"), headers={"Idempotency-Key": "m1"})
    assert count("evpm_predictions_total") == before + 1
    warned = count("evpm_out_of_range_features_total")
    body = client.post("/predict", json=request(vehicle_id="M2", colour="red")).get_json()
    assert any("unknown field" in w for w in body["warnings"])
    ranges = sum("training range" in w for w in body["warnings"])
    assert count("evpm_out_of_range_features_total") == warned + ranges


def test_the_api_judges_status_by_the_configured_thresholds(settings, storage, client, repo):
    """create_app loads its models with EVPM_PRIORITY_SCORE / EVPM_MONITOR_SCORE applied."""
    from dataclasses import replace

    from evpm.api.app import create_app
    from evpm.features import extract_file
    from evpm.profiles import get_profile

    # TC06: SoH ~0.86, health score ~0.43 (Healthy by default); an 8 % SOC window, so medium
    # confidence: the thresholds alone decide (a low-confidence trip is never Priority).
    profile = "nissan-leaf-30"
    features = extract_file(repo / "test_cases" / "tripdata.TC06.csv", get_profile(profile))
    trip = {**{name: value for name, value in features.items() if value == value},  # no NaN
            "vehicle_id": "TC06", "profile": profile}
    assert client.post("/predict", json=trip).get_json()["status"] == "Healthy"
    strict = create_app(replace(settings, priority_score=0.12, monitor_score=0.05),
                        storage=storage).test_client()
    assert strict.post("/predict", json=trip).get_json()["status"] == "Priority_Maintenance"
