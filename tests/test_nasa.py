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


def test_windows_end_under_load_where_the_share_was_delivered():
    from evpm.nasa import WINDOW_DEPTHS, _windows

    time_s = np.arange(0.0, 2761.0, 10.0)
    current = np.where(time_s < 60, 0.0, -2.0)  # a minute's rest, then 2 A for 45 minutes
    table = pd.DataFrame({"time_s": time_s, "voltage_V": 3.7, "current_A": current,
                          "temperature_C": 24.0})
    windows = _windows(table, capacity_ah=2.0)
    assert [depth for depth, _ in windows] == list(WINDOW_DEPTHS)[:3]  # 1.5 Ah < 0.8 × 2
    for depth, window in windows:
        delivered = -np.trapz(window["current_A"], window["time_s"]) / 3600.0
        assert delivered == pytest.approx(depth * 2.0, abs=2.0 * 10 / 3600)
        assert window["current_A"].iloc[-1] < 0 and window["time_s"].iloc[0] == 0.0


@needs_nasa
def test_real_cells_soh_error_is_within_the_floor(repo):
    from evpm.nasa import summarise, validate_nasa
    from evpm.predictor import Predictor

    summary = summarise(validate_nasa(NASA, Predictor.load(repo / "models")))
    assert summary["cells"] == 30 and summary["cycles"] > 1500
    assert summary["mae"] <= 0.015  # target; the measured figure is in docs/MODEL_REPORT.md
    assert all(cell["mae"] is None or cell["mae"] < 0.03 for cell in summary["per_cell"])
