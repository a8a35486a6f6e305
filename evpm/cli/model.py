"""`evpm features`, `evpm train`, `evpm validate-nasa`: the feature row, the models, the real-cell
check."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import tqdm_progress, user_errors
from evpm.errors import EvpmError

# The row's identity first, as a reader looks for it; the features follow in their order.
_IDENTITY_KEYS = ("vehicle_id", "profile")


@user_errors
def features(
    file: Annotated[Path, typer.Argument(help="Trip CSV")],
    profile: Annotated[str | None, typer.Option(help="Profile (default: fleet registry)")] = None,
) -> dict:
    """Print the feature row (JSON) that the pipeline would POST for this trip."""
    from evpm.profiles import get_profile, read_registry
    from evpm.settings import Settings
    from evpm.trip_rows import FileFailedError, trip_row

    if not file.is_file():
        raise EvpmError(f"{file}: no such file")
    chosen = get_profile(profile) if profile else None
    registry = {} if chosen else read_registry(Settings.from_env().registry_path)
    # The watcher's own function: vehicle id (file name or vehicle_id column), profile and
    # features cannot differ from what it would send.
    try:
        row = trip_row(file, file.read_bytes(), registry, profile=chosen)
    except FileFailedError as exc:
        if exc.reason == "no_vehicle_id":  # the watcher would refuse it; here there is a way
            raise EvpmError(f"{exc}, or choose a profile with --profile") from None
        raise
    shown = {key: row[key] for key in _IDENTITY_KEYS if key in row} | row
    typer.echo(json.dumps(shown, indent=2))
    return row


@user_errors
def train(
    out: Annotated[Path, typer.Option(help="Where the models and model card go")] = Path("models"),
    work: Annotated[Path, typer.Option(help="Scratch folder for the simulated trips")] = Path(
        "data/training"),
    vehicles: Annotated[int, typer.Option(help="Road vehicles")] = 240,
    lab_cells: Annotated[int, typer.Option(help="Lab cells")] = 120,
    trips: Annotated[int, typer.Option(help="Trips per vehicle / cell")] = 16,
    estimators: Annotated[int, typer.Option(help="Boosting rounds per model")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of everything")] = 2026,
    members: Annotated[int, typer.Option(
        min=1, max=10, help="Ensemble members, each on its own simulated fleets")] = 3,
    randomise: Annotated[bool, typer.Option(
        "--randomise/--no-randomise",
        help="Domain randomisation: every cell its own OCV curve, dynamics, sensor and BMS")
    ] = False,
) -> dict:
    """Rebuild the shipped models and their model card, reproducibly."""
    from evpm.training import TrainConfig
    from evpm.training import train as run_training

    config = TrainConfig(vehicles=vehicles, lab_cells=lab_cells, trips=trips,
                         n_estimators=estimators, seed=seed, members=members,
                         randomise=randomise)
    if work.exists():
        shutil.rmtree(work)  # a stale trip from an earlier run must not leak into this one
    start = time.perf_counter()
    card = run_training(config, out, work, progress=tqdm_progress)
    m = card["metrics"]
    typer.echo(
        f"model {card['model_version']} ({members} member{'s' * (members > 1)}) in {out} "
        f"({time.perf_counter() - start:.0f} s): "
        f"SoH trip MAE {m['soh_trip_mae_all']:.4f} (window>=10 %: "
        f"{m['soh_trip_mae_window_ge_10pct']:.4f}, full discharge: "
        f"{m['soh_trip_mae_full_discharge']:.4f}), vehicle SoH MAE {m['soh_vehicle_mae']:.4f}, "
        f"SoP MAPE {m['sop_mape_pct']:.2f} %, reference-only SoH MAE "
        f"{m['soh_reference_only_mae']:.4f}"
    )
    return card


@user_errors
def validate_nasa(
    directory: Annotated[Path, typer.Argument(help="The nasa-pcoe-discharge folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    models: Annotated[Path, typer.Option(help="Models folder")] = Path("models"),
) -> dict:
    """Predict real NASA cells' state of health and print the error table."""
    from evpm.api.serve import load_predictor
    from evpm.nasa import format_summary, load_labels, summarise
    from evpm.nasa import validate_nasa as run_validation

    if not directory.is_dir():
        raise EvpmError(f"{directory}: not a folder")
    cells = load_labels(directory)["battery_id"].nunique()
    predictor = load_predictor(models)
    results = run_validation(directory, predictor, progress=tqdm_progress("cells", cells))
    summary = summarise(results)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return summary


@user_errors
def validate(
    directory: Annotated[Path, typer.Argument(
        help="A real data set's folder, or a folder of them (../shared/datasets)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    models: Annotated[Path, typer.Option(help="Models folder")] = Path("models"),
    twin_vehicles: Annotated[int, typer.Option(
        min=0, max=2000, help="Also score a held-out randomised twin fleet of this many "
        "vehicles (0: none)")] = 0,
    twin_lab_cells: Annotated[int, typer.Option(
        min=0, max=2000, help="… and lab cells")] = 20,
    twin_trips: Annotated[int, typer.Option(min=1, max=100, help="… trips each")] = 8,
) -> dict:
    """Predict every real data set under DIR (NASA, real-drive-cycles); print the error tables."""
    from evpm.api.serve import load_predictor
    from evpm.twin_check import TwinCheck
    from evpm.validation import format_summary, run, summarise

    predictor = load_predictor(models)
    twin = TwinCheck(vehicles=twin_vehicles, lab_cells=twin_lab_cells, trips=twin_trips) \
        if twin_vehicles else None
    summary = summarise(run(directory, predictor, progress=tqdm_progress, twin=twin))
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return summary
