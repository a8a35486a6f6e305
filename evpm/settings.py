"""One typed settings object, read from the environment (with defaults for a local run)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where things are and how the services behave. Tests build their own."""

    database_url: str = "sqlite:///data/fleet_health.db"
    models_dir: Path = Path("models")
    registry_path: Path = Path("data/fleet_registry.csv")
    api_url: str = "http://localhost:5000/predict"
    jwt_secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from environment variables (PRODUCT.md names), defaults otherwise."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            database_url=env.get("DATABASE_URL", defaults.database_url),
            models_dir=Path(env.get("EVPM_MODELS_DIR", str(defaults.models_dir))),
            registry_path=Path(env.get("EVPM_REGISTRY", str(defaults.registry_path))),
            api_url=env.get("API_URL", defaults.api_url),
            jwt_secret=env.get("EVPM_JWT_SECRET") or None,
        )
