"""The incoming/ watcher against inputs that used to break it: the same bytes for two vehicles,
names too long for the file system, writers that keep appending, things in incoming/ that are
not regular files, names with control characters, and folders that refuse a move."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import evpm.pipeline as pipeline
import evpm.trip_rows as trip_rows
from evpm.files import NAME_MAX, move_into
from evpm.pipeline import Folders
from evpm.storage import Storage
from evpm.trip_rows import content_key
from tests.processes import ApiProcess, wait_until
from tests.test_pipeline import (
    HEADER,
    ROWS,
    TRIP,
    archived,
    drop,
    make_watcher,
    run_in_thread,
    variant,
    with_vehicle_column,
)

LINES = TRIP.splitlines(keepends=True)


def storage(server: ApiProcess) -> Storage:
    """The test API's database."""
    return Storage(server.env["DATABASE_URL"])


def api_history(server: ApiProcess, vehicle: str) -> list[dict]:
    """GET /vehicles/<id>/history from the running API (no auth in these tests)."""
    url = server.url.replace("/predict", f"/vehicles/{vehicle}/history")
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 — a local test URL
        return json.loads(response.read())


def archived_paths(where: Folders) -> list[Path]:
    return sorted(p for p in where.archive.rglob("*") if p.is_file())


# --- 1. a trip is keyed by its vehicle and its bytes ----------------------------------------

def test_the_idempotency_key_names_the_vehicle_and_is_api_safe():
    key = content_key(b"same bytes", "V001")
    assert key == "sha256:V001:" + hashlib.sha256(b"same bytes").hexdigest()
    assert key != content_key(b"same bytes", "V002")
    longest = content_key(b"x", "V" * 64)  # the longest vehicle id there is
    assert len(longest) <= 200 and all(0x21 <= ord(c) <= 0x7E for c in longest)


def test_identical_bytes_for_two_vehicles_give_each_vehicle_its_record(folders, api):
    raw = variant(300)
    drop(folders, "tripdata.ATTR1.csv", raw)
    first = make_watcher(folders, api.url).run(once=True)
    drop(folders, "tripdata.ATTR2.csv", raw)  # later, for another vehicle: the same bytes
    second = make_watcher(folders, api.url).run(once=True)
    assert first.archived == second.archived == 1
    assert second.duplicates == 0 and second.failed == 0
    [one], [two] = storage(api).history("ATTR1"), storage(api).history("ATTR2")
    assert one.idempotency_key != two.idempotency_key
    assert two.source_file == "tripdata.ATTR2.csv"
    assert [r["vehicle_id"] for r in api_history(api, "ATTR2")] == ["ATTR2"]


def test_identical_bytes_for_two_vehicles_in_one_batch_are_both_stored(folders, api):
    raw = variant(301)
    drop(folders, "tripdata.ATTR3.csv", raw)
    drop(folders, "tripdata.ATTR4.csv", raw)
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 2 and summary.duplicates == 0 and summary.failed == 0
    assert len(storage(api).history("ATTR3")) == len(storage(api).history("ATTR4")) == 1


def test_the_same_bytes_for_the_same_vehicle_under_another_name_are_stored_once(folders, api):
    raw = variant(302)
    drop(folders, "tripdata.ATTR5.csv", raw)
    make_watcher(folders, api.url).run(once=True)
    # Named by a vehicle_id column this time: still the same vehicle, the same trip.
    drop(folders, "copy of the trip.csv", with_vehicle_column(TRIP, "ATTR5") + b"\n" * 302)
    drop(folders, "tripdata.ATTR5.again.csv", raw)
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 2 and summary.failed == 0
    assert summary.duplicates == 1  # the renamed copy; the column form is other bytes
    assert len(storage(api).history("ATTR5")) == 2


# --- 2. names longer than the file system allows with a suffix -------------------------------

LONG_ASCII = "tripdata.V" + "x" * 226 + ".csv"  # 240 characters
LONG_UTF8 = "tripdata." + "é" * 118 + "x.csv"  # 250 bytes, 132 characters


def test_long_test_names_are_what_they_claim():
    assert len(LONG_ASCII) == 240 and len(LONG_UTF8.encode()) == 250


@pytest.mark.parametrize("name", [LONG_ASCII, LONG_UTF8], ids=["240 characters", "250 bytes"])
def test_an_overlong_name_lands_in_failed_with_its_report_and_the_watcher_goes_on(
        folders, api, name):
    drop(folders, name, HEADER + ROWS)
    good = drop(folders, "tripdata.LONGOK.csv", variant(310 + len(name)))
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.failed == 1 and summary.archived == 1
    assert archived(folders) == [good.name]
    [report_path] = folders.failed.glob("*.error.json")
    report = json.loads(report_path.read_text())
    assert report["file"] == name and report["reason"] == "invalid_vehicle_id"
    kept = folders.failed / report_path.name.removesuffix(".error.json")
    assert kept.read_bytes() == HEADER + ROWS
    assert len(os.fsencode(report_path.name)) <= NAME_MAX and kept.name.endswith(".csv")
    assert not any(folders.incoming.iterdir()) and not any(folders.processing.iterdir())


def test_a_long_named_good_trip_dropped_twice_is_archived_twice_under_names_that_fit(
        folders, api):
    name = "trip " + "ü" * 123 + ".csv"  # 255 bytes: as long as a name can be
    assert len(name.encode()) == NAME_MAX
    for _ in range(2):
        drop(folders, name, with_vehicle_column(TRIP, "LONG2") + b"\n" * 320)
        summary = make_watcher(folders, api.url).run(once=True)
        assert summary.archived == 1 and summary.failed == 0
    names = [p.name for p in archived_paths(folders)]
    assert len(set(names)) == 2 and name in names
    assert all(len(os.fsencode(n)) <= NAME_MAX and n.endswith(".csv") for n in names)


@pytest.mark.parametrize("name", ["t" * 251 + ".csv", "tripdata.V1." + "€" * 79 + ".csv",
                                  "tripdata.V1.0002.csv", "x" * 255],
                         ids=["255 ASCII", "multibyte", "short", "no suffix"])
def test_every_move_finds_a_free_name_that_fits(tmp_path, name):
    dest = tmp_path / "dest"
    seen = set()
    for _ in range(4):  # the first takes the name, the others need tagged ones
        (tmp_path / name).write_bytes(b"x")
        moved = move_into(tmp_path / name, dest, "requeued", reserve=len(".error.json"))
        assert moved.name not in seen and moved.read_bytes() == b"x"
        assert len(os.fsencode(moved.name)) + len(".error.json") <= NAME_MAX
        moved.name.encode()  # whole UTF-8 characters only (raises on a cut one)
        seen.add(moved.name)
    if name.endswith(".csv"):
        assert all(n.endswith(".csv") for n in seen)
    if name == "tripdata.V1.0002.csv":  # a tagged name still says its vehicle
        assert all(n.startswith("tripdata.V1.") and n.count(".") == 3 for n in seen)


def test_a_requeued_file_whose_name_is_taken_keeps_a_name_that_fits(folders):
    name = "z" * 251 + ".csv"
    claimed = folders.processing / "host-1-dead01"
    claimed.mkdir()
    (claimed / name).write_bytes(b"old claim")
    drop(folders, name, b"newer drop")
    assert pipeline.recover_orphans(folders) == 1
    names = sorted(p.name for p in folders.incoming.iterdir())
    assert len(names) == 2 and name in names
    assert all(len(os.fsencode(n)) <= NAME_MAX and n.endswith(".csv") for n in names)


# --- 3. writers that keep appending ---------------------------------------------------------

HALF = b"".join(LINES[: len(LINES) // 2])
REST = b"".join(LINES[len(LINES) // 2:])


def test_a_file_that_grows_after_its_prediction_is_requeued_and_stored_whole(folders, api):
    path = drop(folders, "tripdata.GROW2.csv", HALF)
    watcher = make_watcher(folders, api.url)
    real = watcher.client.predict
    grown = []

    def predict_then_append(rows: list[dict]) -> list[dict]:
        answers = real(rows)
        if not grown:  # a writer appends after the API stored the half, before the archive
            [claimed] = folders.processing.rglob(path.name)
            with claimed.open("ab") as handle:
                handle.write(REST)
            grown.append(claimed)
        return answers

    watcher.client.predict = predict_then_append
    summary = watcher.run(once=True)
    assert grown and summary.archived == 1 and summary.failed == 0
    [done] = archived_paths(folders)
    assert done.read_bytes() == TRIP  # the whole trip was archived ...
    records = storage(api).history("GROW2")
    # ... and it is what the last stored prediction was made from: no archived file differs
    # from the bytes it was predicted on (the half stays stored as the first record).
    assert records[-1].idempotency_key == content_key(TRIP, "GROW2")
    assert records[-1].features["duration_s"] > records[0].features["duration_s"]
    assert not any(folders.incoming.iterdir()) and not any(folders.processing.iterdir())


def test_a_file_that_grows_before_it_is_sent_is_not_sent(folders, api, monkeypatch):
    path = drop(folders, "tripdata.GROW3.csv", HALF)
    real = trip_rows.trip_row  # patched below where the watcher looks it up
    grown = []

    def read_then_append(claimed, raw, registry, name=None):
        row = real(claimed, raw, registry, name)
        if not grown:  # a writer appends between the read and the request
            with claimed.open("ab") as handle:
                handle.write(REST)
            grown.append(claimed)
        return row

    monkeypatch.setattr(pipeline, "trip_row", read_then_append)
    summary = make_watcher(folders, api.url).run(once=True)
    assert grown and summary.archived == 1
    [record] = storage(api).history("GROW3")  # the half was never sent
    assert record.idempotency_key == content_key(TRIP, "GROW3")
    assert [p.read_bytes() for p in archived_paths(folders)] == [TRIP]
    assert path.name in record.source_file


def test_a_writer_appending_every_0_7_s_never_has_a_partial_trip_archived(folders, api):
    # The reported case: pauses (0.7 s) longer than the settle time (0.5 s), the writer keeping
    # the file open between appends.
    path = folders.incoming / "tripdata.GROW4.csv"
    chunks = [b"".join(LINES[i:i + 300]) for i in range(0, len(LINES), 300)]
    done = threading.Event()

    def writer() -> None:
        with path.open("ab") as handle:
            for chunk in chunks:
                handle.write(chunk)
                handle.flush()
                time.sleep(0.7)
        done.set()

    watcher = make_watcher(folders, api.url, settle_s=0.5)
    threading.Thread(target=writer, daemon=True).start()
    thread = run_in_thread(watcher)
    try:
        assert wait_until(done.is_set, 30)
        assert wait_until(lambda: len(archived(folders)) == 1, 30)
    finally:
        watcher.stop()
        thread.join(30)
    [archived_file] = archived_paths(folders)
    assert archived_file.read_bytes() == TRIP
    keys = {r.idempotency_key for r in storage(api).history("GROW4")}
    assert keys == {content_key(TRIP, "GROW4")}  # only the whole trip was ever sent


# --- 4. things that are not regular files; names that are not one line ----------------------

def test_links_folders_and_fifos_named_csv_are_reported_once_and_counted(folders, api, caplog,
                                                                       tmp_path):
    target = tmp_path / "elsewhere.csv"
    target.write_bytes(TRIP)
    (folders.incoming / "tripdata.LINK1.csv").symlink_to(target)
    (folders.incoming / "tripdata.DIR1.csv").mkdir()
    os.mkfifo(folders.incoming / "tripdata.FIFO1.csv")
    watcher = make_watcher(folders, api.url)
    with caplog.at_level(logging.WARNING, logger="evpm.pipeline"):
        for _ in range(3):
            watcher.step()
    for name in ("tripdata.LINK1.csv", "tripdata.DIR1.csv", "tripdata.FIFO1.csv"):
        assert sum(name in r.getMessage() for r in caplog.records) == 1, name
        assert (folders.incoming / name).exists() or (folders.incoming / name).is_symlink()
    counted = {kind: watcher.metrics.registry.get_sample_value(
        "evpm_pipeline_ignored_files_total", {"kind": kind})
        for kind in ("symlink", "directory", "fifo")}
    assert counted == {"symlink": 1.0, "directory": 1.0, "fifo": 1.0}


def test_names_with_control_characters_never_split_a_log_line(folders, api, caplog):
    drop(folders, "tripdata.EV\nX.csv", HEADER + ROWS)  # invalid vehicle id: failed
    drop(folders, "odd\r\nname.txt", b"hello")  # not a CSV: reported
    drop(folders, "my\ttrip\x1b[31m.csv", with_vehicle_column(TRIP, "CTRL1") + b"\n" * 330)
    with caplog.at_level(logging.INFO, logger="evpm.pipeline"):
        summary = make_watcher(folders, api.url).run(once=True)
    assert summary.failed == 1 and summary.archived == 1
    messages = [r.getMessage() for r in caplog.records]
    assert all("\n" not in m and "\r" not in m and "\x1b" not in m and "\t" not in m
               for m in messages), messages
    assert any("EV\\nX" in m for m in messages) and any("odd\\r\\nname" in m for m in messages)
    assert any("my\\ttrip" in m and "archived" in m for m in messages)
    report = json.loads((folders.failed / "tripdata.EV\nX.csv.error.json").read_text())
    assert report["file"] == "tripdata.EV\nX.csv"  # the report keeps the exact name
    [record] = storage(api).history("CTRL1")
    assert "\t" not in record.source_file and "\x1b" not in record.source_file


def test_a_name_that_is_not_utf8_is_failed_with_its_report(folders, api, caplog):
    raw_name = b"tripdata.\xff\xfe.csv"
    (folders.incoming / os.fsdecode(raw_name)).write_bytes(HEADER + ROWS)
    with caplog.at_level(logging.WARNING, logger="evpm.pipeline"):
        summary = make_watcher(folders, api.url).run(once=True)
    assert summary.failed == 1
    [report] = folders.failed.glob("*.error.json")
    assert json.loads(report.read_bytes())["reason"] == "invalid_vehicle_id"
    assert all(m.isprintable() for m in (r.getMessage() for r in caplog.records))


# --- no single file stops the watcher -------------------------------------------------------

def test_a_failed_folder_that_refuses_the_move_does_not_stop_the_watcher(folders, api,
                                                                          monkeypatch, caplog):
    real = pipeline.move_into

    def refusing(source, folder, tag, **kwargs):
        if folder == folders.failed:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        return real(source, folder, tag, **kwargs)

    monkeypatch.setattr(pipeline, "move_into", refusing)
    drop(folders, "tripdata.NOSPACE1.csv", b"")  # empty_file: would go to failed/
    good = drop(folders, "tripdata.NOSPACE2.csv", variant(340))
    with caplog.at_level(logging.ERROR, logger="evpm.pipeline"):
        summary = make_watcher(folders, api.url).run(once=True)
    assert archived(folders) == [good.name] and summary.archived == 1
    # Kept, not lost: back in incoming/ when the watcher stopped, to be tried again.
    assert [p.name for p in folders.incoming.iterdir()] == ["tripdata.NOSPACE1.csv"]
    assert any("NOSPACE1" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(pipeline, "move_into", real)
    assert make_watcher(folders, api.url).run(once=True).failed == 1


def test_an_archive_folder_that_refuses_the_move_does_not_stop_the_watcher(folders, api,
                                                                           monkeypatch):
    real = pipeline.move_into

    def refusing(source, folder, tag, **kwargs):
        if folders.archive in folder.parents:
            raise OSError(errno.EACCES, "Permission denied", str(folder))
        return real(source, folder, tag, **kwargs)

    monkeypatch.setattr(pipeline, "move_into", refusing)
    drop(folders, "tripdata.NOARCH1.csv", variant(350))
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 0 and archived(folders) == []
    assert [p.name for p in folders.incoming.iterdir()] == ["tripdata.NOARCH1.csv"]
    monkeypatch.setattr(pipeline, "move_into", real)
    again = make_watcher(folders, api.url).run(once=True)
    assert again.archived == 1 and again.duplicates == 1  # stored once, archived once
    assert len(storage(api).history("NOARCH1")) == 1


# --- a trip without a temperature column is served, as the docs promise ----------------------

def test_a_trip_without_temperature_is_archived_with_a_warning(folders, api):
    import pandas as pd

    table = pd.read_csv(pd.io.common.BytesIO(TRIP)).drop(columns=["temperature_C"])
    drop(folders, "tripdata.NOTEMP1.csv", table.to_csv(index=False).encode())
    summary = make_watcher(folders, api.url).run(once=True)
    assert summary.archived == 1 and summary.failed == 0, summary
    [record] = storage(api).history("NOTEMP1")
    assert any("no temperature" in w for w in record.warnings)
    assert 0.3 < record.predicted_soh < 1.2
