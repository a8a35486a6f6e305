"""Score trip files offline (`evpm predict`): no server, no database, the pipeline's own path.

Each file becomes the watcher's request row (`evpm.trip_rows.trip_row`: vehicle, profile and
its source, features, the pack guess for an assumed profile), is checked as the API checks a
row (`evpm.api.schemas.parse_row`), and is scored by the API's post-processing
(`evpm.service.score_batch`: profile source, confidence, the status cap, the warnings), so a
file scores here exactly as the pipeline would store it. Files are scored in batches: one
feature matrix per `BATCH_FILES` files.

A directory given as FILE stands for the `*.csv` files directly inside it (not hidden ones,
sorted by name), each reported under the directory's path as given joined with its name.
A file that cannot be scored gets an error object with the watcher's reason codes
(`evpm.trips.TripError`, `evpm.trip_rows.FileFailedError`, plus `not_found`, `unreadable`,
`too_large`, `rejected_by_api` for a row the API's checks refuse, `no_trip_files` for an
empty directory); the others are scored all the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evpm.api.schemas import parse_row
from evpm.batch import ParsedBatch, ParsedRow
from evpm.contract import INTERVAL_FIELDS
from evpm.predictor import Predictor
from evpm.profiles import Profile
from evpm.service import ScoredBatch, score_batch
from evpm.settings import Settings
from evpm.trip_rows import FileFailedError, trip_row

BATCH_FILES = 512  # files per feature matrix: large enough to amortise, small enough to stream
# The keys of a scored file, in PRODUCT.md's order.
RESULT_KEYS = ("file", "vehicle_id", "profile", "profile_source", "predicted_soh", "soh_low",
               "soh_high", "predicted_sop", "sop_low", "sop_high", "health_score", "status",
               "confidence", "warnings")
# parse_row needs a vehicle id; a file scored with --profile may have none (shown as null).
_NO_VEHICLE = "0"


@dataclass(frozen=True)
class TripFile:
    """One file to score: its name as reported, its path, or why there is nothing to read."""

    file: str
    path: Path | None
    error: FileFailedError | None = None


def trip_files(names: Sequence[str | Path]) -> list[TripFile]:
    """The files that FILE arguments stand for, in order (a directory: its *.csv files)."""
    out = []
    for name in names:
        given, path = str(name), Path(name)
        if path.is_dir():
            inside = sorted(p.name for p in path.iterdir()
                            if p.suffix.lower() == ".csv" and not p.name.startswith(".")
                            and p.is_file())
            out += [TripFile(os.path.join(given, n), path / n) for n in inside]
            if not inside:
                out.append(TripFile(given, None, FileFailedError(
                    "no_trip_files", f"{given}: a directory without *.csv files")))
        elif path.is_file():
            out.append(TripFile(given, path))
        else:
            out.append(TripFile(given, None, FileFailedError("not_found",
                                                             f"{given}: no such file")))
    return out


def _row(item: TripFile, registry: dict[str, str], profile: Profile | None,
         max_bytes: int) -> ParsedRow:
    """The checked request row of one file, or FileFailedError saying why there is none."""
    if item.error is not None or item.path is None:
        raise item.error or FileFailedError("not_found", f"{item.file}: no such file")
    try:
        if item.path.stat().st_size > max_bytes:
            raise FileFailedError("too_large", f"file is {item.path.stat().st_size / 1e6:.1f} MB;"
                                  f" trips are at most {max_bytes / 1e6:.0f} MB "
                                  "(EVPM_MAX_TRIP_BYTES)")
        raw = item.path.read_bytes()
    except OSError as exc:
        raise FileFailedError("unreadable", f"cannot read the file: {exc.strerror or exc}") \
            from None
    row = trip_row(item.path, raw, registry, profile=profile)
    vehicle = row.get("vehicle_id")
    parsed, problems = parse_row({**row, "vehicle_id": vehicle or _NO_VEHICLE})
    if parsed is None:
        raise FileFailedError("rejected_by_api", "the API would refuse this row: " + "; ".join(
            f"{p['field']} {p['problem']}" for p in problems), details=problems)
    parsed.vehicle_id = vehicle  # type: ignore[assignment] — None: no vehicle, --profile given
    return parsed


def interval_columns(scored: ScoredBatch) -> dict[str, list[float]]:
    """90 % intervals of SoH and SoP per row (INTERVAL_FIELDS)."""
    result = scored.result
    return dict(zip(INTERVAL_FIELDS, (result.soh_low, result.soh_high, result.sop_low,
                                      result.sop_high), strict=True))


def _results(files: list[TripFile], scored: ScoredBatch) -> list[dict]:
    result, intervals = scored.result, interval_columns(scored)
    out = []
    for i, item in enumerate(files):
        profile = scored.profiles[i]
        values = {
            "file": item.file, "vehicle_id": None, "profile": profile.name if profile else None,
            "profile_source": scored.sources[i], "predicted_soh": result.soh[i],
            "predicted_sop": result.sop_w[i], "health_score": result.scores[i],
            "status": scored.statuses[i], "confidence": scored.confidences[i],
            "warnings": scored.warnings[i], **{k: v[i] for k, v in intervals.items()}}
        out.append({key: values[key] for key in RESULT_KEYS})
    return out


def score_files(names: Sequence[str | Path], *, registry: Mapping[str, str],
                profile: Profile | None = None, predictor: Predictor | None = None,
                settings: Settings | None = None) -> list[dict]:
    """One result per FILE argument's file, in order: a scored file's RESULT_KEYS, or `file`
    and `error` (`reason`, `message`, and `column` / `row` where they apply).

    `registry` maps vehicles to profiles (as the watcher's); `profile` overrides it for every
    file (`--profile`). Models from `predictor`, else `settings`' (default: the environment).
    """
    return list(score_trip_files(trip_files(names), registry=registry, profile=profile,
                                 predictor=predictor, settings=settings))


def score_trip_files(files: Sequence[TripFile], *, registry: Mapping[str, str],
                     profile: Profile | None = None, predictor: Predictor | None = None,
                     settings: Settings | None = None,
                     progress: Callable[[int], None] | None = None) -> Iterator[dict]:
    """`score_files` for `trip_files`' list, a batch at a time (`progress` is told how many
    files each batch finished)."""
    settings = settings or Settings.from_env()
    predictor = predictor or Predictor.from_settings(settings)
    registry = dict(registry)
    for start in range(0, len(files), BATCH_FILES):
        chunk = files[start:start + BATCH_FILES]
        rows: dict[int, ParsedRow] = {}
        errors: dict[int, dict] = {}
        for i, item in enumerate(chunk):
            try:
                rows[i] = _row(item, registry, profile, settings.max_trip_bytes)
            except FileFailedError as exc:
                errors[i] = {"file": item.file, "error": exc.as_dict()}
        scored = []
        if rows:
            batch = ParsedBatch.from_rows(list(rows.values()))
            scored = _results([chunk[i] for i in rows],
                              score_batch(batch, predictor, registry))
            for result, row in zip(scored, rows.values(), strict=True):
                result["vehicle_id"] = row.vehicle_id
        by_index = dict(zip(rows, scored, strict=True)) | errors
        yield from (by_index[i] for i in range(len(chunk)))
        if progress is not None:
            progress(len(chunk))
