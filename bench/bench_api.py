"""API load benchmark with wrk (Debian package `wrk`) against real gunicorn servers.

Run: .venv/bin/python bench/bench_api.py [--seconds 15] [--mixed-seconds 60]
Same run, same server settings (the gunicorn command `evpm api` runs, threaded workers): a bare
Flask JSON endpoint (bench/bare_app.py) is the baseline for /predict with its database write;
the same API under the former sync workers is measured beside it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import print_table  # noqa: E402 — run as a script: the repository on the path
from evpm.api.serve import THREADED_WORKERS, gunicorn_command  # noqa: E402

SYNC_WORKERS = ("--worker-class", "sync")  # the server before threaded workers (comparison)

WRK = ROOT / "bench" / "wrk"
REFERENCE = json.loads(re.search(r"wrk.body = '(.*)'", (WRK / "predict.lua").read_text())[1])


def free_port() -> int:
    """An unused TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn process serving an app factory on localhost."""

    def __init__(self, factory: str, workers: int, env: dict[str, str],
                 worker_args: tuple[str, ...] = THREADED_WORKERS) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 — open for the server's lifetime
        # The command `evpm api` runs, so the figures are the shipped server's.
        command = gunicorn_command("127.0.0.1", self.port, workers, factory, worker_args)
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{factory} did not start")

    def stop(self) -> str:
        """Stop the server; return its log."""
        self.process.terminate()
        self.process.wait(30)
        self.log.seek(0)
        return self.log.read()


def wrk(port: int, script: str, connections: int, seconds: int, env: dict | None = None,
        path: str = "/predict") -> dict:
    """Run wrk; return requests/s, latency percentiles (ms) and error counts."""
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-s", str(WRK / script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    five = re.search(r"5xx responses: (\d+)", out)
    four = re.search(r"4xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
            "5xx": int(five[1]) if five else None, "4xx": int(four[1]) if four else None,
            "requests": int(re.search(r"(\d+) requests in", out)[1]),
            "p50": ms("50"), "p99": ms("99"), "non2xx": int(non2xx[1]) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def post(port: int, body: bytes) -> tuple[int, bytes]:
    """One POST /predict."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def main() -> None:
    """Run every scenario and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--mixed-seconds", type=int, default=60)
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="evpm-bench-"))
    rows = []

    bare = Server("bench.bare_app:create_app()", 2, {})
    base = wrk(bare.port, "predict.lua", 8, args.seconds)
    bare.stop()

    def api(workers: int, name: str, worker_args: tuple[str, ...] = THREADED_WORKERS) -> Server:
        metrics = work / f"metrics-{name}"
        metrics.mkdir()
        return Server("evpm.api.app:create_app()", workers, {
            "DATABASE_URL": f"sqlite:///{work / name}.db", "EVPM_JWT_SECRET": "",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, worker_args)

    sync_server = api(2, "sync", SYNC_WORKERS)
    sync = wrk(sync_server.port, "predict.lua", 8, args.seconds)
    sync_server.stop()
    server = api(2, "throughput")
    full = wrk(server.port, "predict.lua", 8, args.seconds)
    rows.append(("bare Flask JSON endpoint (baseline), 2 workers, 8 connections",
                 f"{base['rps']:.0f} req/s", "–"))
    rows.append(("/predict with database write, 2 workers, 8 connections",
                 f"{full['rps']:.0f} req/s = {100 * full['rps'] / base['rps']:.0f} % of "
                 "baseline", "≥ 35 %"))
    rows.append(("/predict, sync workers (the server before threaded workers), same run",
                 f"{sync['rps']:.0f} req/s; threaded = {100 * full['rps'] / sync['rps']:.0f} % "
                 "of sync", "–"))
    # Fixed offered rate: 4 connections, each pausing so that together they offer 200 req/s
    # (wrk has no rate option): a 5-s probe measures the per-request time the pause adds to.
    probe = wrk(server.port, "predict.lua", 4, 5, {"WRK_DELAY_MS": "15"})
    service_ms = 4 * 1000 / probe["rps"] - 15
    pause = max(0.0, 4 * 1000 / 200 - service_ms)
    paced = wrk(server.port, "predict.lua", 4, 30, {"WRK_DELAY_MS": f"{pause:.1f}"})
    rows.append((f"/predict at ~200 req/s offered (achieved {paced['rps']:.0f} req/s, 30 s)",
                 f"p50 {paced['p50']:.2f} ms, p99 {paced['p99']:.2f} ms, "
                 f"{paced['non2xx'] + paced['socket_errors']} errors", "p99 ≤ 15 ms, 0 errors"))
    batch = json.dumps([dict(REFERENCE, vehicle_id=f"B{i % 500}") for i in range(10_000)]).encode()
    speeds = []
    for _ in range(args.batches):
        start = time.perf_counter()
        status, _ = post(server.port, batch)
        assert status == 200, status
        speeds.append(10_000 / (time.perf_counter() - start))
    rows.append((f"batch of 10,000 rows incl. database write, one client ({args.batches} "
                 "requests one after another)",
                 f"median {statistics.median(speeds):,.0f} predictions/s", "≥ 50,000/s"))
    # Two clients keep both workers busy: one worker's Python work overlaps the other's.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        start = time.perf_counter()
        statuses = list(pool.map(lambda _: post(server.port, batch)[0], range(2 * args.batches)))
        elapsed = time.perf_counter() - start
    assert set(statuses) == {200}, statuses
    rows.append((f"batch of 10,000 rows incl. database write, two clients ({2 * args.batches} "
                 "requests)", f"{2 * args.batches * 10_000 / elapsed:,.0f} predictions/s",
                 "≥ 50,000/s"))
    server.stop()

    mixed_server = api(4, "mixed")
    mixed = wrk(mixed_server.port, "mixed.lua", 8, args.mixed_seconds, path="/")
    log = mixed_server.stop()
    locked = log.count("database is locked")
    rows.append((f"mixed load {args.mixed_seconds} s, 4 workers, SQLite ({mixed['requests']} "
                 "requests: 60 % predict, 20 % /vehicles, 10 % history, 10 % 20-row batches)",
                 f"{mixed['rps']:.0f} req/s, {mixed['5xx']} 5xx, {mixed['4xx']} 4xx (history "
                 f"of a vehicle not yet seen), {mixed['socket_errors']} socket errors, "
                 f"{locked} 'database is locked'",
                 "0 locked, 0 5xx"))
    shutil.rmtree(work, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
