"""`evpm profile add|list|show|remove`: vehicle / pack profiles as data (EVPM_PROFILES).

A profile added here is used by the API, the watcher and the dashboard on their next request
(they re-read the file when it changes); no restart, no code change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors

app = typer.Typer(no_args_is_help=True,
                  help="Vehicle / pack profiles: the built-ins and your own (EVPM_PROFILES).")

# Both a rated power and a resistance given: a warning when they disagree by more than this
# factor (a unit slip, mΩ for Ω, or a datasheet's 1-kHz impedance taken for the DC one).
INCONSISTENT_FACTOR = 1.5


def _catalog(path: Path) -> dict:
    """Built-ins and the user file, read strictly: a broken file is a one-line error here."""
    from evpm.profiles import builtin_profiles, read_user_profiles

    return {**builtin_profiles(), **read_user_profiles(path)}


def _path(profiles_file: Path | None) -> Path:
    from evpm.settings import profiles_path_from_env

    return profiles_file or profiles_path_from_env()


ProfilesFile = Annotated[Path | None, typer.Option(
    "--profiles-file", help="User profiles file (default: EVPM_PROFILES, data/profiles.json)")]


@app.command("add")
@user_errors
def profile_add(
    name: Annotated[str, typer.Argument(help="Profile name: lowercase letters, digits, dashes")],
    chemistry: Annotated[str, typer.Option(help="Cell chemistry family (nmc, lfp, …)")],
    cell_ah: Annotated[float, typer.Option(help="Rated cell capacity, Ah")],
    series: Annotated[int, typer.Option(help="Cells in series")],
    parallel: Annotated[int, typer.Option(help="Cells in parallel")],
    cell_v_min: Annotated[float, typer.Option(help="Cell cut-off voltage, V")],
    cell_v_max: Annotated[float, typer.Option(help="Cell full-charge voltage, V")],
    rated_power_kw: Annotated[float | None, typer.Option(
        help="New pack's 10-s peak discharge power at 50 % SOC, 25 °C, kW (default: from "
             "--cell-r-mohm, else from a typical new cell)")] = None,
    cell_r_mohm: Annotated[float | None, typer.Option(
        help="New cell's series (DC) resistance at 25 °C, mΩ; sets the rated power when "
             "--rated-power-kw is not given")] = None,
    kind: Annotated[str, typer.Option(help="road (a vehicle pack) or lab (a test cell)")
                    ] = "road",
    label: Annotated[str | None, typer.Option(help="Display name (default: from the pack)")
                     ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a user profile of "
                                                             "that name")] = False,
    profiles_file: ProfilesFile = None,
) -> dict:
    """Add a vehicle / pack profile (no code change, no restart)."""
    from evpm.profiles import add_user_profile, make_profile, profile_summary, rated_power

    path = _path(profiles_file)
    profile = make_profile(name, chemistry_name=chemistry, cell_ah=cell_ah, series=series,
                           parallel=parallel, v_min=cell_v_min, v_max=cell_v_max,
                           rated_power_kw=rated_power_kw, cell_r_mohm=cell_r_mohm, kind=kind,
                           label=label)
    if rated_power_kw is not None and cell_r_mohm is not None:
        implied, _ = rated_power(cells=profile.cells, family=profile.chemistry,
                                 cell_ah=profile.cell_capacity_ah, v_min=profile.cell_v_min,
                                 cell_r_mohm=cell_r_mohm)
        ratio = implied / profile.rated_peak_power_w
        if not 1 / INCONSISTENT_FACTOR <= ratio <= INCONSISTENT_FACTOR:
            typer.echo(f"warning: --cell-r-mohm {cell_r_mohm:g} implies {implied / 1000:.0f} kW, "
                       f"not {rated_power_kw:g} kW; the rated power given is used", err=True)
    profile = add_user_profile(path, profile, replace=replace)
    power = {"given": "given", "from resistance": f"from {cell_r_mohm} mΩ cells",
             "typical": "from a typical new cell"}[profile.rated_power_source]
    typer.echo(f"profile {profile.name} ({profile.series}s{profile.parallel}p, "
               f"{profile.cell_capacity_ah:g} Ah {profile.chemistry} cells, "
               f"{profile.rated_peak_power_w / 1000:.1f} kW rated, {power}) saved in {path}; "
               "running services use it from their next request")
    return profile_summary(profile)


@app.command("list")
@user_errors
def profile_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    profiles_file: ProfilesFile = None,
) -> list[dict]:
    """List every profile: the built-ins, then yours."""
    from evpm.profiles import profile_summary

    catalog = _catalog(_path(profiles_file))
    rows = [profile_summary(p) for p in catalog.values() if p.source == "builtin"] + \
        [profile_summary(p) for _, p in sorted(catalog.items()) if p.source != "builtin"]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return rows
    header = f"{'name':<24} {'source':<8} {'kind':<5} {'chemistry':<9} {'pack':>8} " \
             f"{'cell Ah':>8} {'cell V':>10} {'rated kW':>9}  label"
    typer.echo(header)
    for r in rows:
        typer.echo(f"{r['name']:<24} {r['source']:<8} {r['kind']:<5} {r['chemistry']:<9} "
                   f"{str(r['series']) + 's' + str(r['parallel']) + 'p':>8} "
                   f"{r['cell_capacity_ah']:>8g} "
                   f"{format(r['cell_v_min'], 'g') + '-' + format(r['cell_v_max'], 'g'):>10} "
                   f"{r['rated_peak_power_w'] / 1000:>9.4g}  {r['label']}")
    return rows


@app.command("show")
@user_errors
def profile_show(
    name: Annotated[str, typer.Argument(help="Profile name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    profiles_file: ProfilesFile = None,
) -> dict:
    """Show one profile, with the values derived from it."""
    from evpm.errors import UnknownChoiceError
    from evpm.profiles import profile_summary

    catalog = _catalog(_path(profiles_file))
    if name not in catalog:
        raise UnknownChoiceError("profile", name, list(catalog))
    profile = catalog[name]
    shown = profile_summary(profile) | {
        "cells": profile.cells,
        "nominal_energy_kwh": round(profile.nominal_energy_kwh, 2),
        "rated_pulse_resistance_mohm": round(profile.rated_pulse_resistance_ohm * 1000, 4),
        "cell_r0_mohm": round(profile.cell_r0_ohm * 1000, 4),
        "fastsim_vehicle": profile.fastsim_vehicle,
    }
    if as_json:
        typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        width = max(len(k) for k in shown)
        for key, value in shown.items():
            typer.echo(f"{key:<{width}}  {value}")
    return shown


@app.command("remove")
@user_errors
def profile_remove(
    name: Annotated[str, typer.Argument(help="User profile name")],
    profiles_file: ProfilesFile = None,
    registry: Annotated[Path | None, typer.Option(
        help="Fleet registry to check (default: EVPM_REGISTRY)")] = None,
) -> dict:
    """Remove a user profile (refused while the fleet registry maps vehicles to it)."""
    from evpm.profiles import profile_summary, remove_user_profile
    from evpm.settings import Settings

    path = _path(profiles_file)
    registry_path = registry or Settings.from_env().registry_path
    removed = remove_user_profile(path, name, registry_path)
    typer.echo(f"profile {name} removed from {path}")
    return profile_summary(removed)
