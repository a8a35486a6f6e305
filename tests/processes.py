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


def free_ports(count: int) -> list[int]:
    """`count` different unused ports (all held open while choosing, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(condition, timeout: float = 60.0, poll: float = 0.1) -> bool:
    """Poll `condition()` until true or timeout; return whether it became true."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return False


def answers(port: int, path: str) -> bool:
    """True if GET `path` on localhost:`port` answers 200."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False


class ServerProcess:
    """An `evpm` server command in its own session, started and stopped by the tests."""

    name = "server"
    health_path = "/health"

    def __init__(self, folder: Path, port: int | None, env: dict[str, str]) -> None:
        self.folder, self.port = folder, port or free_port()
        self.env = {**os.environ, "EVPM_MODELS_DIR": str(REPO / "models"), **env}
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The command line (port and host included)."""
        raise NotImplementedError

    def start(self):
        """Start and wait until the health endpoint answers."""
        self.log = (self.folder / f"{self.name}.log").open("a")
        self.process = subprocess.Popen(self.command(), env=self.env, cwd=REPO, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_until(self.healthy, 90, 0.2):
            self.kill()
            raise RuntimeError(f"{self.name} did not start: "
                               f"{(self.folder / f'{self.name}.log').read_text()}")
        return self

    def healthy(self) -> bool:
        """True if the health endpoint answers 200."""
        return answers(self.port, self.health_path)

    def kill(self) -> None:
        """SIGKILL the whole server (a gunicorn master and its workers)."""
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


class ApiProcess(ServerProcess):
    """`evpm api` (gunicorn, 2 workers unless told) on a port and database of the test's own."""

    name = "api"

    def __init__(self, folder: Path, port: int | None = None, secret: str = "",
                 workers: int = 2, **settings: str) -> None:
        self.workers = workers
        super().__init__(folder, port, {
            "DATABASE_URL": f"sqlite:///{folder / 'fleet_health.db'}", "EVPM_JWT_SECRET": secret,
            "PROMETHEUS_MULTIPROC_DIR": str(folder / "api-metrics"), **settings})

    @property
    def url(self) -> str:
        """The /predict URL."""
        return f"http://127.0.0.1:{self.port}/predict"

    def command(self) -> list[str]:
        """`evpm api` on localhost."""
        return [sys.executable, "-m", "evpm.cli", "api", "--port", str(self.port), "--workers",
                str(self.workers), "--host", "127.0.0.1"]


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


class DashboardProcess(ServerProcess):
    """`evpm dashboard` (Streamlit) on a database of the caller's."""

    name = "dashboard"
    health_path = "/_stcore/health"

    def __init__(self, folder: Path, database_url: str, api_url: str | None = None) -> None:
        port, closed = free_ports(2)  # the page's port, and one where no API answers
        super().__init__(folder, port, {
            "DATABASE_URL": database_url,
            "API_URL": api_url or f"http://127.0.0.1:{closed}/predict"})

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        """`evpm dashboard` on localhost."""
        return [sys.executable, "-m", "evpm.cli", "dashboard", "--port", str(self.port),
                "--host", "127.0.0.1"]


CHROMIUM = "/usr/bin/chromium"


def chromium(playwright):
    """Debian's chromium driven by Playwright (its own browser download is not used)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
