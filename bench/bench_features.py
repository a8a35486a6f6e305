"""Feature extraction speed on the shipped 1,370-row UDDS trip.

Run: .venv/bin/python bench/bench_features.py [--runs 200]
Baseline in the same run: pandas.read_csv of the same file (the least any CSV path costs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from evpm.features import extract, extract_file
from evpm.profiles import get_profile
from evpm.trips import load_trip

TRIP = Path(__file__).resolve().parents[1] / "data" / "simulated_trip_data.csv"


def median_seconds(func, runs: int) -> float:
    """Median wall time of `func()` over `runs` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Print a Markdown table of the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    profile = get_profile("renault-zoe-ze50")
    trip = load_trip(TRIP, profile)
    extract_file(TRIP, profile)  # warm-up
    baseline = median_seconds(lambda: pd.read_csv(TRIP), args.runs)
    features_only = median_seconds(lambda: extract(trip), args.runs)
    whole = median_seconds(lambda: extract_file(TRIP, profile), args.runs)
    print("| measurement (1,370-row UDDS trip) | median | target |")
    print("|---|---|---|")
    print(f"| pandas.read_csv alone (baseline) | {1000 * baseline:.2f} ms | – |")
    print(f"| features from a validated trip | {1000 * features_only:.2f} ms | ≤ 20 ms |")
    print(f"| read + validate + features (what the pipeline does) | {1000 * whole:.2f} ms "
          f"({whole / baseline:.2f}× read_csv) | ≤ 20 ms |")


if __name__ == "__main__":
    main()
