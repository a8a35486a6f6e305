"""The incoming/ watcher: trip CSVs → features → POST /predict → archive/ or failed/.

Folders (on one file system, so that every move is an atomic rename):

    incoming/              producers drop trips here (write `*.part`, `*.tmp` or a dotfile, rename)
    processing/<owner>/    files one watcher has claimed; `<owner>.lock` is flocked while it lives
    archive/YYYY-MM-DD/    files whose prediction is stored
    failed/                files that can never succeed, each beside `<name>.error.json`

A file is always in exactly one of them, so nothing is lost; the API stores a trip under its
vehicle and content hash, so a trip sent again after a crash gets its first prediction back and
is not stored twice. A watcher killed mid-file leaves its claims in processing/; the next watcher
to start (or any running one, every `RECOVER_EVERY_S`) finds the owner's lock free and puts them
back in incoming/. No single file stops the watcher: a file that can be neither filed nor handed
back stays in processing/ and is offered again later.

One file → one request row is `evpm.trip_rows`; the HTTP client is `evpm.api_client`; moves
that never overwrite are `evpm.files`. This module is the loop that ties them together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import heapq
import json
import logging
import os
import secrets
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evpm.api_client import ApiClient, ApiRejectedError, ApiUnavailableError
from evpm.errors import EvpmError
from evpm.files import (
    atomic_path,
    ensure_writable_dir,
    move_into,
    open_for_writing,
    rename_no_replace,
    shown,
)
from evpm.profiles import RegistryCache
from evpm.settings import Settings
from evpm.trip_rows import FileFailedError, trip_row

__all__ = [
    "Candidate", "Claims", "Folders", "PipelineMetrics", "Summary", "WatchOptions", "Watcher",
    "entry_kind", "install_signal_handlers", "recover_orphans", "waiting_files",
]

log = logging.getLogger("evpm.pipeline")

SKIPPED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
RECOVER_EVERY_S = 30.0
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 30.0
NOT_CSV_MEMORY = 10_000  # names of ignored files already reported (bounded)
REPORT_SUFFIX = ".error.json"


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


def entry_kind(entry: os.DirEntry) -> str:
    """What a folder entry that is not a regular file is: symlink, directory, fifo, socket or
    device."""
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    mode = entry.stat(follow_symlinks=False).st_mode
    return "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"


def waiting_files(folders: Folders, settle_s: float, limit: int,
                  on_not_csv: Callable[[str], None], now: float | None = None, *,
                  on_not_file: Callable[[str, str], None] | None = None,
                  ) -> tuple[list[Candidate], int]:
    """The `limit` oldest complete CSV files in incoming/, and how many CSV files wait in all.

    Streams the folder: memory stays bounded by `limit` whatever the number of files.
    A file modified less than `settle_s` ago may still be growing and waits for a later poll.
    `on_not_csv(name)` hears of regular files not named `.csv`; `on_not_file(name, kind)` of
    `.csv` names that are not regular files (symlink, directory, fifo, …), which are never taken.
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
                        # A link is not followed (it could point anywhere, and archiving it
                        # would move the link, not the trip); a folder or FIFO is no trip.
                        if on_not_file is not None and name.lower().endswith(".csv"):
                            on_not_file(name, entry_kind(entry))
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

    def release(self, path: Path) -> Path:
        """Put a claimed file back into incoming/ (it keeps its place: same mtime)."""
        return move_into(path, self.folders.incoming, "requeued")

    def close(self) -> None:
        """Release every remaining claim and the lock (a clean exit)."""
        kept = 0
        for path in sorted(self.folder.iterdir()):
            try:
                self.release(path)
            except (OSError, EvpmError) as exc:
                # Left in processing/: the next watcher to start finds the lock free and
                # requeues it, so it is not lost.
                kept += 1
                log.error("cannot return %s to incoming/: %s", shown(path.name), exc)
        lock_path = Path(self._lock.name)
        if not kept:
            self.folder.rmdir()
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
            kept = 0
            for path in sorted(folder.iterdir()):
                try:
                    target = move_into(path, folders.incoming, "requeued")
                except (OSError, EvpmError) as exc:  # one file must not stop the recovery
                    kept += 1
                    log.error("cannot requeue %s from %s: %s", shown(path.name), folder, exc)
                    continue
                moved += 1
                log.warning("requeued %s, left in processing/ by a stopped watcher%s",
                            shown(path.name), _renamed(path.name, target))
            if not kept:
                folder.rmdir()
                lock_path.unlink(missing_ok=True)
        finally:
            lock.close()
    return moved


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
        self.ignored = Counter("evpm_pipeline_ignored_files",
                               "Entries in incoming/ left alone, by kind: not_csv, symlink, "
                               "directory, fifo, socket, device, unclaimable",
                               ["kind"], registry=self.registry)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 — a service port
        """Expose the metrics over HTTP (a background thread)."""
        from prometheus_client import start_http_server

        start_http_server(port, addr=host, registry=self.registry)


# --- the watcher ----------------------------------------------------------------------------

_DEFAULTS = Settings()  # the defaults live in Settings only


@dataclass
class WatchOptions:
    """How the watcher behaves (defaults: Settings')."""

    poll_s: float = _DEFAULTS.poll_seconds
    settle_s: float = _DEFAULTS.settle_seconds  # a file untouched this long is complete
    batch_files: int = _DEFAULTS.watch_batch_files  # files claimed and sent per request
    max_file_bytes: int = _DEFAULTS.max_trip_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> WatchOptions:
        """The options the settings (environment) ask for."""
        return cls(poll_s=settings.poll_seconds, settle_s=settings.settle_seconds,
                   batch_files=settings.watch_batch_files,
                   max_file_bytes=settings.max_trip_bytes)


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
    # What the prediction was made from: the bytes' size, mtime and hash when they were read.
    size: int = -1
    mtime_ns: int = -1
    digest: str = ""


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
        self._reported: set[tuple[str, str]] = set()  # (kind, name) already logged
        self._stuck: list[Path] = []  # claims that could be neither filed nor handed back
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
        """One poll: claim up to a batch of files and finish them. Returns (files, waiting).

        `files` counts the files this poll finished or set aside, not those handed back to
        incoming/ (still being written): a loop that repeats at once while `files` > 0 then
        waits for the next poll instead of spinning on a file that is not ready.
        """
        self._recover()
        chosen, waiting = waiting_files(self.folders, self.options.settle_s,
                                        self.options.batch_files, self._report_not_csv,
                                        on_not_file=self._report_not_file)
        self.metrics.queue.set(waiting)
        claimed = []
        for candidate in chosen:
            try:
                path = self._claims.claim(candidate.name)
            except OSError as exc:  # e.g. another user's file in a sticky folder: EPERM
                self._report_once("unclaimable", candidate.name,
                                  f"cannot be claimed ({exc.strerror}); left where it is")
                continue
            if path is not None:
                claimed.append(_Claimed(path, candidate.name, candidate.mtime))
        returned = self._process(claimed) if claimed else 0
        return len(claimed) - returned, waiting

    # Work on a batch -------------------------------------------------------------------------
    def _process(self, claimed: list[_Claimed]) -> int:
        """Prepare, send and file a batch; return how many files went back to incoming/."""
        started = time.perf_counter()
        registry = self.registry.current()
        ready = []
        returned = 0
        for item in claimed:
            try:
                item.row = self._prepare(item, registry)
            except FileFailedError as failure:
                self._fail(item, failure)
                continue
            except Exception as exc:  # noqa: BLE001 — one odd file must not stop the pipeline
                # Kept in failed/ with the error rather than crashing the watcher on every
                # restart over the same file.
                log.exception("unexpected error on %s", shown(item.name))
                self._fail(item, FileFailedError(
                    "processing_error", f"unexpected error while reading this trip: "
                    f"{type(exc).__name__}: {exc}"))
                continue
            if item.row is None:  # still being written: back to the queue
                returned += self._requeue(item)
                continue
            ready.append(item)
        # Features of a whole batch take a while: a file that grew meanwhile is not sent (its
        # prediction would cover part of the trip); read again whole at a later poll.
        sendable = []
        for item in ready:
            if self._unchanged(item.path, item):
                sendable.append(item)
            else:
                returned += self._requeue(item, "changed after it was read")
        self._submit(sendable)
        if sendable:
            self.metrics.processing.observe(time.perf_counter() - started)
        return returned

    def _prepare(self, item: _Claimed, registry: dict[str, str]) -> dict | None:
        before = item.path.stat()
        if before.st_size > self.options.max_file_bytes:
            raise FileFailedError("too_large", f"file is {before.st_size / 1e6:.1f} MB; trips "
                                  f"are at most {self.options.max_file_bytes / 1e6:.0f} MB "
                                  "(EVPM_MAX_TRIP_BYTES)")
        # A writer that pauses longer than the settle time still has the file open: wait for
        # it to close the file rather than predict half a trip. (The claim moved the file, but
        # an open descriptor follows it.)
        if open_for_writing(item.path):
            self._report_once("open_for_writing", item.name, "is still open for writing by "
                              "another process: waiting until it is closed", level=logging.INFO)
            return None
        raw = item.path.read_bytes()
        after = item.path.stat()
        if len(raw) != after.st_size or after.st_mtime_ns != before.st_mtime_ns:
            return None  # a writer still has it open
        item.size, item.mtime_ns = len(raw), after.st_mtime_ns
        item.digest = hashlib.sha256(raw).hexdigest()
        return trip_row(item.path, raw, registry, item.name)

    @staticmethod
    def _unchanged(path: Path, item: _Claimed, *, deep: bool = False) -> bool:
        """Whether the file at `path` still holds the bytes `item` was predicted from.

        Size and modification time (nanoseconds) always; with `deep`, the bytes' hash too
        (a rewrite of the same size within one clock tick).
        """
        try:
            now = path.stat()
            if now.st_size != item.size or now.st_mtime_ns != item.mtime_ns:
                return False
            if not deep:
                return True
            with path.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == item.digest
        except OSError:
            return False

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
                        self._requeue(item)
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
        # Never archive bytes other than the ones predicted: a file that grew after it was read
        # goes back to incoming/; its whole content gets its own key and prediction.
        if not self._unchanged(item.path, item, deep=True):
            self._requeue(item, "changed after its prediction was stored")
            return
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        try:
            target = move_into(item.path, self.folders.archive / day, item.digest[:8])
        except (OSError, EvpmError) as exc:
            self._set_aside(item, f"stored, but cannot be moved into archive/ ({exc})")
            return
        if not self._unchanged(target, item):  # a write in the instant of the move
            item.path = target
            self._requeue(item, "changed while it was archived")
            return
        now = time.time()
        self.metrics.files.labels("archived").inc()
        self.metrics.latency.observe(max(0.0, now - item.mtime))
        self.metrics.last_success.set(now)
        self.summary.archived += 1
        duplicate = bool(answer.get("duplicate"))
        self.summary.duplicates += duplicate
        log.info("archived %s → %s vehicle=%s soh=%.3f status=%s%s", shown(item.name),
                 shown(str(target.relative_to(self.folders.archive))), answer.get("vehicle_id"),
                 answer.get("predicted_soh", float("nan")), answer.get("status"),
                 " (already stored: same vehicle and content seen before)" if duplicate else "")

    def _fail(self, item: _Claimed, failure: FileFailedError) -> None:
        report = {"file": item.name, **failure.as_dict(),
                  "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}
        text = _report_text(report)

        # The report is written first: a crash in between leaves the file to be retried (and
        # its report, without a file beside it, is reused), never a failed file without reason.
        def write_report(target: Path) -> Callable[[], None]:
            report_path = target.with_name(target.name + REPORT_SUFFIX)
            with atomic_path(report_path) as tmp:
                tmp.write_bytes(text)
            return lambda: report_path.unlink(missing_ok=True)

        try:
            target = move_into(item.path, self.folders.failed, secrets.token_hex(4),
                               reserve=len(REPORT_SUFFIX), before=write_report)
        except (OSError, EvpmError) as exc:
            self._set_aside(item, f"{failure.reason}, but cannot be moved into failed/ ({exc})")
            return
        self.metrics.files.labels("failed").inc()
        self.metrics.failures.labels(failure.reason).inc()
        self.summary.failed += 1
        self.summary.reasons[failure.reason] = self.summary.reasons.get(failure.reason, 0) + 1
        log.warning("failed %s: %s: %s%s", shown(item.name), failure.reason, shown(str(failure)),
                    _renamed(item.name, target))

    def _requeue(self, item: _Claimed, why: str | None = None) -> int:
        """Hand a claimed file back to incoming/; 1 if it went, 0 if it had to be set aside."""
        try:
            target = self._claims.release(item.path)
        except (OSError, EvpmError) as exc:
            self._set_aside(item, f"cannot be returned to incoming/ ({exc})")
            return 0
        if why:
            log.warning("%s %s (a writer still appending? write *.part or a dotfile and rename "
                        "it into place): returned to incoming/ to be read again whole%s",
                        shown(item.name), why, _renamed(item.name, target))
        return 1

    def _set_aside(self, item: _Claimed, why: str) -> None:
        """Keep a claim that could not be filed; it is offered again at the next recovery."""
        # It stays in this watcher's processing/ folder: nothing is lost, the loop goes on,
        # and it is not retried at once (which would spin on a full disk or a bad folder).
        self._stuck.append(item.path)
        log.error("%s: %s; kept in %s, returned to incoming/ within %.0f s or when the "
                  "watcher stops", shown(item.name), why, item.path.parent, RECOVER_EVERY_S)

    def _report_once(self, kind: str, name: str, what: str, *,
                     level: int = logging.WARNING) -> None:
        """Log an entry left alone once per name (bounded memory) and count it by kind."""
        key = (kind, name)
        if key in self._reported:
            return
        if len(self._reported) < NOT_CSV_MEMORY:
            self._reported.add(key)
        if kind != "open_for_writing":  # waiting, not ignored: the file is taken when closed
            self.metrics.ignored.labels(kind).inc()
        log.log(level, "%s in incoming/ %s", shown(name), what)

    def _report_not_csv(self, name: str) -> None:
        self._report_once("not_csv", name, "is not a .csv file: ignored (left where it is)")

    def _report_not_file(self, name: str, kind: str) -> None:
        what = {"symlink": "a symbolic link (move the file itself in)",
                "directory": "a directory"}.get(kind, f"a {kind}")
        self._report_once(kind, name, f"is {what}, not a regular file: ignored (left where "
                          "it is)")

    def _recover(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_recovery >= RECOVER_EVERY_S:
            self._last_recovery = now
            recover_orphans(self.folders, self._claims.folder if self._claims else None)
            stuck, self._stuck = self._stuck, []
            for path in stuck:
                if not path.exists():
                    continue
                try:
                    self._claims.release(path)
                except (OSError, EvpmError) as exc:
                    self._stuck.append(path)
                    log.error("cannot return %s to incoming/: %s", shown(path.name), exc)


def _renamed(name: str, target: Path) -> str:
    """` (as <new name>)` for a log line when a move had to change the name, else ``."""
    return "" if target.name == name else f" (as {shown(target.name)})"


def _report_text(report: dict) -> bytes:
    """An error report as UTF-8 JSON (names that are not UTF-8 written as \\u escapes)."""
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    try:
        return text.encode()
    except UnicodeEncodeError:  # undecodable bytes in a name: escapes that read back exactly
        return (json.dumps(report, indent=2) + "\n").encode()


def install_signal_handlers(watcher: Watcher) -> None:
    """SIGTERM / SIGINT: finish the current batch, then exit cleanly."""
    def handler(signum, _frame) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        watcher.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    # open_for_writing holds a file lease for an instant; a writer opening that very file in
    # that instant makes the kernel send SIGIO, whose default action would end the watcher.
    if hasattr(signal, "SIGIO"):
        signal.signal(signal.SIGIO, signal.SIG_IGN)
