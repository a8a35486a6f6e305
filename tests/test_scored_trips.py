"""Real-data checks read their trips and score them together, one way for every set."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evpm.profiles import get_profile
from evpm.scored_trips import ScoredTrips, read_trip
from evpm.twin.trip import TripSpec, simulate_trip


@dataclass
class Result:
    predicted_soh: float = float("nan")
    soh_low: float = float("nan")
    soh_high: float = float("nan")
    status: str | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None


def test_a_rejected_trip_says_why_and_a_read_one_is_scored_into_its_result(predictor):
    profile = get_profile("lab-18650-2ah")
    bad = Result()
    assert read_trip(pd.DataFrame({"time_s": [0.0]}), profile, bad) is None
    assert bad.skipped.startswith("trip rejected:")
    good = Result()
    table = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle="cc-2a", soh=0.9)).table
    scored = ScoredTrips()
    scored.add(good, read_trip(table, profile, good), profile)
    scored.score(predictor)
    assert good.skipped is None and abs(good.predicted_soh - 0.9) < 0.05
    assert good.soh_low < good.predicted_soh < good.soh_high and good.status == "Healthy"
