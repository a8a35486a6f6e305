"""The OpenAPI 3.1 document of the API (schemas are plain JSON Schema, checked by the tests)."""

from __future__ import annotations

from evpm import __version__
from evpm.api.schemas import RANGES, REQUIRED
from evpm.features import FEATURES
from evpm.health import STATUSES

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "details": {"type": "array", "items": {
            "type": "object", "required": ["field", "problem"],
            "properties": {"field": {"type": "string"}, "problem": {"type": "string"}}}},
    },
}

FEATURE_PROPERTIES = {
    name: {"type": "number", "minimum": RANGES[name][0], "maximum": RANGES[name][1]}
    for name in FEATURES
}

PREDICT_REQUEST = {
    "type": "object",
    "required": ["vehicle_id", *sorted(REQUIRED)],
    "properties": {
        "vehicle_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"},
        "profile": {"type": "string", "description": "vehicle profile; default: fleet registry"},
        "idempotency_key": {"type": "string", "maxLength": 200},
        "source_file": {"type": "string", "maxLength": 255},
        "timestamp": {"type": "string", "format": "date-time",
                      "description": "when the trip happened (default: now)"},
        **FEATURE_PROPERTIES,
    },
    "additionalProperties": True,
}

CONTRIBUTION = {"type": "object", "required": ["feature", "contribution"], "properties": {
    "feature": {"type": "string"}, "value": {"type": ["number", "null"]},
    "contribution": {"type": "number"}}}

PREDICTION = {
    "type": "object",
    "required": ["vehicle_id", "predicted_soh", "predicted_sop", "health_score", "status",
                 "prediction_id", "timestamp", "model_version", "warnings"],
    "properties": {
        "vehicle_id": {"type": "string"},
        "predicted_soh": {"type": "number", "description": "fraction of rated capacity"},
        "predicted_sop": {"type": "number", "description": "10-s peak discharge power, W, at "
                          "50 % SOC and 25 °C"},
        "health_score": {"type": "number"},
        "status": {"enum": list(STATUSES)},
        "prediction_id": {"type": "string"},
        "timestamp": {"type": "string"},
        "model_version": {"type": "string"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "source_file": {"type": ["string", "null"]},
        "profile": {"type": ["string", "null"]},
        "duplicate": {"type": "boolean",
                      "description": "true when the idempotency key was seen: this is the "
                                     "first prediction, unchanged"},
        "explanation": {"type": "array", "items": CONTRIBUTION},
    },
}

VEHICLE = {
    "type": "object",
    "required": [*PREDICTION["required"], "robust_soh", "latest_predicted_soh"],
    "properties": {**PREDICTION["properties"],
                   "robust_soh": {"type": ["number", "null"]},
                   "latest_predicted_soh": {"type": "number"},
                   "trips_in_estimate": {"type": "integer"}},
}

HEALTH = {"type": "object", "required": ["status", "models_loaded", "database"], "properties": {
    "status": {"enum": ["ok", "degraded"]}, "models_loaded": {"type": "boolean"},
    "database": {"type": "string"}, "model_version": {"type": ["string", "null"]}}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {400: "malformed JSON", 401: "missing or invalid bearer token", 404: "not found",
            413: "body too large", 415: "content type is not application/json",
            422: "invalid fields (each named in details)"}
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


def document() -> dict:
    """The whole OpenAPI document."""
    secured = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "EV fleet battery health API", "version": __version__,
                 "description": "SoH / SoP predictions for EV fleets. Auth (bearer JWT) applies "
                                "when the server has EVPM_JWT_SECRET set."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {"Error": ERROR, "PredictRequest": PREDICT_REQUEST,
                        "Prediction": PREDICTION, "Vehicle": VEHICLE, "Health": HEALTH},
        },
        "paths": {
            "/predict": {"post": {
                "summary": "Predict SoH, SoP, health score and status; store the prediction",
                "security": secured,
                "parameters": [
                    {"name": "explain", "in": "query", "schema": {"type": "boolean"},
                     "description": "add the top TreeSHAP feature contributions"},
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"},
                     "description": "same key → same stored prediction (batch: key + ':' + "
                                    "row index)"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [{"$ref": "#/components/schemas/PredictRequest"},
                              {"type": "array", "minItems": 1, "maxItems": 10000,
                               "items": {"$ref": "#/components/schemas/PredictRequest"}}]}}}},
                "responses": {
                    "200": _json({"oneOf": [
                        {"$ref": "#/components/schemas/Prediction"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}]},
                        "one prediction per row, in request order"),
                    **_errors(400, 401, 413, 415, 422)},
            }},
            "/vehicles": {"get": {
                "summary": "Latest state of every vehicle with its robust SoH",
                "security": secured,
                "responses": {"200": _json({"type": "array", "items": {
                    "$ref": "#/components/schemas/Vehicle"}}, "one entry per vehicle"),
                    **_errors(401)}}},
            "/vehicles/{vehicle_id}/history": {"get": {
                "summary": "A vehicle's predictions, oldest first",
                "security": secured,
                "parameters": [
                    {"name": "vehicle_id", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                 "maximum": 100000}}],
                "responses": {"200": _json({"type": "array", "items": {
                    "$ref": "#/components/schemas/Prediction"}}, "predictions"),
                    **_errors(401, 404, 422)}}},
            "/model": {"get": {"summary": "The model card", "security": secured,
                               "responses": {"200": _json({"type": "object", "required": [
                                   "model_version", "features", "metrics"]}, "model card"),
                                   **_errors(401)}}},
            "/health": {"get": {"summary": "Models loaded and database reachable (no auth)",
                                "responses": {"200": _json(HEALTH, "healthy"),
                                              "503": _json(HEALTH, "degraded")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (no auth)",
                                 "responses": {"200": {"description": "text exposition",
                                                       "content": {"text/plain": {}}}}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json({"type": "object"},
                                                                 "OpenAPI 3.1")}}},
        },
    }
