"""The OpenAPI document matches the behaviour: every route documented, responses conform."""

import re

import jsonschema
import pytest

from evpm.api.openapi import document
from tests.api.helpers import REFERENCE_REQUEST, request

DOC = document()


def resolve(schema):
    """Inline the document's #/components/schemas references (the schemas have no cycles)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return resolve(DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
        return {k: resolve(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolve(v) for v in schema]
    return schema


def check(path: str, method: str, response) -> None:
    spec = DOC["paths"][path][method]["responses"][str(response.status_code)]
    content = spec.get("content", {})
    if "application/json" in content:
        schema = resolve(content["application/json"]["schema"])
        jsonschema.Draft202012Validator(schema).validate(response.get_json())


def test_every_route_is_documented(app):
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule)) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == set(DOC["paths"])
    jsonschema.Draft202012Validator.check_schema(resolve(DOC["components"]["schemas"]))


@pytest.mark.parametrize(("body", "query"), [
    (REFERENCE_REQUEST, ""), ([REFERENCE_REQUEST, request(vehicle_id="V2")], ""),
    (REFERENCE_REQUEST, "?explain=true"), (request(dod=None), ""), ({"x": 1}, ""),
    ([], "")])
def test_predict_responses_conform(client, body, query):
    check("/predict", "post", client.post("/predict" + query, json=body))


def test_error_responses_conform(client):
    check("/predict", "post", client.post("/predict", data="{", content_type="application/json"))
    check("/predict", "post", client.post("/predict", data="x", content_type="text/plain"))


def test_read_responses_conform(client):
    client.post("/predict", json=REFERENCE_REQUEST)
    check("/vehicles", "get", client.get("/vehicles"))
    check("/vehicles/{vehicle_id}/history", "get", client.get("/vehicles/V001/history"))
    check("/vehicles/{vehicle_id}/history", "get", client.get("/vehicles/NONE/history"))
    check("/vehicles/{vehicle_id}/history", "get", client.get("/vehicles/V001/history?limit=0"))
    check("/model", "get", client.get("/model"))
    check("/health", "get", client.get("/health"))
    check("/openapi.json", "get", client.get("/openapi.json"))
    assert client.get("/metrics").status_code == 200


def test_request_schema_accepts_the_reference_request():
    schema = resolve(DOC["components"]["schemas"]["PredictRequest"])
    jsonschema.Draft202012Validator(schema).validate(REFERENCE_REQUEST)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(request(dod=None))


@pytest.mark.parametrize(("schema", "accepted", "refused"), [
    (DOC["paths"]["/vehicles/{vehicle_id}/history"]["get"]["parameters"][0]["schema"],
     ["V001", "ev_7-b"], ["", "-x", "é", "V" * 65]),
    (DOC["components"]["schemas"]["PredictRequest"]["properties"]["profile"],
     ["renault-zoe-ze50", None], ["", "zoe", [], {}]),
    (DOC["components"]["schemas"]["PredictRequest"]["properties"]["idempotency_key"],
     ["k", "sha256:V1:ab", "k" * 200, None], ["", "a b", "k" * 201, "tab\there", "é"]),
    (next(p["schema"] for p in DOC["paths"]["/predict"]["post"]["parameters"]
          if p["name"] == "Idempotency-Key"), ["K:0", "k" * 200], ["", "a b", "k" * 201]),
    (DOC["components"]["schemas"]["PredictRequest"]["properties"]["timestamp"],
     ["2000-01-01T00:00:00Z", "2026-11-27T08:30:00+01:00"], ["1999-12-31T23:59:59Z",
                                                          "0001-01-01T00:00:00+14:00"]),
])
def test_document_is_no_looser_than_the_server(schema, accepted, refused):
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert all(validator.is_valid(value) for value in accepted)
    assert not any(validator.is_valid(value) for value in refused)
