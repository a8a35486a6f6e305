"""Digital-twin speed: one UDDS trip end to end, and a 100-vehicle × 10-trip aging fleet.

Run: .venv/bin/python bench/bench_twin.py [--runs 21] [--vehicles 100] [--trips 10]
Prints a Markdown table for docs/BENCHMARKS.md. The baseline in the same run is FASTSim alone
on the same trip (the machine is shared and noisy: compare the ratio, quote medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from evpm.twin import fastsim_adapter
from evpm.twin.fleet import FleetSpec, simulate_fleet
from evpm.twin.trip import TripSpec, simulate_trip, write_trip


def _clear_caches() -> None:
    # Every timed run pays for a fresh FASTSim solve, as a single `evpm twin trip` does.
    fastsim_adapter.power_demand.cache_clear()
    fastsim_adapter._cycle_dict.cache_clear()


def time_fastsim_alone() -> float:
    """Seconds for FASTSim to load the Zoe and UDDS, solve and hand back its history."""
    _clear_caches()
    start = time.perf_counter()
    fastsim_adapter.power_demand("2022_Renault_Zoe_ZE50_R135.yaml", "udds", 25.0)
    return time.perf_counter() - start


def time_full_trip(out_dir: Path) -> float:
    """Seconds for FASTSim + pack model + noise + CSV (and truth) written."""
    _clear_caches()
    start = time.perf_counter()
    write_trip(simulate_trip(TripSpec(noise=True)), out_dir)
    return time.perf_counter() - start


def main() -> None:
    """Run both benchmarks and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--trips", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        time_full_trip(out)  # warm-up: imports, first FASTSim load
        fastsim_times, trip_times = [], []
        for _ in range(args.runs):  # interleaved so both see the same machine load
            fastsim_times.append(time_fastsim_alone())
            trip_times.append(time_full_trip(out))
        fastsim_median = statistics.median(fastsim_times)
        trip_median = statistics.median(trip_times)

        spec = FleetSpec(vehicles=args.vehicles, trips=args.trips, seed=0)
        start = time.perf_counter()
        with tqdm(total=args.vehicles, unit="vehicle", file=sys.stderr) as bar:
            rows = simulate_fleet(spec, out / "fleet", workers=2, progress=bar.update)
        fleet_seconds = time.perf_counter() - start

    print("| measurement | median / total | target |")
    print("|---|---|---|")
    print(f"| FASTSim alone, UDDS Zoe (baseline, {args.runs} runs) | {fastsim_median:.3f} s | – |")
    print(f"| one UDDS trip: FASTSim + pack model + noise + CSV ({args.runs} runs) "
          f"| {trip_median:.3f} s ({trip_median / fastsim_median:.2f}× FASTSim alone) | ≤ 0.15 s |")
    print(f"| fleet {args.vehicles} vehicles × {args.trips} trips with aging, 2 workers "
          f"| {fleet_seconds:.1f} s ({len(rows)} trips) | ≤ 60 s |")


if __name__ == "__main__":
    main()
