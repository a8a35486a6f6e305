"""`evpm dashboard`: the fleet dashboard (Streamlit), read-only on DATABASE_URL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors
from evpm.errors import EvpmError
from evpm.settings import Settings

# Inside the installed package (a file streamlit runs), not the source tree.
DASHBOARD_APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line of the dashboard."""
    return [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
            "--server.port", str(port), "--server.address", host, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


@user_errors
def dashboard(
    port: Annotated[int, typer.Option(help="Port")] = Settings.dashboard_port,
    host: Annotated[str, typer.Option(
        help="Address to bind (0.0.0.0: every interface, as the container does)")] = "127.0.0.1",
) -> None:
    """Serve the fleet dashboard (Streamlit) on DATABASE_URL, read-only."""
    import os

    from evpm.local import port_is_free

    Settings.from_env()  # fails fast on bad settings
    if not port_is_free(host, port):
        raise EvpmError(f"port {port} is already in use on {host}: stop what runs there or "
                        "choose another with --port")
    command = dashboard_command(port, host)
    os.execv(command[0], command)
