"""Serving the model API: the checks before it starts, then gunicorn in this process's place.

`evpm api` calls `serve_api`; the API benchmark builds its servers with `gunicorn_command`, so
its figures are the shipped server's.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from evpm.errors import EvpmError
from evpm.local import port_is_free

# Threaded workers: an idle or slow client holds one of 8 threads, not a whole worker, and
# evpm.api.gunicorn_conf drops a client that sends nothing for a while.
THREADED_WORKERS = ("--worker-class", "gthread", "--threads", "8", "--keep-alive", "5")

OPEN_API_WARNING = """
  ************************************************************************************
  WARNING: no EVPM_JWT_SECRET is set, so the API is OPEN: anyone who reaches
  {host} can store predictions and read every vehicle. Set EVPM_JWT_SECRET
  (openssl rand -hex 32) before binding anything but 127.0.0.1.
  ************************************************************************************
"""


def gunicorn_command(host: str, port: int, workers: int,
                     factory: str = "evpm.api.app:create_app()",
                     worker_args: tuple[str, ...] = THREADED_WORKERS) -> list[str]:
    """The gunicorn command line that serves the API (the benchmark serves its baseline so)."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), *worker_args,
            "--bind", f"{host}:{port}", "--timeout", "120", "--graceful-timeout", "20",
            "--log-level", "warning",
            # gunicorn's control socket has one default path per user: several servers on one
            # machine (tests, scaled replicas) would fight over it. Nothing here uses it.
            "--no-control-socket",
            "--config", "python:evpm.api.gunicorn_conf", factory]


def load_predictor(models: Path):
    """The models in a folder, or a one-line EvpmError saying to train them first."""
    from evpm.model_files import MODEL_CARD_FILE
    from evpm.predictor import Predictor

    if not (models / MODEL_CARD_FILE).exists():
        raise EvpmError(f"no models in {models}: run `evpm train` first")
    return Predictor.load(models)


def check_database(url: str, wait_s: float = 0.0) -> None:
    """Tables created and writes possible, else a one-line EvpmError saying why."""
    from evpm.settings import redact_url
    from evpm.storage import Storage

    storage = Storage(url)
    try:
        storage.init(wait_s=wait_s)
        problem = storage.write_problem()
    finally:
        storage.dispose()
    if problem:
        raise EvpmError(f"database {redact_url(url)} cannot be written: {problem}")


def _say(text: str) -> None:
    # Flushed: exec replaces this process, and with it anything still buffered.
    print(text, file=sys.stderr, flush=True)


def serve_api(host: str, port: int, workers: int) -> None:
    """Check settings, models and the port, then replace this process with gunicorn."""
    from evpm.settings import Settings, redact_url

    settings = Settings.from_env()  # fails fast on a bad or missing secret
    settings.check_api_secret()
    load_predictor(settings.models_dir)
    if not 1 <= workers <= 64:
        raise EvpmError(f"workers {workers} is outside 1..64")
    if not port_is_free(host, port):
        raise EvpmError(f"port {port} is already in use on {host}: stop what runs there or "
                        "choose another with --port")
    check_database(settings.database_url, wait_s=60.0)
    # Metrics from every worker are summed through files in this folder.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="evpm-metrics-")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    if not settings.jwt_secret:
        _say(OPEN_API_WARNING.format(host=host))
    auth = "on" if settings.jwt_secret else "OFF"
    _say(f"model API on http://{host}:{port} ({workers} workers, database "
         f"{redact_url(settings.database_url)}, auth {auth})")
    command = gunicorn_command(host, port, workers)
    os.execv(command[0], command)
