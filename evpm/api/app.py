"""Flask application factory: `create_app(settings)`; nothing is loaded at import time.

The views are in `evpm.api.routes`; here the app is put together: services, the token check
(every view but the `@public` ones), request metrics and the error responses.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from evpm.api.auth import check_header, is_public
from evpm.api.metrics import ApiMetrics
from evpm.api.routes import ApiError, Services, api
from evpm.predictor import Predictor
from evpm.profiles import RegistryCache
from evpm.settings import Settings
from evpm.storage import DatabaseUnavailableError, Storage, first_line

log = logging.getLogger("evpm.api")
RETRY_AFTER_S = 5  # a 503 (database down, disk full) asks the client to come back after this


def _error(status: int, error: str, details: list[dict] | None = None) -> Response:
    response = jsonify({"error": error, "details": details or []})
    response.status_code = status
    return response


def _unauthorized(secret: str) -> Response | None:
    """The 401 for a request to a non-public view without a valid token, else None."""
    view = current_app.view_functions.get(request.endpoint)
    if view is None or is_public(view):  # no such route: its 404 or 405 says so
        return None
    problem = check_header(request.headers.get("Authorization"), secret)
    if problem is None:
        return None
    response = _error(401, "unauthorized", [{"field": "Authorization", "problem": problem}])
    response.headers["WWW-Authenticate"] = 'Bearer realm="evpm"'
    return response


def _register_error_handlers(app: Flask) -> None:
    """Every error as JSON {"error", "details"}; a database that cannot serve is a 503."""

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


def create_app(settings: Settings | None = None, *, predictor: Predictor | None = None,
               storage: Storage | None = None) -> Flask:
    """Build the API: models loaded once, storage opened, routes registered."""
    settings = settings or Settings.from_env()
    settings.check_api_secret()
    predictor = predictor or Predictor.from_settings(settings)
    if storage is None:
        storage = Storage(settings.database_url)
        storage.init(wait_s=60.0)  # a database container may still be starting
    metrics = ApiMetrics()

    app = Flask("evpm.api", static_folder=None)  # no files served: no /static route
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    app.extensions["evpm"] = Services(settings, predictor, storage,
                                      RegistryCache(settings.registry_path), metrics)

    @app.before_request
    def start() -> Response | None:
        g.started = time.perf_counter()
        return _unauthorized(settings.jwt_secret) if settings.jwt_secret else None

    @app.after_request
    def observe(response: Response) -> Response:
        # The view's own name ("predict", not "api.predict"): the labels dashboards query.
        endpoint = request.endpoint.rpartition(".")[2] if request.endpoint else "unknown"
        metrics.observe(endpoint, request.method, response.status_code,
                        time.perf_counter() - g.get("started", time.perf_counter()))
        return response

    _register_error_handlers(app)
    app.register_blueprint(api)
    return app
