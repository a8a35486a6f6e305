"""The `evpm` command: one module per command group, each command a plain function that tests
call directly (`from evpm.cli.db import db_init`). What is not a command lives elsewhere:
serving in `evpm.api.serve`, the local run in `evpm.local`, the demo fleet in `evpm.demo`."""

from __future__ import annotations

import typer

from evpm.cli import api, dashboard, db, fleet, model, predict, profile, twin, up, watch
from evpm.cli.common import user_errors

__all__ = ["app", "main", "user_errors"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="EV fleet battery health.")
app.add_typer(twin.app, name="twin")
app.add_typer(api.app, name="api")
app.add_typer(db.app, name="db")
app.add_typer(profile.app, name="profile")
app.add_typer(fleet.app, name="fleet")
app.command("features")(model.features)
app.command("predict")(predict.predict)
app.command("train")(model.train)
app.command("validate-nasa")(model.validate_nasa)
app.command("validate")(model.validate)
app.command("watch")(watch.watch)
app.command("dashboard")(dashboard.dashboard)
app.command("up")(up.up)


def main() -> None:
    """Entry point of the `evpm` console script."""
    app()
