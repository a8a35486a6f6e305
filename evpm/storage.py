"""The only code that touches the database: engine, reads and writes (the tables are in
evpm.schema, their migrations in evpm.schema_migrations).

SQLite by default (WAL and a busy timeout, so several gunicorn workers can write), PostgreSQL
when the URL says so. Writes are idempotent: a prediction carries a key (the trip file's content
hash, or the client's Idempotency-Key), and a key already stored returns the first prediction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
from sqlalchemy import bindparam, create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine

from evpm.contract import INTERVAL_FIELDS
from evpm.errors import EvpmError
from evpm.schema import health_records, metadata, vehicles  # noqa: F401 — re-exported
from evpm.settings import redact_url

KEY_RACE_RETRIES = 3
MIN_FREE_BYTES = 1 << 20  # below this a write would fail mid-transaction: report it
RECORD_FIELDS = ["vehicle_id", "timestamp", "predicted_soh", "predicted_sop", "health_score",
                 "status", "prediction_id", "model_version", "idempotency_key", "source_file",
                 "profile", "features", "warnings", *INTERVAL_FIELDS]


@dataclass
class Record:
    """One stored prediction."""

    vehicle_id: str
    timestamp: dt.datetime
    predicted_soh: float
    predicted_sop: float
    health_score: float
    status: str
    prediction_id: str
    model_version: str
    idempotency_key: str | None = None
    source_file: str | None = None
    profile: str | None = None
    features: dict | None = None
    warnings: list[str] | None = None
    # 90 % intervals; None for records stored before they were predicted
    soh_low: float | None = None
    soh_high: float | None = None
    sop_low: float | None = None
    sop_high: float | None = None
    id: int | None = None

    def values(self) -> tuple:
        """Column values in RECORD_FIELDS order (features and warnings as JSON text)."""
        return (self.vehicle_id, self.timestamp, self.predicted_soh, self.predicted_sop,
                self.health_score, self.status, self.prediction_id, self.model_version,
                self.idempotency_key, self.source_file, self.profile,
                None if self.features is None else orjson.dumps(self.features).decode(),
                orjson.dumps(self.warnings or []).decode(), self.soh_low, self.soh_high,
                self.sop_low, self.sop_high)

    @classmethod
    def from_row(cls, row) -> Record:
        """A record from a result row."""
        values = dict(row._mapping)
        values["features"] = json.loads(values["features"]) if values["features"] else None
        values["warnings"] = json.loads(values["warnings"]) if values["warnings"] else []
        stamp = values["timestamp"]
        if stamp.tzinfo is None:  # SQLite keeps no zone: everything is stored in UTC
            values["timestamp"] = stamp.replace(tzinfo=dt.UTC)
        return cls(**values)


class IdempotencyConflictError(EvpmError):
    """An idempotency key already stored for a different request (never answered with it)."""

    def __init__(self, index: int, key: str, field: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different request "
                         f"({field} differs): use a new key for a new request")
        self.index, self.key, self.field = index, key, field


class DatabaseUnavailableError(EvpmError):
    """The database cannot take a write now (down, read-only, disk full): retry later."""


# Which row of a batch repeats which stored record (or earlier row): None if it is the same
# request, else the name of the field that differs.
SameRequest = Callable[[int, "Record | int"], "str | None"]


@functools.lru_cache(maxsize=64)
def _sqlite_time(stamp: dt.datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text, in UTC (a batch shares one time: cached)."""
    return stamp.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ",
                                                                    timespec="microseconds")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (dashboard) and one writer work at once; the busy timeout makes a
    # second writer wait instead of failing with "database is locked"; NORMAL sync under WAL
    # is durable across application crashes and spares an fsync per commit.
    cursor.execute("PRAGMA busy_timeout=30000")
    set_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


WAL_SWITCH_WAIT_S = 30.0


def set_wal(cursor) -> None:
    """Switch an SQLite file to WAL, waiting while another process does the same.

    Processes opening a new file together (API replicas, a watcher) race to convert it; the
    loser can get "database is locked" at once — SQLite does not run the busy handler for
    that lock — so it is retried here for up to WAL_SWITCH_WAIT_S.
    """
    import sqlite3

    deadline = time.monotonic() + WAL_SWITCH_WAIT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_read_pragmas(dbapi_connection, _record) -> None:
    # A reader changes nothing in the file: journal_mode=WAL would rewrite its header (and
    # fails on a read-only file). The busy timeout is per connection and writes nothing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def sqlite_path(url: str) -> str | None:
    """The file of an SQLite URL; None for an in-memory database or any other URL."""
    from sqlalchemy.engine import make_url

    if not url.startswith("sqlite"):
        return None
    # As SQLAlchemy reads it ('%25' in the URL is '%' in the name): the file the engine opens.
    path = make_url(url).database
    return path if path and path != ":memory:" else None


URL_HELP = "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/name"


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a database URL as people write it (postgres:// included)."""
    for spelling in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(spelling):
            return "postgresql+psycopg://" + url[len(spelling):]
    if url.startswith("sqlite:///") or url == "sqlite://":
        return url
    raise EvpmError(f"database URL {redact_url(url)!r} is not supported: {URL_HELP}")


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """Engine for a database URL (SQLite file folders are created unless read-only).

    A read-only SQLite engine opens its file with mode=ro: it never creates a missing file
    (connecting fails instead) and never writes to an existing one.
    """
    from sqlalchemy.engine import URL
    from sqlalchemy.exc import ArgumentError

    url = engine_url(url)
    try:
        if url.startswith("sqlite"):
            path = sqlite_path(url)
            if path and read_only:
                # An SQLite URI ("file:…?mode=ro"); the path quoted so that '?', '#' or '%'
                # in a file name stay part of the name.
                uri = URL.create("sqlite", database="file:" + quote(os.path.abspath(path)),
                                 query={"mode": "ro", "uri": "true"})
                engine = create_engine(uri, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_read_pragmas)
                return engine
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_read_pragmas if read_only
                         else _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except (ArgumentError, ValueError) as exc:
        raise EvpmError(f"database URL {redact_url(url)!r} is not valid ({exc}): "
                        f"{URL_HELP}") from None
    except OSError as exc:
        raise EvpmError(f"cannot create the database folder for {redact_url(url)!r}: "
                        f"{exc.strerror}") from None


class Storage:
    """The database behind one engine."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, read_only=read_only)
        self.read_only = read_only
        self.dialect = self.engine.dialect.name
        path = sqlite_path(engine_url(url))
        # SQLite allows one writer; its busy handler polls with sleeps of 1-100 ms, which under
        # load costs more than the write. Writers of one file queue on an OS file lock instead,
        # woken the moment it is free.
        self._lock_path = Path(path + ".writelock") if path else None
        self._thread_lock = threading.Lock()
        # Statements built once: building one costs more than running it on a hot path. The
        # record insert goes straight to the driver (executemany): for a 10,000-row batch,
        # SQLAlchemy's per-row parameter processing would cost more than the write.
        marker = "?" if self.dialect == "sqlite" else "%s"
        self._insert_record = (f"INSERT INTO health_records ({', '.join(RECORD_FIELDS)}) "
                               f"VALUES ({', '.join([marker] * len(RECORD_FIELDS))})")
        self._upsert_vehicle = self._vehicle_upsert()
        self._select_keys = select(health_records).where(
            health_records.c.idempotency_key.in_(bindparam("keys", expanding=True)))

    def _vehicle_upsert(self) -> str:
        # Plain SQL that SQLite and PostgreSQL share (only the parameter marker differs): an
        # older trip arriving late does not move last_seen back.
        marker = "?" if self.dialect == "sqlite" else "%s"
        return (
            "INSERT INTO vehicles (vehicle_id, profile, first_seen, last_seen) VALUES "
            f"({marker}, {marker}, {marker}, {marker}) ON CONFLICT (vehicle_id) DO UPDATE SET "
            "last_seen = excluded.last_seen, "
            "profile = COALESCE(excluded.profile, vehicles.profile) "
            "WHERE vehicles.last_seen < excluded.last_seen"
        )

    @contextlib.contextmanager
    def _writing(self):
        with self.write_lock(), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def write_lock(self):
        """Held: no other writer of this SQLite file, in any process (a no-op otherwise)."""
        if self._lock_path is None:
            yield
            return
        # flock excludes other processes only: threads of one process share its lock file
        # (threaded gunicorn workers), so they queue on a thread lock first.
        with self._thread_lock:
            lock = self._lock_file()
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _lock_file(self):
        # One open lock file per process (a forked worker opens its own: flock is per file
        # description, so a descriptor inherited across fork would not exclude the parent).
        pid = os.getpid()
        if getattr(self, "_lock_pid", None) != pid:
            self._lock_handle = open(self._lock_path, "a")  # noqa: SIM115 — kept open
            self._lock_pid = pid
        return self._lock_handle

    def init(self, wait_s: float = 0.0) -> tuple[str | None, str]:
        """Bring the schema to the newest migration; safe when several processes start at once.

        An empty database gets the tables, one made before migrations existed (release
        89c56b1) is adopted, a current one is left alone (evpm.schema_migrations.upgrade).
        `wait_s`: how long to keep retrying while the database does not accept connections
        yet (a PostgreSQL container starting beside the API). Returns (revision before,
        revision after).
        """
        from evpm.schema_migrations import upgrade_storage

        if self.read_only:
            raise EvpmError(f"database {redact_url(self.url)} is opened read-only: its schema "
                            "cannot be created or upgraded here")
        return upgrade_storage(self, wait_s)

    def write_problem(self) -> str | None:
        """None if the database takes writes now, else why not (read-only, disk full, down)."""
        try:
            if self.dialect == "sqlite":
                with self.engine.connect() as conn:
                    # Takes the write lock without writing: fails on a read-only file or folder.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    conn.exec_driver_sql("ROLLBACK")
                path = Path(self.url.split("///", 1)[-1])
                if path.name and path.name != ":memory:":
                    free = os.statvfs(path.parent if path.parent.exists() else ".")
                    if free.f_bavail * free.f_frsize < MIN_FREE_BYTES:
                        return f"disk full: less than {MIN_FREE_BYTES >> 20} MiB free"
                return None
            with self.engine.connect() as conn:
                if conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
                    return "database is read-only"
            return None
        except Exception as exc:  # noqa: BLE001 — any failure is a reason to report
            return first_line(exc)

    def ping(self) -> bool:
        """True if the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 — any failure means "not reachable"
            return False

    def save(self, records: Sequence[Record]) -> list[Record]:
        """Store predictions in one transaction; a known idempotency key returns the stored one.

        Returns, in order, the record that is in the database for each input.
        """
        if not records:
            return []
        rows = [r.values() for r in records]
        columns = {name: [row[i] for row in rows] for i, name in enumerate(RECORD_FIELDS)}
        duplicates = self.save_columns(columns)
        out = list(records)
        for index, stored in duplicates.items():
            out[index] = out[stored] if isinstance(stored, int) else stored
        return out

    def save_columns(self, columns: dict[str, list],
                     same_request: SameRequest | None = None) -> dict[int, Record | int]:
        """Store a batch given column by column (RECORD_FIELDS), in one transaction.

        Features and warnings come as JSON text, timestamps as aware datetimes. A row whose
        idempotency key is already stored, or repeats an earlier row's, is not inserted: the
        result maps its index to the stored record, or to the index of that earlier row.
        `same_request` checks each such repeat; if it names a differing field, nothing is
        stored and IdempotencyConflictError is raised. The column-wise form spares a
        10,000-row batch one Python object per row. A database that cannot take the write
        raises DatabaseUnavailableError.
        """
        from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

        if self.read_only:
            raise EvpmError("storage opened read-only")
        for attempt in range(KEY_RACE_RETRIES + 1):
            try:
                return self._save_columns(columns, same_request)
            except IntegrityError:
                # Another process committed one of these keys between our look-up and our
                # insert (parallel retries, API replicas): look again, answer with its rows.
                if attempt == KEY_RACE_RETRIES:
                    raise
            except OperationalError as exc:
                raise DatabaseUnavailableError(first_line(exc)) from None
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise DatabaseUnavailableError(first_line(exc)) from None
                raise
        raise AssertionError("unreachable")

    def _save_columns(self, columns: dict[str, list],
                      same_request: SameRequest | None) -> dict[int, Record | int]:
        keys = columns["idempotency_key"]
        duplicates: dict[int, Record | int] = {}
        with self._writing() as conn:
            if any(keys):
                existing: dict[str, Record] = {}
                for chunk in _chunks([k for k in keys if k], 500):
                    rows = conn.execute(self._select_keys, {"keys": chunk})
                    existing.update({row.idempotency_key: Record.from_row(row) for row in rows})
                first: dict[str, int] = {}
                for index, key in enumerate(keys):
                    if key is None:
                        continue
                    if key in existing:
                        duplicates[index] = existing[key]
                    elif key in first:
                        duplicates[index] = first[key]
                    else:
                        first[key] = index
                if same_request is not None:
                    for index, stored in duplicates.items():
                        differs = same_request(index, stored)
                        if differs:
                            raise IdempotencyConflictError(index, keys[index], differs)
            values = [columns[name] for name in RECORD_FIELDS]
            stamps = columns["timestamp"]
            if self.dialect == "sqlite":
                values[RECORD_FIELDS.index("timestamp")] = list(map(_sqlite_time, stamps))
            rows = list(zip(*values, strict=True))
            fresh = range(len(rows))
            if duplicates:
                fresh = [i for i in fresh if i not in duplicates]
                rows = [rows[i] for i in fresh]
            if rows:
                conn.exec_driver_sql(self._insert_record, rows)
                self._touch_vehicles(conn, [(columns["vehicle_id"][i], stamps[i],
                                             columns["profile"][i]) for i in fresh])
        return duplicates

    def _touch_vehicles(self, conn, seen: list[tuple[str, dt.datetime, str | None]]) -> None:
        """Upsert each vehicle's first / last seen time (one statement)."""
        latest: dict[str, tuple[dt.datetime, str | None]] = {}
        for vehicle_id, stamp, profile in seen:
            current = latest.get(vehicle_id)
            if current is None or stamp > current[0]:
                latest[vehicle_id] = (stamp, profile)
        sqlite = self.dialect == "sqlite"
        conn.exec_driver_sql(self._upsert_vehicle, [
            (v, profile, *(2 * [_sqlite_time(stamp) if sqlite else stamp]))
            for v, (stamp, profile) in latest.items()])

    def latest_per_vehicle(self) -> list[Record]:
        """The newest record of every vehicle."""
        newest = (select(health_records.c.vehicle_id,
                         func.max(health_records.c.id).label("last_id"))
                  .group_by(health_records.c.vehicle_id).subquery())
        query = select(health_records).join(newest, health_records.c.id == newest.c.last_id) \
            .order_by(health_records.c.vehicle_id)
        with self.engine.connect() as conn:
            return [Record.from_row(row) for row in conn.execute(query)]

    def history(self, vehicle_id: str, limit: int | None = None) -> list[Record]:
        """A vehicle's records, oldest first (the newest `limit` if given)."""
        query = select(health_records).where(health_records.c.vehicle_id == vehicle_id) \
            .order_by(health_records.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [Record.from_row(row) for row in conn.execute(query)][::-1]

    def recent_by_vehicle(self, per_vehicle: int, *, after: str | None = None,
                          limit: int | None = None) -> dict[str, list[Record]]:
        """The newest `per_vehicle` records of every vehicle, oldest first.

        Vehicles in id order; with `after`, only ids after it; with `limit`, at most that many
        vehicles (a page). One indexed query per vehicle (vehicle_id, id): cost grows with the
        fleet, not with the number of stored predictions.
        """
        query = select(health_records).where(
            health_records.c.vehicle_id == bindparam("vehicle")).order_by(
            health_records.c.id.desc()).limit(bindparam("n"))
        page = select(vehicles.c.vehicle_id).order_by(vehicles.c.vehicle_id)
        if after is not None:
            page = page.where(vehicles.c.vehicle_id > after)
        if limit is not None:
            page = page.limit(limit)
        out: dict[str, list[Record]] = {}
        with self.engine.connect() as conn:
            ids = conn.execute(page)
            for (vehicle_id,) in ids.all():
                rows = conn.execute(query, {"vehicle": vehicle_id, "n": per_vehicle}).all()
                if rows:
                    out[vehicle_id] = [Record.from_row(row) for row in reversed(rows)]
        return out

    def size_bytes(self) -> int | None:
        """The database's size on disk (SQLite file + WAL, or PostgreSQL's), None if unknown."""
        try:
            if self.dialect == "sqlite":
                path = Path(self.url.split("///", 1)[-1])
                return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
            with self.engine.connect() as conn:
                return int(conn.exec_driver_sql(
                    "SELECT pg_database_size(current_database())").scalar())
        except Exception:  # noqa: BLE001 — a metric, never an error for the caller
            return None

    def has_tables(self) -> bool:
        """True once the tables exist (a fresh deployment's database may not have them yet)."""
        from sqlalchemy import inspect

        path = sqlite_path(engine_url(self.url))
        if self.read_only and path and not Path(path).exists():
            return False  # not created yet; a read-only engine cannot (and must not) connect
        return inspect(self.engine).has_table("health_records")

    # The dashboard's reads: every value as the driver returns it (timestamps as text), so that
    # no stored row — a year 9999, PostgreSQL's 'infinity', text that is not UTF-8 — can make
    # the whole read fail; the dashboard checks each value itself (evpm.dashboard.data).
    SCALAR_COLUMNS = ("id", "vehicle_id", "timestamp", "predicted_soh", "predicted_sop",
                      "health_score", "status", "profile", "source_file", "model_version",
                      *INTERVAL_FIELDS)
    # The JSON columns the page needs for a few records only (features weigh the robust SoH,
    # warnings say whether the latest trip's profile was assumed): never read for every row.
    DETAIL_COLUMNS = ("id", "features", "warnings")

    def record_rows(self, *, vehicle_id: str | None = None,
                    with_features: bool = False) -> list[tuple]:
        """Raw rows of SCALAR_COLUMNS (+ features), oldest first; one vehicle's if given."""
        columns = ", ".join('CAST("timestamp" AS TEXT)' if c == "timestamp" else c
                            for c in self.SCALAR_COLUMNS)
        sql = (f"SELECT {columns}{', features' if with_features else ''} FROM health_records"
               f"{' WHERE vehicle_id = :v' if vehicle_id is not None else ''} ORDER BY id")
        return self._raw_rows(sql, None if vehicle_id is None else {"v": vehicle_id})

    def recent_detail_rows(self, per_vehicle: int) -> list[tuple]:
        """Raw DETAIL_COLUMNS (id, features and warnings JSON) of the newest `per_vehicle`
        records of every vehicle."""
        columns = ", ".join(self.DETAIL_COLUMNS)
        return self._raw_rows(
            f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY "
            "vehicle_id ORDER BY id DESC) AS newest FROM health_records) "
            f"ranked WHERE newest <= {int(per_vehicle)}")

    def detail_rows(self, ids: Iterable[int], chunk: int = 500) -> list[tuple]:
        """Raw DETAIL_COLUMNS of the records with these ids (any order; unknown ids: none)."""
        out: list[tuple] = []
        # Integers only (int() refuses anything else), so written into the statement as the
        # limit above is; in chunks, so that no statement grows with the fleet.
        for part in _chunks(sorted({int(i) for i in ids}), chunk):
            out.extend(self._raw_rows(f"SELECT {', '.join(self.DETAIL_COLUMNS)} FROM "
                                      f"health_records WHERE id IN ({', '.join(map(str, part))})"))
        return out

    def _raw_rows(self, sql: str, params: dict | None = None) -> list:
        """Rows of a query as the driver returns them.

        SQLite text that is not UTF-8 makes sqlite3 fail the whole query; then the query runs
        again decoding text leniently (a Python decoder per value: slower, so only then).
        """
        def run(conn) -> list:
            if params is None:
                # The driver's own cursor and rows: the full load's fastest path (SQLAlchemy's
                # result rows cost a third more than the query; the page only reads them).
                cursor = conn.connection.dbapi_connection.cursor()
                try:
                    cursor.execute(sql)
                    return cursor.fetchall()
                finally:
                    cursor.close()
            return conn.execute(text(sql), params).fetchall()

        with self.engine.connect() as conn:
            try:
                return run(conn)
            except Exception as exc:  # the driver's error, or SQLAlchemy's wrapping it
                if self.dialect != "sqlite" or "decode" not in str(exc):
                    raise
                conn.rollback()
                raw = conn.connection.dbapi_connection
                previous = raw.text_factory
                raw.text_factory = lambda b: b.decode("utf-8", "replace")
                try:
                    return run(conn)
                finally:
                    raw.text_factory = previous

    def count(self) -> int:
        """Number of stored predictions."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(health_records)).scalar())

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()


def first_line(exc: BaseException) -> str:
    """An exception as one line without credentials (driver messages can span many)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact_url(f"{type(exc).__name__}: {text[0] if text else ''}")


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def migrate(source_url: str, target_url: str, batch: int = 5000,
            progress=None) -> dict[str, tuple[int, int]]:
    """Copy every table from one database to another (e.g. SQLite → PostgreSQL); verify counts.

    The target's tables are created if needed and must be empty. Returns {table: (source rows,
    target rows)}; raises if any count differs.
    """
    source, target = Storage(source_url, read_only=True), Storage(target_url)
    target.init()
    counts = {}
    try:
        with source.engine.connect() as src, target.engine.begin() as dst:
            for table in (vehicles, health_records):
                if dst.execute(select(func.count()).select_from(table)).scalar():
                    raise EvpmError(f"target table {table.name} is not empty; migrate into an "
                                    "empty database")
                total = src.execute(select(func.count()).select_from(table)).scalar()
                rows = src.execute(select(table)).mappings()
                while chunk := rows.fetchmany(batch):
                    dst.execute(insert(table), [dict(r) for r in chunk])
                    if progress:
                        progress(len(chunk))
                counts[table.name] = (int(total), 0)
            if target.engine.dialect.name == "postgresql":
                # Keep new ids after the copied ones.
                dst.execute(text("SELECT setval(pg_get_serial_sequence('health_records', 'id'), "
                                 "COALESCE((SELECT MAX(id) FROM health_records), 1))"))
        with target.engine.connect() as dst:
            for table in (vehicles, health_records):
                copied = dst.execute(select(func.count()).select_from(table)).scalar()
                counts[table.name] = (counts[table.name][0], int(copied))
    finally:
        source.dispose()
        target.dispose()
    bad = {name: c for name, c in counts.items() if c[0] != c[1]}
    if bad:
        raise EvpmError(f"row counts differ after migration: {bad}")
    return counts
