"""Fixtures of the API tests."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evpm.api.app import create_app
from evpm.predictor import Predictor


@pytest.fixture
def strict(settings, storage):
    """An API whose thresholds every score reaches: by the score alone, every row is Priority."""
    rules_settings = replace(settings, priority_score=1e-9, monitor_score=1e-9)
    app = create_app(rules_settings, predictor=Predictor.from_settings(rules_settings),
                     storage=storage)
    return app.test_client()
