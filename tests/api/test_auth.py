"""Bearer-token auth: on when a secret is configured, off otherwise; /health and /metrics open."""

from dataclasses import replace

import jwt
import pytest
from flask import Blueprint

from evpm.api.app import create_app
from evpm.api.auth import mint_token, public
from evpm.api.openapi import document
from evpm.errors import EvpmError
from evpm.settings import Settings
from tests.api.helpers import REFERENCE_REQUEST

SECRET = "auth-test-secret-0123456789abcdefghij"


@pytest.fixture
def secured_app(settings, storage, predictor):
    return create_app(replace(settings, jwt_secret=SECRET), predictor=predictor, storage=storage)


@pytest.fixture
def secured(secured_app):
    return secured_app.test_client()


PUBLIC_PATHS = {"/health", "/metrics", "/openapi.json"}


def test_every_view_but_the_public_ones_needs_a_token(secured_app):
    """Closed by default: no list of protected views to forget a new one in."""
    client = secured_app.test_client()
    seen = set()
    for rule in secured_app.url_map.iter_rules():
        path = str(rule).replace("<vehicle_id>", "V1")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            status = client.open(path, method=method, json=REFERENCE_REQUEST).status_code
            assert (status != 401) == (str(rule) in PUBLIC_PATHS), (method, path, status)
        seen.add(str(rule))
    assert seen >= PUBLIC_PATHS | {"/predict", "/vehicles"}
    # The document says the same: exactly the public operations need no bearer token.
    paths = document()["paths"]
    assert {p for p, item in paths.items() if not any("security" in op for op in item.values())} \
        == PUBLIC_PATHS


def test_a_new_view_is_closed_until_marked_public(settings, storage, predictor):
    extra = Blueprint("extra", __name__)

    @extra.get("/extra/closed")
    def closed():
        return "closed"

    @extra.get("/extra/open")
    @public
    def opened():
        return "open"

    app = create_app(replace(settings, jwt_secret=SECRET), predictor=predictor, storage=storage)
    app.register_blueprint(extra)  # as create_app registers the API's own views
    client = app.test_client()
    assert client.get("/extra/closed").status_code == 401
    token = {"Authorization": f"Bearer {mint_token(SECRET, 'fleet-ops')}"}
    assert client.get("/extra/closed", headers=token).get_data(as_text=True) == "closed"
    assert client.get("/extra/open").get_data(as_text=True) == "open"
    assert client.get("/no/such/path").status_code == 404  # no view: nothing to protect


@pytest.mark.parametrize(("method", "path"), [("post", "/predict"), ("get", "/vehicles"),
                                              ("get", "/vehicles/V1/history"), ("get", "/model")])
def test_protected_endpoints_need_a_token(secured, method, path):
    response = getattr(secured, method)(path, json=REFERENCE_REQUEST)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization" in response.get_json()["details"][0]["field"]


@pytest.mark.parametrize("header", [
    "Bearer nonsense", "Basic abc", f"Bearer {mint_token('another-secret' * 3)}",
    "Bearer " + jwt.encode({"sub": "x", "exp": 1}, SECRET, algorithm="HS256")])
def test_bad_or_expired_tokens_are_401(secured, storage, header):
    response = secured.post("/predict", json=REFERENCE_REQUEST, headers={"Authorization": header})
    assert response.status_code == 401
    assert storage.count() == 0


def test_valid_token_is_accepted(secured):
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'fleet-ops')}"}
    assert secured.post("/predict", json=REFERENCE_REQUEST, headers=headers).status_code == 200
    assert secured.get("/vehicles", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/metrics", "/openapi.json"])
def test_health_metrics_and_docs_stay_open(secured, path):
    assert secured.get(path).status_code == 200


def test_auth_off_without_secret(client):
    assert client.post("/predict", json=REFERENCE_REQUEST).status_code == 200


def test_settings_fail_fast_on_missing_or_weak_secret():
    with pytest.raises(EvpmError, match="EVPM_JWT_SECRET is empty"):
        Settings.from_env({"EVPM_REQUIRE_AUTH": "true"}).check_api_secret()
    with pytest.raises(EvpmError, match="too short"):
        Settings.from_env({"EVPM_JWT_SECRET": "short"})
    with pytest.raises(EvpmError, match="not a number"):
        Settings.from_env({"EVPM_PRIORITY_SCORE": "high"})
    assert Settings.from_env({"EVPM_JWT_SECRET": SECRET}).jwt_secret == SECRET


@pytest.mark.parametrize(("secret", "why"), [
    ("x" * 64, "different characters"), (" " * 40, "whitespace"),
    ("0123456789abcdef0123456789abcdef ", "whitespace"), ("ab" * 20, "different characters")])
def test_placeholder_secrets_are_refused(secret, why):
    with pytest.raises(EvpmError, match=why):
        Settings.from_env({"EVPM_JWT_SECRET": secret})


def _signed(claims: dict) -> str:
    return "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.mark.parametrize(("claims", "problem"), [
    ({"sub": "", "exp": 4102444800}, "empty subject"),
    ({"sub": "  ", "exp": 4102444800}, "empty subject"),
    ({"sub": "ops", "exp": 4102444800}, "days ahead"),  # 2100: a token that never ends
])
def test_tokens_without_subject_or_with_endless_lifetime_are_refused(secured, claims, problem):
    import time

    claims = {"iat": int(time.time()), **claims}
    response = secured.get("/vehicles", headers={"Authorization": _signed(claims)})
    assert response.status_code == 401
    assert problem in response.get_json()["details"][0]["problem"]


def test_a_year_long_token_is_accepted_and_longer_ones_are_not_minted(secured):
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'fleet-ops', days=365)}"}
    assert secured.get("/vehicles", headers=headers).status_code == 200
    with pytest.raises(EvpmError, match="at most 365"):
        mint_token(SECRET, "fleet-ops", days=366)
    with pytest.raises(EvpmError, match="subject"):
        mint_token(SECRET, " ")


def test_api_that_requires_auth_refuses_to_start_without_a_secret(settings, storage, predictor):
    with pytest.raises(EvpmError, match="EVPM_JWT_SECRET is empty"):
        create_app(replace(settings, require_auth=True), predictor=predictor, storage=storage)
