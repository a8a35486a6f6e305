"""Flask application factory: `create_app(settings)`; nothing is loaded at import time."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

import orjson
from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from evpm.api.auth import check_header
from evpm.api.metrics import ApiMetrics
from evpm.api.openapi import document
from evpm.api.schemas import missing_optional, parse_rows
from evpm.health import StatusRules
from evpm.predictor import Predictor
from evpm.profiles import VEHICLE_ID_PATTERN, RegistryCache
from evpm.service import fleet_snapshot, predict_and_store, record_json
from evpm.settings import Settings
from evpm.storage import Storage

log = logging.getLogger("evpm.api")
PROTECTED = {"predict", "vehicles", "vehicle_history", "model"}
OUT_OF_RANGE = "outside the training range"  # the predictor's range warnings


class ApiError(Exception):
    """A client mistake: status code, message and per-field details."""

    def __init__(self, status: int, error: str, details: list[dict] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details or []


def _error(status: int, error: str, details: list[dict] | None = None) -> Response:
    response = jsonify({"error": error, "details": details or []})
    response.status_code = status
    return response


def _read_json() -> object:
    """The request body as JSON, or the right 415 / 413 / 400."""
    if request.mimetype != "application/json":
        raise ApiError(415, f"content type must be application/json, not "
                            f"{request.mimetype or 'missing'}")
    raw = request.get_data(cache=False)  # raises 413 over MAX_CONTENT_LENGTH
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # the standard parser also reads NaN / Infinity, which get a 422 naming the field
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "malformed JSON", [{"field": "(body)", "problem": str(exc)}]) \
            from None


def _parse_rows(body: object, max_rows: int, key: str | None):
    many = isinstance(body, list)
    items = body if many else [body]
    if many and not items:
        raise ApiError(422, "empty batch", [{"field": "(body)", "problem": "no rows"}])
    if len(items) > max_rows:
        raise ApiError(413, f"batch of {len(items)} rows exceeds the limit of {max_rows}")
    batch, problems = parse_rows(items, many)
    if problems:
        raise ApiError(422, "invalid request", problems)
    if key:
        batch.idempotency_keys = [own or (f"{key}:{index}" if many else key)
                                  for index, own in enumerate(batch.idempotency_keys)]
    return batch, many


def create_app(settings: Settings | None = None, *, predictor: Predictor | None = None,
               storage: Storage | None = None) -> Flask:
    """Build the API: models loaded once, storage opened, routes registered."""
    settings = settings or Settings.from_env()
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
        return _error(exc.code or 500, exc.name.lower(), [{"field": "(request)",
                                                           "problem": exc.description}])

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.path)
        return _error(500, "internal error", [{"field": "(server)",
                                               "problem": type(exc).__name__}])

    @app.post("/predict")
    def predict() -> Response:
        batch, many = _parse_rows(_read_json(), settings.max_batch_rows,
                                  request.headers.get("Idempotency-Key"))
        explain = request.args.get("explain", "").lower() in ("1", "true", "yes")
        results = predict_and_store(batch, predictor, storage, registry.current(),
                                    explain=explain)
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
        return jsonify(fleet_snapshot(storage))

    @app.get("/vehicles/<vehicle_id>/history")
    def vehicle_history(vehicle_id: str) -> Response:
        if not VEHICLE_ID_PATTERN.fullmatch(vehicle_id):
            raise ApiError(422, "invalid vehicle id", [{"field": "vehicle_id",
                                                        "problem": "not a valid vehicle id"}])
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
        database = "ok" if storage.ping() else "unreachable"
        body = {"status": "ok" if database == "ok" else "degraded", "models_loaded": True,
                "database": database, "model_version": predictor.version}
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
