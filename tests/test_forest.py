"""The numpy forest walk gives XGBoost's own predictions, missing values included."""

import numpy as np

from evpm.features import FEATURES, MODEL_FEATURES


def test_forest_matches_xgboost_on_many_rows(predictor):
    rng = np.random.default_rng(0)
    # The forest reads the models' columns (not the uncertainty features).
    low = np.array([predictor.ranges.get(n, (0.0, 1.0))[0] for n in MODEL_FEATURES])
    high = np.array([predictor.ranges.get(n, (0.0, 1.0))[1] for n in MODEL_FEATURES])
    x = low + (high - low) * rng.random((3000, len(MODEL_FEATURES)))
    x[rng.random(x.shape) < 0.3] = np.nan  # absent features take the trees' default branch
    margins = np.column_stack([rng.uniform(0.5, 1.0, 3000), rng.uniform(0.5, 1.5, 3000)])
    both = predictor.forest.predict(x, margins)
    # Each column is its model's members' mean (an ensemble's mean of XGBoost's outputs).
    soh = np.mean([b.inplace_predict(x, base_margin=margins[:, 0], missing=np.nan)
                   for b in predictor.soh_boosters], axis=0)
    sop = np.mean([b.inplace_predict(x, base_margin=margins[:, 1], missing=np.nan)
                   for b in predictor.sop_boosters], axis=0)
    assert np.abs(both[:, 0] - soh).max() < 1e-5
    assert np.abs(both[:, 1] - sop).max() < 1e-5


def test_large_batches_through_xgboost_give_the_small_batch_answer(predictor):
    from evpm.forest import SMALL_BATCH

    rng = np.random.default_rng(1)
    low = np.array([predictor.ranges.get(n, (0.0, 1.0))[0] for n in FEATURES])
    high = np.array([predictor.ranges.get(n, (0.0, 1.0))[1] for n in FEATURES])
    x = low + (high - low) * rng.random((SMALL_BATCH + 36, len(FEATURES)))
    large = predictor.predict_matrix(x, [None] * len(x))
    small = predictor.predict_matrix(x[:SMALL_BATCH], [None] * SMALL_BATCH)
    assert np.allclose(large.soh[:SMALL_BATCH], small.soh, atol=1e-5)
    assert np.allclose(large.sop_w[:SMALL_BATCH], small.sop_w, rtol=1e-5)
