"""One typed settings object, read from the environment (defaults suit a local run)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from evpm.errors import EvpmError

MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT = 8  # `openssl rand -hex 32` has 16; a repeated character has 1
DEFAULT_PROFILES_PATH = "data/profiles.json"
PROFILES_ENV = "EVPM_PROFILES"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)\S*(?=@)")


def secret_problem(secret: str) -> str | None:
    """Why a token-signing secret is unsafe (too short, whitespace, too few distinct
    characters — a placeholder like `xxxx…`), or None."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return "is too short"
    if any(c.isspace() for c in secret):
        return "contains whitespace (a copy-and-paste slip?)"
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return f"uses fewer than {MIN_SECRET_DISTINCT} different characters"
    return None


def profiles_path_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The user profiles file (EVPM_PROFILES, default data/profiles.json), read alone: profile
    look-ups need it without the other settings' checks."""
    env = os.environ if environ is None else environ
    return Path(env.get(PROFILES_ENV) or DEFAULT_PROFILES_PATH)


def redact_url(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***` (safe to log or show)."""
    return _URL_PASSWORD.sub(r"\g<head>***", text)


@dataclass(frozen=True)
class Settings:
    """Where things are and how the services behave. Tests build their own."""

    database_url: str = "sqlite:///data/fleet_health.db"
    models_dir: Path = Path("models")
    registry_path: Path = Path("data/fleet_registry.csv")
    # User-defined vehicle / pack profiles (JSON, `evpm profile add`); re-read on change.
    profiles_path: Path = Path(DEFAULT_PROFILES_PATH)
    api_url: str = "http://localhost:5000/predict"
    jwt_secret: str | None = None  # auth on /predict and the read endpoints when set
    require_auth: bool = False  # the API refuses to start without a secret (containers)
    max_body_bytes: int = 32 * 1024 * 1024
    max_batch_rows: int = 10_000
    # TreeSHAP costs ~3 ms a row for the three-member models: 10,000 rows would hold both cores
    # for half a minute, so explanations are for smaller requests.
    max_explain_rows: int = 1_000
    priority_score: float = 0.8
    monitor_score: float = 0.5
    # The incoming/ watcher (feature-engineering service)
    incoming_dir: Path = Path("incoming")
    processing_dir: Path = Path("processing")
    archive_dir: Path = Path("archive")
    failed_dir: Path = Path("failed")
    poll_seconds: float = 2.0
    settle_seconds: float = 0.5  # a trip file untouched this long is taken as complete
    max_trip_bytes: int = 50 * 1024 * 1024
    watch_metrics_port: int = 9101
    watch_batch_files: int = 50  # files claimed and sent to the API per request
    # The local run (`evpm up`): where the API and the dashboard listen
    api_port: int = 5000
    dashboard_port: int = 8501
    # The dashboard
    refresh_seconds: float = 60.0
    alert_soh_drop: float = 0.05  # a vehicle's SoH falling more than this in 7 days
    alert_fleet_drop: float = 0.10  # the fleet's average SoH falling more than this in 7 days
    stale_days: float = 7.0  # no trip from a vehicle for this long
    dashboard_password: str | None = None  # asked before the page shows anything, when set
    # No page without a login (the container): a password or an OIDC login must be set up.
    dashboard_require_login: bool = False

    def check_api_secret(self) -> None:
        """For the services that use tokens: EvpmError if auth is required but has no secret."""
        if self.require_auth and not self.jwt_secret:
            raise EvpmError("EVPM_REQUIRE_AUTH is set but EVPM_JWT_SECRET is empty: set a secret "
                            f"of at least {MIN_SECRET_BYTES} characters")

    def __post_init__(self) -> None:
        if self.jwt_secret:
            problem = secret_problem(self.jwt_secret)
            if problem:
                raise EvpmError(f"EVPM_JWT_SECRET {problem}: use at least {MIN_SECRET_BYTES} "
                                "random characters (e.g. `openssl rand -hex 32`)")
        if not 0 < self.monitor_score <= self.priority_score:
            raise EvpmError("status thresholds must satisfy 0 < monitor <= priority")
        if not 5 <= self.refresh_seconds <= 86400:
            raise EvpmError("EVPM_REFRESH_SECONDS must be between 5 and 86400")
        if not 0 < self.poll_seconds <= 3600:
            raise EvpmError("EVPM_POLL_SECONDS must be between 0 and 3600")
        if not 0 <= self.settle_seconds <= 3600:
            raise EvpmError("EVPM_SETTLE_SECONDS must be between 0 and 3600")
        if not 1 <= self.watch_batch_files <= 1000:
            raise EvpmError("EVPM_WATCH_BATCH_FILES must be between 1 and 1000")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (names in .env.example), defaults otherwise."""
        env = os.environ if environ is None else environ
        d = cls()

        def number(name: str, default: float, kind=float):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                return kind(raw)
            except ValueError:
                raise EvpmError(f"{name}={raw!r} is not a number") from None

        def truthy(name: str) -> bool:
            return env.get(name, "").strip().lower() in ("1", "true", "yes")

        return cls(
            database_url=env.get("DATABASE_URL") or d.database_url,
            models_dir=Path(env.get("EVPM_MODELS_DIR") or d.models_dir),
            registry_path=Path(env.get("EVPM_REGISTRY") or d.registry_path),
            profiles_path=profiles_path_from_env(env),
            api_url=env.get("API_URL") or d.api_url,
            jwt_secret=env.get("EVPM_JWT_SECRET") or None,
            require_auth=truthy("EVPM_REQUIRE_AUTH"),
            max_body_bytes=number("EVPM_MAX_BODY_BYTES", d.max_body_bytes, int),
            max_batch_rows=number("EVPM_MAX_BATCH_ROWS", d.max_batch_rows, int),
            max_explain_rows=number("EVPM_MAX_EXPLAIN_ROWS", d.max_explain_rows, int),
            priority_score=number("EVPM_PRIORITY_SCORE", d.priority_score),
            monitor_score=number("EVPM_MONITOR_SCORE", d.monitor_score),
            incoming_dir=Path(env.get("EVPM_INCOMING") or d.incoming_dir),
            processing_dir=Path(env.get("EVPM_PROCESSING") or d.processing_dir),
            archive_dir=Path(env.get("EVPM_ARCHIVE") or d.archive_dir),
            failed_dir=Path(env.get("EVPM_FAILED") or d.failed_dir),
            poll_seconds=number("EVPM_POLL_SECONDS", d.poll_seconds),
            settle_seconds=number("EVPM_SETTLE_SECONDS", d.settle_seconds),
            max_trip_bytes=number("EVPM_MAX_TRIP_BYTES", d.max_trip_bytes, int),
            watch_metrics_port=number("EVPM_WATCH_METRICS_PORT", d.watch_metrics_port, int),
            watch_batch_files=number("EVPM_WATCH_BATCH_FILES", d.watch_batch_files, int),
            api_port=number("EVPM_API_PORT", d.api_port, int),
            dashboard_port=number("EVPM_DASHBOARD_PORT", d.dashboard_port, int),
            refresh_seconds=number("EVPM_REFRESH_SECONDS", d.refresh_seconds),
            alert_soh_drop=number("EVPM_ALERT_SOH_DROP", d.alert_soh_drop),
            alert_fleet_drop=number("EVPM_ALERT_FLEET_DROP", d.alert_fleet_drop),
            stale_days=number("EVPM_STALE_DAYS", d.stale_days),
            dashboard_password=env.get("EVPM_DASHBOARD_PASSWORD") or None,
            # The API's switch counts too: a deployment that requires tokens wants a login.
            dashboard_require_login=truthy("EVPM_DASHBOARD_REQUIRE_AUTH")
            or truthy("EVPM_REQUIRE_AUTH"),
        )
