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
api_app = typer.Typer(help="The model API: `evpm api` serves it; `evpm api token` mints a token.")
app.add_typer(api_app, name="api")
db_app = typer.Typer(no_args_is_help=True, help="Database chores.")
app.add_typer(db_app, name="db")

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
    estimators: Annotated[int, typer.Option(help="Boosting rounds per model")] = 300,
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


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Threaded workers: an idle or slow client holds one of 8 threads, not a whole worker, and
# evpm.api.gunicorn_conf drops a client that sends nothing for a while.
THREADED_WORKERS = ("--worker-class", "gthread", "--threads", "8", "--keep-alive", "5")


def gunicorn_command(host: str, port: int, workers: int,
                     factory: str = "evpm.api.app:create_app()",
                     worker_args: tuple[str, ...] = THREADED_WORKERS) -> list[str]:
    """The gunicorn command line that serves the API (the benchmark serves its baseline so)."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), *worker_args,
            "--bind", f"{host}:{port}", "--timeout", "120", "--graceful-timeout", "20",
            "--log-level", "warning",
            # gunicorn's control socket has one default path per user: several servers on one
            # machine (tests, scaled replicas) would fight over it. Nothing here uses it.
            "--no-control-socket",
            "--config", "python:evpm.api.gunicorn_conf", factory]


@api_app.callback(invoke_without_command=True)
@user_errors
def api(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port")] = 5000,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 2,
    host: Annotated[str, typer.Option(
        help="Address to bind (0.0.0.0: every interface, as the container does)")] = "127.0.0.1",
) -> None:
    """Serve the model API with gunicorn (settings from the environment)."""
    if ctx.invoked_subcommand is None:
        serve_api(host, port, workers)


def serve_api(host: str, port: int, workers: int) -> None:
    """Check settings, models and the port, then replace this process with gunicorn."""
    import os
    import shutil
    import tempfile

    from evpm.settings import Settings

    settings = Settings.from_env()  # fails fast on a bad or missing secret
    settings.check_api_secret()
    _load_predictor(settings.models_dir)
    if not 1 <= workers <= 64:
        raise EvpmError(f"workers {workers} is outside 1..64")
    if not port_is_free(host, port):
        raise EvpmError(f"port {port} is already in use on {host}: stop what runs there or "
                        "choose another with --port")
    check_database(settings.database_url, wait_s=60.0)
    # Metrics from every worker are summed through files in this folder.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="evpm-metrics-")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from evpm.settings import redact_url

    if not settings.jwt_secret:
        typer.echo(OPEN_API_WARNING.format(host=host), err=True)
    auth = "on" if settings.jwt_secret else "OFF"
    typer.echo(f"model API on http://{host}:{port} ({workers} workers, database "
               f"{redact_url(settings.database_url)}, auth {auth})", err=True)
    command = gunicorn_command(host, port, workers)
    os.execv(command[0], command)


OPEN_API_WARNING = """
  ************************************************************************************
  WARNING: no EVPM_JWT_SECRET is set, so the API is OPEN: anyone who reaches
  {host} can store predictions and read every vehicle. Set EVPM_JWT_SECRET
  (openssl rand -hex 32) before binding anything but 127.0.0.1.
  ************************************************************************************
"""


def check_database(url: str, wait_s: float = 0.0) -> None:
    """Tables created and writes possible, else a one-line EvpmError saying why."""
    from evpm.settings import redact_url
    from evpm.storage import Storage

    storage = Storage(url)
    try:
        storage.init(wait_s=wait_s)
        problem = storage.write_problem()
    finally:
        storage.dispose()
    if problem:
        raise EvpmError(f"database {redact_url(url)} cannot be written: {problem}")


@api_app.command("token")
@user_errors
def api_token(
    subject: Annotated[str, typer.Option(help="Who the token is for")] = "integrator",
    days: Annotated[float, typer.Option(help="Validity in days (at most 365)")] = 30.0,
) -> str:
    """Mint a bearer token signed with EVPM_JWT_SECRET."""
    from evpm.api.auth import mint_token
    from evpm.settings import Settings

    settings = Settings.from_env()
    if not settings.jwt_secret:
        raise EvpmError("EVPM_JWT_SECRET is not set: tokens are signed with it")
    token = mint_token(settings.jwt_secret, subject, days)
    typer.echo(token)
    return token


@db_app.command("init")
@user_errors
def db_init(
    url: Annotated[str | None, typer.Option(help="Database URL (default: DATABASE_URL)")] = None,
) -> None:
    """Create the tables if they do not exist."""
    from evpm.settings import Settings, redact_url
    from evpm.storage import Storage

    target = url or Settings.from_env().database_url
    check_database(target)
    storage = Storage(target)
    try:
        count = storage.count()
    finally:
        storage.dispose()
    typer.echo(f"database ready: {redact_url(target)} ({count} predictions)")


@db_app.command("migrate")
@user_errors
def db_migrate(
    to: Annotated[str, typer.Option("--to", help="Target database URL (PostgreSQL)")],
    source: Annotated[str | None, typer.Option("--from", help="Source (default: DATABASE_URL)")
                      ] = None,
) -> dict:
    """Copy an SQLite database into PostgreSQL and verify the row counts."""
    from tqdm import tqdm

    from evpm.settings import Settings
    from evpm.storage import Storage, first_line, migrate

    source = source or Settings.from_env().database_url
    if source.startswith("sqlite"):
        path = Path(source.split("///", 1)[-1])
        if not path.is_file():
            raise EvpmError(f"source database {path} does not exist")
    total = Storage(source, read_only=True).count()
    with tqdm(total=total, unit="row", desc="migrate", file=sys.stderr) as bar:
        try:
            counts = migrate(source, to, progress=bar.update)
        except EvpmError:
            raise
        except Exception as exc:  # a connection or driver error: one line, not a traceback
            raise EvpmError(f"migration failed: {first_line(exc)}") from None
    for table, (rows_in, rows_out) in counts.items():
        typer.echo(f"{table}: {rows_in} rows → {rows_out} rows (verified)")
    return counts


@app.command("watch")
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
    batch: Annotated[int, typer.Option(help="Files per API request")] = 50,
    metrics_port: Annotated[int | None, typer.Option(
        help="Prometheus metrics port, 0 = off (EVPM_WATCH_METRICS_PORT)")] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Process what is waiting, then exit")] = False,
) -> dict:
    """Watch incoming/ for trip CSVs: features → API → archive/ (or failed/ with a reason)."""
    import dataclasses
    import logging

    from evpm import logs
    from evpm.api.auth import MAX_TOKEN_DAYS, mint_token
    from evpm.pipeline import ApiClient, Folders, Watcher, WatchOptions, install_signal_handlers
    from evpm.profiles import RegistryCache
    from evpm.settings import Settings

    settings = Settings.from_env()
    settings.check_api_secret()  # the watcher signs its token with the API's secret
    folders = Folders(incoming or settings.incoming_dir, processing or settings.processing_dir,
                      archive or settings.archive_dir, failed or settings.failed_dir)
    poll = settings.poll_seconds if interval is None else interval
    settle_s = settings.settle_seconds if settle is None else settle
    if not 0 < poll <= 3600 or not 0 <= settle_s <= 3600 or not 1 <= batch <= 1000:
        raise EvpmError("need 0 < --interval <= 3600, 0 <= --settle-seconds <= 3600 and "
                        "1 <= --batch <= 1000")
    # A token for the API when auth is on: the watcher shares the API's secret.
    token = mint_token(settings.jwt_secret, "evpm-watch", days=MAX_TOKEN_DAYS) \
        if settings.jwt_secret else None
    client = ApiClient(api_url or settings.api_url, token)
    logs.configure(logging.INFO)
    watcher = Watcher(folders, client, RegistryCache(settings.registry_path),
                      WatchOptions(poll, settle_s, batch, settings.max_trip_bytes))
    port = settings.watch_metrics_port if metrics_port is None else metrics_port
    if port:
        if not port_is_free("0.0.0.0", port):
            raise EvpmError(f"metrics port {port} is in use (another watcher?): choose another "
                            "with --metrics-port, or 0 for none")
        watcher.metrics.serve(port)
    install_signal_handlers(watcher)
    typer.echo(f"watching {folders.incoming} every {poll:g} s (settle {settle_s:g} s) → "
               f"{client.url}"
               + (f" (metrics on :{port})" if port else ""), err=True)
    summary = watcher.run(once=once)
    typer.echo(f"archived {summary.archived} (of which {summary.duplicates} already stored), "
               f"failed {summary.failed}", err=True)
    return dataclasses.asdict(summary)


DASHBOARD_APP = Path(__file__).resolve().parent / "dashboard" / "app.py"


def dashboard_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line of the dashboard."""
    return [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
            "--server.port", str(port), "--server.address", host, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


@app.command("dashboard")
@user_errors
def dashboard(
    port: Annotated[int, typer.Option(help="Port")] = 8501,
    host: Annotated[str, typer.Option(
        help="Address to bind (0.0.0.0: every interface, as the container does)")] = "127.0.0.1",
) -> None:
    """Serve the fleet dashboard (Streamlit) on DATABASE_URL, read-only."""
    import os

    from evpm.settings import Settings

    Settings.from_env()  # fails fast on bad settings
    if not port_is_free(host, port):
        raise EvpmError(f"port {port} is already in use on {host}: stop what runs there or "
                        "choose another with --port")
    command = dashboard_command(port, host)
    os.execv(command[0], command)


LOCAL_SECRET_FILE = Path("data/.local_jwt_secret")


def local_secret() -> str:
    """EVPM_JWT_SECRET, or a secret made once for local runs and kept in data/ (not in git)."""
    import os
    import secrets

    if os.environ.get("EVPM_JWT_SECRET"):
        return os.environ["EVPM_JWT_SECRET"]
    if LOCAL_SECRET_FILE.exists():
        return LOCAL_SECRET_FILE.read_text().strip()
    LOCAL_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    LOCAL_SECRET_FILE.write_text(secret + "\n")
    LOCAL_SECRET_FILE.chmod(0o600)
    return secret


def seed_demo(settings, out: Path = Path("data/demo")) -> int:
    """First run only: a small twin fleet, predicted and stored, so the views are not empty."""
    from evpm.features import extract_file
    from evpm.predictor import Predictor
    from evpm.profiles import get_profile
    from evpm.storage import Storage
    from evpm.twin.fleet import FleetSpec, simulate_fleet

    storage = Storage(settings.database_url)
    storage.init()
    if storage.count():
        return 0
    import datetime as dt

    days = 180.0  # the demo fleet's trips end today, so trends and staleness read naturally
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    rows = simulate_fleet(FleetSpec(vehicles=12, trips=8, days=days, seed=7, id_prefix="DEMO",
                                    start_date=start),
                          out / "trips", truth_path=out / "ground_truth.csv",
                          registry_path=out / "fleet_registry.csv", workers=2)
    predictor = Predictor.load(settings.models_dir)
    from evpm.api.schemas import ParsedBatch, ParsedRow, parse_timestamp
    from evpm.service import predict_and_store

    parsed = [ParsedRow(extract_file(out / "trips" / r["file"], get_profile(r["profile"])),
                        r["vehicle_id"], r["profile"], f"demo:{r['file']}", r["file"],
                        parse_timestamp(r["date"])) for r in rows]
    predict_and_store(ParsedBatch.from_rows(parsed), predictor, storage, {})
    storage.dispose()
    return len(parsed)


PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def _env_int(name: str, default: int) -> int:
    import os

    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise EvpmError(f"{name}={raw!r} is not a port number") from None


@app.command("up")
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
    import os
    import shutil

    from evpm.api.auth import mint_token
    from evpm.settings import Settings

    api_port = api_port or _env_int("EVPM_API_PORT", 5000)
    dashboard_port = dashboard_port or _env_int("EVPM_DASHBOARD_PORT", 8501)
    os.environ["EVPM_JWT_SECRET"] = local_secret()
    settings = Settings.from_env()
    ports = {"model API": api_port, "dashboard": dashboard_port,
             "watcher metrics": settings.watch_metrics_port}
    chosen = [port for port in ports.values() if port]
    if len(set(chosen)) != len(chosen):
        raise EvpmError("the model API, the dashboard and the watcher's metrics need three "
                        f"different ports, not {', '.join(map(str, chosen))}")
    for name, port in ports.items():
        if port and not port_is_free("0.0.0.0", port):
            raise EvpmError(f"port {port} ({name}) is already in use: stop what runs there, or "
                            "choose another port (--api-port, --dashboard-port, "
                            "EVPM_WATCH_METRICS_PORT)")
    honcho = Path(sys.executable).with_name("honcho")
    if not honcho.exists() and not shutil.which("honcho"):
        raise EvpmError("honcho is not installed: run `make run` (it installs everything)")
    _load_predictor(settings.models_dir)
    seeded = seed_demo(settings, demo) if seed else 0
    if seeded:
        typer.echo(f"seeded {seeded} demo predictions from the digital twin", err=True)
    token = mint_token(settings.jwt_secret, "local-user", days=30)
    typer.echo(f"""
  Dashboard   http://localhost:{dashboard_port}
  Model API   http://localhost:{api_port}   (contract: http://localhost:{api_port}/openapi.json)
  Token       {token}
  Try         curl -H "Authorization: Bearer <token>" http://localhost:{api_port}/vehicles
  Trips       drop trip CSVs into {settings.incoming_dir}/ (archived into {settings.archive_dir}/,
              rejected ones into {settings.failed_dir}/ with the reason)
  Stop        Ctrl-C
""", err=True)
    # The three services as one supervised group: honcho starts them from the Procfile,
    # prefixes their logs, and stops all of them when one exits or on Ctrl-C.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "EVPM_API_PORT": str(api_port), "EVPM_DASHBOARD_PORT": str(dashboard_port),
           "API_URL": f"http://127.0.0.1:{api_port}/predict", "PYTHONUNBUFFERED": "1"}
    command = [str(honcho if honcho.exists() else shutil.which("honcho")), "--procfile",
               str(PROCFILE), "--app-root", str(Path.cwd()), "--env", os.devnull, "start"]
    os.execve(command[0], command, env)


def main() -> None:
    """Entry point of the `evpm` console script."""
    app()


if __name__ == "__main__":
    main()
