"""Real-cell check on the real-drive-cycles set: cells under drive cycles and random walks.

The set (`../shared/datasets/real-drive-cycles`, see its README) holds real 18650 cells on a
cycler: a Panasonic NCR18650PF under automotive drive cycles at 25 … −20 °C and four DMEGC
INR18650 cells under random-walk, constant-current, pulse and C/20 discharges. `segments.csv`
names every segment with its cell, kind, temperature and capacity label; `cells.csv` says what
each cell is (chemistry family, rated capacity, voltage limits), i.e. the profile to read it
with. Nothing here is trained on: every segment goes through the pipeline's own path (trip
table → validation → features → models → status) and is compared with its label.

Each segment is scored twice, the two ways a log reaches us: `whole`, as the cycler recorded it
(with a soak before and the rest after, where the file has them), and `drive`, the loaded part
only (`drive_start_s` … `drive_end_s`, the set README's recipe for a trip CSV).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evpm.errors import EvpmError
from evpm.features import extract
from evpm.predictor import Predictor
from evpm.profiles import Profile, make_profile
from evpm.trips import TripError, validate_trip

TRIP_COLUMNS = ["time_s", "voltage_V", "current_A", "temperature_C"]
VARIANTS = ("whole", "drive")


@dataclass
class SegmentResult:
    """One segment read one way: label, prediction, status and warnings (or why skipped)."""

    set: str
    cell: str
    segment: str
    kind: str
    ambient_c: float
    variant: str
    label_soh: float
    # An interpolated label (set README: the true value lies between the capacity tests before
    # and after) is scored as that interval: no error inside it.
    label_low: float = math.nan
    label_high: float = math.nan
    predicted_soh: float = math.nan
    status: str | None = None
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None


def profile_name(source: str, cell: str) -> str:
    """The name a cell's profile gets: the source, plus the cell where a source has several."""
    name = f"{source}-{cell}".lower() if source.startswith("dmegc") else source.lower()
    return "".join(c if c.isalnum() or c == "-" else "-" for c in name)


def cell_profiles(directory: Path) -> dict[tuple[str, str], Profile]:
    """A profile per (source, cell) from `cells.csv`: each cell registered as what it is."""
    path = directory / "cells.csv"
    if not path.exists():
        raise EvpmError(f"{path} not found: point DIR at the real-drive-cycles folder")
    profiles = {}
    for row in _read_cells(path):
        profiles[(row["source"], str(row["cell"]))] = make_profile(
            profile_name(row["source"], str(row["cell"])), chemistry_name=row["chemistry"],
            cell_ah=float(row["rated_capacity_ah"]), series=int(row["series"]),
            parallel=int(row["parallel"]), v_min=float(row["cell_v_min"]),
            v_max=float(row["cell_v_max"]),
            kind="lab", label=str(row.get("note") or row["cell"])[:120])
    return profiles


def _read_cells(path: Path) -> list[dict]:
    """cells.csv rows; the last column (a free-text note) may hold unquoted commas."""
    with path.open(newline="", encoding="utf-8") as handle:
        header, *lines = list(csv.reader(handle))
    width = len(header)
    return [dict(zip(header, [*line[:width - 1], ",".join(line[width - 1:])], strict=True))
            for line in lines if line]


def load_segments(directory: Path) -> pd.DataFrame:
    """The segment manifest."""
    path = directory / "segments.csv"
    if not path.exists():
        raise EvpmError(f"{path} not found: point DIR at the real-drive-cycles folder")
    return pd.read_csv(path)


def _label_interval(segment: dict) -> tuple[float, float]:
    """(low, high) SoH of an interpolated label, else NaNs."""
    if "interpolated" not in str(segment.get("label_method", "")):
        return math.nan, math.nan
    rated = float(segment["rated_capacity_ah"])
    ends = sorted([float(segment["capacity_end_ah"]), float(segment["capacity_start_ah"])])
    return ends[0] / rated, ends[1] / rated


def _trip_table(data: pd.DataFrame, segment: pd.Series, variant: str) -> pd.DataFrame:
    if variant == "drive":
        data = data[data["time_s"].between(segment["drive_start_s"], segment["drive_end_s"])]
    return data[TRIP_COLUMNS].astype(float).reset_index(drop=True)


def validate_drive_cycles(directory: Path, predictor: Predictor,
                          progress: Callable[[int], None] | None = None,
                          variants: tuple[str, ...] = VARIANTS) -> list[SegmentResult]:
    """Predict every segment of the set (each variant); one result per segment × variant."""
    profiles = cell_profiles(directory)
    segments = load_segments(directory)
    results: list[SegmentResult] = []
    for file, group in segments.groupby("file", sort=True):
        data = pd.read_parquet(directory / file)
        by_segment = dict(tuple(data.groupby("segment", sort=False, observed=True)))
        rows, keep, used = [], [], []
        for segment in group.to_dict("records"):
            profile = profiles.get((segment["source"], str(segment["cell"])))
            for variant in variants:
                result = SegmentResult(segment["source"], str(segment["cell"]),
                                       segment["segment"], str(segment["kind"]),
                                       float(segment["ambient_C"]), variant,
                                       float(segment["label_soh"]), *_label_interval(segment))
                results.append(result)
                if profile is None:
                    result.skipped = "cell not in cells.csv"
                    continue
                series = by_segment.get(segment["segment"])
                if series is None:
                    result.skipped = "no time series for this segment"
                    continue
                try:
                    rows.append(extract(validate_trip(
                        _trip_table(series, pd.Series(segment), variant), profile)))
                except TripError as exc:
                    result.skipped = f"trip rejected: {exc}"
                    continue
                keep.append(result)
                used.append(profile)
        if rows:
            for result, prediction in zip(keep, predictor.predict(rows, used), strict=True):
                result.predicted_soh = prediction.predicted_soh
                result.status = prediction.status
                result.warnings = prediction.warnings
        if progress:
            progress(1)
    return results
