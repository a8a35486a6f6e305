"""The OpenAPI 3.1 document of the API (schemas are plain JSON Schema, checked by the tests)."""

from __future__ import annotations

from evpm import __version__
from evpm.api.schemas import PACK_GUESS_MAX, RANGES, REQUIRED
from evpm.contract import (
    EARLIEST_TIMESTAMP,
    HISTORY_LIMIT_MAX,
    IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_PATTERN,
    IDEMPOTENCY_KEY_RULE,
    SOURCE_FILE_MAX,
    VEHICLE_ID_RULE,
    VEHICLES_PAGE_MAX,
)
from evpm.features import FEATURES
from evpm.health import CONFIDENCES, PROFILE_SOURCES, STATUSES
from evpm.profiles import (
    KINDS,
    PROFILE_NAME_MAX,
    PROFILE_NAME_PATTERN,
    PROFILE_NAME_RULE,
    PROFILES,
    RATED_POWER_SOURCES,
    SOURCES,
    VEHICLE_ID_PATTERN,
    all_profiles,
)
from evpm.settings import Settings

# The request contract's limits, from their one definition (evpm.contract).
VEHICLE_ID = {"type": "string", "pattern": f"^{VEHICLE_ID_PATTERN.pattern}$",
              "description": VEHICLE_ID_RULE}
IDEMPOTENCY_KEY = {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN.pattern}$",
                   "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX,
                   "description": IDEMPOTENCY_KEY_RULE}
# The earliest year is a pattern on the date as written; the latest bound (one day after the
# server's now) moves with the clock and is stated in words.
TIMESTAMP = {"type": ["string", "null"], "format": "date-time",
             "pattern": f"^[{str(EARLIEST_TIMESTAMP.year)[0]}-9][0-9]{{3}}-",
             "description": f"when the trip happened (default: now); from "
                            f"{EARLIEST_TIMESTAMP:%Y-%m-%d} to one day after the server's now"}

PROFILE_NAME = {"type": "string", "pattern": f"^{PROFILE_NAME_PATTERN.pattern}$",
                "minLength": 1, "maxLength": PROFILE_NAME_MAX, "description": PROFILE_NAME_RULE}

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

# An optional feature sent as null is absent (as the pipeline sends a missing one).
FEATURE_PROPERTIES = {
    name: {"type": "number" if name in REQUIRED else ["number", "null"],
           "minimum": RANGES[name][0], "maximum": RANGES[name][1]}
    for name in FEATURES
}

PREDICT_REQUEST = {
    "type": "object",
    "required": ["vehicle_id", *sorted(REQUIRED)],
    "properties": {
        "vehicle_id": VEHICLE_ID,
        # null means absent for every optional field, as the pipeline sends a missing one.
        # The profile names the server knows: `predict_request` puts them in.
        "profile": {"type": ["string", "null"]},
        "idempotency_key": {**IDEMPOTENCY_KEY, "type": ["string", "null"]},
        # A file name as stored: printable (the API refuses control characters); null: none.
        "source_file": {"type": ["string", "null"], "maxLength": SOURCE_FILE_MAX,
                        "pattern": "^[^\\u0000-\\u001f\\u007f]*$"},
        "timestamp": TIMESTAMP,
        # What the pipeline sends for an unregistered vehicle instead of `profile`.
        "assumed_profile": {**PROFILE_NAME, "type": ["string", "null"],
                            "description": "the profile the sender read the trip with because "
                                           "the vehicle is not registered; used only when "
                                           "neither `profile` nor the fleet registry names one "
                                           "(the answer says profile_source: assumed); a name "
                                           "this server does not know counts as none"},
        "pack_guess": {"type": ["string", "null"], "maxLength": PACK_GUESS_MAX,
                       "pattern": "^[^\\u0000-\\u001f\\u007f]*$",
                       "description": "what the trip says about its own pack (cells in "
                                      "series, capacity, chemistry), quoted in the "
                                      "assumed-profile warning"},
        **FEATURE_PROPERTIES,
    },
    "additionalProperties": True,
}


def predict_request(profiles: list[str]) -> dict:
    """The /predict row schema for a server that knows these profile names."""
    properties = dict(PREDICT_REQUEST["properties"])  # "profile" keeps its place
    properties["profile"] = {"enum": [*profiles, None],
                             "description": "vehicle profile: a built-in or a user-defined "
                                            "one (GET /profiles; a server's /openapi.json "
                                            "lists its own); default: the fleet registry's"}
    return {**PREDICT_REQUEST, "properties": properties}


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
        "soh_low": {"type": ["number", "null"],
                    "description": "90 % interval of predicted_soh, lower end: how well the "
                                   "trip's SOC window was read (soc_error) and the model's "
                                   "own error, in quadrature (docs/MODEL_REPORT.md); null for "
                                   "a record stored before intervals"},
        "soh_high": {"type": ["number", "null"],
                     "description": "90 % interval of predicted_soh, upper end"},
        "sop_low": {"type": ["number", "null"],
                    "description": "90 % interval of predicted_sop (W), lower end"},
        "sop_high": {"type": ["number", "null"],
                     "description": "90 % interval of predicted_sop (W), upper end"},
        "profile_source": {"type": "string", "enum": list(PROFILE_SOURCES),
                           "description": "given: the request named the profile; registered: "
                                          "the fleet registry's; assumed: neither (a default "
                                          "profile, or none), always low confidence"},
        "confidence": {"type": "string", "enum": list(CONFIDENCES),
                       "description": "low: profile assumed, or SOC window under 5 % (or "
                                      "unknown), or capacity read only to worse than ±15 % "
                                      "(soc_error / window); medium: no temperature, or window "
                                      "under 20 %, or a read worse than ±5 %; high: otherwise. "
                                      "A low-confidence prediction is "
                                      "never Priority_Maintenance (capped at Monitor, with a "
                                      "warning). In /predict answers"},
        "duplicate": {"type": "boolean",
                      "description": "true when the idempotency key was seen: this is the "
                                     "first prediction, unchanged"},
        "explanation": {"type": "array", "items": CONTRIBUTION},
    },
}

VEHICLE = {
    "type": "object",
    "required": [*PREDICTION["required"], "robust_soh", "latest_predicted_soh",
                 "vehicle_status"],
    "properties": {**PREDICTION["properties"],
                   "robust_soh": {"type": ["number", "null"]},
                   "robust_soh_low": {"type": ["number", "null"],
                                      "description": "90 % interval of robust_soh, lower "
                                                     "end: its trips' intervals combined, "
                                                     "never narrower than the models' own "
                                                     "error on real cells; null without "
                                                     "trips that have intervals"},
                   "robust_soh_high": {"type": ["number", "null"],
                                       "description": "90 % interval of robust_soh, upper "
                                                      "end"},
                   "latest_predicted_soh": {"type": "number"},
                   "trips_in_estimate": {"type": "integer"},
                   "vehicle_status": {"enum": list(STATUSES),
                                      "description": "the vehicle's status: its robust SoH's "
                                                     "(with the latest SoP), but never "
                                                     "Priority_Maintenance while the robust "
                                                     "interval's upper end is Healthy (then "
                                                     "Monitor); `status` is the latest trip's"},
                   "vehicle_status_reason": {"type": ["string", "null"],
                                             "description": "why vehicle_status is Monitor "
                                                            "where the estimate says "
                                                            "Priority_Maintenance; else null"}},
}

PROFILE = {
    "type": "object",
    "required": ["name", "label", "kind", "chemistry", "series", "parallel", "cell_capacity_ah",
                 "pack_capacity_ah", "cell_v_min", "cell_v_max", "rated_peak_power_w",
                 "rated_power_source", "source"],
    "properties": {
        "name": PROFILE_NAME, "label": {"type": "string"},
        "kind": {"enum": list(KINDS), "description": "a vehicle pack or a lab cell"},
        "chemistry": {"type": "string", "description": "OCV curve family (nmc, lfp, …)"},
        "series": {"type": "integer", "minimum": 1, "description": "cells in series"},
        "parallel": {"type": "integer", "minimum": 1, "description": "cells in parallel"},
        "cell_capacity_ah": {"type": "number", "description": "rated cell capacity, Ah"},
        "pack_capacity_ah": {"type": "number", "description": "cell capacity × parallel"},
        "cell_v_min": {"type": "number", "description": "cell cut-off voltage, V"},
        "cell_v_max": {"type": "number", "description": "cell full-charge voltage, V"},
        "rated_peak_power_w": {"type": "number", "description": "new pack's 10-s peak "
                               "discharge power at 50 % SOC and 25 °C, W (the health score's "
                               "rated SoP)"},
        "rated_power_source": {"enum": list(RATED_POWER_SOURCES),
                               "description": "stated, derived from the cell resistance, or "
                                              "from a typical new cell of that capacity"},
        "source": {"enum": list(SOURCES), "description": "shipped, or added as data "
                                                         "(`evpm profile add`)"},
    },
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


# The database cannot take the read or write (down, read-only, disk full): nothing is stored.
UNAVAILABLE = {"503": {**_json({"$ref": "#/components/schemas/Error"},
                               "database unavailable: nothing stored, retry after Retry-After"),
                       "headers": {"Retry-After": {"required": True,
                                                   "schema": {"type": "integer", "minimum": 0},
                                                   "description": "seconds"}}}}

# Refusals of the HTTP server (gunicorn) itself, before the API sees the request: any
# operation can get them, as a short HTML page.
SERVER_REFUSALS = {
    "414": {"description": "request line (path and query) longer than the HTTP server accepts",
            "content": {"text/html": {}}},
    "431": {"description": "a header longer, or more headers, than the HTTP server accepts",
            "content": {"text/html": {}}},
}


def _with_server_refusals(paths: dict) -> dict:
    for item in paths.values():
        for operation in item.values():
            for code, response in SERVER_REFUSALS.items():
                operation["responses"].setdefault(code, response)
    return paths


def document(settings: Settings | None = None) -> dict:
    """The whole OpenAPI document, for a server with `settings` (default: the defaults)."""
    secured = [{"bearer": []}]
    # The batch limit is a setting (EVPM_MAX_BATCH_ROWS): the server's own, read where it is.
    max_rows = (settings or Settings()).max_batch_rows
    max_explain = (settings or Settings()).max_explain_rows
    # A live server's document names the profiles it knows now, user ones included (added
    # without a restart); without settings (the reference doc) the built-ins only.
    profiles = list(all_profiles() if settings is not None else PROFILES)
    return {
        "openapi": "3.1.0",
        "info": {"title": "EV fleet battery health API", "version": __version__,
                 "description": "SoH / SoP predictions for EV fleets. Auth (bearer JWT) applies "
                                "when the server has EVPM_JWT_SECRET set."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {"Error": ERROR, "PredictRequest": predict_request(profiles),
                        "Prediction": PREDICTION, "Vehicle": VEHICLE, "Profile": PROFILE,
                        "Health": HEALTH},
        },
        "paths": _with_server_refusals({
            "/predict": {"post": {
                "summary": "Predict SoH, SoP, health score and status; store the prediction",
                "security": secured,
                "parameters": [
                    {"name": "explain", "in": "query",
                     "schema": {"enum": ["true", "false", "1", "0"]},
                     "description": "add the top TreeSHAP feature contributions (for at most "
                                    f"{max_explain} rows a request, EVPM_MAX_EXPLAIN_ROWS; "
                                    "more: 422)"},
                    {"name": "Idempotency-Key", "in": "header", "schema": IDEMPOTENCY_KEY,
                     "description": "same key and request → the stored prediction; same key, "
                                    "another request → 422. A batch's rows without their own "
                                    "key get one derived from this key and the row index"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [{"$ref": "#/components/schemas/PredictRequest"},
                              {"type": "array", "minItems": 1, "maxItems": max_rows,
                               "items": {"$ref": "#/components/schemas/PredictRequest"}}]}}}},
                "responses": {
                    "200": _json({"oneOf": [
                        {"$ref": "#/components/schemas/Prediction"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}]},
                        "one prediction per row, in request order"),
                    **_errors(400, 401, 413, 415, 422), **UNAVAILABLE},
            }},
            "/vehicles": {"get": {
                "summary": "Latest state of every vehicle with its robust SoH, a page at a time",
                "security": secured,
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                 "maximum": VEHICLES_PAGE_MAX},
                     "description": f"vehicles per page (default {VEHICLES_PAGE_MAX})"},
                    {"name": "cursor", "in": "query", "schema": VEHICLE_ID,
                     "description": "the X-Next-Cursor of the previous page"}],
                "responses": {"200": {**_json({"type": "array", "items": {
                    "$ref": "#/components/schemas/Vehicle"}},
                    "one entry per vehicle, in vehicle-id order"), "headers": {
                        "X-Next-Cursor": {"schema": VEHICLE_ID,
                                          "description": "cursor of the next page, when one "
                                                         "follows"},
                        "Link": {"schema": {"type": "string"},
                                 "description": "the next page's URL, rel=\"next\""}}},
                    **_errors(401, 422), **UNAVAILABLE}}},
            "/vehicles/{vehicle_id}/history": {"get": {
                "summary": "A vehicle's predictions, oldest first",
                "security": secured,
                "parameters": [
                    {"name": "vehicle_id", "in": "path", "required": True,
                     "schema": VEHICLE_ID},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                 "maximum": HISTORY_LIMIT_MAX}}],
                "responses": {"200": _json({"type": "array", "items": {
                    "$ref": "#/components/schemas/Prediction"}}, "predictions"),
                    **_errors(401, 404, 422), **UNAVAILABLE}}},
            "/profiles": {"get": {
                "summary": "Every vehicle / pack profile, built-in and user-defined",
                "security": secured,
                "responses": {"200": _json({"type": "array", "items": {
                    "$ref": "#/components/schemas/Profile"}},
                    "built-ins first, then user profiles by name"),
                    **_errors(401)}}},
            "/profiles/{name}": {"get": {
                "summary": "One profile",
                "security": secured,
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": PROFILE_NAME}],
                "responses": {"200": _json({"$ref": "#/components/schemas/Profile"}, "profile"),
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
        }),
    }
