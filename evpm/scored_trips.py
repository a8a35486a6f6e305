"""Trips of a real-data check (NASA, real-drive-cycles) read into feature rows and scored
together, each prediction written back onto its result (one definition for every check)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evpm.features import extract
from evpm.predictor import Predictor
from evpm.profiles import Profile
from evpm.service import score_rows
from evpm.trips import TripError, validate_trip


def read_trip(table: pd.DataFrame, profile: Profile, result) -> dict | None:
    """The trip's features, or None with `result.skipped` saying why it was rejected."""
    try:
        return extract(validate_trip(table, profile))
    except TripError as exc:
        result.skipped = f"trip rejected: {exc}"
        return None


@dataclass
class ScoredTrips:
    """Feature rows waiting to be scored, with the result each prediction goes to."""

    rows: list[dict] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    results: list = field(default_factory=list)

    def add(self, result, row: dict, profile: Profile) -> None:
        """Queue one read trip."""
        self.rows.append(row)
        self.profiles.append(profile)
        self.results.append(result)

    def score(self, predictor: Predictor) -> None:
        """Predict every queued row (the pipeline's confidence rule applied) into its result:
        SoH, its 90 % interval, status and warnings."""
        if not self.rows:
            return
        for result, prediction in zip(self.results,
                                      score_rows(self.rows, self.profiles, predictor),
                                      strict=True):
            result.predicted_soh = prediction.predicted_soh
            result.soh_low, result.soh_high = prediction.soh_low, prediction.soh_high
            result.status, result.warnings = prediction.status, prediction.warnings
