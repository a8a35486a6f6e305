"""Serving the API (evpm.api.serve): the gunicorn command and the checks before it starts.
The served API itself: test_server.py."""

from __future__ import annotations

import sys

import pytest

from evpm.api.serve import THREADED_WORKERS, check_database, gunicorn_command, load_predictor
from evpm.errors import EvpmError


def test_the_gunicorn_command_serves_the_factory_with_threaded_workers():
    command = gunicorn_command("127.0.0.1", 5123, 3)
    assert command[:3] == [sys.executable, "-m", "gunicorn"]
    assert command[command.index("--workers") + 1] == "3"
    assert "--no-control-socket" in command and command[-1] == "evpm.api.app:create_app()"
    joined = " ".join(command)
    assert " ".join(THREADED_WORKERS) in joined and "--bind 127.0.0.1:5123" in joined
    baseline = gunicorn_command("127.0.0.1", 1, 1, "bench.bare_app:app", ("--worker-class",
                                                                        "sync"))
    assert baseline[-1] == "bench.bare_app:app" and "gthread" not in baseline


def test_a_database_that_cannot_be_written_is_one_line(tmp_path):
    check_database(f"sqlite:///{tmp_path / 'fine.db'}")
    with pytest.raises(EvpmError, match="not supported"):
        check_database("mysql://u:secret@h/db")


def test_serving_without_models_says_to_train_first(tmp_path):
    with pytest.raises(EvpmError, match=f"no models in {tmp_path}: run `evpm train` first"):
        load_predictor(tmp_path)
