"""How much the real-data figures move between trainings of one recipe (seeds).

Run: .venv/bin/python bench/seed_spread.py [--seeds 2026 2036 2046] [--members 3] [--datasets DIR]
     .venv/bin/python bench/seed_spread.py --models models /tmp/m2036 ...   (no training)
Trains `evpm train --seed N` for each seed into a scratch folder (about 100 s per member) unless
model folders are given, runs every real set (`evpm.validation.run`) with each, and prints the
Markdown table of docs/MODEL_REPORT.md's notes: a change to the twin or the features is judged
over several seeds, since two seeds of one recipe can differ as much as two recipes do.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from evpm.cli.common import tqdm_progress
from evpm.predictor import Predictor
from evpm.training import TrainConfig, train
from evpm.validation import NEW_CELL_SOH, errors, run

ROOT = Path(__file__).resolve().parents[1]
PRIORITY = "Priority_Maintenance"


def figures(frame: pd.DataFrame) -> dict[str, str]:
    """One model's row of figures (formatted) from `validation.run`'s frame."""
    used = frame[frame["skipped"].isna()].assign(error=lambda f: errors(f).abs())
    warm = used[used["ambient_c"] >= 0]
    out: dict[str, str] = {}
    for variant, name in (("whole", "logged whole"), ("drive", "loaded part only")):
        pan = warm[(warm["set"] == "panasonic-18650pf") & (warm["variant"] == variant)]
        out[f"Panasonic, ≥ 0 °C, {name}"] = f"{pan['error'].mean():.3f}"
        out[f"Panasonic, worst kind at ≥ 0 °C, {name}"] = \
            f"{pan.groupby('kind')['error'].mean().max():.3f}"
    dmegc = used[(used["set"] == "dmegc-inr18650") & (used["variant"] == "whole")]
    for kind, name in (("rw", "random walk"), ("ocv_c20", "C/20 test"),
                       ("pulse", "pulse test, whole")):
        out[f"DMEGC {name}"] = f"{dmegc[dmegc['kind'] == kind]['error'].mean():.3f}"
    new = used[used["label_soh"] >= NEW_CELL_SOH]
    drive_cycles = new[(new["set"] != "nasa-pcoe-discharge") & (new["ambient_c"] >= 0)]
    out["real-drive-cycles new cells at ≥ 0 °C not Healthy"] = \
        str(int((drive_cycles["status"] != "Healthy").sum()))
    nasa = new[new["set"] == "nasa-pcoe-discharge"]
    out[f"NASA cycles of new cells in {PRIORITY}"] = str(int((nasa["status"] == PRIORITY).sum()))
    return out


def main() -> None:
    """Train (or load) each model, score the real sets, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    # An ensemble of m members trains seeds s … s + m − 1: ten apart, no two share a member.
    parser.add_argument("--seeds", type=int, nargs="+", default=[2026, 2036, 2046])
    parser.add_argument("--members", type=int, default=TrainConfig.members)
    parser.add_argument("--models", type=Path, nargs="+", help="model folders: no training")
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    args = parser.parse_args()
    columns: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folders = {str(m): m for m in args.models} if args.models else {}
        for seed in [] if args.models else args.seeds:
            out = Path(scratch) / f"models-{seed}"
            train(TrainConfig(seed=seed, members=args.members), out, Path(scratch) / f"work-{seed}",
                  progress=tqdm_progress)
            folders[f"seed {seed}"] = out
        for name, folder in folders.items():
            columns[name] = figures(run(args.datasets, Predictor.load(folder)))
    rows = list(next(iter(columns.values())))
    print("| real data, MAE | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for row in rows:
        print(f"| {row} | " + " | ".join(columns[name][row] for name in columns) + " |")


if __name__ == "__main__":
    main()
