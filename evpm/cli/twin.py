"""`evpm twin trip|fleet|validate|cases`: the physics digital twin."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors
from evpm.errors import EvpmError

app = typer.Typer(no_args_is_help=True, help="The physics digital twin.")


@app.command("trip")
@user_errors
def twin_trip(
    out: Annotated[Path, typer.Option(help="Folder for the trip CSV and its .truth.json")],
    vehicle: Annotated[str, typer.Option(help="Vehicle id (letters, digits, _ and -)")] = "V001",
    profile: Annotated[str, typer.Option(help="Vehicle/pack profile: renault-zoe-ze50, "
                                         "nissan-leaf-30, chevrolet-bolt, tesla-model3-rwd, "
                                         "lab-18650-2ah")] = "renault-zoe-ze50",
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


def split_names(value: str | None) -> tuple[str, ...] | None:
    """`a, b,c` → ("a", "b", "c"); nothing → None (the spec's default)."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@app.command("fleet")
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
    randomise: Annotated[bool, typer.Option(
        "--randomise/--no-randomise",
        help="Every cell its own OCV curve, dynamics, sensor and BMS soc")] = False,
    workers: Annotated[int, typer.Option(help="Parallel processes")] = 2,
    truth: Annotated[Path | None, typer.Option(help="Ground-truth CSV path")] = None,
    registry: Annotated[Path | None, typer.Option(help="Fleet registry CSV path")] = None,
) -> list[dict]:
    """Simulate a fleet over time (aging included) → trip CSVs + a ground-truth table."""
    from tqdm import tqdm

    from evpm.twin.fleet import FleetSpec, simulate_fleet

    options = {"profiles": split_names(profiles), "climates": split_names(climates),
               "duties": split_names(duties)}
    spec = FleetSpec(
        vehicles=vehicles, trips=trips, days=days, seed=seed, noise=noise,
        max_initial_age_years=max_initial_age_years, randomise=randomise,
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


@app.command("validate")
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


@app.command("cases")
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
