"""The local run (`make run` → `evpm up`): the API, the watcher and the dashboard under honcho.

The Procfile honcho reads ships inside the package (`evpm/Procfile`), so `evpm up` works from
an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import importlib.resources
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from evpm.errors import EvpmError

LOCAL_SECRET_FILE = Path("data/.local_jwt_secret")
PROCFILE_RESOURCE = "Procfile"  # in the `evpm` package


def port_is_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: Mapping[str, int]) -> None:
    """EvpmError unless the services' ports (0: not used) differ and are all free."""
    chosen = [port for port in ports.values() if port]
    if len(set(chosen)) != len(chosen):
        raise EvpmError("the model API, the dashboard and the watcher's metrics need three "
                        f"different ports, not {', '.join(map(str, chosen))}")
    for name, port in ports.items():
        if port and not port_is_free("0.0.0.0", port):
            raise EvpmError(f"port {port} ({name}) is already in use: stop what runs there, or "
                            "choose another port (--api-port, --dashboard-port, "
                            "EVPM_WATCH_METRICS_PORT)")


def local_secret() -> str:
    """EVPM_JWT_SECRET, or a secret made once for local runs and kept in data/ (not in git)."""
    if os.environ.get("EVPM_JWT_SECRET"):
        return os.environ["EVPM_JWT_SECRET"]
    if LOCAL_SECRET_FILE.exists():
        return LOCAL_SECRET_FILE.read_text().strip()
    LOCAL_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    LOCAL_SECRET_FILE.write_text(secret + "\n")
    LOCAL_SECRET_FILE.chmod(0o600)
    return secret


def procfile() -> Path:
    """The package's Procfile as a file on disk, which is what honcho reads."""
    resource = importlib.resources.files("evpm") / PROCFILE_RESOURCE
    if isinstance(resource, Path):  # an installed or checked-out package: the file itself
        return resource
    # A package inside a zip: a copy on disk. It is not removed, since exec replaces this
    # process and honcho reads the file after that.
    fd, name = tempfile.mkstemp(prefix="evpm-", suffix=".Procfile")
    with os.fdopen(fd, "w") as handle:
        handle.write(resource.read_text())
    return Path(name)


def honcho_executable() -> str:
    """honcho beside this Python (the virtual environment), else on PATH; else EvpmError."""
    beside = Path(sys.executable).with_name("honcho")
    if beside.exists():
        return str(beside)
    found = shutil.which("honcho")
    if not found:
        raise EvpmError("honcho is not installed: run `make run` (it installs everything)")
    return found


def _say(text: str) -> None:
    # Flushed: exec replaces this process, and with it anything still buffered.
    print(text, file=sys.stderr, flush=True)


def run_local(api_port: int | None = None, dashboard_port: int | None = None,
              demo: Path = Path("data/demo"), seed: bool = True) -> None:
    """Check ports and models, seed the demo fleet on an empty database, then replace this
    process with honcho running the three services (Ctrl-C stops them all)."""
    from evpm.api.auth import mint_token
    from evpm.api.serve import load_predictor
    from evpm.demo import seed_demo
    from evpm.settings import Settings

    os.environ["EVPM_JWT_SECRET"] = local_secret()
    settings = Settings.from_env()
    api_port = api_port or settings.api_port
    dashboard_port = dashboard_port or settings.dashboard_port
    check_ports({"model API": api_port, "dashboard": dashboard_port,
                 "watcher metrics": settings.watch_metrics_port})
    honcho = honcho_executable()
    load_predictor(settings.models_dir)
    seeded = seed_demo(settings, demo) if seed else 0
    if seeded:
        _say(f"seeded {seeded} demo predictions from the digital twin")
    token = mint_token(settings.jwt_secret, "local-user", days=30)
    _say(f"""
  Dashboard   http://localhost:{dashboard_port}
  Model API   http://localhost:{api_port}   (contract: http://localhost:{api_port}/openapi.json)
  Token       {token}
  Try         curl -H "Authorization: Bearer <token>" http://localhost:{api_port}/vehicles
  Trips       drop trip CSVs into {settings.incoming_dir}/ (archived into {settings.archive_dir}/,
              rejected ones into {settings.failed_dir}/ with the reason)
  Stop        Ctrl-C
""")
    # The three services as one supervised group: honcho starts them from the Procfile,
    # prefixes their logs, and stops all of them when one exits or on Ctrl-C.
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "EVPM_API_PORT": str(api_port), "EVPM_DASHBOARD_PORT": str(dashboard_port),
           "API_URL": f"http://127.0.0.1:{api_port}/predict", "PYTHONUNBUFFERED": "1"}
    command = [honcho, "--procfile", str(procfile()), "--app-root", str(Path.cwd()),
               "--env", os.devnull, "start"]
    os.execve(command[0], command, env)
