"""`evpm api` (serve the model API) and `evpm api token` (mint a bearer token)."""

from __future__ import annotations

from typing import Annotated

import typer

from evpm.cli.common import user_errors
from evpm.errors import EvpmError
from evpm.settings import Settings

app = typer.Typer(help="The model API: `evpm api` serves it; `evpm api token` mints a token.")


@app.callback(invoke_without_command=True)
@user_errors
def api(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port")] = Settings.api_port,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 2,
    host: Annotated[str, typer.Option(
        help="Address to bind (0.0.0.0: every interface, as the container does)")] = "127.0.0.1",
) -> None:
    """Serve the model API with gunicorn (settings from the environment)."""
    from evpm.api.serve import serve_api

    if ctx.invoked_subcommand is None:
        serve_api(host, port, workers)


@app.command("token")
@user_errors
def api_token(
    subject: Annotated[str, typer.Option(help="Who the token is for")] = "integrator",
    days: Annotated[float, typer.Option(help="Validity in days (at most 365)")] = 30.0,
) -> str:
    """Mint a bearer token signed with EVPM_JWT_SECRET."""
    from evpm.api.auth import mint_token

    settings = Settings.from_env()
    if not settings.jwt_secret:
        raise EvpmError("EVPM_JWT_SECRET is not set: tokens are signed with it")
    token = mint_token(settings.jwt_secret, subject, days)
    typer.echo(token)
    return token
