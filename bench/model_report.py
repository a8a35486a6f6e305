"""Accuracy report of the shipped models: held-out simulated vehicles and real cells.

Run: .venv/bin/evpm train            (writes models/ and the held-out metrics in the card)
     .venv/bin/python bench/model_report.py [--nasa DIR] [--datasets ../shared/datasets]
Prints the Markdown tables of docs/MODEL_REPORT.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from evpm.nasa import summarise, validate_nasa
from evpm.predictor import Predictor

ROOT = Path(__file__).resolve().parents[1]


def window_table(title: str, table: dict) -> list[str]:
    """A Markdown table of MAE / p90 by SOC window."""
    lines = [f"**{title}**", "", "| trips | n | MAE | p90 |", "|---|---|---|---|"]
    for name, row in table.items():
        lines.append(f"| {name} | {row['trips']} | {row['mae']:.4f} | {row['p90']:.4f} |")
    return [*lines, ""]


def main() -> None:
    """Print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nasa", type=Path,
                        default=ROOT.parent / "shared" / "datasets" / "nasa-pcoe-discharge")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    card = json.loads((ROOT / "models" / "model_card.json").read_text())
    m = card["metrics"]
    out = [f"Model version `{card['model_version']}`; held-out: {m['test_vehicles']} vehicles, "
           f"{m['test_trips']} trips.", "",
           "| measure | measured | target |", "|---|---|---|",
           f"| per-trip SoH MAE, SOC window ≥ 10 % | {m['soh_trip_mae_window_ge_10pct']:.4f} "
           "| ≤ 0.02 |",
           f"| per-trip SoH MAE, full discharges | {m['soh_trip_mae_full_discharge']:.4f} "
           "| ≤ 0.01 |",
           f"| vehicle SoH MAE (robust estimate, last 10 trips) | {m['soh_vehicle_mae']:.4f} "
           "| ≤ 0.01 |",
           f"| SoP MAPE | {m['sop_mape_pct']:.2f} % | ≤ 5 % |",
           f"| SoH MAE, only the 13 reference features | {m['soh_reference_only_mae']:.4f} "
           "| ≤ 0.03 |",
           f"| SoH MAE, 13 features + the vehicle's profile | "
           f"{m['soh_reference_with_profile_mae']:.4f} | – |"]
    if args.nasa.is_dir():
        summary = summarise(validate_nasa(args.nasa, Predictor.load(ROOT / "models")))
        out.append(f"| real NASA cells, SoH MAE ({summary['cycles']} cycles, "
                   f"{summary['cells']} cells) | {summary['mae']:.4f} | ≤ 0.015 |")
    out.append("")
    out += window_table("Per-trip SoH, all features", m["soh_trip_by_window"])
    out += window_table("Per-trip SoH, 13 reference features only",
                        m["soh_reference_only_by_window"])
    if (args.datasets / "real-drive-cycles").is_dir():
        out += real_tables(args.datasets / "real-drive-cycles")
    print("\n".join(out))


def real_tables(folder: Path) -> list[str]:
    """Real-drive-cycles: per set × variant × temperature, then per kind at ≥ 0 °C."""
    from evpm.drive_cycles import validate_drive_cycles
    from evpm.validation import errors

    frame = pd.DataFrame([r.__dict__ for r in validate_drive_cycles(
        folder, Predictor.load(ROOT / "models"))])
    frame = frame[frame["skipped"].isna()].assign(error=lambda f: errors(f).abs())
    frame["warned"] = frame["warnings"].map(bool)
    lines = ["**real-drive-cycles by temperature** (MAE; n)", "",
             "| set | variant | " + " | ".join(
                 f"{t:.0f} °C" for t in sorted(frame["ambient_c"].unique())) + " |",
             "|---|---|" + "---|" * frame["ambient_c"].nunique()]
    for (name, variant), group in frame.groupby(["set", "variant"]):
        cells = group.groupby("ambient_c")["error"].agg(["mean", "size"])
        lines.append(f"| {name} | {variant} | " + " | ".join(
            f"{row['mean']:.3f} ({int(row['size'])})" if t in cells.index else "–"
            for t in sorted(frame["ambient_c"].unique()) for row in [cells.reindex([t]).iloc[0]]
        ) + " |")
    warm = frame[frame["ambient_c"] >= 0]
    lines += ["", "**real-drive-cycles by kind, at ≥ 0 °C** (MAE whole / drive; target ≤ 0.05)",
              "", "| set | kind | n | whole | drive | new cells not Healthy |",
              "|---|---|---|---|---|---|"]
    for (name, kind), group in warm.groupby(["set", "kind"]):
        by = group.groupby("variant")["error"].mean()
        flagged = int(((group["label_soh"] >= 0.85) & (group["status"] != "Healthy")).sum())
        lines.append(f"| {name} | {kind} | {len(group) // 2} | {by.get('whole', float('nan')):.3f}"
                     f" | {by.get('drive', float('nan')):.3f} | {flagged} |")
    rates = frame.groupby("set")["warned"].mean()
    lines += ["", "Predictions with a warning: " + ", ".join(
        f"{name} {rate:.1%}" for name, rate in rates.items()), ""]
    return lines


if __name__ == "__main__":
    main()
