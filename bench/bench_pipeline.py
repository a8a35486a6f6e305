"""Pipeline benchmark: trip files in incoming/ → stored predictions, with real processes.

Run: .venv/bin/python bench/bench_pipeline.py [--files 1000] [--latency-seconds 60] [--flood 10000]
A real API (gunicorn, 2 workers, SQLite) and a real `evpm watch` process on the same 2 cores.
Trips are 1,370-row UDDS trips from the digital twin (distinct seeds, states of health and
temperatures); large runs repeat them with 0-99 trailing blank lines, which the reader skips
but which make every file's content, and so its stored prediction, distinct.

- throughput: all files dropped at once; files/s from the first claim to the last stored
  prediction; baseline in the same run: read + validate + features of the same files in one
  process (the pipeline's own ceiling without the API and the moves).
- latency: one file dropped every 0.25 s, watcher at the default 2-s poll; drop → stored time
  (the stored record's timestamp minus the moment the file was renamed into incoming/).
- flood: 10,000 files at once; all processed; the watcher's resident memory sampled each second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import Server  # noqa: E402 — the same gunicorn harness
from bench.report import print_table  # noqa: E402
from tests.processes import wait_until  # noqa: E402

BASE_TRIPS = 100


def make_trips(folder: Path, count: int) -> list[Path]:
    """`count` distinct 1,370-row UDDS trip files (twin trips, then blank-line variants)."""
    from evpm.twin.trip import TripSpec, simulate_trip, write_trip

    folder.mkdir(parents=True, exist_ok=True)
    base = []
    for i in range(min(count, BASE_TRIPS)):
        spec = TripSpec(vehicle_id=f"P{i % 40:03d}", soh=0.75 + 0.25 * (i % 17) / 16,
                        resistance_factor=1.0 + 0.5 * (i % 5) / 4, ambient_c=5.0 + (i % 7) * 5,
                        noise=True, seed=i)
        base.append(write_trip(simulate_trip(spec), folder, f"{i + 1:04d}"))
    out = list(base)
    for n in range(len(base), count):
        source = base[n % len(base)]
        variant = n // len(base)
        target = source.with_name(source.name.replace(".csv", f"v{variant}.csv"))
        target.write_bytes(source.read_bytes() + b"\n" * variant)
        out.append(target)
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_files(folder: Path) -> int:
    """Files below a folder."""
    return sum(len(files) for _, _, files in os.walk(folder))


class Watch:
    """An `evpm watch` process on a work folder."""

    def __init__(self, work: Path, port: int, interval: float = 2.0) -> None:
        self.work = work
        log = (work / "watch.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evpm.cli", "watch", "--incoming", str(work / "incoming"),
             "--archive", str(work / "archive"), "--failed", str(work / "failed"),
             "--processing", str(work / "processing"), "--interval", str(interval),
             "--api-url", f"http://127.0.0.1:{port}/predict", "--metrics-port", "0"],
            cwd=ROOT, env={**os.environ, "EVPM_JWT_SECRET": ""}, stdout=log,
            stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def setup(work: Path) -> None:
    """Fresh folders."""
    for name in ("incoming", "archive", "failed", "processing"):
        shutil.rmtree(work / name, ignore_errors=True)
        (work / name).mkdir(parents=True)


def drop_all(files: list[Path], incoming: Path) -> None:
    """Hard-link the files into a staging folder beside incoming/, then rename them in."""
    staging = incoming.parent / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for path in files:
        os.link(path, staging / path.name)
    for path in files:
        os.rename(staging / path.name, incoming / path.name)


def stored(db: Path) -> int:
    """Rows in health_records."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM health_records").fetchone()[0]


def main() -> None:
    """Run the scenarios and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--flood", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evpm-bench-pipeline-"))
    trips = make_trips(work / "trips", max(args.files, args.flood,
                                           int(args.latency_seconds / 0.25)))
    rows = []

    # Baseline: the same files through read + validate + features, in one process.
    from evpm.trip_rows import trip_row

    sample = trips[: args.files]
    start = time.perf_counter()
    for path in sample:
        trip_row(path, path.read_bytes(), {})
    baseline = len(sample) / (time.perf_counter() - start)
    rows.append((f"read + validate + features only, one process ({len(sample)} files, "
                 "baseline)", f"{baseline:.0f} files/s", "–"))

    def api(name: str) -> tuple[Server, Path]:
        """A fresh API on its own database (each scenario stores its own trips)."""
        from evpm.storage import Storage

        db = work / f"{name}.db"
        Storage(f"sqlite:///{db}").init()
        (work / f"metrics-{name}").mkdir()
        return Server("evpm.api.app:create_app()", 2, {
            "DATABASE_URL": f"sqlite:///{db}", "EVPM_JWT_SECRET": "",
            "PROMETHEUS_MULTIPROC_DIR": str(work / f"metrics-{name}")}), db

    # Throughput.
    server, db = api("throughput")
    setup(work)
    watch = Watch(work, server.port)
    time.sleep(3)
    drop_all(sample, work / "incoming")
    start = time.time()
    assert wait_until(lambda: stored(db) >= len(sample), 600, 0.02), "not all stored"
    elapsed = time.time() - start
    watch.stop()
    server.stop()
    speed = len(sample) / elapsed
    rows.append((f"incoming/ → stored predictions ({len(sample)} files dropped at once, "
                 "1 watcher, API 2 workers)",
                 f"{speed:.0f} files/s ({speed / baseline:.2f}× baseline); "
                 f"{count_files(work / 'archive')} archived, {count_files(work / 'failed')} "
                 "failed", "≥ 50 files/s"))

    # Latency at the default poll interval.
    server, db = api("latency")
    setup(work)
    watch = Watch(work, server.port)
    time.sleep(3)
    dropped: dict[str, float] = {}
    staging = work / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    pool = trips[: int(args.latency_seconds / 0.25)]
    for path in pool:
        os.link(path, staging / path.name)
    for path in pool:
        os.rename(staging / path.name, work / "incoming" / path.name)
        dropped[path.name] = time.time()
        time.sleep(0.25)
    assert wait_until(lambda: stored(db) >= len(pool), 120, 0.05), "latency run"
    watch.stop()
    server.stop()
    with sqlite3.connect(db) as conn:
        stamps = {name: dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp()
                  for name, stamp in conn.execute(
                      "SELECT source_file, timestamp FROM health_records")}
    latencies = sorted(stamps[name] - dropped[name] for name in dropped if name in stamps)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    rows.append((f"drop → stored, one file every 0.25 s for {args.latency_seconds:.0f} s, "
                 f"2-s poll ({len(latencies)} files)",
                 f"p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max "
                 f"{latencies[-1]:.2f} s", "p95 ≤ 3 s"))

    # Flood: many files at once, memory sampled every second (--flood 0 skips it).
    if args.flood > 0:
        server, db = api("flood")
        setup(work)
        drop_all(trips[: args.flood], work / "incoming")
        start = time.time()
        watch = Watch(work, server.port)
        samples = []
        while count_files(work / "archive") + count_files(work / "failed") < args.flood:
            time.sleep(1)
            samples.append(rss_mb(watch.process.pid))
            if time.time() - start > 3600:
                raise RuntimeError("flood did not finish")
        elapsed = time.time() - start
        watch.stop()
        server.stop()
        third = max(1, len(samples) // 3)
        rows.append((f"{args.flood:,} files in incoming/ at once",
                     f"all {count_files(work / 'archive'):,} archived in {elapsed:.0f} s incl. "
                     f"start-up ({args.flood / elapsed:.0f} files/s), {stored(db):,} stored; "
                     f"watcher memory {statistics.median(samples[:third]):.0f} MB (first third, "
                     "median) → "
                     f"{statistics.median(samples[-third:]):.0f} MB (last third), peak "
                     f"{max(samples):.0f} MB", "all processed, memory flat"))
    shutil.rmtree(work, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
