"""`evpm up`: the API, the watcher and the dashboard locally, as one group (evpm.local)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors


@user_errors
def up(
    api_port: Annotated[int | None, typer.Option(help="API port (EVPM_API_PORT, 5000)")] = None,
    dashboard_port: Annotated[int | None, typer.Option(
        help="Dashboard port (EVPM_DASHBOARD_PORT, 8501)")] = None,
    demo: Annotated[Path, typer.Option(help="Where the first-run demo fleet's trips go",
                                       envvar="EVPM_DEMO_DIR")] = Path("data/demo"),
    seed: Annotated[bool, typer.Option("--seed-demo/--no-seed-demo",
                                       help="Seed a demo fleet when the database is empty")
                    ] = True,
) -> None:
    """Run the API, the incoming/ watcher and the dashboard locally, as one group (Ctrl-C stops).

    SQLite and local folders by default (settings from the environment); the first run seeds a
    small demo fleet from the digital twin so the dashboard is not empty.
    """
    from evpm.local import run_local

    run_local(api_port, dashboard_port, demo, seed)
