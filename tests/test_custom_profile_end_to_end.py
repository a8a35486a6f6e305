"""A pack the code has never heard of, end to end with real processes: `evpm profile add` and
`evpm fleet register` while `evpm api` and `evpm watch` run, a trip of that pack dropped into
incoming/, its prediction stored with the custom profile — no restart, no code change."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from evpm.cli.fleet import fleet_register
from evpm.cli.profile import profile_add
from evpm.profiles import get_profile
from evpm.storage import Storage
from tests.api.helpers import request
from tests.processes import ApiProcess, WatchProcess, files_in, wait_until
from tests.synthetic_trips import discharge_trip

# Clearly not the default profile (Renault Zoe: 96s2p of 78 Ah cells, 3.0-4.2 V, 110 kW).
BMW_I3 = dict(chemistry="nmc", cell_ah=60.0, series=96, parallel=1, cell_v_min=2.5,
              cell_v_max=4.2, rated_power_kw=125.0, label="BMW i3 (60 Ah)")


@pytest.fixture
def work(tmp_path, profiles_file) -> Path:
    for name in ("incoming", "processing", "archive", "failed"):
        (tmp_path / name).mkdir()
    (tmp_path / "fleet_registry.csv").write_text("vehicle_id,profile\n")
    return tmp_path


def call(port: int, path: str, body: dict | None = None) -> tuple[int, dict]:
    """GET (or POST `body` as JSON) on the local API: status and JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_a_custom_pack_flows_through_watcher_and_api_without_a_restart(work):
    registry = work / "fleet_registry.csv"
    api = ApiProcess(work, EVPM_REGISTRY=str(registry)).start()
    watch = WatchProcess(work, api.url).start()
    try:
        # Both services run before the profile and the vehicle exist.
        assert call(api.port, "/profiles/bmw-i3-60ah")[0] == 404
        profile_add("bmw-i3-60ah", **BMW_I3)
        fleet_register("I3A", "bmw-i3-60ah", registry=registry)
        profile = get_profile("bmw-i3-60ah")
        raw = discharge_trip(profile, c_rate=1.0, minutes=25)
        (work / ".tripdata.I3A.csv.tmp").write_bytes(raw)
        (work / ".tripdata.I3A.csv.tmp").rename(work / "incoming" / "tripdata.I3A.csv")
        assert wait_until(lambda: len(files_in(work / "archive")) == 1, 120), \
            (work / "watch.log").read_text() + str(files_in(work / "failed", ""))
        [record] = Storage(api.env["DATABASE_URL"]).history("I3A")
    finally:
        watch.kill()
        api.stop()
    assert record.profile == "bmw-i3-60ah" and record.source_file == "tripdata.I3A.csv"
    features = record.features
    # Read as 96 series of 60-Ah cells in one string, not as the Zoe's 96s2p of 78 Ah.
    assert features["rated_capacity_ah"] == 60.0
    assert features["c_rate_max"] == pytest.approx(1.0, rel=0.01)  # 60 A pack on 60 Ah cells
    assert features["avg_current"] == pytest.approx(-60.0, rel=0.01)  # cell level = pack level
    assert 3.4 < features["avg_voltage"] < 4.1  # pack voltage / 96
    assert features["r_dc_rated_ratio"] == pytest.approx(1.0, abs=0.15)  # new cells
    # SoP against the custom rating (125 kW), so a new pack scores as healthy.
    assert 0.7 * 125_000 < record.predicted_sop < 1.3 * 125_000
    assert not files_in(work / "failed", "")


@pytest.mark.slow
def test_a_profile_added_while_the_api_runs_is_used_without_restart(work):
    # One worker: each worker re-reads the file on its own next request, and which worker
    # a request reaches is the kernel's choice — with two, the broken-file check below could
    # reach one that never read the good file (its last good profiles are then older ones).
    api = ApiProcess(work, workers=1).start()
    try:
        row = request(vehicle_id="NIRO1", profile="kia-niro-64")
        status, body = call(api.port, "/predict", row)
        assert status == 422 and body["details"][0]["field"] == "profile"
        profile_add("kia-niro-64", chemistry="nmc", cell_ah=180.0, series=98, parallel=1,
                    cell_v_min=3.0, cell_v_max=4.2, label="Kia Niro EV 64 kWh")
        for _ in range(3):
            status, body = call(api.port, "/predict", row)
            assert status == 200 and body["profile"] == "kia-niro-64", body
            status, shown = call(api.port, "/profiles/kia-niro-64")
            assert status == 200 and shown["source"] == "user"
            assert shown["rated_power_source"] == "typical"
        listed = [p["name"] for p in call(api.port, "/profiles")[1]]
        assert listed[-1] == "kia-niro-64" and "renault-zoe-ze50" in listed
        document = call(api.port, "/openapi.json")[1]
        schema = document["components"]["schemas"]["PredictRequest"]["properties"]["profile"]
        assert "kia-niro-64" in schema["enum"]
        # A broken edit of the file is logged; the API keeps the last good profiles.
        (work / "profiles.json").write_text("{broken")
        status, body = call(api.port, "/predict", row)
        assert status == 200 and body["profile"] == "kia-niro-64"
        assert call(api.port, "/health")[0] == 200
    finally:
        api.stop()
    assert "profiles file" in (work / "api.log").read_text()
