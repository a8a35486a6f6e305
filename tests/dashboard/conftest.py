"""Fixtures of the dashboard tests: the page run by Streamlit's AppTest on a database."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.test_fleet import fleet  # noqa: F401 — the known-data fixture
from tests.processes import REPO, free_port

APP = str(REPO / "evpm" / "dashboard" / "app.py")
# Access settings a developer's shell may hold; every test starts without them.
ACCESS_ENV = ("EVPM_DASHBOARD_PASSWORD", "EVPM_REQUIRE_AUTH", "EVPM_DASHBOARD_REQUIRE_AUTH")


@pytest.fixture
def page(monkeypatch):
    """A function: the page on a database URL, run once (open: no password, no OIDC)."""
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{free_port()}/predict")
    monkeypatch.setenv("EVPM_MODELS_DIR", str(REPO / "models"))
    for name in ACCESS_ENV:
        monkeypatch.delenv(name, raising=False)

    def run(url: str, check: bool = True) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        app = AppTest.from_file(APP, default_timeout=60)
        app.run()
        if check:
            assert not app.exception, app.exception
        return app

    return run


@pytest.fixture
def known(fleet, tmp_path):  # noqa: F811 — the fixture imported above
    """The URL of the known fleet's SQLite database (vehicles A, B, C)."""
    return f"sqlite:///{tmp_path / 'db.sqlite'}"
