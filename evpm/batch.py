"""Validated prediction requests (`ParsedRow`, `ParsedBatch`) and features → model matrix.

What the API's checks produce and prediction and storage consume. A module of its own, below
both the API and the predictor: the service layer, the demo seeding and the dashboard use these
types and the one feature matrix function without importing the web API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evpm.features import FEATURES

FEATURE_INDEX = {name: i for i, name in enumerate(FEATURES)}  # feature → matrix column
_NUMBER_TYPES = {int, float}  # exactly: a bool is an int too, and no feature value


class NotNumbersError(ValueError):
    """A feature column holds a value that is not a plain number."""


def feature_matrix(rows: Sequence[Mapping[str, object]],
                   columns: Collection[str] | None = None) -> np.ndarray:
    """Feature rows as the models' matrix: rows × FEATURES in model order, NaN where a row has
    no value (absent or None); keys that are no feature are ignored.

    With `columns` (features every row holds) the matrix is filled a column at a time, the
    batch fast path: a value there that is not a plain int or float (a bool, text, None, an
    integer too large for a float) raises NotNumbersError instead of being converted.
    """
    matrix = np.full((len(rows), len(FEATURES)), np.nan)
    if columns is not None:
        for name in columns:
            column = [row[name] for row in rows]
            if not set(map(type, column)) <= _NUMBER_TYPES:
                raise NotNumbersError(name)
            try:
                matrix[:, FEATURE_INDEX[name]] = column
            except OverflowError:
                raise NotNumbersError(name) from None
        return matrix
    index = FEATURE_INDEX
    for r, row in enumerate(rows):
        for name, value in row.items():
            i = index.get(name)
            if i is not None and value is not None:
                matrix[r, i] = value
    return matrix


@dataclass
class ParsedRow:
    """A valid request row: features, metadata and warnings about ignored fields."""

    features: dict[str, float]
    vehicle_id: str
    profile: str | None = None
    idempotency_key: str | None = None
    source_file: str | None = None
    timestamp: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    # The sender's profile for an unregistered vehicle (the pipeline's default) and its
    # guess at the pack (`evpm.pack_inference`): used only when the profile is assumed.
    assumed_profile: str | None = None
    pack_guess: str | None = None


@dataclass(slots=True)
class ParsedBatch:
    """Valid request rows column by column: what prediction and storage work on."""

    vehicle_ids: list[str]
    matrix: np.ndarray  # rows × FEATURES as sent (NaN = absent)
    profiles: list[str | None]
    idempotency_keys: list[str | None]
    source_files: list[str | None]
    timestamps: list[dt.datetime | None]
    warnings: list[list[str]]
    # The batch fast path: each row's request object, reduced to its features.
    feature_items: list[dict] | None = None
    assumed_profiles: list[str | None] | None = None  # None: no row sent one
    pack_guesses: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.vehicle_ids)

    @classmethod
    def from_rows(cls, rows: list[ParsedRow]) -> ParsedBatch:
        """A batch from rows validated one by one (absent or NaN features → NaN)."""
        return cls([r.vehicle_id for r in rows], feature_matrix([r.features for r in rows]),
                   [r.profile for r in rows], [r.idempotency_key for r in rows],
                   [r.source_file for r in rows], [r.timestamp for r in rows],
                   [r.warnings for r in rows], None,
                   [r.assumed_profile for r in rows], [r.pack_guess for r in rows])

    def feature_dicts(self) -> list[dict[str, float]]:
        """Per row, the features it sent (as stored with its prediction)."""
        if self.feature_items is not None:
            return self.feature_items
        return [{name: value for name, value in zip(FEATURES, values, strict=True)
                 if value == value} for values in self.matrix.tolist()]
