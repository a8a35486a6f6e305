"""The local run's parts (evpm.local): the Procfile shipped in the package, the secret, the
port checks. The whole run, started and stopped: test_local_run.py."""

from __future__ import annotations

import importlib.resources
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evpm import local
from evpm.errors import EvpmError
from tests.processes import REPO, free_ports


def test_the_procfile_is_found_inside_the_package():
    shipped = importlib.resources.files("evpm") / "Procfile"
    assert shipped.is_file()
    path = local.procfile()
    assert path == shipped and path.parent == Path(local.__file__).parent
    services = {line.split(":", 1)[0] for line in path.read_text().splitlines()
                if line and not line.startswith("#")}
    assert services == {"api", "watch", "dashboard"}
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]
    assert "Procfile" in package_data["evpm"]  # so a wheel carries it
    assert not (REPO / "Procfile").exists()  # one Procfile, the shipped one


def test_honcho_accepts_the_shipped_procfile(tmp_path):
    check = subprocess.run([local.honcho_executable(), "--procfile", str(local.procfile()),
                            "--app-root", str(tmp_path), "check"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    assert "api, watch, dashboard" in check.stderr


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel of a copy of the package (the checkout is left as it is)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "evpm", source / "evpm",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, check=False)
    if built.returncode and "installing build dependencies" in built.stderr.lower():
        pytest.skip("setuptools/wheel for the build could not be installed (no package index)")
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("evpm-*.whl")
    return wheel


@pytest.mark.slow
def test_evpm_up_finds_its_procfile_in_a_non_editable_install(tmp_path):
    wheel = _build_wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    # The installed copy first on the path; the dependencies from this environment.
    env = {**os.environ, "PYTHONPATH": str(target)}
    found = subprocess.run(
        [sys.executable, "-c", "import evpm, evpm.local; print(evpm.__file__); "
         "print(evpm.local.procfile())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert found == [str(target / "evpm" / "__init__.py"), str(target / "evpm" / "Procfile")]
    assert (target / "evpm" / "Procfile").read_text() == local.procfile().read_text()
    command = subprocess.run([sys.executable, "-m", "evpm.cli", "--help"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, check=False)
    assert command.returncode == 0 and "up" in command.stdout


def test_the_local_secret_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVPM_JWT_SECRET", raising=False)
    first = local.local_secret()
    assert len(first) == 64 and local.local_secret() == first
    kept = tmp_path / local.LOCAL_SECRET_FILE
    assert kept.read_text().strip() == first and kept.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("EVPM_JWT_SECRET", "from-the-environment-" + "x" * 20)
    assert local.local_secret() == "from-the-environment-" + "x" * 20


def test_ports_must_differ_and_be_free():
    api, dashboard = free_ports(2)
    local.check_ports({"model API": api, "dashboard": dashboard, "watcher metrics": 0})
    with pytest.raises(EvpmError, match="three different ports"):
        local.check_ports({"model API": api, "dashboard": api})
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", dashboard))
        busy.listen()
        assert not local.port_is_free("0.0.0.0", dashboard)
        with pytest.raises(EvpmError, match=rf"port {dashboard} \(dashboard\) is already in use"):
            local.check_ports({"model API": api, "dashboard": dashboard})
