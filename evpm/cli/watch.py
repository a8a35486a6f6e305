"""`evpm watch`: the incoming/ watcher (evpm.pipeline) with the settings and these options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from evpm.cli.common import user_errors
from evpm.errors import EvpmError


@user_errors
def watch(
    incoming: Annotated[Path | None, typer.Option(help="Folder to poll (EVPM_INCOMING)")] = None,
    archive: Annotated[Path | None, typer.Option(help="Done files (EVPM_ARCHIVE)")] = None,
    failed: Annotated[Path | None, typer.Option(help="Rejected files (EVPM_FAILED)")] = None,
    processing: Annotated[Path | None, typer.Option(
        help="Claimed files (EVPM_PROCESSING)")] = None,
    api_url: Annotated[str | None, typer.Option(help="POST /predict URL (API_URL)")] = None,
    interval: Annotated[float | None, typer.Option(
        help="Seconds between polls (EVPM_POLL_SECONDS, default 2)")] = None,
    settle: Annotated[float | None, typer.Option(
        "--settle-seconds", "--settle",
        help="A file untouched this many seconds is complete (EVPM_SETTLE_SECONDS, default "
             "0.5); raise it above the longest pause of a writer that appends in place")] = None,
    batch: Annotated[int | None, typer.Option(
        help="Files per API request (EVPM_WATCH_BATCH_FILES, default 50)")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Prometheus metrics port, 0 = off (EVPM_WATCH_METRICS_PORT)")] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Process what is waiting, then exit")] = False,
) -> dict:
    """Watch incoming/ for trip CSVs: features → API → archive/ (or failed/ with a reason)."""
    import logging

    from evpm import logs
    from evpm.api.auth import MAX_TOKEN_DAYS, mint_token
    from evpm.api_client import ApiClient
    from evpm.local import port_is_free
    from evpm.pipeline import Folders, Watcher, WatchOptions, install_signal_handlers
    from evpm.profiles import RegistryCache
    from evpm.settings import Settings

    settings = Settings.from_env()
    settings.check_api_secret()  # the watcher signs its token with the API's secret
    folders = Folders(incoming or settings.incoming_dir, processing or settings.processing_dir,
                      archive or settings.archive_dir, failed or settings.failed_dir)
    # An option given on the command line beats the setting from the environment.
    given = {"poll_s": interval, "settle_s": settle, "batch_files": batch}
    options = dataclasses.replace(WatchOptions.from_settings(settings),
                                  **{k: v for k, v in given.items() if v is not None})
    if not 0 < options.poll_s <= 3600 or not 0 <= options.settle_s <= 3600 \
            or not 1 <= options.batch_files <= 1000:
        raise EvpmError("need 0 < --interval <= 3600, 0 <= --settle-seconds <= 3600 and "
                        "1 <= --batch <= 1000")
    # A token for the API when auth is on: the watcher shares the API's secret.
    token = mint_token(settings.jwt_secret, "evpm-watch", days=MAX_TOKEN_DAYS) \
        if settings.jwt_secret else None
    client = ApiClient(api_url or settings.api_url, token)
    logs.configure(logging.INFO)
    watcher = Watcher(folders, client, RegistryCache(settings.registry_path), options)
    port = settings.watch_metrics_port if metrics_port is None else metrics_port
    if port:
        if not port_is_free("0.0.0.0", port):
            raise EvpmError(f"metrics port {port} is in use (another watcher?): choose another "
                            "with --metrics-port, or 0 for none")
        watcher.metrics.serve(port)
    install_signal_handlers(watcher)
    typer.echo(f"watching {folders.incoming} every {options.poll_s:g} s (settle "
               f"{options.settle_s:g} s) → {client.url}"
               + (f" (metrics on :{port})" if port else ""), err=True)
    summary = watcher.run(once=once)
    typer.echo(f"archived {summary.archived} (of which {summary.duplicates} already stored), "
               f"failed {summary.failed}", err=True)
    return dataclasses.asdict(summary)
