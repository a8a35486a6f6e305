"""The real server: `evpm api` under gunicorn, a real HTTP request, a real database."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from evpm.storage import Storage
from tests.api.helpers import REFERENCE_REQUEST
from tests.processes import free_port

SECRET = "k" * 40


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


@pytest.fixture
def server(tmp_path, repo):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
           "EVPM_JWT_SECRET": SECRET, "EVPM_MODELS_DIR": str(repo / "models"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "evpm.cli", "api", "--port", str(port),
                                "--workers", "2", "--host", "127.0.0.1"], env=env,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if call(port, "GET", "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"API did not start: {(tmp_path / 'server.log').read_text()}")
    yield port, env, tmp_path
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(30) == 0
    finally:
        process.kill()
        log.close()


def test_gunicorn_serves_predictions_with_auth_and_stores_them(server):
    port, env, tmp_path = server
    token = subprocess.run([sys.executable, "-m", "evpm.cli", "api", "token"], env=env,
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert call(port, "POST", "/predict", REFERENCE_REQUEST)[0] == 401
    statuses = [call(port, "POST", "/predict", dict(REFERENCE_REQUEST, vehicle_id=f"G{i}"),
                     token)[0] for i in range(20)]
    assert statuses == [200] * 20
    status, vehicles = call(port, "GET", "/vehicles", token=token)
    assert status == 200 and len(vehicles) == 20
    assert Storage(env["DATABASE_URL"]).count() == 20
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    # Both workers' counts are summed (multi-process metrics).
    assert 'evpm_api_requests_total{endpoint="predict",method="POST",status="200"} 20.0' in text


def test_port_in_use_is_a_clear_error(repo):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "EVPM_MODELS_DIR": str(repo / "models")}
        result = subprocess.run([sys.executable, "-m", "evpm.cli", "api", "--port", str(port),
                                 "--host", "127.0.0.1"], env=env, capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr


def test_token_without_secret_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "EVPM_JWT_SECRET"}
    result = subprocess.run([sys.executable, "-m", "evpm.cli", "api", "token"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "EVPM_JWT_SECRET is not set" in result.stderr


def test_workers_keep_the_garbage_collector_off_the_loaded_app():
    # In a fresh interpreter: the hook changes process-wide collector state.
    code = ("import gc; from evpm.api.gunicorn_conf import post_worker_init; "
            "post_worker_init(None); "
            "assert gc.get_freeze_count() > 1000 and gc.get_threshold()[0] == 50_000")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
