"""`evpm validate DIR`: the real-data checks, one table for every set found under DIR.

Sets are recognised by their manifest: `cycles.csv` (the NASA PCoE discharges, `evpm.nasa`) and
`segments.csv` (real-drive-cycles, `evpm.drive_cycles`). DIR may be one set's folder or a folder
holding several (`../shared/datasets`). A held-out randomised twin fleet (`evpm.twin_check`) can
be scored beside them. Rows are grouped by set × variant × cell × kind ×
temperature with MAE, bias, worst error, count and the 90 % intervals' coverage and median width
(an interpolated label counts as the interval its set gives: no error inside it, covered where
the two meet); per set: the share of predictions carrying a warning about a value, the share
whose Priority_Maintenance the confidence rule capped at Monitor, and the statuses given to
cells that are new (label SoH ≥ 0.85).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evpm.errors import EvpmError
from evpm.health import STATUS_CAPPED
from evpm.predictor import Predictor

if TYPE_CHECKING:
    from evpm.twin_check import TwinCheck

CAPPED_PREFIX = STATUS_CAPPED.split(" (", 1)[0]  # "status capped at Monitor"
NEW_CELL_SOH = 0.85  # a cell at or above this label is healthy: it must not be flagged
GROUP = ["set", "variant", "cell", "kind", "ambient_c"]


def find_sets(directory: Path) -> dict[str, Path]:
    """The data sets in DIR (or DIR itself): name → folder."""
    if not directory.is_dir():
        raise EvpmError(f"{directory}: not a folder")
    folders = [directory, *sorted(p for p in directory.iterdir() if p.is_dir())]
    found = {}
    for folder in folders:
        if (folder / "cycles.csv").exists():
            found["nasa-pcoe-discharge"] = folder
        elif (folder / "segments.csv").exists():
            found["real-drive-cycles"] = folder
    if not found:
        raise EvpmError(f"{directory}: no data set found (expected cycles.csv or segments.csv, "
                        "or folders holding them)")
    return found


def run(directory: Path, predictor: Predictor,
        progress: Callable[[str, int], Callable[[int], None]] | None = None,
        twin: TwinCheck | None = None) -> pd.DataFrame:
    """Score every set in DIR (and, with `twin`, a held-out randomised twin fleet); one row
    per labelled item (skipped ones keep their reason)."""
    from evpm import drive_cycles, nasa, twin_check

    frames = []
    if twin is not None:
        with tempfile.TemporaryDirectory(prefix="evpm-twin-") as work:
            frames.append(twin_check.frame(twin_check.validate_twin(
                twin, predictor, Path(work), progress)).assign(skipped=None))
    for name, folder in find_sets(directory).items():
        if name == "nasa-pcoe-discharge":
            cells = nasa.load_labels(folder)["battery_id"].nunique()
            tick = progress("nasa cells", cells) if progress else None
            results = nasa.validate_nasa(folder, predictor, progress=tick, windows=True)
            frame = pd.DataFrame([r.__dict__ for r in results]).rename(
                columns={"battery_id": "cell"})
            kind = ("to " + (100 * frame["depth"]).round().astype("Int64").astype(str) + " %"
                    ).where(frame["variant"] == "window", "discharge")
            frame = frame.assign(set=name, kind=kind, segment=frame["cycle"].astype(str))
        else:
            files = drive_cycles.load_segments(folder)["file"].nunique()
            tick = progress("drive-cycle files", files) if progress else None
            results = drive_cycles.validate_drive_cycles(folder, predictor, progress=tick)
            frame = pd.DataFrame([r.__dict__ for r in results])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def errors(frame: pd.DataFrame) -> pd.Series:
    """Prediction − label; against an interval label, the distance outside it (0 inside)."""
    error = frame["predicted_soh"] - frame["label_soh"]
    if "label_low" not in frame:
        return error
    inside = frame["predicted_soh"].clip(frame["label_low"], frame["label_high"])
    interval = frame["label_low"].notna()
    return error.where(~interval, frame["predicted_soh"] - inside)


def covered(frame: pd.DataFrame) -> pd.Series:
    """Whether each prediction's 90 % interval holds its label (meets an interval label)."""
    low = frame["label_low"].fillna(frame["label_soh"]) if "label_low" in frame \
        else frame["label_soh"]
    high = frame["label_high"].fillna(frame["label_soh"]) if "label_high" in frame \
        else frame["label_soh"]
    return (frame["soh_low"] <= high) & (low <= frame["soh_high"])


def _stats(group: pd.DataFrame) -> dict:
    error = errors(group)
    return {"count": int(len(group)), "mae": float(error.abs().mean()),
            "bias": float(error.mean()), "worst": float(error.abs().max()),
            "coverage": float(covered(group).mean()),
            "median_width": float((group["soh_high"] - group["soh_low"]).median())}


def summarise(frame: pd.DataFrame) -> dict:
    """Per group and per set: errors, warning rate, statuses of new cells (JSON-ready)."""
    used = frame[frame["skipped"].isna()]
    groups = [{**dict(zip(GROUP, key, strict=True)), **_stats(group)}
              for key, group in used.groupby(GROUP, sort=True)]
    sets = []
    for (name, variant), group in used.groupby(["set", "variant"], sort=True):
        new = group[group["label_soh"] >= NEW_CELL_SOH]
        sets.append({
            "set": name, "variant": variant, **_stats(group),
            "skipped": int(frame[(frame["set"] == name) & (frame["variant"] == variant)
                                 ]["skipped"].notna().sum()),
            # A warning about a value; the status cap's explanation is counted apart.
            "warning_rate": float(group["warnings"].map(
                lambda ws: any(not w.startswith(CAPPED_PREFIX) for w in ws)).mean()),
            "capped_rate": float(group["warnings"].map(
                lambda ws: any(w.startswith(CAPPED_PREFIX) for w in ws)).mean()),
            "new_cell_statuses": {str(k): int(v) for k, v in
                                  new["status"].value_counts().items()},
        })
    for group in groups:
        group["ambient_c"] = float(group["ambient_c"])
    return {"sets": sets, "groups": groups}


def format_summary(summary: dict) -> str:
    """Plain-text tables: per set, then per group."""
    lines = [f"{'set':<20} {'variant':<7} {'n':>5} {'MAE':>7} {'bias':>7} {'worst':>7} "
             f"{'90%cov':>6} {'width':>6} {'warned':>7}  new cells' statuses"]
    for s in summary["sets"]:
        lines.append(f"{s['set']:<20} {s['variant']:<7} {s['count']:>5} {s['mae']:>7.4f} "
                     f"{s['bias']:>+7.4f} {s['worst']:>7.4f} {s['coverage']:>6.1%} "
                     f"{s['median_width']:>6.3f} {s['warning_rate']:>7.1%}  "
                     + ", ".join(f"{k} {v}" for k, v in s["new_cell_statuses"].items()))
    lines += ["", f"{'set':<20} {'variant':<7} {'cell':<11} {'kind':<9} {'°C':>5} {'n':>5} "
              f"{'MAE':>7} {'bias':>7} {'worst':>7} {'90%cov':>6} {'width':>6}"]
    for g in summary["groups"]:
        lines.append(f"{g['set']:<20} {g['variant']:<7} {g['cell']:<11} {g['kind']:<9} "
                     f"{g['ambient_c']:>5.0f} {g['count']:>5} {g['mae']:>7.4f} "
                     f"{g['bias']:>+7.4f} {g['worst']:>7.4f} {g['coverage']:>6.1%} "
                     f"{g['median_width']:>6.3f}")
    return "\n".join(lines)
