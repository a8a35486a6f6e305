"""Accuracy report of the shipped models: held-out simulated vehicles and real NASA cells.

Run: .venv/bin/evpm train            (writes models/ and the held-out metrics in the card)
     .venv/bin/python bench/model_report.py [--nasa ../shared/datasets/nasa-pcoe-discharge]
Prints the Markdown tables of docs/MODEL_REPORT.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    print("\n".join(out))


if __name__ == "__main__":
    main()
