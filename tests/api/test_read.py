"""Read endpoints: /vehicles with the robust SoH, history, /model, /health, /metrics."""

import pytest

from tests.api.helpers import request


def test_vehicles_shows_latest_state_and_robust_soh(client):
    for day, dod in enumerate([30.0, 35.0, 40.0, 45.0, 50.0], start=1):
        client.post("/predict", json=request(vehicle_id="R1", dod=dod,
                                             timestamp=f"2026-05-{day:02d}T10:00:00Z"))
    client.post("/predict", json=request(vehicle_id="R2"))
    vehicles = client.get("/vehicles").get_json()
    assert [v["vehicle_id"] for v in vehicles] == ["R1", "R2"]
    r1 = vehicles[0]
    assert r1["trips_in_estimate"] == 5 and r1["robust_soh"] is not None
    assert r1["latest_predicted_soh"] == r1["predicted_soh"]
    assert r1["timestamp"].startswith("2026-05-05")


def test_a_stored_prediction_reads_back_as_it_was_answered(client):
    """One response shape: /predict's answer, a repeat's, history's and /vehicles' agree."""
    sent = request(vehicle_id="S1", source_file="tripdata.S1.csv", profile="nissan-leaf-30",
                   idempotency_key="s1-trip-1", colour="red")
    fresh = client.post("/predict", json=sent).get_json()
    assert fresh.pop("duplicate") is False and fresh["warnings"]
    again = client.post("/predict", json=sent).get_json()
    assert again.pop("duplicate") is True
    # Profile source and confidence are /predict's (not stored yet): a repeat says the same.
    for answer in (fresh, again):
        assert (answer.pop("profile_source"), answer.pop("confidence")) == ("given", "high")
    [stored] = client.get("/vehicles/S1/history").get_json()
    [vehicle] = client.get("/vehicles").get_json()
    assert list(again.items()) == list(stored.items()) == list(fresh.items())  # order too
    assert {k: vehicle[k] for k in fresh} == fresh


def test_history_is_oldest_first_with_limit_and_404(client):
    for dod in (10.0, 20.0, 30.0):
        client.post("/predict", json=request(vehicle_id="H1", dod=dod))
    history = client.get("/vehicles/H1/history").get_json()
    assert len(history) == 3 and history[0]["timestamp"] <= history[-1]["timestamp"]
    assert len(client.get("/vehicles/H1/history?limit=2").get_json()) == 2
    assert client.get("/vehicles/NOPE/history").status_code == 404
    assert client.get("/vehicles/H1/history?limit=0").status_code == 422
    assert client.get("/vehicles/H1/history?limit=x").status_code == 422


def test_model_card_endpoint(client, predictor):
    card = client.get("/model").get_json()
    assert card["model_version"] == predictor.version and card["features"]


def test_health_reports_models_and_database(client):
    body = client.get("/health").get_json()
    assert body == {"status": "ok", "models_loaded": True, "database": "ok",
                    "model_version": body["model_version"]}


def test_health_is_503_when_the_database_is_gone(settings, predictor, tmp_path):
    from evpm.api.app import create_app
    from evpm.storage import Storage

    broken = Storage(f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'x.db'}", read_only=True)
    client = create_app(settings, predictor=predictor, storage=broken).test_client()
    response = client.get("/health")
    assert response.status_code == 503 and response.get_json()["database"] == "unreachable"


def test_metrics_are_prometheus_text(client):
    client.post("/predict", json=request())
    client.post("/predict", json={"vehicle_id": "x"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'evpm_api_requests_total{endpoint="predict",method="POST",status="200"} 1.0' in text
    assert 'evpm_api_errors_total{endpoint="predict",status="422"} 1.0' in text
    assert "evpm_api_request_seconds_bucket" in text
    assert "evpm_predictions_total{status=" in text


@pytest.mark.parametrize("path", ["/nope", "/vehicles/x/y"])
def test_unknown_paths_are_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.get_json()["error"]


def test_wrong_method_is_json_405(client):
    response = client.get("/predict")
    assert response.status_code == 405 and response.get_json()["error"]
