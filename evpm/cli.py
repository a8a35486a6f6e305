"""The `evpm` command. Each command is a plain function that tests call directly."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from evpm.errors import EvpmError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="EV fleet battery health.")
twin_app = typer.Typer(no_args_is_help=True, help="The physics digital twin.")
app.add_typer(twin_app, name="twin")

F = TypeVar("F", bound=Callable)


def user_errors(func: F) -> F:
    """Turn a bad-input error into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvpmError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@twin_app.command("trip")
@user_errors
def twin_trip(
    out: Annotated[Path, typer.Option(help="Folder for the trip CSV and its .truth.json")],
    vehicle: Annotated[str, typer.Option(help="Vehicle id (letters, digits, _ and -)")] = "V001",
    profile: Annotated[str, typer.Option(help="Vehicle/pack profile")] = "renault-zoe-ze50",
    cycle: Annotated[str, typer.Option(help="udds, hwfet, us06, wltc3, cc-1a, ...")] = "udds",
    soh: Annotated[float, typer.Option(help="True state of health, (0, 1.2]")] = 1.0,
    resistance_factor: Annotated[float, typer.Option(help="Resistance growth factor")] = 1.0,
    ambient_c: Annotated[float, typer.Option(help="Ambient temperature °C")] = 25.0,
    soc0: Annotated[float | None, typer.Option(help="Initial SOC (default 0.9 / 1.0 lab)")] = None,
    repeats: Annotated[int, typer.Option(help="Drive the cycle this many times")] = 1,
    noise: Annotated[bool, typer.Option(help="BMS-like sensor noise and quantisation")] = True,
    seed: Annotated[int, typer.Option(help="Random seed for the noise")] = 0,
    trip_id: Annotated[str | None, typer.Option(help="Trip part of the file name")] = None,
    file_name: Annotated[str | None, typer.Option(help="Override the tripdata.* name")] = None,
) -> Path:
    """Simulate one trip of one vehicle → one trip CSV (+ its ground truth)."""
    from evpm.twin.trip import TripSpec, simulate_trip, write_table, write_trip

    spec = TripSpec(
        vehicle_id=vehicle, profile=profile, cycle=cycle, soh=soh,
        resistance_factor=resistance_factor, ambient_c=ambient_c, soc0=soc0, repeats=repeats,
        noise=noise, seed=seed,
    )
    result = simulate_trip(spec)
    if file_name:
        if "/" in file_name or not file_name.endswith(".csv"):
            raise EvpmError(f"file name {file_name!r} must be a plain name ending in .csv")
        path = write_table(result.table, out / file_name)
    else:
        path = write_trip(result, out, trip_id)
    truth = result.truth
    typer.echo(
        f"{path}  ({truth['samples']} rows, {truth['duration_s']:.0f} s, "
        f"SOC {truth['soc_start']:.3f}→{truth['soc_end']:.3f}, "
        f"true SoP {truth['true_sop_w']:.0f} W)"
    )
    return path


def _split(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@twin_app.command("fleet")
@user_errors
def twin_fleet(
    out: Annotated[Path, typer.Option(help="Folder for the trip CSVs")],
    vehicles: Annotated[int, typer.Option(help="Number of vehicles")] = 10,
    trips: Annotated[int, typer.Option(help="Trips per vehicle")] = 10,
    days: Annotated[float, typer.Option(help="Simulated period in days")] = 365.0,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    profiles: Annotated[str | None, typer.Option(help="Comma-separated profile mix")] = None,
    climates: Annotated[str | None, typer.Option(help="Comma-separated climates")] = None,
    duties: Annotated[str | None, typer.Option(help="Comma-separated duty patterns")] = None,
    max_initial_age_years: Annotated[float, typer.Option(help="Oldest vehicle at start")] = 6.0,
    noise: Annotated[bool, typer.Option(help="BMS-like sensor noise")] = True,
    workers: Annotated[int, typer.Option(help="Parallel processes")] = 2,
    truth: Annotated[Path | None, typer.Option(help="Ground-truth CSV path")] = None,
    registry: Annotated[Path | None, typer.Option(help="Fleet registry CSV path")] = None,
) -> list[dict]:
    """Simulate a fleet over time (aging included) → trip CSVs + a ground-truth table."""
    from tqdm import tqdm

    from evpm.twin.fleet import FleetSpec, simulate_fleet

    options = {"profiles": _split(profiles), "climates": _split(climates), "duties": _split(duties)}
    spec = FleetSpec(
        vehicles=vehicles, trips=trips, days=days, seed=seed, noise=noise,
        max_initial_age_years=max_initial_age_years,
        **{k: v for k, v in options.items() if v},
    )
    start = time.perf_counter()
    with tqdm(total=vehicles, unit="vehicle", desc="fleet", file=sys.stderr) as bar:
        rows = simulate_fleet(
            spec, out, truth_path=truth, registry_path=registry, workers=workers,
            progress=bar.update,
        )
    typer.echo(
        f"{len(rows)} trips of {vehicles} vehicles in {out} "
        f"({time.perf_counter() - start:.1f} s); ground truth: {truth or out / 'ground_truth.csv'}"
    )
    return rows


@twin_app.command("validate")
@user_errors
def twin_validate(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> bool:
    """Validation table of every profile on UDDS and HWFET, with the physical checks."""
    from evpm.twin.validate import format_table, validate_twin

    rows, checks = validate_twin()
    failed = [c for c in checks if not c.ok]
    if as_json:
        typer.echo(json.dumps({
            "rows": rows,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        }, indent=2))
    else:
        typer.echo(format_table(rows))
        typer.echo(f"\nphysical checks: {len(checks) - len(failed)}/{len(checks)} passed")
        for check in failed:
            typer.echo(f"FAILED {check.name} {check.detail}")
    if failed:
        raise typer.Exit(code=1)
    return True


@twin_app.command("cases")
@user_errors
def twin_cases(
    out: Annotated[Path, typer.Option(help="Folder for the 20 test-case trips")] = Path(
        "test_cases"
    ),
    registry: Annotated[Path, typer.Option(help="Fleet registry to add the cases to")] = Path(
        "data/fleet_registry.csv"
    ),
) -> list[dict]:
    """Write the 20 validated test-case trips (every profile, several cycles, SoH 0.65-1.0)."""
    from evpm.twin.cases import write_cases

    index = write_cases(out, registry)
    typer.echo(f"{len(index)} validated test cases in {out} (index: {out / 'index.json'})")
    return index


def _tqdm_progress(label: str, total: int):
    """A progress bar per stage (stderr), closed when it is full."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="step", file=sys.stderr, leave=True)

    def tick(n: int) -> None:
        bar.update(n)
        if bar.n >= bar.total:
            bar.close()

    return tick


def _json_safe(value):
    if isinstance(value, float) and value != value:  # NaN → null
        return None
    return value


@app.command("features")
@user_errors
def features(
    file: Annotated[Path, typer.Argument(help="Trip CSV")],
    profile: Annotated[str | None, typer.Option(help="Profile (default: fleet registry)")] = None,
) -> dict:
    """Print the feature row (JSON) that the pipeline would POST for this trip."""
    from evpm.features import extract_file
    from evpm.profiles import get_profile, profile_for_vehicle, read_registry
    from evpm.settings import Settings
    from evpm.trips import vehicle_id_from_name

    if not file.is_file():
        raise EvpmError(f"{file}: no such file")
    if profile:
        chosen = get_profile(profile)
    else:
        vehicle_id = vehicle_id_from_name(file.name)
        registry = read_registry(Settings.from_env().registry_path)
        chosen = profile_for_vehicle(vehicle_id or "", registry)
    row = {k: _json_safe(v) for k, v in extract_file(file, chosen).items()}
    typer.echo(json.dumps({"profile": chosen.name, **row}, indent=2))
    return row


@app.command("train")
@user_errors
def train(
    out: Annotated[Path, typer.Option(help="Where the models and model card go")] = Path("models"),
    work: Annotated[Path, typer.Option(help="Scratch folder for the simulated trips")] = Path(
        "data/training"),
    vehicles: Annotated[int, typer.Option(help="Road vehicles")] = 240,
    lab_cells: Annotated[int, typer.Option(help="Lab cells")] = 60,
    trips: Annotated[int, typer.Option(help="Trips per vehicle / cell")] = 16,
    estimators: Annotated[int, typer.Option(help="Boosting rounds per model")] = 800,
    seed: Annotated[int, typer.Option(help="Seed of everything")] = 2026,
) -> dict:
    """Rebuild the shipped models and their model card, reproducibly."""
    import shutil

    from evpm.training import TrainConfig
    from evpm.training import train as run_training

    config = TrainConfig(vehicles=vehicles, lab_cells=lab_cells, trips=trips,
                         n_estimators=estimators, seed=seed)
    if work.exists():
        shutil.rmtree(work)  # a stale trip from an earlier run must not leak into this one
    start = time.perf_counter()
    card = run_training(config, out, work, progress=_tqdm_progress)
    m = card["metrics"]
    typer.echo(
        f"model {card['model_version']} in {out} ({time.perf_counter() - start:.0f} s): "
        f"SoH trip MAE {m['soh_trip_mae_all']:.4f} (window>=10 %: "
        f"{m['soh_trip_mae_window_ge_10pct']:.4f}, full discharge: "
        f"{m['soh_trip_mae_full_discharge']:.4f}), vehicle SoH MAE {m['soh_vehicle_mae']:.4f}, "
        f"SoP MAPE {m['sop_mape_pct']:.2f} %, reference-only SoH MAE "
        f"{m['soh_reference_only_mae']:.4f}"
    )
    return card


@app.command("validate-nasa")
@user_errors
def validate_nasa(
    directory: Annotated[Path, typer.Argument(help="The nasa-pcoe-discharge folder")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    models: Annotated[Path, typer.Option(help="Models folder")] = Path("models"),
) -> dict:
    """Predict real NASA cells' state of health and print the error table."""
    from evpm.nasa import format_summary, load_labels, summarise
    from evpm.nasa import validate_nasa as run_validation

    if not directory.is_dir():
        raise EvpmError(f"{directory}: not a folder")
    cells = load_labels(directory)["battery_id"].nunique()
    predictor = _load_predictor(models)
    results = run_validation(directory, predictor, progress=_tqdm_progress("cells", cells))
    summary = summarise(results)
    typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
    return summary


def _load_predictor(models: Path):
    from evpm.predictor import Predictor

    if not (models / "model_card.json").exists():
        raise EvpmError(f"no models in {models}: run `evpm train` first")
    return Predictor.load(models)


@app.command("up")
@user_errors
def up(
    data_dir: Annotated[Path, typer.Option(help="Where the demo writes")] = Path("data/demo"),
) -> None:
    """Run the system locally. Until the services exist: the digital-twin demo."""
    twin_validate(as_json=False)
    typer.echo("")
    twin_fleet(out=data_dir / "trips", vehicles=6, trips=4, days=90.0, seed=7, workers=2,
               truth=data_dir / "ground_truth.csv", registry=data_dir / "fleet_registry.csv")


def main() -> None:
    """Entry point of the `evpm` console script."""
    app()


if __name__ == "__main__":
    main()
