"""Training: split by vehicle, reproducible, reference-only rows, a readable model card."""

import json
import shutil

import joblib
import numpy as np
import pytest

from evpm.features import MODEL_FEATURES
from evpm.predictor import Predictor
from evpm.training import TrainConfig, member_configs, split_by_vehicle, train

TINY = TrainConfig(vehicles=4, lab_cells=2, trips=3, n_estimators=25, seed=5, members=2)


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
    assert [f["name"] for f in card["features"]] == MODEL_FEATURES  # what the models read
    assert all(f["min"] is None or f["min"] <= f["max"] for f in card["features"])
    assert {"soh_trip_mae_all", "soh_vehicle_mae", "sop_mape_pct",
            "soh_reference_only_mae", "soh_interval_coverage",
            "soh_interval_median_width"} <= set(card["metrics"])
    # The intervals' calibration, measured on held-out vehicles the card says how well.
    assert set(card["intervals"]) == {"soh_model_sigma", "sop_relative",
                                      "sop_relative_no_resistance"}
    assert 0.0 <= card["metrics"]["soh_interval_coverage"] <= 1.0
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


def test_members_have_their_own_seeds_and_files(two_runs):
    card, base = two_runs[0]
    assert [m["seed"] for m in card["members"]] == [5, 6]
    assert [c.seed for c in member_configs(TINY)] == [5, 6]
    files = [base / "models" / m[k] for m in card["members"] for k in ("soh", "sop")]
    assert all(f.exists() for f in files) and len(set(files)) == 4
    # Each member was trained on its own fleets: their models differ.
    first, second = (joblib.load(base / "models" / m["soh"]) for m in card["members"])
    assert first.get_booster().save_raw("json") != second.get_booster().save_raw("json")


def test_the_served_prediction_is_the_members_mean(two_runs, repo, tmp_path):
    from evpm.features import extract_file
    from evpm.profiles import get_profile

    card, base = two_runs[0]
    both = Predictor.load(base / "models")
    profile = get_profile("nissan-leaf-30")
    row = extract_file(repo / "test_cases" / "tripdata.TC05.csv", profile)
    singles = []
    for member in card["members"]:
        # A folder whose card names no members (an older model set) serves its one model.
        folder = tmp_path / member["soh"]
        folder.mkdir()
        shutil.copy(base / "models" / member["soh"], folder / "optimized_soh_xgb_model.joblib")
        shutil.copy(base / "models" / member["sop"], folder / "sop_model_final.joblib")
        older = {k: v for k, v in card.items() if k != "members"}
        (folder / "model_card.json").write_text(json.dumps(older))
        singles.append(Predictor.load(folder).predict([row], [profile])[0])
    [mean] = both.predict([row], [profile])
    assert mean.predicted_soh == pytest.approx(np.mean([p.predicted_soh for p in singles]))
    # SoP is averaged as the models output it (log of the fraction): a geometric mean.
    assert mean.predicted_sop == pytest.approx(
        np.exp(np.mean([np.log(p.predicted_sop) for p in singles])), rel=1e-6)
