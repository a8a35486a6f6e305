"""The incoming/ watcher: trip CSVs → features → POST /predict → archive/ or failed/.

Folders (on one file system, so that every move is an atomic rename):

    incoming/              producers drop trips here (write `*.part`, `*.tmp` or a dotfile, rename)
    processing/<owner>/    files one watcher has claimed; `<owner>.lock` is flocked while it lives
    archive/YYYY-MM-DD/    files whose prediction is stored
    failed/                files that can never succeed, each beside `<name>.error.json`

A file is always in exactly one of them, so nothing is lost; the API stores a trip under its
content hash, so a trip sent again after a crash gets its first prediction back and is not stored
twice. A watcher killed mid-file leaves its claims in processing/; the next watcher to start (or
any running one, every `RECOVER_EVERY_S`) finds the owner's lock free and puts them back in
incoming/.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as dt
import errno
import fcntl
import hashlib
import heapq
import http.client
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evpm.errors import EvpmError
from evpm.features import extract
from evpm.files import atomic_path, ensure_writable_dir
from evpm.profiles import VEHICLE_ID_PATTERN, RegistryCache, profile_for_vehicle
from evpm.trips import TripError, read_trip_table, validate_trip, vehicle_id_from_name

log = logging.getLogger("evpm.pipeline")

SKIPPED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
RECOVER_EVERY_S = 30.0
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 30.0
NOT_CSV_MEMORY = 10_000  # names of non-CSV files already reported (bounded)


class FileFailedError(EvpmError):
    """A trip file that can never succeed: a reason code, a message, where it applies."""

    def __init__(self, reason: str, message: str, *, column: str | None = None,
                 row: int | None = None, details: list | None = None) -> None:
        super().__init__(message)
        self.reason, self.column, self.row, self.details = reason, column, row, details

    @classmethod
    def from_trip_error(cls, error: TripError) -> FileFailedError:
        """The pipeline's form of a trip validation error."""
        return cls(error.reason, str(error), column=error.column, row=error.row)

    def as_dict(self) -> dict:
        """What goes into `<name>.error.json` (besides the file and the time)."""
        out: dict = {"reason": self.reason, "message": str(self)}
        for name in ("column", "row", "details"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


class ApiUnavailableError(EvpmError):
    """The API cannot take the request now (down, 5xx, misconfigured): retry later."""


class ApiRejectedError(EvpmError):
    """The API refused the request as invalid (4xx): details per field, `[i].field` in batches."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(f"HTTP {status}: {body.get('error', '')}")
        self.status, self.body = status, body


# --- moving files without overwriting -----------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def rename_no_replace(source: Path, target: Path) -> None:
    """Rename atomically; FileExistsError if `target` exists (never overwrites another file)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                      _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # EINVAL/ENOSYS: no support on this fs
            raise OSError(code, os.strerror(code), str(source), None, str(target))
    if os.path.lexists(target):  # fallback: a check, then a plain rename
        raise FileExistsError(errno.EEXIST, "file exists", str(target))
    os.rename(source, target)


def move_into(source: Path, folder: Path, tag: str) -> Path:
    """Move a file into a folder under its own name, or `<stem>.<tag>[-n]<suffix>` if taken."""
    folder.mkdir(parents=True, exist_ok=True)
    name = source.name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidates = [name] + [f"{stem}.{tag}{'-' + str(n) if n else ''}{dot}{suffix}"
                           for n in range(100)]
    for candidate in candidates:
        target = folder / candidate
        try:
            rename_no_replace(source, target)
            return target
        except FileExistsError:
            continue
    raise EvpmError(f"cannot find a free name for {name} in {folder}")


# --- folders and claims ---------------------------------------------------------------------

@dataclass(frozen=True)
class Folders:
    """Where trips wait, are worked on, and end."""

    incoming: Path
    processing: Path
    archive: Path
    failed: Path

    def ensure(self) -> Folders:
        """Create the folders, check they are writable and that files move between them."""
        for folder in (self.incoming, self.processing, self.archive, self.failed):
            ensure_writable_dir(folder)
        # Every move is a rename, which fails across mount points (EXDEV) — even two bind
        # mounts of one disk, as separate container volumes are. Say so now, not mid-file.
        probe = self.incoming / f".evpm-probe-{secrets.token_hex(4)}"
        probe.touch()
        try:
            here = probe
            for folder in (self.processing, self.archive, self.failed, self.incoming):
                there = folder / probe.name
                try:
                    os.rename(here, there)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    raise EvpmError(
                        f"{here.parent} and {folder} are on different file systems or mounts: "
                        "incoming/, processing/, archive/ and failed/ must share one (in "
                        "containers, mount one volume that holds all four)") from None
                here = there
        finally:
            for folder in (self.incoming, self.processing, self.archive, self.failed):
                (folder / probe.name).unlink(missing_ok=True)
        return self


@dataclass(order=True, frozen=True)
class Candidate:
    """A complete-looking trip file in incoming/ (ordered oldest first)."""

    mtime: float
    name: str


def waiting_files(folders: Folders, settle_s: float, limit: int,
                  on_not_csv: Callable[[str], None], now: float | None = None,
                  ) -> tuple[list[Candidate], int]:
    """The `limit` oldest complete CSV files in incoming/, and how many CSV files wait in all.

    Streams the folder: memory stays bounded by `limit` whatever the number of files.
    A file modified less than `settle_s` ago may still be growing and waits for a later poll.
    """
    now = time.time() if now is None else now
    depth = 0

    def complete() -> Iterator[Candidate]:
        nonlocal depth
        with os.scandir(folders.incoming) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.lower().endswith(SKIPPED_SUFFIXES):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:  # claimed by another watcher meanwhile
                    continue
                if not name.lower().endswith(".csv"):
                    on_not_csv(name)
                    continue
                depth += 1
                if now - mtime >= settle_s:
                    yield Candidate(mtime, name)

    chosen = heapq.nsmallest(limit, complete())
    return chosen, depth


class Claims:
    """This watcher's folder in processing/, guarded by an flock that dies with the process."""

    def __init__(self, folders: Folders) -> None:
        self.folders = folders
        owner = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.folder = folders.processing / owner
        # Lock first, folder second: a recovering watcher never sees our folder unlocked.
        self._lock = open(folders.processing / f"{owner}.lock", "w")  # noqa: SIM115 — held
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.folder.mkdir(parents=True)

    def claim(self, name: str) -> Path | None:
        """Move a file from incoming/ into our folder; None if another watcher was first."""
        target = self.folder / name
        try:
            rename_no_replace(self.folders.incoming / name, target)
        except (FileNotFoundError, FileExistsError):
            return None
        return target

    def release(self, path: Path) -> None:
        """Put a claimed file back into incoming/ (it keeps its place: same mtime)."""
        move_into(path, self.folders.incoming, "requeued")

    def close(self) -> None:
        """Release every remaining claim and the lock (a clean exit)."""
        for path in sorted(self.folder.iterdir()):
            self.release(path)
        self.folder.rmdir()
        lock_path = Path(self._lock.name)
        lock_path.unlink(missing_ok=True)
        self._lock.close()


def recover_orphans(folders: Folders, own: Path | None = None) -> int:
    """Put files claimed by dead watchers back into incoming/; return how many."""
    moved = 0
    for folder in folders.processing.iterdir():
        if not folder.is_dir() or folder == own:
            continue
        lock_path = folders.processing / f"{folder.name}.lock"
        try:
            lock = open(lock_path, "a")  # noqa: SIM115 — closed below
        except OSError:
            continue
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is alive
            if not folder.exists():  # another watcher recovered it first
                continue
            for path in sorted(folder.iterdir()):
                move_into(path, folders.incoming, "requeued")
                moved += 1
                log.warning("requeued %s, left in processing/ by a stopped watcher", path.name)
            folder.rmdir()
            lock_path.unlink(missing_ok=True)
        finally:
            lock.close()
    return moved


# --- one trip file → one request row --------------------------------------------------------

def content_key(raw: bytes) -> str:
    """The idempotency key of a trip: its content hash."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def trip_row(path: Path, raw: bytes, registry: dict[str, str], name: str | None = None) -> dict:
    """The /predict row for a trip file's bytes, or FileFailedError saying why there is none."""
    name = name or path.name
    try:
        table = read_trip_table(raw)
    except TripError as exc:
        raise FileFailedError.from_trip_error(exc) from None
    vehicle_id = vehicle_id_from_name(name)
    if "vehicle_id" in table.columns:
        ids = [v for v in table["vehicle_id"].dropna().str.strip().unique() if v]
        if len(ids) > 1:
            raise FileFailedError("several_vehicle_ids", f"vehicle_id column holds {len(ids)} "
                              "different vehicles; one file is one vehicle's trip",
                              column="vehicle_id")
        vehicle_id = ids[0] if ids else vehicle_id
    if vehicle_id is None:
        raise FileFailedError("no_vehicle_id", "no vehicle id: name the file "
                          "tripdata.<VEHICLE_ID>.csv or add a vehicle_id column")
    if not VEHICLE_ID_PATTERN.fullmatch(vehicle_id):
        raise FileFailedError("invalid_vehicle_id", f"vehicle id {vehicle_id!r} is not allowed: "
                              "use 1-64 letters, digits, '_' or '-', starting with a letter or "
                              "digit")
    profile = profile_for_vehicle(vehicle_id, registry)
    try:
        features = extract(validate_trip(table, profile, vehicle_id))
    except TripError as exc:
        raise FileFailedError.from_trip_error(exc) from None
    row = {k: v for k, v in features.items() if v == v}  # NaN: a feature this trip lacks
    row.update(vehicle_id=vehicle_id, profile=profile.name, idempotency_key=content_key(raw),
               source_file=name[-255:])
    return row


# --- the API --------------------------------------------------------------------------------

class ApiClient:
    """POST /predict over one kept-alive HTTP connection."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EvpmError(f"API_URL {url!r} is not an http(s) URL, e.g. "
                            "http://localhost:5000/predict")
        self.url, self.parts, self.timeout_s = url, parts, timeout_s
        self.path = parts.path or "/predict"
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = http.client.HTTPSConnection if self.parts.scheme == "https" else \
                http.client.HTTPConnection
            self._conn = kind(self.parts.hostname, self.parts.port, timeout=self.timeout_s)
        return self._conn

    def predict(self, rows: list[dict]) -> list[dict]:
        """The API's answers for `rows`, in order; else ApiUnavailableError / ApiRejectedError."""
        body = json.dumps(rows).encode()
        try:
            conn = self._connection()
            conn.request("POST", self.path, body, self.headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ApiUnavailableError(f"API at {self.url} unreachable: {exc}") from None
        status = response.status
        try:
            answer = json.loads(payload) if payload else None
        except ValueError:
            answer = None
        if status == 200 and isinstance(answer, list) and len(answer) == len(rows):
            return answer
        details = answer if isinstance(answer, dict) else {"error": payload[:200].decode(
            errors="replace")}
        if status in (400, 413, 415, 422):
            raise ApiRejectedError(status, details)
        if status in (401, 403):
            raise ApiUnavailableError(f"API refused the watcher's token (HTTP {status}): the API "
                                      "and the watcher need the same EVPM_JWT_SECRET")
        raise ApiUnavailableError(f"API answered HTTP {status}: {details.get('error', '')}")

    def close(self) -> None:
        """Drop the connection (the next call opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- metrics --------------------------------------------------------------------------------

class PipelineMetrics:
    """The reference design's pipeline metrics, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.files = Counter("evpm_pipeline_files", "Trip files finished, by outcome",
                             ["outcome"], registry=self.registry)
        self.failures = Counter("evpm_pipeline_failures", "Files moved to failed/, by reason",
                                ["reason"], registry=self.registry)
        self.queue = Gauge("evpm_pipeline_queue_depth", "CSV files waiting in incoming/",
                           registry=self.registry)
        self.latency = Histogram(
            "evpm_pipeline_latency_seconds", "File modification time to stored prediction",
            buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 3600), registry=self.registry)
        self.processing = Histogram(
            "evpm_pipeline_processing_seconds", "Claim to stored prediction, per batch of files",
            registry=self.registry)
        self.last_success = Gauge("evpm_pipeline_last_success_timestamp_seconds",
                                  "When a file was last archived (Unix time)",
                                  registry=self.registry)
        self.api_errors = Counter("evpm_pipeline_api_unavailable",
                                  "Calls to the API that failed and will be retried",
                                  registry=self.registry)
        self.not_csv = Counter("evpm_pipeline_ignored_files",
                               "Files in incoming/ that are not .csv (left alone)",
                               registry=self.registry)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 — a service port
        """Expose the metrics over HTTP (a background thread)."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)


# --- the watcher ----------------------------------------------------------------------------

@dataclass
class WatchOptions:
    """How the watcher behaves."""

    poll_s: float = 2.0
    settle_s: float = 0.5  # a file untouched this long is complete
    batch_files: int = 50  # files claimed and sent per request
    max_file_bytes: int = 50 * 1024 * 1024


@dataclass
class Summary:
    """What a run did."""

    archived: int = 0
    failed: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _Claimed:
    path: Path
    name: str
    mtime: float
    row: dict | None = None


class Watcher:
    """Polls incoming/, claims complete trips, predicts them through the API, files them."""

    def __init__(self, folders: Folders, client: ApiClient, registry: RegistryCache,
                 options: WatchOptions | None = None,
                 metrics: PipelineMetrics | None = None) -> None:
        self.folders = folders.ensure()
        self.client, self.registry = client, registry
        self.options = options or WatchOptions()
        self.metrics = metrics or PipelineMetrics()
        self.summary = Summary()
        self.stopping = threading.Event()
        self._not_csv: set[str] = set()
        self._claims: Claims | None = None
        self._last_recovery = 0.0

    # The public loop -------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> Summary:
        """Work until stopped (SIGTERM: finish the current batch), or until drained if `once`."""
        self._claims = Claims(self.folders)
        try:
            self._recover(force=True)
            while not self.stopping.is_set():
                worked, waiting = self.step()
                if worked:
                    continue  # more may be waiting: no pause between full batches
                if once and waiting == 0:
                    break
                self.stopping.wait(self.options.poll_s if not once else
                                   min(self.options.poll_s, self.options.settle_s))
        finally:
            self._claims.close()
            self.client.close()
        return self.summary

    def stop(self) -> None:
        """Ask the loop to finish the current batch and return."""
        self.stopping.set()

    def step(self) -> tuple[int, int]:
        """One poll: claim up to a batch of files and finish them. Returns (files, waiting)."""
        self._recover()
        chosen, waiting = waiting_files(self.folders, self.options.settle_s,
                                        self.options.batch_files, self._report_not_csv)
        self.metrics.queue.set(waiting)
        claimed = []
        for candidate in chosen:
            path = self._claims.claim(candidate.name)
            if path is not None:
                claimed.append(_Claimed(path, candidate.name, candidate.mtime))
        if claimed:
            self._process(claimed)
        return len(claimed), waiting

    # Work on a batch -------------------------------------------------------------------------
    def _process(self, claimed: list[_Claimed]) -> None:
        started = time.perf_counter()
        registry = self.registry.current()
        ready = []
        for item in claimed:
            try:
                item.row = self._prepare(item, registry)
            except FileFailedError as failure:
                self._fail(item, failure)
                continue
            except Exception as exc:  # noqa: BLE001 — one odd file must not stop the pipeline
                # Kept in failed/ with the error rather than crashing the watcher on every
                # restart over the same file.
                log.exception("unexpected error on %s", item.name)
                self._fail(item, FileFailedError(
                    "processing_error", f"unexpected error while reading this trip: "
                    f"{type(exc).__name__}: {exc}"))
                continue
            if item.row is None:  # still being written: back to the queue
                self._claims.release(item.path)
                continue
            ready.append(item)
        self._submit(ready)
        if ready:
            self.metrics.processing.observe(time.perf_counter() - started)

    def _prepare(self, item: _Claimed, registry: dict[str, str]) -> dict | None:
        before = item.path.stat()
        if before.st_size > self.options.max_file_bytes:
            raise FileFailedError("too_large", f"file is {before.st_size / 1e6:.1f} MB; trips "
                                  f"are at most {self.options.max_file_bytes / 1e6:.0f} MB "
                                  "(EVPM_MAX_TRIP_BYTES)")
        raw = item.path.read_bytes()
        after = item.path.stat()
        if len(raw) != after.st_size or after.st_mtime != before.st_mtime:
            return None  # a writer still has it open
        return trip_row(item.path, raw, registry, item.name)

    def _submit(self, items: list[_Claimed]) -> None:
        """POST the rows; retry while the API is unavailable; split out rows it rejects."""
        pending = items
        delay = BACKOFF_START_S
        while pending:
            try:
                answers = self.client.predict([item.row for item in pending])
            except ApiUnavailableError as exc:
                self.metrics.api_errors.inc()
                if self.stopping.is_set():  # SIGTERM while waiting: hand the files back
                    for item in pending:
                        self._claims.release(item.path)
                    log.warning("stopping: %d file(s) returned to incoming/", len(pending))
                    return
                log.warning("%s; retrying in %.1f s (%d file(s) waiting)", exc, delay,
                            len(pending))
                self.stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)
                continue
            except ApiRejectedError as exc:
                pending = self._split_rejected(pending, exc)
                continue
            for item, answer in zip(pending, answers, strict=True):
                self._archive(item, answer)
            return

    def _split_rejected(self, items: list[_Claimed], exc: ApiRejectedError) -> list[_Claimed]:
        """Fail the rows a 4xx names; return the rest to send again."""
        bad: dict[int, list] = {}
        for detail in exc.body.get("details") or []:
            field_name = str(detail.get("field", ""))
            if field_name.startswith("[") and "]" in field_name:
                with contextlib.suppress(ValueError):
                    bad.setdefault(int(field_name[1:field_name.index("]")]), []).append(detail)
        if not bad or len(items) == 1:
            if len(items) > 1:  # not attributable to a row: find it by sending one by one
                for item in items:
                    self._submit([item])
                return []
            bad = {0: exc.body.get("details") or []}
        for index, details in bad.items():
            if 0 <= index < len(items):
                self._fail(items[index], FileFailedError(
                    "rejected_by_api", f"the API refused this trip's features ({exc})",
                    details=details))
        return [item for i, item in enumerate(items) if i not in bad]

    # Endings -------------------------------------------------------------------------------
    def _archive(self, item: _Claimed, answer: dict) -> None:
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        target = move_into(item.path, self.folders.archive / day, item.row["idempotency_key"][7:15])
        now = time.time()
        self.metrics.files.labels("archived").inc()
        self.metrics.latency.observe(max(0.0, now - item.mtime))
        self.metrics.last_success.set(now)
        self.summary.archived += 1
        duplicate = bool(answer.get("duplicate"))
        self.summary.duplicates += duplicate
        log.info("archived %s → %s vehicle=%s soh=%.3f status=%s%s", item.name,
                 target.relative_to(self.folders.archive), answer.get("vehicle_id"),
                 answer.get("predicted_soh", float("nan")), answer.get("status"),
                 " (already stored: same content seen before)" if duplicate else "")

    def _fail(self, item: _Claimed, failure: FileFailedError) -> None:
        report = {"file": item.name, **failure.as_dict(),
                  "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}
        # The report is written first: a crash in between leaves the file to be retried (and
        # its report, without a file beside it, is reused), never a failed file without reason.
        tag = secrets.token_hex(4)
        for candidate in [item.name] + [f"{item.name}.{tag}-{n}" for n in range(100)]:
            target = self.folders.failed / candidate
            if target.exists():
                continue
            report_path = self.folders.failed / f"{candidate}.error.json"
            with atomic_path(report_path) as tmp:
                tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            try:
                rename_no_replace(item.path, target)
                break
            except FileExistsError:  # another watcher took the name just now
                report_path.unlink(missing_ok=True)
        else:
            raise EvpmError(f"cannot find a free name for {item.name} in {self.folders.failed}")
        self.metrics.files.labels("failed").inc()
        self.metrics.failures.labels(failure.reason).inc()
        self.summary.failed += 1
        self.summary.reasons[failure.reason] = self.summary.reasons.get(failure.reason, 0) + 1
        log.warning("failed %s: %s: %s", item.name, failure.reason, failure)

    def _report_not_csv(self, name: str) -> None:
        if name in self._not_csv:
            return
        if len(self._not_csv) < NOT_CSV_MEMORY:
            self._not_csv.add(name)
        self.metrics.not_csv.inc()
        log.warning("ignoring %s in incoming/: not a .csv file (left where it is)", name)

    def _recover(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_recovery >= RECOVER_EVERY_S:
            self._last_recovery = now
            recover_orphans(self.folders, self._claims.folder if self._claims else None)


def install_signal_handlers(watcher: Watcher) -> None:
    """SIGTERM / SIGINT: finish the current batch, then exit cleanly."""
    def handler(signum, _frame) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        watcher.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
