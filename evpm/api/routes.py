"""The API's views, in one blueprint, and the request checks they share.

Every view needs a valid token when the server has a secret, unless it is marked `@public`
(evpm.api.auth): a new view is closed until someone decides otherwise. The views find the
models, the database and the settings in `Services`, which `create_app` builds once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass

import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from evpm.api.auth import public
from evpm.api.metrics import ApiMetrics
from evpm.api.openapi import document
from evpm.api.schemas import (
    missing_optional,
    parse_rows,
    valid_idempotency_key,
    valid_vehicle_id,
)
from evpm.batch import ParsedBatch
from evpm.contract import (
    HISTORY_LIMIT_MAX,
    IDEMPOTENCY_KEY_RULE,
    VEHICLE_ID_RULE,
    VEHICLES_PAGE_MAX,
)
from evpm.predictor import Predictor
from evpm.profiles import (
    PROFILE_NAME_MAX,
    PROFILE_NAME_PATTERN,
    PROFILE_NAME_RULE,
    RegistryCache,
    all_profiles,
    profile_summary,
)
from evpm.service import fleet_snapshot, predict_and_store, prediction_objects, record_columns
from evpm.settings import Settings
from evpm.storage import IdempotencyConflictError, Storage

api = Blueprint("api", __name__)
OUT_OF_RANGE = "outside the training range"  # the predictor's range warnings
EXPLAIN_VALUES = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class Services:
    """What the views work with, made once per app by `create_app`."""

    settings: Settings
    predictor: Predictor
    storage: Storage
    registry: RegistryCache
    metrics: ApiMetrics


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["evpm"]


class ApiError(Exception):
    """A client mistake: status code, message and per-field details."""

    def __init__(self, status: int, error: str, details: list[dict] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []


def _read_body(limit: int) -> bytes:
    """The raw body, at most `limit` bytes, or 413 — a chunked body (no length) included."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        # A chunked body: the server ends the stream; Werkzeug's own guard would cut it at
        # the limit without a word, so read one byte past the limit to tell "too large".
        raw = request.environ["wsgi.input"].read(limit + 1)
    else:
        raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
    return raw


def _read_json(limit: int) -> object:
    """The request body as JSON, or the right 415 / 413 / 400."""
    if request.mimetype != "application/json":
        raise ApiError(415, f"content type must be application/json, not "
                            f"{request.mimetype or 'missing'}")
    raw = _read_body(limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # the standard parser also reads NaN / Infinity, which get a 422 naming the field
    try:
        return json.loads(raw)
    except RecursionError:
        raise ApiError(400, "malformed JSON", [{"field": "(body)",
                                                "problem": "nested too deeply"}]) from None
    except ValueError as exc:  # also UnicodeDecodeError, and integers of over 4,300 digits
        raise ApiError(400, "malformed JSON", [{"field": "(body)", "problem": str(exc)}]) \
            from None


def batch_row_key(header_key: str, index: int) -> str:
    """The stored key of row `index` of a batch sent with `Idempotency-Key: header_key`.

    It holds a space, which client keys cannot, so it never equals a key sent for a single
    request; hashing keeps it short whatever the header's length.
    """
    return f"{hashlib.sha256(header_key.encode()).hexdigest()[:32]} {index}"


def _parse_rows(body: object, max_rows: int, key: str | None) -> tuple[ParsedBatch, bool]:
    """The request's rows, checked, and whether it was a batch (a JSON array)."""
    many = isinstance(body, list)
    items = body if many else [body]
    if many and not items:
        raise ApiError(422, "empty batch", [{"field": "(body)", "problem": "no rows"}])
    if len(items) > max_rows:
        raise ApiError(413, f"batch of {len(items)} rows exceeds the limit of {max_rows}")
    if key is not None and not valid_idempotency_key(key):
        raise ApiError(422, "invalid Idempotency-Key header", [
            {"field": "Idempotency-Key", "problem": f"must be {IDEMPOTENCY_KEY_RULE}"}])
    batch, problems = parse_rows(items, many)
    if problems:
        raise ApiError(422, "invalid request", problems)
    if key:
        batch.idempotency_keys = [own or (batch_row_key(key, index) if many else key)
                                  for index, own in enumerate(batch.idempotency_keys)]
    return batch, many


def _conflict(exc: IdempotencyConflictError, many: bool, header_key: str | None) -> ApiError:
    """The 422 for a key reused with another request, naming where the key came from."""
    if header_key is not None and (not many or " " in exc.key):
        where, key = "Idempotency-Key", header_key
    else:
        where, key = (f"[{exc.index}].idempotency_key" if many else "idempotency_key"), exc.key
    return ApiError(422, "idempotency key reused", [{
        "field": where, "problem": f"key {key!r} was already used for a different request "
                                   f"({exc.field} differs): send a new key for a new request"}])


def _explain_arg() -> bool:
    """/predict's `explain` query parameter: true/1 or false/0 (absent: false)."""
    raw = request.args.get("explain")
    if raw is None:
        return False
    if raw not in EXPLAIN_VALUES:
        raise ApiError(422, "invalid explain", [{
            "field": "explain", "problem": "must be true, false, 1 or 0"}])
    return EXPLAIN_VALUES[raw]


def _limit_arg(largest: int) -> int | None:
    """The `limit` query parameter, an integer 1-`largest` (None when absent)."""
    limit = request.args.get("limit", type=int)
    if "limit" in request.args and (limit is None or not 1 <= limit <= largest):
        raise ApiError(422, "invalid limit", [{
            "field": "limit", "problem": f"must be an integer 1-{largest}"}])
    return limit


def _page_args() -> tuple[int, str | None]:
    """/vehicles' `limit` and `cursor` query parameters, checked."""
    limit = _limit_arg(VEHICLES_PAGE_MAX)
    cursor = request.args.get("cursor")
    if cursor is not None and not valid_vehicle_id(cursor):
        raise ApiError(422, "invalid cursor", [{
            "field": "cursor", "problem": "must be the vehicle id of a previous page's "
                                         f"X-Next-Cursor header ({VEHICLE_ID_RULE})"}])
    return limit or VEHICLES_PAGE_MAX, cursor


@api.post("/predict")
def predict() -> Response:
    """Predict, store and answer one row or a batch."""
    s = services()
    header_key = request.headers.get("Idempotency-Key")
    batch, many = _parse_rows(_read_json(s.settings.max_body_bytes), s.settings.max_batch_rows,
                              header_key)
    explain = _explain_arg()
    rows = len(batch.matrix)
    if explain and rows > s.settings.max_explain_rows:
        raise ApiError(422, "too many rows to explain", [{
            "field": "explain", "problem": f"explanations are given for at most "
            f"{s.settings.max_explain_rows} rows a request (EVPM_MAX_EXPLAIN_ROWS), this one has "
            f"{rows}: send explain=false, or smaller batches"}])
    try:
        results = predict_and_store(batch, s.predictor, s.storage, s.registry.current(),
                                    explain=explain)
    except IdempotencyConflictError as exc:
        raise _conflict(exc, many, header_key) from None
    metrics = s.metrics
    metrics.rows.inc(len(results))
    metrics.out_of_range.inc(sum(OUT_OF_RANGE in w for r in results for w in r["warnings"]))
    metrics.missing.inc(missing_optional(batch.matrix))
    # A trip sent again is answered, not predicted again: counted once.
    for status, count in Counter(r["status"] for r in results if not r["duplicate"]).items():
        metrics.predictions.labels(status).inc(count)
    return Response(orjson.dumps(results if many else results[0]),
                    content_type="application/json")


@api.get("/vehicles")
def vehicles() -> Response:
    """The latest state of every vehicle, a page at a time."""
    limit, cursor = _page_args()
    # One vehicle more than the page tells whether another page follows.
    s = services()  # the vehicle's status by the rules its predictions were judged by
    page = fleet_snapshot(s.storage, after=cursor, limit=limit + 1, rules=s.predictor.rules)
    response = jsonify(page[:limit])
    if len(page) > limit:
        following = page[limit - 1]["vehicle_id"]
        response.headers["X-Next-Cursor"] = following
        response.headers["Link"] = f'</vehicles?limit={limit}&cursor={following}>; rel="next"'
    return response


@api.get("/vehicles/<vehicle_id>/history")
def vehicle_history(vehicle_id: str) -> Response:
    """A vehicle's predictions, oldest first."""
    if not valid_vehicle_id(vehicle_id):
        raise ApiError(422, "invalid vehicle id", [{"field": "vehicle_id",
                                                    "problem": f"must be {VEHICLE_ID_RULE}"}])
    records = services().storage.history(vehicle_id, _limit_arg(HISTORY_LIMIT_MAX))
    if not records:
        raise ApiError(404, f"no predictions for vehicle {vehicle_id}")
    return jsonify(prediction_objects(record_columns(records)))


@api.get("/profiles")
def profiles() -> Response:
    """Every profile, built-in and user-defined (the user file as it is now)."""
    catalog = all_profiles()
    builtin = [p for p in catalog.values() if p.source == "builtin"]
    user = sorted((p for p in catalog.values() if p.source != "builtin"), key=lambda p: p.name)
    return jsonify([profile_summary(p) for p in builtin + user])


@api.get("/profiles/<name>")
def profile(name: str) -> Response:
    """One profile by name."""
    if len(name) > PROFILE_NAME_MAX or not PROFILE_NAME_PATTERN.fullmatch(name):
        raise ApiError(422, "invalid profile name", [{"field": "name",
                                                      "problem": f"must be {PROFILE_NAME_RULE}"}])
    catalog = all_profiles()
    if name not in catalog:
        raise ApiError(404, f"unknown profile {name}", [{
            "field": "name", "problem": f"valid: {', '.join(catalog)}"}])
    return jsonify(profile_summary(catalog[name]))


@api.get("/model")
def model() -> Response:
    """The model card."""
    return jsonify(services().predictor.card)


@api.get("/health")
@public  # for load balancers and orchestrators, which hold no token
def health() -> Response:
    """Models loaded and the database reachable and writable."""
    s = services()
    problem = s.storage.write_problem() if s.storage.ping() else "unreachable"
    database = "ok" if problem is None else \
        ("unreachable" if problem == "unreachable" else "not writable")
    body = {"status": "ok" if database == "ok" else "degraded", "models_loaded": True,
            "database": database, "model_version": s.predictor.version}
    if problem is not None and database != "unreachable":
        body["database_problem"] = problem
    response = jsonify(body)
    response.status_code = 200 if database == "ok" else 503
    return response


@api.get("/metrics")
@public  # for Prometheus: counts only, no fleet data
def prometheus() -> Response:
    """Prometheus metrics."""
    s = services()
    payload, content_type = s.metrics.exposition(s.storage.size_bytes())
    return Response(payload, content_type=content_type)


@api.get("/openapi.json")
@public  # the contract, for integrators before they hold a token
def openapi() -> Response:
    """The OpenAPI document."""
    return jsonify(document(services().settings))
