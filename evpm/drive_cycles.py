"""Real-cell check on the real-drive-cycles set: cells under drive cycles and random walks.

The set (`../shared/datasets/real-drive-cycles`, see its README) holds real 18650 cells on a
cycler: a Panasonic NCR18650PF under automotive drive cycles at 25 … −20 °C and four DMEGC
INR18650 cells under random-walk, constant-current, pulse and C/20 discharges. `segments.csv`
names every segment with its cell, kind, temperature and capacity label; `cells.csv` says what
each cell is (chemistry family, rated capacity, voltage limits), i.e. the profile to read it
with. Nothing here is trained on: every segment goes through the pipeline's own path (trip
table → validation → features → models → status) and is compared with its label.

Each segment is scored the ways a log reaches us: `whole`, as the cycler recorded it (with a
soak before and the rest after, where the file has them); `drive`, the loaded part only
(`drive_start_s` … `drive_end_s`, the set README's recipe for a trip CSV); and `window`, that
loaded part cut into consecutive 20-minute windows, each a trip of its own (most start and end
under load, as a stretch of driving does).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evpm.errors import EvpmError
from evpm.predictor import Predictor
from evpm.profiles import Profile, make_profile
from evpm.scored_trips import ScoredTrips, read_trip

TRIP_COLUMNS = ["time_s", "voltage_V", "current_A", "temperature_C"]
VARIANTS = ("whole", "drive", "window")
WINDOW_S = 1200.0  # the `window` variant's trips: 20 minutes of the loaded part each


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
    soh_low: float = math.nan  # the prediction's 90 % interval
    soh_high: float = math.nan
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


def _result(segment: dict, name: str, variant: str) -> SegmentResult:
    return SegmentResult(segment["source"], str(segment["cell"]), name, str(segment["kind"]),
                         float(segment["ambient_C"]), variant, float(segment["label_soh"]),
                         *_label_interval(segment))


def _trip_tables(data: pd.DataFrame, segment: pd.Series,
                 variant: str) -> list[tuple[str, pd.DataFrame]]:
    """(name, trip table) per trip the variant makes of a segment: one, or one per window."""
    name = str(segment["segment"])
    if variant == "whole":
        return [(name, data[TRIP_COLUMNS].astype(float).reset_index(drop=True))]
    drive = data[data["time_s"].between(segment["drive_start_s"], segment["drive_end_s"])]
    if variant == "drive":
        return [(name, drive[TRIP_COLUMNS].astype(float).reset_index(drop=True))]
    start, end = float(segment["drive_start_s"]), float(segment["drive_end_s"])
    count = int((end - start) // WINDOW_S)  # whole windows only
    return [(f"{name}@{k * WINDOW_S / 60:.0f}min", drive[drive["time_s"].between(
                start + k * WINDOW_S, start + (k + 1) * WINDOW_S)][TRIP_COLUMNS].astype(
                float).reset_index(drop=True)) for k in range(count)]


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
        scored = ScoredTrips()
        for segment in group.to_dict("records"):
            profile = profiles.get((segment["source"], str(segment["cell"])))
            series = by_segment.get(segment["segment"])
            for variant in variants:
                if profile is None or series is None:
                    result = _result(segment, segment["segment"], variant)
                    result.skipped = "cell not in cells.csv" if profile is None \
                        else "no time series for this segment"
                    results.append(result)
                    continue
                for name, table in _trip_tables(series, pd.Series(segment), variant):
                    result = _result(segment, name, variant)
                    results.append(result)
                    if (row := read_trip(table, profile, result)) is not None:
                        scored.add(result, row, profile)
        scored.score(predictor)
        if progress:
            progress(1)
    return results
