"""Flask application factory: `create_app(settings)`; nothing is loaded at import time."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter

import orjson
from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from evpm.api.auth import check_header
from evpm.api.metrics import ApiMetrics
from evpm.api.openapi import document
from evpm.api.schemas import (
    IDEMPOTENCY_KEY_RULE,
    VEHICLE_ID_RULE,
    missing_optional,
    parse_rows,
    valid_idempotency_key,
    valid_vehicle_id,
)
from evpm.health import StatusRules
from evpm.predictor import Predictor
from evpm.profiles import RegistryCache
from evpm.service import fleet_snapshot, predict_and_store, record_json
from evpm.settings import Settings
from evpm.storage import (
    DatabaseUnavailableError,
    IdempotencyConflictError,
    Storage,
    first_line,
)

log = logging.getLogger("evpm.api")
PROTECTED = {"predict", "vehicles", "vehicle_history", "model"}
OUT_OF_RANGE = "outside the training range"  # the predictor's range warnings
VEHICLES_PAGE_MAX = 1000  # /vehicles: at most this many vehicles per page (the default)
RETRY_AFTER_S = 5  # a 503 (database down, disk full) asks the client to come back after this


class ApiError(Exception):
    """A client mistake: status code, message and per-field details."""

    def __init__(self, status: int, error: str, details: list[dict] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []


def _error(status: int, error: str, details: list[dict] | None = None) -> Response:
    response = jsonify({"error": error, "details": details or []})
    response.status_code = status
    return response


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


def _parse_rows(body: object, max_rows: int, key: str | None):
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


EXPLAIN_VALUES = {"true": True, "1": True, "false": False, "0": False}


def _explain_arg() -> bool:
    """/predict's `explain` query parameter: true/1 or false/0 (absent: false)."""
    raw = request.args.get("explain")
    if raw is None:
        return False
    if raw not in EXPLAIN_VALUES:
        raise ApiError(422, "invalid explain", [{
            "field": "explain", "problem": "must be true, false, 1 or 0"}])
    return EXPLAIN_VALUES[raw]


def _page_args() -> tuple[int, str | None]:
    """/vehicles' `limit` and `cursor` query parameters, checked."""
    limit = request.args.get("limit", type=int)
    if "limit" in request.args and (limit is None or not 1 <= limit <= VEHICLES_PAGE_MAX):
        raise ApiError(422, "invalid limit", [{
            "field": "limit", "problem": f"must be an integer 1-{VEHICLES_PAGE_MAX}"}])
    cursor = request.args.get("cursor")
    if cursor is not None and not valid_vehicle_id(cursor):
        raise ApiError(422, "invalid cursor", [{
            "field": "cursor", "problem": "must be the vehicle id of a previous page's "
                                         f"X-Next-Cursor header ({VEHICLE_ID_RULE})"}])
    return limit or VEHICLES_PAGE_MAX, cursor


def create_app(settings: Settings | None = None, *, predictor: Predictor | None = None,
               storage: Storage | None = None) -> Flask:
    """Build the API: models loaded once, storage opened, routes registered."""
    settings = settings or Settings.from_env()
    settings.check_api_secret()
    rules = StatusRules(priority_score=settings.priority_score,
                        monitor_score=settings.monitor_score)
    predictor = predictor or Predictor.load(settings.models_dir, rules)
    if storage is None:
        storage = Storage(settings.database_url)
        storage.init(wait_s=60.0)  # a database container may still be starting
    registry = RegistryCache(settings.registry_path)
    metrics = ApiMetrics()

    app = Flask("evpm.api")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["evpm"] = {"settings": settings, "predictor": predictor,
                              "storage": storage, "metrics": metrics}

    @app.before_request
    def start() -> Response | None:
        g.started = time.perf_counter()
        if settings.jwt_secret and request.endpoint in PROTECTED:
            problem = check_header(request.headers.get("Authorization"), settings.jwt_secret)
            if problem:
                response = _error(401, "unauthorized", [{"field": "Authorization",
                                                         "problem": problem}])
                response.headers["WWW-Authenticate"] = 'Bearer realm="evpm"'
                return response
        return None

    @app.after_request
    def observe(response: Response) -> Response:
        endpoint = request.endpoint or "unknown"
        metrics.observe(endpoint, request.method, response.status_code,
                        time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.error, exc.details)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = _error(exc.code or 500, exc.name.lower(), [{"field": "(request)",
                                                               "problem": exc.description}])
        for name, value in exc.get_headers():  # e.g. Allow on a 405
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(DatabaseUnavailableError)
    @app.errorhandler(OperationalError)
    def database_unavailable(exc: Exception) -> Response:
        exc = exc if isinstance(exc, DatabaseUnavailableError) else \
            DatabaseUnavailableError(first_line(exc))
        log.error("database unavailable: %s", exc)
        response = _error(503, "database unavailable", [{
            "field": "(server)", "problem": f"{exc}; nothing was stored, retry later"}])
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.path)
        return _error(500, "internal error", [{"field": "(server)",
                                               "problem": type(exc).__name__}])

    @app.post("/predict")
    def predict() -> Response:
        header_key = request.headers.get("Idempotency-Key")
        batch, many = _parse_rows(_read_json(settings.max_body_bytes), settings.max_batch_rows,
                                  header_key)
        explain = _explain_arg()
        try:
            results = predict_and_store(batch, predictor, storage, registry.current(),
                                        explain=explain)
        except IdempotencyConflictError as exc:
            raise _conflict(exc, many, header_key) from None
        metrics.rows.inc(len(results))
        metrics.out_of_range.inc(sum(OUT_OF_RANGE in w for r in results for w in r["warnings"]))
        metrics.missing.inc(missing_optional(batch.matrix))
        # A trip sent again is answered, not predicted again: counted once.
        for status, count in Counter(r["status"] for r in results
                                     if not r["duplicate"]).items():
            metrics.predictions.labels(status).inc(count)
        return Response(orjson.dumps(results if many else results[0]),
                        content_type="application/json")

    @app.get("/vehicles")
    def vehicles() -> Response:
        limit, cursor = _page_args()
        # One vehicle more than the page tells whether another page follows.
        page = fleet_snapshot(storage, after=cursor, limit=limit + 1)
        response = jsonify(page[:limit])
        if len(page) > limit:
            following = page[limit - 1]["vehicle_id"]
            response.headers["X-Next-Cursor"] = following
            response.headers["Link"] = (f'</vehicles?limit={limit}&cursor={following}>; '
                                        'rel="next"')
        return response

    @app.get("/vehicles/<vehicle_id>/history")
    def vehicle_history(vehicle_id: str) -> Response:
        if not valid_vehicle_id(vehicle_id):
            raise ApiError(422, "invalid vehicle id", [{"field": "vehicle_id",
                                                        "problem": f"must be {VEHICLE_ID_RULE}"}])
        limit = request.args.get("limit", type=int)
        if "limit" in request.args and (limit is None or not 1 <= limit <= 100_000):
            raise ApiError(422, "invalid limit", [{"field": "limit",
                                                   "problem": "must be an integer 1-100000"}])
        records = storage.history(vehicle_id, limit)
        if not records:
            raise ApiError(404, f"no predictions for vehicle {vehicle_id}")
        return jsonify([record_json(r) for r in records])

    @app.get("/model")
    def model() -> Response:
        return jsonify(predictor.card)

    @app.get("/health")
    def health() -> Response:
        problem = storage.write_problem() if storage.ping() else "unreachable"
        database = "ok" if problem is None else \
            ("unreachable" if problem == "unreachable" else "not writable")
        body = {"status": "ok" if database == "ok" else "degraded", "models_loaded": True,
                "database": database, "model_version": predictor.version}
        if problem is not None and database != "unreachable":
            body["database_problem"] = problem
        response = jsonify(body)
        response.status_code = 200 if database == "ok" else 503
        return response

    @app.get("/metrics")
    def prometheus() -> Response:
        payload, content_type = metrics.exposition(storage.size_bytes())
        return Response(payload, content_type=content_type)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(document())

    return app
