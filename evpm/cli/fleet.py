"""`evpm fleet register`: the fleet registry (vehicle → profile, EVPM_REGISTRY)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors

app = typer.Typer(no_args_is_help=True, help="The fleet registry: which profile each vehicle has.")


@app.command("register")
@user_errors
def fleet_register(
    vehicle_id: Annotated[str, typer.Argument(help="Vehicle id (as in its trip file names)")],
    profile: Annotated[str, typer.Argument(help="Profile name (`evpm profile list`)")],
    registry: Annotated[Path | None, typer.Option(
        help="Fleet registry file (default: EVPM_REGISTRY, data/fleet_registry.csv)")] = None,
) -> dict[str, str]:
    """Map a vehicle to a profile (added or replaced; services pick it up without a restart)."""
    from evpm.profiles import get_profile, read_registry, read_user_profiles, update_registry
    from evpm.settings import Settings

    settings = Settings.from_env()
    read_user_profiles(settings.profiles_path)  # a broken profiles file: say so, one line
    path = registry or settings.registry_path
    name = get_profile(profile).name
    before = read_registry(path).get(vehicle_id)
    result = update_registry(path, {vehicle_id: name})
    change = "registered" if before is None else \
        ("unchanged" if before == name else f"moved from {before}")
    typer.echo(f"vehicle {vehicle_id} → profile {name} ({change}) in {path}; "
               f"{len(result)} vehicle(s) registered")
    return result
