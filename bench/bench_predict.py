"""`evpm predict` speed: trip files on disk → one JSON line each, offline, on this machine.

Run: .venv/bin/python bench/bench_predict.py [--files 1000] [--keep DIR]
Trips are 1,370-row UDDS trips from the digital twin, made as bench/bench_pipeline.py makes
them (100 distinct ones, then copies with trailing blank lines). The command function is timed
whole (settings, models loaded, every file read, validated, featured and scored, every line
written to /dev/null; the libraries' one-time import is warmed up first): once with the
vehicles in a registry, once without (every profile assumed: the pack guess runs for each
file). Baseline in the same run: read + validate + features of the same files one at a time
(`evpm.features.extract_file`, the pipeline's per-file work), no prediction.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import make_trips  # noqa: E402 — the same trip files
from bench.report import print_table  # noqa: E402


def timed(func) -> float:
    """Wall time of one call of `func`, its output (stdout and stderr) discarded."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        start = time.perf_counter()
        func()
        return time.perf_counter() - start


def main() -> None:
    """Make the trips, time the baseline and the command, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="make (or reuse) the trips here")
    args = parser.parse_args()
    os.chdir(ROOT)  # the default settings' models/ folder
    from evpm.cli.predict import predict
    from evpm.features import extract_file

    work = args.keep or Path(tempfile.mkdtemp(prefix="evpm-bench-predict-"))
    trips_dir = work / "trips"
    trips = sorted(trips_dir.glob("tripdata.*.csv")) if trips_dir.is_dir() else []
    if len(trips) < args.files:
        trips = make_trips(trips_dir, args.files)
    trips = trips[:args.files]
    registry = work / "fleet_registry.csv"
    vehicles = sorted({t.name.split(".")[1] for t in trips})
    registry.write_text("vehicle_id,profile\n" + "".join(f"{v},renault-zoe-ze50\n"
                                                          for v in vehicles))
    empty = work / "empty_registry.csv"
    empty.write_text("vehicle_id,profile\n")
    names = [str(t) for t in trips]
    extract_file(trips[0], "renault-zoe-ze50")  # warm-up: imports, caches
    timed(lambda: predict(files=names[:1], registry=registry, as_json=True))  # xgboost import
    baseline = timed(lambda: [extract_file(t, "renault-zoe-ze50") for t in trips])
    registered = timed(lambda: predict(files=names, registry=registry, as_json=True))
    assumed = timed(lambda: predict(files=names, registry=empty, as_json=True))
    count = len(trips)
    print_table([
        (f"read + validate + features, one file at a time ({count} files, baseline)",
         f"{count / baseline:.0f} trips/s", "–"),
        (f"`evpm predict --json`, vehicles registered ({count} files, whole command)",
         f"{count / registered:.0f} trips/s ({registered:.2f} s)", "≥ 100 trips/s"),
        (f"`evpm predict --json`, no registry: every profile assumed, pack guessed ({count} "
         "files)", f"{count / assumed:.0f} trips/s ({assumed:.2f} s)", "≥ 100 trips/s"),
    ])


if __name__ == "__main__":
    main()
