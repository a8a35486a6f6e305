"""The numpy forest walk gives XGBoost's own predictions, missing values included."""

import numpy as np

from evpm.features import FEATURES


def test_forest_matches_xgboost_on_many_rows(predictor):
    rng = np.random.default_rng(0)
    low = np.array([predictor.ranges.get(n, (0.0, 1.0))[0] for n in FEATURES])
    high = np.array([predictor.ranges.get(n, (0.0, 1.0))[1] for n in FEATURES])
    x = low + (high - low) * rng.random((3000, len(FEATURES)))
    x[rng.random(x.shape) < 0.3] = np.nan  # absent features take the trees' default branch
    margins = np.column_stack([rng.uniform(0.5, 1.0, 3000), rng.uniform(0.5, 1.5, 3000)])
    both = predictor.forest.predict(x, margins)
    soh = predictor.soh_booster.inplace_predict(x, base_margin=margins[:, 0], missing=np.nan)
    sop = predictor.sop_booster.inplace_predict(x, base_margin=margins[:, 1], missing=np.nan)
    assert np.abs(both[:, 0] - soh).max() < 1e-5
    assert np.abs(both[:, 1] - sop).max() < 1e-5
