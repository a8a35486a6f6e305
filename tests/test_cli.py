"""The `evpm` command as a whole: its entry points and its one-line error contract. Each
command group has its tests in tests/cli/ (mirroring evpm/cli/)."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from evpm.cli import app, main, user_errors
from evpm.errors import EvpmError


def test_console_script_runs_as_a_real_process(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "evpm.cli", "twin", "trip", "--cycle", "x",
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: unknown cycle 'x'")
    assert bad.stdout == ""


def test_every_command_is_registered():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("features", "train", "validate-nasa", "watch", "dashboard", "up", "twin",
                 "api", "db"):
        assert f" {name} " in result.output, name


def test_the_console_script_entry_point_is_main():
    import tomllib

    from tests.processes import REPO

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["evpm"] == "evpm.cli:main" and callable(main)


def test_user_errors_is_one_line_and_exit_code_2(capsys):
    @user_errors
    def failing() -> None:
        raise EvpmError("something is wrong")

    with pytest.raises(typer.Exit) as caught:
        failing()
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == "error: something is wrong\n"
