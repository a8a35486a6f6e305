"""The real-cell check on NASA PCoE data (never trained on): faulty labels, the error floor."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED

NASA = SHARED / "datasets" / "nasa-pcoe-discharge"
needs_nasa = pytest.mark.skipif(not NASA.is_dir(),
                                reason="../shared/datasets/nasa-pcoe-discharge is not present")


def test_faulty_labels_are_detected():
    from evpm.nasa import faulty_label_reason

    labels = pd.Series([1.0, 1.8, 1.79, np.nan, 0.0, 0.12, 1.78])
    reasons = [faulty_label_reason(labels, i) for i in range(len(labels))]
    assert reasons[0].startswith("first cycle")
    assert reasons[1] is None and reasons[2] is None and reasons[6] is None
    assert reasons[3] == "missing label" and reasons[4] == "zero label"
    assert reasons[5].startswith("implausible label")


@needs_nasa
def test_real_cells_soh_error_is_within_the_floor(repo):
    from evpm.nasa import summarise, validate_nasa
    from evpm.predictor import Predictor

    summary = summarise(validate_nasa(NASA, Predictor.load(repo / "models")))
    assert summary["cells"] == 30 and summary["cycles"] > 1500
    assert summary["mae"] <= 0.015  # target; the measured figure is in docs/MODEL_REPORT.md
    assert all(cell["mae"] is None or cell["mae"] < 0.03 for cell in summary["per_cell"])
