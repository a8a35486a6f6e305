"""Storage on SQLite and PostgreSQL: writes, idempotency, reads, concurrency, migration."""

import datetime as dt
import multiprocessing
import uuid

import pytest

from evpm.errors import EvpmError
from evpm.storage import Record, Storage, metadata, migrate, vehicles


def record(vehicle="V1", key=None, day=1, soh=0.9, **extra) -> Record:
    return Record(vehicle_id=vehicle, timestamp=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
                  predicted_soh=soh, predicted_sop=40000.0, health_score=0.3,
                  status="Healthy", prediction_id=str(uuid.uuid4()), model_version="1.test",
                  idempotency_key=key, features={"dod": 10.0}, **extra)


def test_save_and_read_back(storage):
    storage.save([record(day=1, soh=0.95), record(day=2, soh=0.94, source_file="a.csv"),
                  record("V2", day=3)])
    assert storage.count() == 3
    history = storage.history("V1")
    assert [r.predicted_soh for r in history] == [0.95, 0.94]
    assert history[1].source_file == "a.csv" and history[0].features == {"dod": 10.0}
    assert history[0].timestamp == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert [r.vehicle_id for r in storage.latest_per_vehicle()] == ["V1", "V2"]
    assert storage.latest_per_vehicle()[0].predicted_soh == 0.94
    assert [len(v) for v in storage.recent_by_vehicle(1).values()] == [1, 1]


def test_idempotency_key_stores_once_and_returns_the_first(storage):
    first = storage.save([record(key="hash-1", soh=0.9)])[0]
    again = storage.save([record(key="hash-1", soh=0.5)])[0]
    assert again.prediction_id == first.prediction_id and again.predicted_soh == 0.9
    assert storage.count() == 1


def test_vehicles_table_tracks_first_and_last_seen(storage):
    storage.save([record(day=5)])
    storage.save([record(day=9), record(day=7)])
    storage.save([record(day=2)])  # an older trip arriving late does not move last_seen back
    with storage.engine.connect() as conn:
        row = conn.execute(vehicles.select()).one()
    assert row.last_seen.day == 9 and row.first_seen.day == 5


def _writer(url: str, worker: int) -> None:
    store = Storage(url)
    for i in range(40):
        store.save([record(f"W{worker}", key=f"w{worker}-{i}")])
    store.dispose()


def test_concurrent_writers_never_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    Storage(url).init()
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_writer, args=(url, w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    assert Storage(url).count() == 160


def test_migrate_sqlite_to_postgresql(tmp_path, postgres_url):
    source = f"sqlite:///{tmp_path / 'old.db'}"
    old = Storage(source)
    old.init()
    old.save([record(f"M{i % 7}", key=f"k{i}", day=1 + i % 28) for i in range(250)])
    target = postgres_url.rsplit("/", 1)[0] + "/evpm_migrate_test"
    fresh = Storage(target)
    metadata.drop_all(fresh.engine)
    fresh.dispose()
    counts = migrate(source, target, batch=100)
    assert counts == {"vehicles": (7, 7), "health_records": (250, 250)}
    moved = Storage(target)
    assert moved.history("M3")[0].features == {"dod": 10.0}
    moved.save([record("M3", key="after-migration")])  # ids continue after the copied ones
    assert moved.count() == 251
    with pytest.raises(EvpmError, match="not empty"):
        migrate(source, target)
    moved.dispose()


def test_prediction_ids_are_unique_version_4_uuids():
    import uuid

    from evpm.service import prediction_ids

    for count in (1, 1000):  # the one-row and the batch way of making them
        ids = prediction_ids(count)
        assert len(set(ids)) == count
        assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_a_key_committed_between_look_up_and_insert_is_answered_not_raised(storage,
                                                                           monkeypatch):
    """The race of parallel requests (API replicas): the look-up missed a key that another
    transaction then committed; the insert's unique-key conflict becomes a second look-up."""
    from sqlalchemy import false, select

    from evpm.storage import health_records

    first = record(key="race")
    storage.save([first])
    seeing, blind = storage._select_keys, select(health_records).where(false())
    save = storage._save_columns
    attempts = []

    def late_look_up(columns, same_request):
        storage._select_keys = blind if not attempts else seeing
        attempts.append(1)
        return save(columns, same_request)

    monkeypatch.setattr(storage, "_save_columns", late_look_up)
    [stored] = storage.save([record(key="race")])
    assert stored.prediction_id == first.prediction_id
    assert len(attempts) == 2 and storage.count() == 1


def test_storage_errors_name_the_database_without_its_password(tmp_path):
    with pytest.raises(EvpmError, match="not supported") as bad:
        Storage("mysql://fleet:hunter2@db/fleet")
    assert "hunter2" not in str(bad.value)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00not sqlite\x00" * 500)
    with pytest.raises(EvpmError, match="not a database"):
        Storage(f"sqlite:///{garbage}").init()


def test_switching_a_new_file_to_wal_waits_for_another_process_doing_the_same():
    import sqlite3

    from evpm.storage import set_wal

    class Racing:
        """A cursor whose first two WAL switches lose the race, as a second process's can."""

        def __init__(self, failures: int, message: str = "database is locked") -> None:
            self.failures, self.message, self.calls = failures, message, 0

        def execute(self, sql: str) -> None:
            self.calls += 1
            if self.calls <= self.failures:
                raise sqlite3.OperationalError(self.message)

    cursor = Racing(2)
    set_wal(cursor)
    assert cursor.calls == 3
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        set_wal(Racing(1, "disk I/O error"))  # not a lock: no retry


def test_the_dashboards_raw_reads_give_intervals_features_and_warnings(storage):
    """record_rows has the intervals (NULL before them); features and warnings come for the
    newest records of each vehicle, or for given ids."""
    storage.save([record(day=1), record(day=2, soh_low=0.85, soh_high=0.95, sop_low=3e4,
                                        sop_high=5e4, warnings=["w"]), record("V2", day=3)])
    rows = storage.record_rows()
    assert len(rows[0]) == len(Storage.SCALAR_COLUMNS)
    intervals = [row[-4:] for row in rows]
    assert intervals[1] == (0.85, 0.95, 3e4, 5e4) and intervals[0] == (None,) * 4
    ids = [row[0] for row in rows]
    recent = {row[0]: row[1:] for row in storage.recent_detail_rows(1)}
    assert set(recent) == {ids[1], ids[2]} and recent[ids[1]] == ('{"dod":10.0}', '["w"]')
    by_id = storage.detail_rows([ids[0], ids[0], 10**9])  # repeats and unknown ids: once, none
    assert by_id == [(ids[0], '{"dod":10.0}', "[]")]
    assert storage.detail_rows([]) == []
    assert sorted(storage.detail_rows(ids, chunk=2)) == sorted(storage.detail_rows(ids))
    assert len(storage.detail_rows(ids, chunk=2)) == 3
