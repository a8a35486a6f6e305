"""Schema migrations (Alembic) on SQLite and PostgreSQL: a release-89c56b1 database adopted with
every row, the baseline equal to that release's tables, upgrades that are no-ops when current
and safe when processes start together, models that cannot drift from the migrations; and a
read-only storage that creates and writes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from evpm import schema_migrations
from evpm.errors import EvpmError
from evpm.schema import health_records, metadata, vehicles
from evpm.schema_migrations import current, head, upgrade
from evpm.storage import Record, Storage

REPO = Path(__file__).resolve().parents[1]
RELEASE = "89c56b1"  # the last release before migrations: its create_all made the tables


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path):
    """Makes empty databases of one kind: SQLite files, or private schemas of PostgreSQL's
    evpm_migrate_test database (tests of others run on evpm_test, maybe at the same time)."""
    made: list[str] = []
    base = None
    if request.param == "postgresql":
        import psycopg

        base = request.getfixturevalue("postgres_url").rsplit("/", 1)[0] + "/evpm_migrate_test"

    def make() -> str:
        if base is None:
            made.append(f"sqlite:///{tmp_path / f'fleet{len(made)}.db'}")
            return made[-1]
        schema = f"mig_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return f"{base}?options=-csearch_path%3D{schema}"

    yield make
    for schema in made if base is not None else []:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def url(new_database) -> str:
    """One empty database of each kind."""
    return new_database()


@pytest.fixture(scope="session")
def release_code(tmp_path_factory) -> Path:
    """A folder holding release 89c56b1's evpm/storage.py as the module release_storage."""
    shown = subprocess.run(["git", "show", f"{RELEASE}:evpm/storage.py"], cwd=REPO,
                           capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip(f"git history has no release {RELEASE} (a shallow clone or no git: "
                    f"{shown.stderr.strip()[:200]}); CI runs on a full clone")
    folder = tmp_path_factory.mktemp("release")
    (folder / "release_storage.py").write_text(shown.stdout)
    return folder


# Run by the release's code in its own interpreter: its Storage, init (create_all) and save.
RELEASE_WRITER = """
import datetime as dt, sys
from release_storage import Record, Storage
store = Storage(sys.argv[1])
store.init()
store.save([Record(vehicle_id=f"R{i % 3}", timestamp=dt.datetime(2026, 1, 1 + i, tzinfo=dt.UTC),
                   predicted_soh=0.95 - i / 100, predicted_sop=40000.0 + i, health_score=0.2,
                   status="Healthy", prediction_id=f"00000000-0000-4000-8000-{i:012d}",
                   model_version="1.release", idempotency_key=f"release-{i}",
                   source_file=f"tripdata.R{i % 3}.{i}.csv", profile="nissan-leaf-30",
                   features={"dod": 10.0 + i}, warnings=["w"] if i % 2 else None)
            for i in range(int(sys.argv[2]))])
store.dispose()
"""


def build_with_release(release_code: Path, url: str, rows: int) -> None:
    """A database made and filled by release 89c56b1's code (no alembic_version)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(release_code), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", RELEASE_WRITER, url, str(rows)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def rows_of(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Every row of both tables, in key order: the columns the database has, or `columns`."""
    storage = Storage(url)
    try:
        with storage.engine.connect() as conn:
            present = {table.name: [c["name"] for c in inspect(conn).get_columns(table.name)]
                       for table in (health_records, vehicles)}
            names = columns or present
            return {table.name: [tuple(r) for r in conn.execute(
                select(*[table.c[n] for n in names[table.name]]).order_by(
                    *table.primary_key.columns))]
                    for table in (health_records, vehicles)}
    finally:
        storage.dispose()


def columns_of(url: str) -> dict[str, list[str]]:
    """Each table's column names as the database has them."""
    storage = Storage(url)
    try:
        with storage.engine.connect() as conn:
            return {table.name: [c["name"] for c in inspect(conn).get_columns(table.name)]
                    for table in (health_records, vehicles)}
    finally:
        storage.dispose()


def upgrade_to(url: str, revision: str) -> None:
    """Run the migrations up to `revision` only."""
    from alembic import command

    storage = Storage(url)
    try:
        with storage.engine.begin() as conn:
            command.upgrade(schema_migrations.config(conn), revision)
    finally:
        storage.dispose()


def version_rows(url: str) -> list[str]:
    storage = Storage(url)
    try:
        with storage.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        storage.dispose()


def schema_of(url: str) -> dict:
    """Our tables as the database describes them (alembic_version left out)."""
    storage = Storage(url)
    try:
        with storage.engine.connect() as conn:
            found = inspect(conn)
            out = {}
            for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
                out[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                                for c in found.get_columns(table)],
                    "primary key": found.get_pk_constraint(table),
                    "unique": sorted((u["name"] or "", tuple(u["column_names"]))
                                     for u in found.get_unique_constraints(table)),
                    "indexes": sorted((i["name"], tuple(i["column_names"]), i["unique"])
                                      for i in found.get_indexes(table)),
                }
            if storage.dialect == "sqlite":  # the very DDL text, too
                out["sqlite_master"] = conn.exec_driver_sql(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name != "
                    "'alembic_version' ORDER BY name").all()
            return out
    finally:
        storage.dispose()


def test_a_release_database_is_adopted_with_every_row_and_served(
        url, release_code, settings, predictor):
    from evpm.api.app import create_app

    build_with_release(release_code, url, 7)
    before = rows_of(url)
    assert len(before["health_records"]) == 7 and len(before["vehicles"]) == 3
    assert current(url) is None  # tables, but no version: made before migrations

    released = columns_of(url)
    assert upgrade(url) == (None, head())
    assert current(url) == head() and version_rows(url) == [head()]
    assert rows_of(url, released) == before  # every row, every value
    # Columns added since (the 90 % intervals) are NULL on the release's rows: none made up.
    added = {name: [c for c in cols if c not in released[name]]
             for name, cols in columns_of(url).items()}
    assert added == {"health_records": ["soh_low", "soh_high", "sop_low", "sop_high"],
                     "vehicles": []}
    assert set(rows_of(url, {**added, "vehicles": ["vehicle_id"]})["health_records"]) == \
        {(None,) * 4}

    storage = Storage(url)
    try:
        client = create_app(settings, predictor=predictor, storage=storage).test_client()
        served = client.get("/vehicles").get_json()
        assert [v["vehicle_id"] for v in served] == ["R0", "R1", "R2"]
        # The newest row of each: 6, 4 and 5.
        assert [v["predicted_soh"] for v in served] == pytest.approx([0.89, 0.91, 0.90])
        history = client.get("/vehicles/R1/history").get_json()
        assert [r["prediction_id"][-2:] for r in history] == ["01", "04"]
        assert history[0]["warnings"] == ["w"] and history[1]["source_file"] == "tripdata.R1.4.csv"
        assert history[0]["timestamp"].startswith("2026-01-02T00:00:00")
        # The unique key survived the adoption: a retry is answered with the stored record.
        again = storage.save([Record(
            vehicle_id="R1", timestamp=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            predicted_soh=0.5, predicted_sop=1.0, health_score=1.0, status="Monitor",
            prediction_id=str(uuid.uuid4()), model_version="2", idempotency_key="release-1")])
        assert again[0].predicted_soh == pytest.approx(0.94) and storage.count() == 7
    finally:
        storage.dispose()
    assert upgrade(url) == (head(), head())


def test_the_baseline_builds_the_release_tables_exactly(new_database, release_code):
    released, migrated = new_database(), new_database()
    build_with_release(release_code, released, 0)
    upgrade_to(migrated, schema_migrations.BASELINE)
    assert schema_of(migrated) == schema_of(released)


def test_an_empty_database_goes_to_head_once(url):
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        with pytest.raises(EvpmError, match="does not exist"):
            current(url)  # and it stays so: current only reads
        assert not Path(path).exists()
        sqlite3.connect(path).close()  # an empty file is an empty database
    assert current(url) is None
    assert upgrade(url) == (None, head())
    assert current(url) == head()
    assert upgrade(url) == (head(), head())  # a no-op
    storage = Storage(url)
    assert storage.init() == (head(), head())  # what the services call
    storage.dispose()
    assert version_rows(url) == [head()]
    assert set(schema_of(url)) >= {"health_records", "vehicles"}


def test_a_current_database_is_not_kept_waiting_by_the_lock(url):
    """Replicas restarting against a current database do not queue on the upgrade lock."""
    upgrade(url)
    storage = Storage(url)
    finished = threading.Event()
    try:
        with HeldUpgradeLock(storage):
            worker = threading.Thread(target=lambda: (upgrade(url), finished.set()))
            worker.start()
            worker.join(20)
            assert finished.is_set()
    finally:
        storage.dispose()


class HeldUpgradeLock:
    """Holds what an upgrade takes: the SQLite file's write lock, or the advisory lock."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def __enter__(self):
        if self.storage.dialect == "sqlite":
            lock_path = self.storage.url.split("///", 1)[-1] + ".writelock"
            self.handle = open(lock_path, "a")  # noqa: SIM115 — closed in __exit__
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        else:
            self.conn = self.storage.engine.connect()
            self.conn.execute(text("SELECT pg_advisory_lock(:k)"),
                              {"k": schema_migrations.ADVISORY_LOCK_KEY})
        return self

    def __exit__(self, *exc) -> None:
        if self.storage.dialect == "sqlite":
            self.handle.close()
        else:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                              {"k": schema_migrations.ADVISORY_LOCK_KEY})
            self.conn.close()


def _upgrade_together(url: str, barrier, results) -> None:
    barrier.wait()
    results.put(upgrade(url))


@pytest.mark.parametrize("start", ["empty", "release"])
def test_processes_upgrading_together_make_one_schema(url, start, request):
    """Three API replicas and two watchers start at once against one database."""
    if start == "release":
        build_with_release(request.getfixturevalue("release_code"), url, 5)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_upgrade_together, args=(url, barrier, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    outcomes = sorted((results.get(timeout=5) for _ in workers), key=str)
    # One process built (or adopted) the schema; the others found it current.
    assert outcomes == [(head(), head())] * 3 + [(None, head())]
    assert version_rows(url) == [head()]
    assert len(rows_of(url)["health_records"]) == (5 if start == "release" else 0)


def test_the_models_and_the_migrations_do_not_drift(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    upgrade(url)
    storage = Storage(url)
    try:
        with storage.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        storage.dispose()


def test_every_migration_goes_down_and_up_again(url):
    from alembic import command

    upgrade(url)
    storage = Storage(url)
    try:
        with storage.engine.begin() as conn:
            command.downgrade(schema_migrations.config(conn), "base")
            assert not set(inspect(conn).get_table_names()) & set(metadata.tables)
    finally:
        storage.dispose()
    assert upgrade(url) == (None, head())


def test_dropped_tables_under_a_version_are_rebuilt(url):
    """A stamp without its tables (dropped by hand, or by a test's drop_all) is an empty
    database, not a current one."""
    upgrade(url)
    storage = Storage(url)
    metadata.drop_all(storage.engine)
    storage.dispose()
    assert upgrade(url) == (None, head())
    assert rows_of(url) == {"health_records": [], "vehicles": []}


def test_tables_of_another_program_are_not_adopted(url):
    storage = Storage(url)
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE health_records (id INTEGER PRIMARY KEY, soh FLOAT)")
    storage.dispose()
    with pytest.raises(EvpmError, match=r"not evpm's \(missing health_records\.features, "
                       r"health_records\.health_score, health_records\.idempotency_key and "
                       r"11 more\): not adopted"):
        upgrade(url)
    assert current(url) is None  # nothing stamped


def test_a_revision_from_a_newer_release_is_refused(url):
    upgrade(url)
    storage = Storage(url)
    with storage.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'future'"))
    storage.dispose()
    with pytest.raises(EvpmError, match="'future', which this version of evpm does not know"):
        upgrade(url)


def test_an_unreachable_server_is_waited_for_then_one_line_without_password():
    started = time.monotonic()
    with pytest.raises(EvpmError) as error:
        upgrade("postgresql://fleet:hunter2@127.0.0.1:1/fleet", wait_s=0.5)
    assert time.monotonic() - started >= 0.5
    message = str(error.value)
    assert "hunter2" not in message and "\n" not in message
    assert message.startswith("database postgresql://fleet:***@127.0.0.1:1/fleet is not usable")


def test_the_command_line(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert schema_migrations.main(["head"]) == 0
    assert capsys.readouterr().out.strip() == head()
    assert schema_migrations.main(["upgrade", "--url", url]) == 0
    assert capsys.readouterr().out.strip().endswith(f"none → {head()}")
    monkeypatch.setenv("DATABASE_URL", url)
    assert schema_migrations.main(["current"]) == 0
    assert capsys.readouterr().out.strip() == head()
    assert schema_migrations.main(["current", "--url", f"sqlite:///{tmp_path}/no.db"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_new_revision_is_numbered_lint_clean_and_runs(tmp_path, monkeypatch):
    """`revision --autogenerate` on a copy of the migrations: the next number, no changes
    found (the models match), a file ruff accepts, and it upgrades."""
    copy = tmp_path / "migrations"
    shutil.copytree(schema_migrations.MIGRATIONS, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(schema_migrations, "MIGRATIONS", copy)
    schema_migrations._script.cache_clear()
    try:
        previous = head()
        following = f"{int(previous) + 1:04d}"
        made = schema_migrations.revision("add nothing", autogenerate=True)
        assert made.parent == copy / "versions" and made.name.startswith(f"{following}_")
        source = made.read_text()
        assert f"down_revision = '{previous}'" in source and "pass" in source
        lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated",
                               "--line-length", "100", "--select", "E,F,W,I,UP", str(made)],
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        assert upgrade(url) == (None, following)
    finally:
        schema_migrations._script.cache_clear()


# Read-only storage: opens nothing new, writes nothing.

def test_read_only_storage_of_a_missing_file_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    storage = Storage(url, read_only=True)
    assert storage.has_tables() is False and storage.ping() is False
    with pytest.raises(Exception, match="unable to open"):
        storage.count()
    with pytest.raises(EvpmError, match="read-only"):
        storage.init()
    storage.dispose()
    assert list(tmp_path.iterdir()) == []


def test_read_only_storage_changes_no_pragma_nor_byte(tmp_path):
    path = tmp_path / "rollback-journal.db"
    url = f"sqlite:///{path}"
    writer = Storage(url)
    writer.init()
    writer.save([Record(vehicle_id="RO", timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        predicted_soh=0.9, predicted_sop=4e4, health_score=0.2, status="Healthy",
                        prediction_id=str(uuid.uuid4()), model_version="1")])
    writer.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:  # as another program keeps it
        conn.execute("PRAGMA journal_mode=DELETE")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    storage = Storage(url, read_only=True)
    assert storage.has_tables() and storage.count() == 1 and storage.ping()
    assert [r.vehicle_id for r in storage.latest_per_vehicle()] == ["RO"]
    assert len(storage.record_rows(with_features=True)) == 1
    with pytest.raises(EvpmError, match="read-only"):
        storage.save_columns({})
    storage.dispose()

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
