"""The incoming/ watcher: what counts as a complete file, claims, recovery, every bad input,
the API being down or failing, and the moves that never overwrite."""

from __future__ import annotations

import fcntl
import http.server
import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from evpm.api_client import ApiClient, ApiRejectedError, ApiUnavailableError
from evpm.files import move_into, rename_no_replace
from evpm.pipeline import Folders, Watcher, WatchOptions, recover_orphans, waiting_files
from evpm.profiles import RegistryCache
from evpm.storage import Storage
from tests.processes import REPO, ApiProcess, free_port, wait_until

TRIP = (REPO / "data" / "simulated_trip_data.csv").read_bytes()


def variant(n: int) -> bytes:
    """The shipped trip with n trailing blank lines: same trip, distinct content hash."""
    return TRIP + b"\n" * n


def with_vehicle_column(raw: bytes, vehicle: str) -> bytes:
    """The trip with a leading vehicle_id column."""
    lines = raw.decode().splitlines()
    return ("\n".join([f"vehicle_id,{lines[0]}"] + [f"{vehicle},{line}" for line in lines[1:]])
            + "\n").encode()


def make_watcher(folders: Folders, url: str, **options) -> Watcher:
    registry = folders.incoming.parent / "fleet_registry.csv"
    registry.write_text("vehicle_id,profile\nLEAF7,nissan-leaf-30\n")
    return Watcher(folders, ApiClient(url), RegistryCache(registry),
                   WatchOptions(**{"poll_s": 0.1, "settle_s": 0.0, **options}))


def drop(folders: Folders, name: str, raw: bytes) -> Path:
    path = folders.incoming / name
    path.write_bytes(raw)
    return path


def archived(folders: Folders) -> list[str]:
    return sorted(p.name for p in folders.archive.rglob("*") if p.is_file())


# --- complete files, claims, moves ----------------------------------------------------------

def test_only_complete_csv_files_wait_oldest_first(folders):
    for name in ("b.csv", "a.csv", "c.csv.part", "d.csv.tmp", ".e.csv", "notes.txt"):
        drop(folders, name, b"x")
    os.utime(folders.incoming / "b.csv", (1000, 1000))  # older than a.csv
    seen = []
    chosen, depth = waiting_files(folders, settle_s=0.0, limit=10, on_not_csv=seen.append)
    assert [c.name for c in chosen] == ["b.csv", "a.csv"] and depth == 2
    assert seen == ["notes.txt"]


def test_a_file_still_being_written_waits(folders):
    drop(folders, "young.csv", b"x")
    chosen, depth = waiting_files(folders, settle_s=5.0, limit=10, on_not_csv=print)
    assert chosen == [] and depth == 1  # counted in the queue, not taken yet


def test_the_scan_holds_a_bounded_batch_whatever_the_folder_size(folders):
    for i in range(500):
        drop(folders, f"f{i:03d}.csv", b"x")
    chosen, depth = waiting_files(folders, settle_s=0.0, limit=7, on_not_csv=print)
    assert len(chosen) == 7 and depth == 500


def test_moves_never_overwrite(tmp_path):
    (tmp_path / "a").write_text("first")
    (tmp_path / "b").write_text("second")
    with pytest.raises(FileExistsError):
        rename_no_replace(tmp_path / "b", tmp_path / "a")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "t.csv").write_text("old")
    (tmp_path / "t.csv").write_text("new")
    moved = move_into(tmp_path / "t.csv", tmp_path / "dest", "abc")
    assert moved.name == "t.abc.csv" and (tmp_path / "dest" / "t.csv").read_text() == "old"


def test_files_of_a_dead_watcher_are_requeued_a_live_ones_are_not(folders):
    dead = folders.processing / "host-1-aaaaaa"
    alive = folders.processing / "host-2-bbbbbb"
    for owner in (dead, alive):
        owner.mkdir()
        (owner / f"tripdata.{owner.name[-6:]}.csv").write_bytes(b"x")
        (folders.processing / f"{owner.name}.lock").touch()
    # A live owner holds its lock (another open file description, as another process would).
    with open(folders.processing / f"{alive.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert recover_orphans(folders) == 1
        assert sorted(p.name for p in folders.incoming.iterdir()) == ["tripdata.aaaaaa.csv"]
        assert not dead.exists() and (alive / "tripdata.bbbbbb.csv").exists()


# --- the bad-input list ---------------------------------------------------------------------

HEADER = b"time_s,voltage_V,current_A\n"
ROWS = b"".join(b"%d,380.0,-20.0\n" % t for t in range(0, 200, 2))
BAD_INPUTS = {
    "empty file": ("tripdata.E1.csv", b"", "empty_file"),
    "header only": ("tripdata.E2.csv", HEADER, "no_rows"),
    "missing required column": ("tripdata.E3.csv", b"time_s,voltage_V\n0,380\n1,380\n",
                                "missing_column"),
    "non-numeric cells": ("tripdata.E4.csv", HEADER + ROWS.replace(b"380.0", b"high", 1),
                          "non_numeric"),
    "NaN run": ("tripdata.E5.csv", HEADER + b"".join(
        b"%d,%s,-20.0\n" % (t, b"" if 10 <= t < 20 else b"380.0") for t in range(0, 200, 2)),
        "nan_run"),
    "time going backwards": ("tripdata.E6.csv", HEADER + ROWS.replace(b"\n10,", b"\n1,", 1),
                             "time_not_increasing"),
    "time duplicated": ("tripdata.E7.csv", HEADER + ROWS.replace(b"\n10,", b"\n8,", 1),
                        "time_not_increasing"),
    "a single row": ("tripdata.E8.csv", HEADER + b"0,380.0,-20.0\n", "insufficient_data"),
    "100 MB file": ("tripdata.E9.csv", None, "too_large"),
    "binary garbage": ("tripdata.E10.csv", os.urandom(2048) + b"\x00" * 64, "not_text"),
    "vehicle id with path separators": ("trip1.csv", with_vehicle_column(
        HEADER + ROWS, "../../etc/passwd"), "invalid_vehicle_id"),
    "vehicle id '..'": ("trip2.csv", with_vehicle_column(HEADER + ROWS, ".."),
                        "invalid_vehicle_id"),
    "vehicle id with control characters": ("tripdata.EV\x07X.csv", HEADER + ROWS,
                                           "invalid_vehicle_id"),
    "no vehicle id in name or columns": ("trip-without-id.csv", HEADER + ROWS, "no_vehicle_id"),
    "insufficient data (a 40-s trip)": ("tripdata.E11.csv", HEADER + b"".join(
        b"%d,380.0,-20.0\n" % t for t in range(0, 40, 2)), "insufficient_data"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_goes_to_failed_with_its_reason_and_the_pipeline_continues(
        case, folders, api):
    name, raw, reason = BAD_INPUTS[case]
    path = folders.incoming / name
    if raw is None:  # 100 MB without writing 100 MB: a sparse file has the size
        with path.open("wb") as handle:
            handle.truncate(100 * 1024 * 1024)
    else:
        path.write_bytes(raw)
    good = drop(folders, "tripdata.GOOD1.csv", variant(list(BAD_INPUTS).index(case)))
    summary = make_watcher(folders, api.url).run(once=True)
    report = json.loads((folders.failed / f"{name}.error.json").read_text())
    assert report["reason"] == reason and report["file"] == name and report["time"]
    assert report["message"]
    assert (folders.failed / name).is_file()
    assert archived(folders) == [good.name]
    assert summary.failed == 1 and summary.archived == 1
    assert not any(folders.processing.iterdir())


def test_error_report_names_row_and_column(folders, api):
    drop(folders, "tripdata.RC1.csv", HEADER + ROWS.replace(b"\n20,380.0", b"\n20,abc", 1))
    make_watcher(folders, api.url).run(once=True)
    report = json.loads((folders.failed / "tripdata.RC1.csv.error.json").read_text())
    assert report["column"] == "voltage_V" and report["row"] == 12


@pytest.mark.parametrize(("name", "raw"), [
    ("tripdata.EV-U1.été 2026 №3.csv", variant(40)),
    ("my trip (copy) ü.csv", with_vehicle_column(TRIP, "EVU2") + b"\n" * 41),
    ("tripdata.EVB1.csv", b"\xef\xbb\xbf" + variant(42)),
    ("tripdata.EVS1.csv", variant(43).replace(b",", b";")),
], ids=["unicode and spaces in the name", "vehicle_id column wins", "UTF-8 BOM", "semicolons"])
def test_harmless_unusual_files_are_processed_normally(folders, api, name, raw):
    drop(folders, name, raw)
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 1 and summary.failed == 0
    assert archived(folders) == [name]


def test_registry_profile_is_used_and_source_file_stored(folders, api):
    drop(folders, "tripdata.LEAF7.csv", variant(50))
    make_watcher(folders, api.url).run(once=True)
    [record] = Storage(api.env["DATABASE_URL"]).history("LEAF7")
    assert record.profile == "nissan-leaf-30" and record.source_file == "tripdata.LEAF7.csv"
    assert record.idempotency_key.startswith("sha256:") and record.features["rated_capacity_ah"]


def test_an_unregistered_vehicle_is_stored_saying_its_profile_was_assumed(folders, api):
    drop(folders, "tripdata.NEWV1.csv", variant(80))
    make_watcher(folders, api.url).run(once=True)
    [record] = Storage(api.env["DATABASE_URL"]).history("NEWV1")
    # Read with the default profile, as before, but said to be a guess, and never Priority.
    assert record.profile == "renault-zoe-ze50" and record.status != "Priority_Maintenance"
    assert any(w.startswith("profile assumed (renault-zoe-ze50): vehicle NEWV1 is not in the "
                            "fleet registry; its pack looks like ~96 cells")
               for w in record.warnings)


def test_files_that_are_not_csv_are_left_alone_and_reported_once(folders, api, caplog):
    drop(folders, "readme.txt", b"hello")
    watcher = make_watcher(folders, api.url)
    with caplog.at_level(logging.WARNING, logger="evpm.pipeline"):
        watcher.step()
        watcher.step()
    assert (folders.incoming / "readme.txt").read_bytes() == b"hello"
    assert sum("readme.txt" in r.message for r in caplog.records) == 1


def test_the_same_trip_twice_is_stored_once_and_both_files_archived(folders, api):
    drop(folders, "tripdata.DUP1.csv", variant(60))
    drop(folders, "tripdata.DUP1.again.csv", variant(60))
    before = Storage(api.env["DATABASE_URL"]).count()
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 2 and summary.duplicates == 1
    assert Storage(api.env["DATABASE_URL"]).count() == before + 1


def test_a_trip_left_in_processing_after_it_was_stored_is_not_stored_again(folders, api):
    # The watcher died between the API's answer and the move to archive/.
    first = make_watcher(folders, api.url)
    drop(folders, "tripdata.CR1.csv", variant(70))
    first.run(once=True)
    before = Storage(api.env["DATABASE_URL"]).count()
    [done] = [p for p in folders.archive.rglob("tripdata.CR1.csv")]
    orphan = folders.processing / "host-9-dead00"
    orphan.mkdir()
    done.rename(orphan / done.name)
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 1 and summary.duplicates == 1
    assert Storage(api.env["DATABASE_URL"]).count() == before
    assert len(list(folders.archive.rglob("tripdata.CR1*.csv"))) == 1


# --- the API unreachable or failing ---------------------------------------------------------

def run_in_thread(watcher: Watcher) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    return thread


def test_api_down_files_wait_in_order_then_go_through_when_it_starts(folders, tmp_path):
    port = free_port()
    for i in range(3):
        path = drop(folders, f"tripdata.DOWN{i}.csv", variant(80 + i))
        os.utime(path, (1000 + i, 1000 + i))
    watcher = make_watcher(folders, f"http://127.0.0.1:{port}/predict")
    thread = run_in_thread(watcher)
    assert wait_until(lambda: watcher.metrics.api_errors._value.get() >= 2, 30)
    assert not any(folders.failed.iterdir()) and archived(folders) == []
    (tmp_path / "late").mkdir()
    server = ApiProcess(tmp_path / "late", port).start()
    try:
        assert wait_until(lambda: len(archived(folders)) == 3, 60)
        records = Storage(server.env["DATABASE_URL"]).history("DOWN0") + \
            Storage(server.env["DATABASE_URL"]).history("DOWN2")
        assert len(records) == 2
    finally:
        watcher.stop()
        thread.join(30)
        server.stop()
    assert not thread.is_alive()


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 — the handler's API
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"error": "internal error", "details": []}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_5xx_is_retried_never_failed_and_a_stop_hands_the_files_back(folders):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        drop(folders, "tripdata.FIVE1.csv", variant(90))
        watcher = make_watcher(folders, f"http://127.0.0.1:{server.server_port}/predict")
        thread = run_in_thread(watcher)
        assert wait_until(lambda: watcher.metrics.api_errors._value.get() >= 3, 30)
        assert not any(folders.failed.iterdir())
        assert [p.name for p in folders.processing.rglob("*.csv")] == ["tripdata.FIVE1.csv"]
        watcher.stop()
        thread.join(30)
        assert not thread.is_alive()
        assert [p.name for p in folders.incoming.iterdir()] == ["tripdata.FIVE1.csv"]
        assert not any(folders.processing.iterdir())
    finally:
        server.shutdown()


def test_client_errors_map_to_retry_or_reject(api):
    client = ApiClient(api.url)
    with pytest.raises(ApiRejectedError) as rejected:
        client.predict([{"vehicle_id": "X1"}])
    assert rejected.value.status == 422
    with pytest.raises(ApiUnavailableError, match="unreachable"):
        ApiClient(f"http://127.0.0.1:{free_port()}/predict").predict([{}])
    with pytest.raises(ApiUnavailableError, match="HTTP 404"):
        ApiClient(api.url.replace("/predict", "/nowhere")).predict([{}])


def test_a_row_the_api_refuses_fails_alone(folders, api, monkeypatch):
    # Features the API calls physically impossible (a cell voltage of 9 V through a
    # one-cell profile would not pass the trip checks; so shift one feature on its way out).
    import evpm.pipeline as pipeline
    import evpm.trip_rows as trip_rows

    real = trip_rows.trip_row  # patched below where the watcher looks it up

    def shifted(path, raw, registry, name=None):
        row = real(path, raw, registry, name)
        if "BADROW" in (name or path.name):
            row["avg_voltage"] = 9.0
        return row

    monkeypatch.setattr(pipeline, "trip_row", shifted)
    drop(folders, "tripdata.OK1.csv", variant(100))
    drop(folders, "tripdata.BADROW.csv", variant(101))
    drop(folders, "tripdata.OK2.csv", variant(102))
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 2 and summary.failed == 1
    report = json.loads((folders.failed / "tripdata.BADROW.csv.error.json").read_text())
    assert report["reason"] == "rejected_by_api"
    assert any("avg_voltage" in d["field"] for d in report["details"])


def test_a_file_that_keeps_growing_is_not_taken(folders, api):
    path = drop(folders, "tripdata.GROW1.csv", TRIP[: len(TRIP) // 2])
    watcher = make_watcher(folders, api.url, settle_s=0.5)
    stop = threading.Event()

    def writer() -> None:
        rest = TRIP[len(TRIP) // 2:]
        with path.open("ab") as handle:
            for i in range(0, len(rest), 2000):
                handle.write(rest[i:i + 2000])
                handle.flush()
                time.sleep(0.1)
        stop.set()

    threading.Thread(target=writer, daemon=True).start()
    thread = run_in_thread(watcher)
    assert wait_until(stop.is_set, 30)
    assert wait_until(lambda: len(archived(folders)) == 1, 30)
    watcher.stop()
    thread.join(30)
    assert watcher.summary.failed == 0
    [done] = list(folders.archive.rglob("*.csv"))
    assert done.read_bytes() == TRIP


def test_an_unexpected_error_on_one_file_fails_that_file_not_the_pipeline(folders, api,
                                                                          monkeypatch):
    import evpm.pipeline as pipeline
    import evpm.trip_rows as trip_rows

    real = trip_rows.trip_row  # patched below where the watcher looks it up

    def fragile(path, raw, registry, name=None):
        if "ODD" in (name or path.name):
            raise ZeroDivisionError("float division by zero")
        return real(path, raw, registry, name)

    monkeypatch.setattr(pipeline, "trip_row", fragile)
    drop(folders, "tripdata.ODD1.csv", variant(110))
    drop(folders, "tripdata.FINE1.csv", variant(111))
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 1 and summary.failed == 1
    report = json.loads((folders.failed / "tripdata.ODD1.csv.error.json").read_text())
    assert report["reason"] == "processing_error" and "ZeroDivisionError" in report["message"]
