"""Containers without a Docker engine: compose validated per profile, every Dockerfile linted,
each service's container command run here with the compose environment (paths and ports
mapped), only its own extra's packages importable, and its Dockerfile HEALTHCHECK passing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.processes import REPO, free_ports, wait_until

SERVICES = {"model-api": "model-api", "dashboard": "dashboard",
            "feature-engineering": "feature-eng", "digital-twin": "digital-twin"}
COMPOSE_ENV = {"EVPM_JWT_SECRET": "0123456789abcdef" * 3, "POSTGRES_PASSWORD": "p",
               "GRAFANA_ADMIN_PASSWORD": "g", "EVPM_DASHBOARD_PASSWORD": "d"}
# Distribution → import name of every optional dependency (the base is always importable).
IMPORT_NAMES = {"xgboost-cpu": "xgboost", "scikit-learn": "sklearn", "joblib": "joblib",
                "flask": "flask", "gunicorn": "gunicorn", "streamlit": "streamlit",
                "altair": "altair", "pyarrow": "pyarrow", "fastsim": "fastsim",
                "blast-lite": "blast", "honcho": "honcho"}


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if not found:
        message = "docker-compose not installed (apt-get install docker-compose)"
        if os.environ.get("EVPM_REQUIRE_COMPOSE") == "1":
            pytest.fail(message + "; EVPM_REQUIRE_COMPOSE=1 requires it")
        pytest.skip(message)
    return found


@pytest.mark.parametrize("profiles", [[], ["twin"], ["scale"], ["monitoring"],
                                      ["scale", "monitoring"]])
def test_compose_file_is_valid_for_every_profile(profiles):
    command = [compose_binary()] + [a for p in profiles for a in ("--profile", p)] + [
        "config", "-q"]
    result = subprocess.run(command, cwd=REPO, env={**os.environ, **COMPOSE_ENV},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_compose_fails_fast_without_the_secret():
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    result = subprocess.run([compose_binary(), "config", "-q"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "EVPM_JWT_SECRET" in result.stderr


def test_compose_requires_the_dashboard_password():
    env = {k: v for k, v in {**os.environ, **COMPOSE_ENV}.items()
           if k != "EVPM_DASHBOARD_PASSWORD"}
    result = subprocess.run([compose_binary(), "config", "-q"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "EVPM_DASHBOARD_PASSWORD" in result.stderr


def test_the_dashboard_container_requires_a_login():
    dashboard = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][
        "dashboard"]["environment"]
    assert dashboard["EVPM_DASHBOARD_PASSWORD"].startswith("${EVPM_DASHBOARD_PASSWORD:?")
    assert dashboard["EVPM_DASHBOARD_REQUIRE_AUTH"] == "true"
    # Without compose as well (docker run): no password, no data.
    assert dockerfile("dashboard")["env"]["EVPM_DASHBOARD_REQUIRE_AUTH"] == "true"
    # The dashboard never gets the API's token secret.
    assert "EVPM_JWT_SECRET" not in dashboard and "<<" not in dashboard


def test_make_env_writes_every_secret_and_a_dashboard_password(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "make-env.sh", tmp_path / "scripts")
    shutil.copy(REPO / ".env.example", tmp_path)
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "make-env.sh")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    for name in ("EVPM_JWT_SECRET", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert len(env[name]) == 64, name
    password = env["EVPM_DASHBOARD_PASSWORD"]
    assert len(password) >= 20 and re.fullmatch(r"[A-Za-z0-9_-]+", password)
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    # Says where the password is, without printing it.
    assert "EVPM_DASHBOARD_PASSWORD" in result.stderr and password not in result.stderr
    again = subprocess.run(["bash", str(tmp_path / "scripts" / "make-env.sh")],
                           capture_output=True, text=True)
    assert again.returncode != 0 and f"EVPM_DASHBOARD_PASSWORD={password}" in (
        tmp_path / ".env").read_text()  # never overwritten


def test_compose_lays_out_the_reference_services():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert compose["model-api"]["ports"] == ["${API_PUBLISH:-5000}:5000"]
    assert compose["dashboard"]["ports"] == ["${DASHBOARD_PORT:-8501}:8501"]
    for name in ("dashboard", "feature-engineering"):
        assert compose[name]["depends_on"]["model-api"]["condition"] == "service_healthy"
    assert "./models:/app/models:ro" in compose["model-api"]["volumes"]
    assert {s for s, c in compose.items() if "scale" in c.get("profiles", [])} == {
        "postgres", "nginx"}
    assert {s for s, c in compose.items() if "monitoring" in c.get("profiles", [])} == {
        "prometheus", "grafana"}
    assert "build" in compose["model-api"] and "replicas" not in compose["model-api"]


@pytest.mark.parametrize("folder", sorted(SERVICES.values()))
def test_dockerfile_passes_hadolint(folder):
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), str(REPO / folder / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (REPO / folder / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text and "HEALTHCHECK" in text
    assert re.search(r"^USER 10001", text, re.M)  # never root
    assert "xgboost" not in text or "xgboost-cpu" in text


# --- the container commands, outside a container ---------------------------------------------

def dockerfile(folder: str) -> dict:
    """CMD, HEALTHCHECK, ENV and the installed extra of a Dockerfile."""
    text = (REPO / folder / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in re.findall(r"^ENV (.+)$", text, re.M):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    health = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
    return {"cmd": json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.M)[1]),
            "health": json.loads(health[1]), "env": env,
            "extra": re.search(r'pip install .*"\.(\[(\w+)\])?"', text)[2]}


def allowed_imports(extra: str | None) -> set[str]:
    """Import names the extra brings in (nested evpm[...] extras resolved)."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names, todo = set(), [extra] if extra else []
    while todo:
        for requirement in extras[todo.pop()]:
            nested = re.fullmatch(r"evpm\[(.+)\]", requirement)
            if nested:
                todo += nested[1].split(",")
                continue
            name = re.split(r"[<>=\[ ]", requirement)[0]
            if name in IMPORT_NAMES:
                names.add(IMPORT_NAMES[name])
    return names


BLOCKER = '''
import importlib.abc, os, sys
_blocked = set(filter(None, os.environ.get("EVPM_BLOCK_MODULES", "").split(",")))
class _NotInThisContainer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this container)",
                                      name=name)
        return None
sys.meta_path.insert(0, _NotInThisContainer())
'''


def container_env(service: str, spec: dict, root: Path, ports: dict[int, int]) -> dict:
    """The service's environment as in a container, container paths mapped below `root`."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"][service]
    env = {**spec["env"]}
    for key, value in (compose.get("environment") or {}).items():
        if key == "<<":
            continue
        env[key] = re.sub(r"\$\{(\w+)(:[-?][^}]*)?\}",
                          lambda m: COMPOSE_ENV.get(m[1], (m[2] or ":-")[2:]
                                                    if (m[2] or "").startswith(":-") else ""),
                          str(value))
    if "<<" in (compose.get("environment") or {}):
        env["EVPM_JWT_SECRET"] = COMPOSE_ENV["EVPM_JWT_SECRET"]
    for key, value in env.items():
        value = value.replace("sqlite:////app/", f"sqlite:///{root}/app/")
        value = re.sub(r"(?<![\w/])/app/", f"{root}/app/", value)
        for inside, outside in ports.items():
            value = value.replace(f"model-api:{inside}", f"127.0.0.1:{outside}")
        env[key] = value
    blocked = set(IMPORT_NAMES.values()) - allowed_imports(spec["extra"])
    (root / "site").mkdir(exist_ok=True)
    (root / "site" / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, **env, "EVPM_BLOCK_MODULES": ",".join(sorted(blocked)),
            "PYTHONPATH": str(root / "site"), "HOME": str(root),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def map_args(args: list[str], root: Path, ports: dict[int, int]) -> list[str]:
    out = []
    for arg in args:
        arg = re.sub(r"(?<![\w/])/app/", f"{root}/app/", arg)
        for inside, outside in ports.items():
            arg = arg.replace(f":{inside}/", f":{outside}/")
            arg = outside.__str__() if arg == str(inside) else arg
        out.append(arg)
    return out


@pytest.fixture
def layout(tmp_path):
    """/app as the containers see it, with the models mounted and the fleet folders."""
    app = tmp_path / "app"
    for name in ("data", "incoming", "fleet/incoming", "fleet/data"):
        (app / name).mkdir(parents=True)
    (app / "models").symlink_to(REPO / "models")
    return tmp_path


def start(service: str, layout: Path, ports: dict[int, int], extra_env: dict | None = None):
    spec = dockerfile(SERVICES[service])
    env = {**container_env(service, spec, layout, ports), **(extra_env or {})}
    command = map_args(spec["cmd"], layout, ports)
    log = (layout / f"{service}.log").open("w")
    process = subprocess.Popen(command, cwd=layout / "app", env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    health = map_args(spec["health"], layout, ports)
    return process, health, env


def healthy(health: list[str], env: dict) -> bool:
    return subprocess.run(health, env=env, capture_output=True).returncode == 0


def stop(process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_model_api_dashboard_and_watcher_commands_run_with_the_compose_environment(layout):
    ports = dict(zip((5000, 8501, 9101), free_ports(3), strict=True))
    api, api_health, api_env = start("model-api", layout, ports)
    try:
        assert wait_until(lambda: healthy(api_health, api_env), 90, 0.5), \
            (layout / "model-api.log").read_text()
        assert api_env["EVPM_REQUIRE_AUTH"] == "true" and "xgboost" not in api_env[
            "EVPM_BLOCK_MODULES"] and "fastsim" in api_env["EVPM_BLOCK_MODULES"]
        watcher, watch_health, watch_env = start(
            "feature-engineering", layout, ports, {"EVPM_WATCH_METRICS_PORT": str(ports[9101])})
        dashboard, dash_health, dash_env = start("dashboard", layout, ports)
        try:
            assert wait_until(lambda: healthy(watch_health, watch_env), 60, 0.5), \
                (layout / "feature-engineering.log").read_text()
            assert wait_until(lambda: healthy(dash_health, dash_env), 90, 0.5), \
                (layout / "dashboard.log").read_text()
            assert {"xgboost", "flask", "streamlit"} <= set(
                watch_env["EVPM_BLOCK_MODULES"].split(","))
            # The watcher, with only the base packages, gets a trip predicted by the API.
            trip = layout / "app" / "fleet" / "incoming" / "tripdata.CTR1.csv"
            shutil.copy(REPO / "data" / "simulated_trip_data.csv", trip)
            archive = layout / "app" / "fleet" / "archive"
            assert wait_until(lambda: any(archive.rglob("tripdata.CTR1.csv")), 60), \
                (layout / "feature-engineering.log").read_text()
        finally:
            stop(watcher)
            stop(dashboard)
    finally:
        stop(api)


def test_digital_twin_command_writes_a_fleet_into_incoming(layout):
    spec = dockerfile("digital-twin")
    env = {**container_env("digital-twin", spec, layout, {}), "TWIN_VEHICLES": "2",
           "TWIN_TRIPS": "1", "TWIN_DAYS": "30"}
    assert "xgboost" in env["EVPM_BLOCK_MODULES"] and "fastsim" not in env["EVPM_BLOCK_MODULES"]
    result = subprocess.run(map_args(spec["cmd"], layout, {}), cwd=layout / "app", env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((layout / "app" / "incoming").glob("tripdata.*.csv"))) == 2
    assert (layout / "app" / "data" / "fleet_registry.csv").exists()
    assert healthy(map_args(spec["health"], layout, {}), env)


# --- monitoring configuration -----------------------------------------------------------------

def exported_metric_names(client) -> set[str]:
    from prometheus_client import generate_latest

    from evpm.pipeline import PipelineMetrics

    client.post("/predict", json={"vehicle_id": "x"})  # some series exist once used
    text = client.get("/metrics").get_data(as_text=True)
    text += generate_latest(PipelineMetrics().registry).decode()
    return set(re.findall(r"^# TYPE (\w+)", text, re.M)) | set(
        re.findall(r"^(\w+)[{ ]", text, re.M))


def test_alert_rules_and_grafana_panels_use_metrics_that_exist(client):
    names = exported_metric_names(client)
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    expressions = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert all("severity" in r["labels"] for g in rules["groups"] for r in g["rules"])
    grafana = json.loads((REPO / "deploy/grafana/dashboards/evpm.json").read_text())
    expressions += [t["expr"] for p in grafana["panels"] for t in p.get("targets", [])]
    used = {name for expr in expressions for name in re.findall(r"\bevpm_\w+", expr)}
    assert used, "no evpm metrics referenced"
    missing = {n for n in used if n not in names and re.sub(r"_(bucket|sum|count)$", "", n)
               not in names and f"{n}_total" not in names}
    assert not missing, missing
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    assert {j["job_name"] for j in config["scrape_configs"]} == {"model-api",
                                                                 "feature-engineering"}
