"""End to end with real processes: twin → incoming/ → `evpm watch` → `evpm api` → database,
including SIGKILL of both mid-run and two watchers on one folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evpm.storage import Storage
from tests.processes import REPO, ApiProcess, WatchProcess, files_in, wait_until

TRIP = (REPO / "data" / "simulated_trip_data.csv").read_bytes()
BAD = {
    "tripdata.BADA.csv": b"",
    "tripdata.BADB.csv": b"time_s,voltage_V\n0,380\n",
    "tripdata.BADC.csv": b"\x00\x01garbage" * 100,
    "no-vehicle.csv": TRIP,
}


@pytest.fixture
def work(tmp_path) -> Path:
    for name in ("incoming", "processing", "archive", "failed"):
        (tmp_path / name).mkdir()
    (tmp_path / "fleet_registry.csv").write_text("vehicle_id,profile\n")
    return tmp_path


def drop_good(work: Path, count: int, offset: int = 0) -> set[str]:
    """Distinct good trips (the shipped trip + n blank lines), renamed into incoming/."""
    names = set()
    for i in range(offset, offset + count):
        name = f"tripdata.K{i:03d}.csv"
        (work / f".{name}.tmp").write_bytes(TRIP + b"\n" * i)
        (work / f".{name}.tmp").rename(work / "incoming" / name)
        names.add(name)
    return names


def drop_bad(work: Path) -> None:
    for name, raw in BAD.items():
        (work / "incoming" / name).write_bytes(raw)


def settled(work: Path) -> bool:
    return not files_in(work / "incoming", "") and not files_in(work / "processing")


def test_twin_trips_flow_through_watcher_and_api_into_the_database(work):
    fleet = work / "fleet"
    subprocess.run([sys.executable, "-m", "evpm.cli", "twin", "fleet", "--vehicles", "3",
                    "--trips", "3", "--days", "60", "--seed", "5", "--out", str(fleet)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    shutil.copy(fleet / "fleet_registry.csv", work / "fleet_registry.csv")
    trips = sorted(fleet.glob("tripdata.*.csv"))
    assert len(trips) == 9
    api = ApiProcess(work).start()
    watch = WatchProcess(work, api.url).start()
    try:
        for trip in trips:
            shutil.copy(trip, work / "incoming" / trip.name)
        assert wait_until(lambda: len(files_in(work / "archive")) == 9, 120)
        assert watch.terminate() == 0  # SIGTERM: a clean exit
        storage = Storage(api.env["DATABASE_URL"])
        assert storage.count() == 9
        records = [r for v in storage.recent_by_vehicle(10).values() for r in v]
        assert sorted(r.source_file for r in records) == [t.name for t in trips]
        registry = dict(line.split(",") for line in
                        (fleet / "fleet_registry.csv").read_text().split()[1:])
        assert all(r.profile == registry[r.vehicle_id] for r in records)
        assert settled(work) and not files_in(work / "failed", "")
    finally:
        watch.kill()
        api.stop()


def test_sigkill_of_watcher_and_api_mid_run_loses_nothing_and_stores_nothing_twice(work):
    api = ApiProcess(work).start()
    watch = WatchProcess(work, api.url, "--batch", "4").start()
    good = drop_good(work, 48)
    drop_bad(work)
    try:
        # Round 1: kill the watcher in the middle of the queue.
        assert wait_until(lambda: len(files_in(work / "archive")) >= 8, 120, 0.02)
        watch.kill()
        # Round 2: a new watcher; kill the API under it, then the watcher too.
        watch = WatchProcess(work, api.url, "--batch", "4").start()
        assert wait_until(lambda: len(files_in(work / "archive")) >= 24, 120, 0.02)
        api.kill()
        assert wait_until(lambda: "retrying" in (work / "watch.log").read_text(), 60)
        watch.kill()
        # Restart both: everything left must come through exactly once.
        api.start()
        watch = WatchProcess(work, api.url, "--batch", "4").start()
        assert wait_until(lambda: len(files_in(work / "archive")) == len(good), 180)
        assert wait_until(lambda: settled(work), 30)
        assert watch.terminate() == 0
    finally:
        watch.kill()
        api.stop()
    archived = [p.name for p in files_in(work / "archive")]
    assert sorted(archived) == sorted(good)  # each good file exactly once
    assert Storage(api.env["DATABASE_URL"]).count() == len(good)  # one record per good file
    assert sorted(p.name for p in files_in(work / "failed")) == sorted(BAD)
    assert len(files_in(work / "failed", ".error.json")) == len(BAD)


def test_two_watchers_on_one_folder_never_process_a_file_twice(work):
    api = ApiProcess(work).start()
    # One file per round and enough files that the run outlasts several polls: both watchers
    # are certain to contend for the same files.
    watchers = [WatchProcess(work, api.url, "--batch", "1", log_name=f"watch{i}.log").start()
                for i in range(2)]
    good = drop_good(work, 120)
    try:
        assert wait_until(lambda: len(files_in(work / "archive")) == len(good), 180)
        assert all(w.terminate() == 0 for w in watchers)
    finally:
        for watcher in watchers:
            watcher.kill()
        api.stop()
    logs = [(work / f"watch{i}.log").read_text() for i in range(2)]
    handled = [line for log in logs for line in log.splitlines() if " archived " in line]
    assert len(handled) == len(good)  # each file handled by exactly one watcher
    assert all(log.count(" archived ") > 0 for log in logs)  # and both did work
    assert not any("already stored" in line for line in handled)
    assert Storage(api.env["DATABASE_URL"]).count() == len(good)
    assert sorted(p.name for p in files_in(work / "archive")) == sorted(good)
