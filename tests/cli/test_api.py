"""`evpm api token` (serving itself: tests/api/test_server.py, tests/api/test_serve.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from evpm.cli import app
from evpm.cli.api import api_token
from tests.cli.helpers import one_line_error

SECRET = "cli-test-secret-0123456789abcdefghij"


def test_api_token_is_signed_with_the_secret(monkeypatch):
    from evpm.api.auth import check_header

    monkeypatch.setenv("EVPM_JWT_SECRET", SECRET)
    token = api_token(subject="fleet-ops", days=1.0)
    assert check_header(f"Bearer {token}", SECRET) is None
    assert check_header(f"Bearer {token}", SECRET.upper()) is not None


def test_api_token_lifetime_is_capped(monkeypatch):
    monkeypatch.setenv("EVPM_JWT_SECRET", SECRET)
    one_line_error(CliRunner().invoke(app, ["api", "token", "--days", "3650"]), "at most 365")
