"""`evpm predict FILE...`: score trip files offline (evpm.offline), as JSON lines or a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import tqdm_progress, user_errors
from evpm.errors import EvpmError

PROGRESS_FROM = 20  # files: fewer finish before a bar is worth drawing


@user_errors
def predict(
    files: Annotated[list[Path], typer.Argument(
        help="Trip CSVs; a directory stands for the *.csv files in it")],
    profile: Annotated[str | None, typer.Option(
        help="Profile of every file (default: the fleet registry's, else assumed)")] = None,
    registry: Annotated[Path | None, typer.Option(
        help="Fleet registry CSV (default: EVPM_REGISTRY)")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per line per file")] = False,
) -> list[dict]:
    """Score trip files offline (no server, no database), as the pipeline would store them."""
    from evpm.offline import score_trip_files, trip_files
    from evpm.profiles import get_profile, read_registry
    from evpm.settings import Settings

    settings = Settings.from_env()
    chosen = get_profile(profile) if profile else None
    if registry is not None and not registry.is_file():
        raise EvpmError(f"{registry}: no such registry file")
    vehicles = read_registry(registry or settings.registry_path)
    found = trip_files([str(f) for f in files])
    tick = tqdm_progress("scoring", len(found)) if len(found) >= PROGRESS_FROM else None
    results = []
    for result in score_trip_files(found, registry=vehicles, profile=chosen, settings=settings,
                                   progress=tick):
        results.append(result)
        if as_json:
            typer.echo(json.dumps(result))
    if not as_json:
        typer.echo(table(results))
    failed = sum("error" in r for r in results)
    if failed == len(results):
        raise EvpmError(f"no file could be scored ({failed} failed)")
    return results


def table(results: list[dict]) -> str:
    """The results as a readable table (a failed file's reason in place of its numbers), then
    each file's warnings."""
    header = ("file", "vehicle", "profile (source)", "SoH", "SoH 90 %", "SoP kW", "score",
              "status", "confidence", "warnings")
    rows = []
    for r in results:
        if "error" in r:
            rows.append((r["file"], "-", "-", "-", "-", "-", "-", "error", "-",
                         f"{r['error']['reason']}: {r['error']['message']}"))
            continue
        rows.append((r["file"], r["vehicle_id"] or "-", f"{r['profile']} ({r['profile_source']})",
                     f"{r['predicted_soh']:.3f}", f"{r['soh_low']:.2f}-{r['soh_high']:.2f}",
                     f"{r['predicted_sop'] / 1000:.3g}",
                     f"{r['health_score']:.3f}", r["status"], r["confidence"],
                     str(len(r["warnings"]))))
    # The last column is free text: only the others are padded.
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(str(c).ljust(w) for c, w in zip(row, widths, strict=False)),
                        str(row[-1])]).rstrip() for row in [header, *rows]]
    notes = [f"{r['file']}: {w}" for r in results for w in r.get("warnings", [])]
    return "\n".join(lines + (["", "warnings:", *notes] if notes else []))
