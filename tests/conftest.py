"""Shared fixtures: the repo, a temporary database (SQLite and, when reachable, PostgreSQL),
an API app built by the factory with test settings, and its client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
POSTGRES_URL = os.environ.get("EVPM_TEST_POSTGRES_URL",
                              "postgresql://evpm:evpm@localhost:5432/evpm_test")


@pytest.fixture(scope="session")
def repo() -> Path:
    """The project checkout."""
    return REPO


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 — any failure: not reachable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL; skipped when none (unless EVPM_REQUIRE_POSTGRES=1: fail)."""
    problem = _postgres_reachable()
    if problem:
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})"
        if os.environ.get("EVPM_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; EVPM_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(message + "; `bash scripts/start-postgres.sh` starts one")
    return POSTGRES_URL


def _fresh_postgres(url: str):
    from evpm.storage import Storage, metadata

    storage = Storage(url)
    metadata.drop_all(storage.engine)
    storage.init()
    return storage


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    """An empty database of each kind, tables created."""
    from evpm.storage import Storage

    if request.param == "sqlite":
        store = Storage(f"sqlite:///{tmp_path / 'fleet_health.db'}")
        store.init()
    else:
        store = _fresh_postgres(request.getfixturevalue("postgres_url"))
    yield store
    store.dispose()


@pytest.fixture(scope="session")
def predictor():
    """The shipped models, loaded once for the whole test session."""
    from evpm.predictor import Predictor

    return Predictor.load(REPO / "models")


@pytest.fixture
def settings(tmp_path):
    """Test settings: a temporary registry, no auth."""
    from evpm.settings import Settings

    registry = tmp_path / "fleet_registry.csv"
    registry.write_text("vehicle_id,profile\nLEAF1,nissan-leaf-30\n")
    return Settings(database_url=f"sqlite:///{tmp_path / 'fleet_health.db'}",
                    models_dir=REPO / "models", registry_path=registry)


@pytest.fixture
def app(settings, storage, predictor):
    """The API built by the factory with the test settings, on each database."""
    from evpm.api.app import create_app

    application = create_app(settings, predictor=predictor, storage=storage)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One real API server (gunicorn, SQLite, no auth) for a module's tests."""
    from tests.processes import ApiProcess

    server = ApiProcess(tmp_path_factory.mktemp("api")).start()
    yield server
    server.stop()


@pytest.fixture
def folders(tmp_path):
    """The watcher's four folders, created, on one file system."""
    from evpm.pipeline import Folders

    return Folders(tmp_path / "incoming", tmp_path / "processing", tmp_path / "archive",
                   tmp_path / "failed").ensure()


@pytest.fixture
def profiles_file(tmp_path, monkeypatch):
    """A user profiles file of the test's own (EVPM_PROFILES, not written yet): this
    process and the servers it starts read it instead of the checkout's data/profiles.json."""
    path = tmp_path / "profiles.json"
    monkeypatch.setenv("EVPM_PROFILES", str(path))
    return path
