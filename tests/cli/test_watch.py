"""`evpm watch`: options over settings over defaults, all through WatchOptions.from_settings."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import evpm.pipeline as pipeline
from evpm.cli import app
from evpm.pipeline import Summary, Watcher, WatchOptions
from evpm.settings import Settings


def test_watch_options_come_from_the_settings():
    settings = Settings.from_env({"EVPM_POLL_SECONDS": "3", "EVPM_SETTLE_SECONDS": "1.5",
                                  "EVPM_WATCH_BATCH_FILES": "7",
                                  "EVPM_MAX_TRIP_BYTES": "1000"})
    assert WatchOptions.from_settings(settings) == WatchOptions(3.0, 1.5, 7, 1000)
    assert WatchOptions() == WatchOptions.from_settings(Settings())  # one set of defaults


def test_batch_size_outside_its_range_is_refused():
    from evpm.errors import EvpmError

    with pytest.raises(EvpmError, match="EVPM_WATCH_BATCH_FILES"):
        Settings.from_env({"EVPM_WATCH_BATCH_FILES": "0"})


def run_watch(tmp_path, monkeypatch, runs: list[tuple[list[str], dict]], option: str):
    """`evpm watch --once` with each (extra args, environment); the chosen option per run and
    the results (the watcher's loop replaced: only its options are looked at)."""
    seen: list = []

    def fake_run(self: Watcher, *, once: bool = False) -> Summary:
        seen.append(getattr(self.options, option))
        return Summary()

    monkeypatch.setattr(pipeline.Watcher, "run", fake_run)
    monkeypatch.setattr(pipeline, "install_signal_handlers", lambda watcher: None)
    folder_args = [arg for name in ("incoming", "processing", "archive", "failed")
                   for arg in (f"--{name}", str(tmp_path / name))]
    base = ["watch", *folder_args, "--metrics-port", "0", "--once",
            "--api-url", "http://127.0.0.1:9/predict"]
    env = {"EVPM_JWT_SECRET": "", "EVPM_REGISTRY": str(tmp_path / "fleet_registry.csv")}
    results = [CliRunner().invoke(app, base + extra, env={**env, **changes})
               for extra, changes in runs]
    return seen, results


def test_batch_comes_from_the_environment_or_the_option(tmp_path, monkeypatch):
    seen, results = run_watch(tmp_path, monkeypatch, [
        ([], {}), ([], {"EVPM_WATCH_BATCH_FILES": "9"}),
        (["--batch", "3"], {"EVPM_WATCH_BATCH_FILES": "9"}), (["--batch", "0"], {})],
        "batch_files")
    assert [r.exit_code for r in results] == [0, 0, 0, 2], [r.output for r in results]
    assert "--batch" in results[-1].output
    assert seen == [50, 9, 3]


def test_settle_seconds_come_from_the_environment_or_the_option(tmp_path, monkeypatch):
    env = {"EVPM_SETTLE_SECONDS": "3.5"}
    seen, results = run_watch(tmp_path, monkeypatch, [
        ([], env), (["--settle-seconds", "1.25"], env), (["--settle", "0.2"], env),
        (["--settle-seconds", "-1"], env)], "settle_s")
    assert [r.exit_code for r in results] == [0, 0, 0, 2], [r.output for r in results]
    assert "settle" in results[-1].output
    assert seen == [3.5, 1.25, 0.2]
