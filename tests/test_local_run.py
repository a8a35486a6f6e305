"""The README's first command, `make run`: all three services up with a populated dashboard,
a dropped trip predicted, Ctrl-C stops every process."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.processes import REPO, free_ports, wait_until

SECRET = "local-run-test-secret-" + "x" * 20


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_make_run_brings_up_api_watcher_and_dashboard_and_ctrl_c_stops_them(tmp_path):
    api_port, dashboard_port, metrics_port = free_ports(3)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fleet.db'}",
           "EVPM_INCOMING": str(tmp_path / "incoming"), "EVPM_ARCHIVE": str(tmp_path / "archive"),
           "EVPM_FAILED": str(tmp_path / "failed"),
           "EVPM_PROCESSING": str(tmp_path / "processing"),
           "EVPM_REGISTRY": str(tmp_path / "registry.csv"), "EVPM_DEMO_DIR": str(tmp_path / "demo"),
           "EVPM_API_PORT": str(api_port), "EVPM_DASHBOARD_PORT": str(dashboard_port),
           "EVPM_WATCH_METRICS_PORT": str(metrics_port), "EVPM_JWT_SECRET": SECRET,
           "EVPM_POLL_SECONDS": "0.5"}
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen(["make", "run"], cwd=REPO, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: get(api_port, "/health")[0] == 200, 240, 0.5), \
            (tmp_path / "run.log").read_text()
        assert wait_until(lambda: get(dashboard_port, "/_stcore/health")[0] == 200, 60, 0.5)
        assert wait_until(lambda: get(metrics_port, "/metrics")[0] == 200, 60, 0.5)
        output = (tmp_path / "run.log").read_text()
        token = next(line.split()[1] for line in output.splitlines()
                     if line.strip().startswith("Token"))
        assert f"http://localhost:{dashboard_port}" in output
        status, body = get(api_port, "/vehicles", token)
        assert status == 200 and len(json.loads(body)) >= 10  # the demo fleet
        # A twin trip dropped into incoming/ comes out of the API.
        subprocess.run([sys.executable, "-m", "evpm.cli", "twin", "trip", "--vehicle", "DROP1",
                        "--out", str(tmp_path / "staging")], check=True, capture_output=True)
        (tmp_path / "staging" / "tripdata.DROP1.csv").rename(
            tmp_path / "incoming" / "tripdata.DROP1.csv")
        assert wait_until(lambda: get(api_port, "/vehicles/DROP1/history", token)[0] == 200,
                          60, 0.5), (tmp_path / "run.log").read_text()
        processes = descendants(run.pid) | {run.pid}
        assert len(processes) >= 6  # make, honcho, 3 services, gunicorn workers, …
    finally:
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            run.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
    assert wait_until(lambda: not any(alive(p) for p in processes), 30), \
        [p for p in processes if alive(p)]
    assert get(api_port, "/health")[0] == 0 and get(dashboard_port, "/_stcore/health")[0] == 0
