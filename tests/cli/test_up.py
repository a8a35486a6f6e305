"""`evpm up`: everything checked before anything starts (the whole run: test_local_run.py)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from evpm.cli import app
from tests.processes import free_ports


def test_up_names_a_port_conflict_before_starting_anything(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("EVPM_JWT_SECRET", "cli-test-secret-0123456789abcdefghij")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    api, dashboard, metrics = free_ports(3)
    monkeypatch.setenv("EVPM_WATCH_METRICS_PORT", str(metrics))
    same = runner.invoke(app, ["up", "--api-port", str(api), "--dashboard-port", str(api)])
    assert same.exit_code == 2 and "three different ports" in same.output
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", dashboard))
        busy.listen()
        taken = runner.invoke(app, ["up", "--api-port", str(api), "--dashboard-port",
                                    str(dashboard)])
    assert taken.exit_code == 2 and f"port {dashboard} (dashboard) is already in use" in \
        taken.output
    assert not (tmp_path / "db.sqlite").exists()  # nothing seeded, nothing started


def test_up_takes_its_ports_from_the_settings(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("EVPM_JWT_SECRET", "cli-test-secret-0123456789abcdefghij")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    [port] = free_ports(1)
    monkeypatch.setenv("EVPM_API_PORT", str(port))
    monkeypatch.setenv("EVPM_DASHBOARD_PORT", str(port))
    monkeypatch.setenv("EVPM_WATCH_METRICS_PORT", "0")
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 2 and f"different ports, not {port}, {port}" in result.output
