"""GET /profiles and /profiles/<name>; user profiles in /predict and the OpenAPI document,
added while the app runs (no restart)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evpm.api.app import create_app
from evpm.api.auth import mint_token
from evpm.profiles import PROFILES, add_user_profile, make_profile, remove_user_profile
from tests.api.helpers import request
from tests.api.test_openapi import check

I3 = dict(chemistry_name="nmc", cell_ah=60.0, series=96, parallel=1, v_min=2.5, v_max=4.2)
FIELDS = {"name", "label", "kind", "chemistry", "series", "parallel", "cell_capacity_ah",
          "pack_capacity_ah", "cell_v_min", "cell_v_max", "rated_peak_power_w",
          "rated_power_source", "source"}


def test_profiles_lists_the_builtins(client, profiles_file):
    response = client.get("/profiles")
    check("/profiles", "get", response)
    listed = response.get_json()
    assert [p["name"] for p in listed] == list(PROFILES)
    assert all(set(p) == FIELDS and p["source"] == "builtin" for p in listed)
    zoe = listed[0]
    assert (zoe["series"], zoe["parallel"], zoe["cell_capacity_ah"], zoe["pack_capacity_ah"],
            zoe["rated_peak_power_w"], zoe["kind"]) == (96, 2, 78.0, 156.0, 110_000.0, "road")
    assert listed[-1]["kind"] == "lab"


def test_a_profile_added_while_the_app_runs_is_served(client, profiles_file):
    assert client.get("/profiles/bmw-i3-60ah").status_code == 404
    refused = client.post("/predict", json=request(vehicle_id="I3A", profile="bmw-i3-60ah"))
    assert refused.status_code == 422 and refused.get_json()["details"][0]["field"] == "profile"

    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **I3, rated_power_kw=125))
    listed = client.get("/profiles").get_json()
    assert listed[-1]["name"] == "bmw-i3-60ah" and listed[-1]["source"] == "user"
    one = client.get("/profiles/bmw-i3-60ah")
    check("/profiles/{name}", "get", one)
    assert one.get_json() == listed[-1]
    assert one.get_json()["rated_power_source"] == "given"

    document = client.get("/openapi.json").get_json()
    enum = document["components"]["schemas"]["PredictRequest"]["properties"]["profile"]["enum"]
    assert "bmw-i3-60ah" in enum

    answered = client.post("/predict", json=request(vehicle_id="I3A", profile="bmw-i3-60ah"))
    assert answered.status_code == 200, answered.get_json()
    body = answered.get_json()
    assert body["profile"] == "bmw-i3-60ah"
    [stored] = client.get("/vehicles/I3A/history").get_json()
    assert stored["profile"] == "bmw-i3-60ah"

    remove_user_profile(profiles_file, "bmw-i3-60ah")
    assert client.get("/profiles/bmw-i3-60ah").status_code == 404


def test_the_registry_maps_to_a_user_profile(client, app, profiles_file):
    add_user_profile(profiles_file, make_profile("bmw-i3-60ah", **I3))
    registry = app.extensions["evpm"].settings.registry_path
    registry.write_text("vehicle_id,profile\nI3R,bmw-i3-60ah\n")
    body = client.post("/predict", json=request(vehicle_id="I3R")).get_json()
    assert body["profile"] == "bmw-i3-60ah"


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/profiles/nope", 404, "unknown profile nope"),
    ("/profiles/NOPE", 422, "invalid profile name"),
    ("/profiles/a_b", 422, "invalid profile name"),
    ("/profiles/" + "a" * 65, 422, "invalid profile name"),
])
def test_unknown_or_invalid_names(client, profiles_file, path, status, text):
    response = client.get(path)
    assert response.status_code == status
    assert response.get_json()["error"] == text
    check("/profiles/{name}", "get", response)


def test_profiles_need_a_token_when_auth_is_on(settings, storage, predictor, profiles_file):
    secret = "profiles-test-secret-0123456789abcdef"
    client = create_app(replace(settings, jwt_secret=secret), predictor=predictor,
                        storage=storage).test_client()
    for path in ("/profiles", "/profiles/renault-zoe-ze50"):
        assert client.get(path).status_code == 401
        token = mint_token(secret, "test", days=1)
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
