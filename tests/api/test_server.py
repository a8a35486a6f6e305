"""The real server: `evpm api` under gunicorn, a real HTTP request, a real database."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evpm.storage import Storage
from tests.api.helpers import REFERENCE_REQUEST
from tests.processes import free_port

SECRET = "server-test-secret-0123456789abcdefghij"


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def start_api(tmp_path, repo, host_args=("--host", "127.0.0.1"), **changes):
    """`evpm api` as a real process; (process, port, env, log file) once /health answers."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
           "EVPM_JWT_SECRET": SECRET, "EVPM_MODELS_DIR": str(repo / "models"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), **changes}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "evpm.cli", "api", "--port",
                                    str(port), "--workers", "2", *host_args], env=env,
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
        pytest.fail(f"API did not start: {log_path.read_text()}")
    return process, port, env, log_path


def stop_api(process) -> None:
    """SIGTERM, and a clean exit within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(30) == 0
    finally:
        process.kill()


@pytest.fixture
def server(tmp_path, repo):
    process, port, env, _log = start_api(tmp_path, repo)
    yield port, env, tmp_path
    stop_api(process)


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


def test_idle_and_half_sent_requests_cannot_starve_the_api(server):
    """A handful of clients that connect and stall: /health still answers at once."""
    port, _env, _tmp = server
    stalled = []
    try:
        for index in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if index % 2:  # half of a request's headers, then silence
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            stalled.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        for _ in range(4):  # both workers, whichever gets the connection
            assert call(port, "GET", "/health")[0] == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_client_is_dropped(server):
    port, _env, _tmp = server
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            answer = sock.recv(100)
        except ConnectionResetError:
            answer = b""
        # Closed, or told off with an error status — not kept waiting for ever.
        assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer
        assert time.monotonic() - started < 25


def test_chunked_body_over_the_limit_is_413(tmp_path, repo):
    process, port, _env, _log = start_api(tmp_path, repo, EVPM_MAX_BODY_BYTES="20000")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps([REFERENCE_REQUEST] * 200).encode()  # about 80 kB, no length
        token = subprocess.run([sys.executable, "-m", "evpm.cli", "api", "token"],
                               env={**os.environ, "EVPM_JWT_SECRET": SECRET},
                               capture_output=True, text=True, check=True).stdout.strip()
        conn.request("POST", "/predict", iter([body[i:i + 4096]
                                               for i in range(0, len(body), 4096)]),
                     {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                     encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413, response.read()
        assert "exceeds the limit" in json.loads(response.read())["error"]
    finally:
        stop_api(process)


def test_open_api_warns_loudly_and_binds_loopback_by_default(tmp_path, repo):
    process, port, _env, log = start_api(tmp_path, repo, host_args=(), EVPM_JWT_SECRET="")
    try:
        text = log.read_text()
        assert "WARNING: no EVPM_JWT_SECRET is set, so the API is OPEN" in text
        assert f"http://127.0.0.1:{port}" in text
    finally:
        stop_api(process)


def test_database_password_is_never_printed(tmp_path, repo, postgres_url):
    from tests.conftest import _fresh_postgres

    _fresh_postgres(postgres_url).dispose()
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    process, port, _env, log = start_api(tmp_path, repo, DATABASE_URL=postgres_url)
    try:
        status, health = call(port, "GET", "/health")
        assert status == 200 and health["database"] == "ok"
    finally:
        stop_api(process)
    text = log.read_text()
    assert "postgresql://" in text and f":{password}@" not in text and ":***@" in text


def test_read_only_database_file_is_a_one_line_error(repo):
    """Root may write any file: where the tests run as root, drop that capability."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="evpm-ro-"))
    try:
        database = folder / "fleet.db"
        made = Storage(f"sqlite:///{database}")
        made.init()
        made.dispose()  # the last connection closing removes the WAL files
        database.chmod(0o444)
        folder.chmod(0o555)
        unprivileged = []
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv (util-linux)")
            unprivileged = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "EVPM_JWT_SECRET": SECRET,
               "EVPM_MODELS_DIR": str(repo / "models"), "HOME": str(folder)}
        result = subprocess.run([*unprivileged, sys.executable, "-m", "evpm.cli", "api",
                                 "--port", str(free_port())], env=env, capture_output=True,
                                text=True, timeout=120, cwd=folder)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "readonly database" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
