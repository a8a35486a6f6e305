"""Real-cell check: NASA PCoE discharge cycles through trip → features → model (never trained on).

Every discharge cycle of every cell becomes a lab-cell trip (time, cell voltage, current,
temperature), is validated and featurised by the same code as the pipeline, and predicted with
the lab-cell profile. The label is the data set's capacity / 2.0 Ah. The data set's own faulty
labels are left out, with a reason, not fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.errors import EvpmError
from evpm.predictor import Predictor
from evpm.profiles import LAB_PROFILE, get_profile
from evpm.scored_trips import ScoredTrips, read_trip

MIN_LABEL_AH = 0.3  # data set README: values under about 0.3 Ah are faults
FIRST_CYCLE_RATIO = 0.8  # a first cycle this far below the next ones is a fault
RATED_AH = 2.0
FULL_START_SOC = 0.95  # a discharge starting lower did not start from a full charge
# Windows cut from a full discharge: from its start to where it had delivered these shares of
# the cell's labelled capacity — logs that end under load, part-way down.
WINDOW_DEPTHS = (0.2, 0.4, 0.6, 0.8)


@dataclass
class CycleResult:
    """One discharge cycle: label, prediction or the reason it was skipped."""

    battery_id: str
    cycle: int
    label_soh: float
    predicted_soh: float = math.nan
    skipped: str | None = None
    ambient_c: float = math.nan
    status: str | None = None
    warnings: list[str] = field(default_factory=list)
    soh_low: float = math.nan  # the prediction's 90 % interval
    soh_high: float = math.nan
    variant: str = "whole"  # or "window": cut from the whole discharge, ending under load
    depth: float = math.nan  # a window's share of the labelled capacity delivered


def faulty_label_reason(labels: pd.Series, position: int) -> str | None:
    """Why a cell's label at `position` (cycle order) is one of the data set's faults, if it is."""
    value = labels.iloc[position]
    if not np.isfinite(value):
        return "missing label"
    if value <= 0:
        return "zero label"
    if value < MIN_LABEL_AH:
        return f"implausible label {value:.3f} Ah (< {MIN_LABEL_AH} Ah)"
    if position == 0:
        following = labels.iloc[1:6]
        following = following[np.isfinite(following) & (following >= MIN_LABEL_AH)]
        if len(following) and value < FIRST_CYCLE_RATIO * float(following.median()):
            return f"first cycle {value:.3f} Ah far below the next ones"
    return None


def load_labels(directory: Path) -> pd.DataFrame:
    """cycles.csv with capacity as a number (the data set writes '[]' for missing)."""
    path = directory / "cycles.csv"
    if not path.exists():
        raise EvpmError(f"{path} not found: point DIR at the nasa-pcoe-discharge folder")
    labels = pd.read_csv(path, dtype={"capacity_ah": str})
    labels["capacity_ah"] = pd.to_numeric(labels["capacity_ah"], errors="coerce")
    return labels.sort_values(["battery_id", "cycle"]).reset_index(drop=True)


def _windows(table: pd.DataFrame, capacity_ah: float) -> list[tuple[float, pd.DataFrame]]:
    """(depth, the log up to where it had delivered depth × capacity) per WINDOW_DEPTHS."""
    time_s = table["time_s"].to_numpy()
    current = table["current_A"].to_numpy()
    delivered = np.concatenate([[0.0], np.cumsum(
        -0.5 * (current[1:] + current[:-1]) * np.diff(time_s))]) / 3600.0
    out = []
    for depth in WINDOW_DEPTHS:
        end = int(np.searchsorted(delivered, depth * capacity_ah))
        if end < len(table) - 1:
            out.append((depth, table.iloc[:end + 1].reset_index(drop=True)))
    return out


def validate_nasa(directory: Path, predictor: Predictor,
                  progress: Callable[[int], None] | None = None,
                  windows: bool = False) -> list[CycleResult]:
    """Predict every discharge cycle of every cell; return one result per labelled cycle.

    With `windows`, each scored full discharge also gives WINDOW_DEPTHS windows (variant
    `window`): the same log cut where it had delivered 20-80 % of its labelled capacity, so
    it ends under load, labelled with the cycle's SoH.
    """
    profile = get_profile(LAB_PROFILE)
    labels = load_labels(directory)
    results: list[CycleResult] = []
    for battery_id, cell_labels in labels.groupby("battery_id", sort=True):
        series = pd.read_parquet(directory / f"{battery_id}.parquet")
        by_cycle = dict(tuple(series.groupby("cycle")))
        caps = cell_labels["capacity_ah"].reset_index(drop=True)
        ambients = cell_labels["ambient_temperature_C"].reset_index(drop=True)
        scored = ScoredTrips()
        for position, cycle in enumerate(cell_labels["cycle"]):
            label = caps.iloc[position]
            result = CycleResult(battery_id, int(cycle), label / RATED_AH,
                                 ambient_c=float(ambients.iloc[position]))
            results.append(result)
            result.skipped = faulty_label_reason(caps, position)
            if result.skipped:
                continue
            table = by_cycle.get(cycle)
            if table is None:
                result.skipped = "no time series for this cycle"
                continue
            trip_table = table.sort_values("time_s")[
                ["time_s", "voltage_V", "current_A", "temperature_C"]].astype(float)
            trip_table = trip_table.reset_index(drop=True)
            row = read_trip(trip_table, profile, result)
            if row is None:
                continue
            if row["soc_start"] < FULL_START_SOC:
                # The published capacity is the charge of this discharge: from a partial start
                # it is not the cell's capacity (the model rightly reads the capacity).
                result.skipped = (f"partial start (SOC {row['soc_start']:.2f} from the rest "
                                  "voltage): the label is the charge delivered, not a capacity")
                continue
            if row["discharge_capacity_ratio"] != row["discharge_capacity_ratio"]:  # NaN
                result.skipped = ("did not reach the cut-off: the label is the charge of a "
                                  "stopped discharge, not a capacity")
                continue
            scored.add(result, row, profile)
            for depth, window in _windows(trip_table, label) if windows else []:
                cut = CycleResult(battery_id, int(cycle), label / RATED_AH,
                                  ambient_c=result.ambient_c, variant="window", depth=depth)
                results.append(cut)
                if (window_row := read_trip(window, profile, cut)) is not None:
                    scored.add(cut, window_row, profile)
        scored.score(predictor)
        if progress:
            progress(1)
    return results


def summarise(results: list[CycleResult]) -> dict:
    """Per-cell and overall MAE, worst error and counts (JSON-ready)."""
    frame = pd.DataFrame([r.__dict__ for r in results if r.variant == "whole"])
    used = frame[frame["skipped"].isna()].copy()
    used["error"] = (used["predicted_soh"] - used["label_soh"]).abs()
    cells = []
    for battery_id, group in frame.groupby("battery_id", sort=True):
        ok = used[used["battery_id"] == battery_id]
        cells.append({
            "battery_id": battery_id,
            "cycles": int(len(ok)),
            "skipped": int(group["skipped"].notna().sum()),
            "mae": float(ok["error"].mean()) if len(ok) else None,
            "worst_error": float(ok["error"].max()) if len(ok) else None,
            "bias": float((ok["predicted_soh"] - ok["label_soh"]).mean()) if len(ok) else None,
        })
    return {
        "cells": len(cells),
        "cycles": int(len(used)),
        "skipped": int(frame["skipped"].notna().sum()),
        "mae": float(used["error"].mean()),
        "worst_error": float(used["error"].max()),
        "per_cell": cells,
        "skip_reasons": frame["skipped"].dropna().str.split(" ").str[0].value_counts().to_dict(),
    }


def format_summary(summary: dict) -> str:
    """Plain-text per-cell table and total."""
    lines = [f"{'cell':<7} {'cycles':>6} {'skipped':>7} {'MAE':>7} {'worst':>7} {'bias':>7}"]
    for c in summary["per_cell"]:
        if c["cycles"]:
            lines.append(f"{c['battery_id']:<7} {c['cycles']:>6} {c['skipped']:>7} "
                         f"{c['mae']:>7.4f} {c['worst_error']:>7.4f} {c['bias']:>+7.4f}")
        else:
            lines.append(f"{c['battery_id']:<7} {0:>6} {c['skipped']:>7} {'-':>7} {'-':>7} "
                         f"{'-':>7}")
    lines.append(f"{'total':<7} {summary['cycles']:>6} {summary['skipped']:>7} "
                 f"{summary['mae']:>7.4f} {summary['worst_error']:>7.4f}")
    return "\n".join(lines)
