"""Real processes for tests: the API under gunicorn and the incoming/ watcher."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """An unused TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float = 60.0, poll: float = 0.1) -> bool:
    """Poll `condition()` until true or timeout; return whether it became true."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


class ApiProcess:
    """`evpm api` (gunicorn, 2 workers) on a port and database of the test's own."""

    def __init__(self, folder: Path, port: int | None = None, secret: str = "",
                 **settings: str) -> None:
        self.folder, self.port = folder, port or free_port()
        self.env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'fleet_health.db'}",
                    "EVPM_JWT_SECRET": secret, "EVPM_MODELS_DIR": str(REPO / "models"),
                    "PROMETHEUS_MULTIPROC_DIR": str(folder / "api-metrics"), **settings}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The /predict URL."""
        return f"http://127.0.0.1:{self.port}/predict"

    def start(self) -> ApiProcess:
        """Start and wait until /health answers."""
        self.log = (self.folder / "api.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evpm.cli", "api", "--port", str(self.port), "--workers", "2",
             "--host", "127.0.0.1"], env=self.env, cwd=REPO, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_until(self.healthy, 90, 0.2):
            self.kill()
            raise RuntimeError(f"API did not start: {(self.folder / 'api.log').read_text()}")
        return self

    def healthy(self) -> bool:
        """True if GET /health answers 200."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole server (master and workers)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM, wait."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class WatchProcess:
    """`evpm watch` on a work folder's incoming/, processing/, archive/ and failed/."""

    def __init__(self, work: Path, api_url: str, *extra: str, env: dict | None = None,
                 log_name: str = "watch.log") -> None:
        self.work, self.api_url, self.extra, self.log_name = work, api_url, extra, log_name
        self.env = {**os.environ, "EVPM_JWT_SECRET": "", "EVPM_REGISTRY":
                    str(work / "fleet_registry.csv"), **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> WatchProcess:
        """Start polling every 0.3 s (tests should not wait for the 2-s default)."""
        self.log = (self.work / self.log_name).open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evpm.cli", "watch", "--incoming", str(self.work / "incoming"),
             "--processing", str(self.work / "processing"), "--archive",
             str(self.work / "archive"), "--failed", str(self.work / "failed"), "--api-url",
             self.api_url, "--interval", "0.3", "--settle", "0.2", "--metrics-port", "0",
             *self.extra], env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def terminate(self) -> int:
        """SIGTERM; return the exit code."""
        self.process.terminate()
        return self.process.wait(60)


def files_in(folder: Path, suffix: str = ".csv") -> list[Path]:
    """Files below a folder with a suffix (any depth)."""
    return sorted(p for p in folder.rglob(f"*{suffix}") if p.is_file()) if folder.exists() else []


class DashboardProcess:
    """`evpm dashboard` (Streamlit) on a database of the caller's."""

    def __init__(self, folder: Path, database_url: str, api_url: str | None = None) -> None:
        self.folder, self.port = folder, free_port()
        self.env = {**os.environ, "DATABASE_URL": database_url,
                    "API_URL": api_url or f"http://127.0.0.1:{free_port()}/predict",
                    "EVPM_MODELS_DIR": str(REPO / "models")}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> DashboardProcess:
        """Start and wait until Streamlit's health endpoint answers."""
        self.log = (self.folder / "dashboard.log").open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evpm.cli", "dashboard", "--port", str(self.port), "--host",
             "127.0.0.1"], env=self.env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)

        def healthy() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/_stcore/health")
                return conn.getresponse().status == 200
            except OSError:
                return False

        if not wait_until(healthy, 90, 0.2):
            self.stop()
            raise RuntimeError(f"dashboard did not start: "
                               f"{(self.folder / 'dashboard.log').read_text()}")
        return self

    def stop(self) -> None:
        """SIGTERM, wait."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


CHROMIUM = "/usr/bin/chromium"


def chromium(playwright):
    """Debian's chromium driven by Playwright (its own browser download is not used)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
