"""Training: split by vehicle, reproducible, reference-only rows, a readable model card."""

import json

import pytest

from evpm.features import FEATURES
from evpm.training import TrainConfig, split_by_vehicle, train

TINY = TrainConfig(vehicles=4, lab_cells=2, trips=3, n_estimators=25, seed=5)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    cards = []
    for run in ("a", "b"):
        base = tmp_path_factory.mktemp(f"train_{run}")
        cards.append((train(TINY, base / "models", base / "work"), base))
    return cards


def test_two_runs_give_identical_metrics_and_models(two_runs):
    (card_a, base_a), (card_b, base_b) = two_runs
    assert card_a["metrics"] == card_b["metrics"]
    assert card_a["model_version"] == card_b["model_version"]
    soh_a = (base_a / "models" / "optimized_soh_xgb_model.joblib").stat().st_size
    assert soh_a == (base_b / "models" / "optimized_soh_xgb_model.joblib").stat().st_size


def test_model_card_lists_features_with_ranges_metrics_and_versions(two_runs):
    card_path = two_runs[0][1] / "models" / "model_card.json"
    card = json.loads(card_path.read_text())
    assert [f["name"] for f in card["features"]] == FEATURES
    assert all(f["min"] is None or f["min"] <= f["max"] for f in card["features"])
    assert {"soh_trip_mae_all", "soh_vehicle_mae", "sop_mape_pct",
            "soh_reference_only_mae"} <= set(card["metrics"])
    assert card["data_generation"]["vehicles"] == 4
    assert card["libraries"]["xgboost-cpu"] != "not installed"


def test_split_is_by_vehicle_never_by_trip():
    import pandas as pd

    data = pd.DataFrame({
        "vehicle_id": [f"V{i // 5}" for i in range(100)],
        "profile": ["renault-zoe-ze50" if i < 50 else "lab-18650-2ah" for i in range(100)],
    })
    test = split_by_vehicle(data, TrainConfig(seed=1))
    train_ids = set(data.loc[~test, "vehicle_id"])
    test_ids = set(data.loc[test, "vehicle_id"])
    assert train_ids and test_ids and not train_ids & test_ids
    assert set(data.loc[test, "profile"]) == {"renault-zoe-ze50", "lab-18650-2ah"}
