"""The `evpm` command: outputs, one-line errors, exit codes."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from evpm.cli import app

runner = CliRunner()


def test_twin_trip_writes_a_trip(tmp_path):
    result = runner.invoke(app, ["twin", "trip", "--vehicle", "V9", "--cycle", "hwfet",
                                 "--soh", "0.8", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "tripdata.V9.csv")
    assert len(table) == 766
    truth = json.loads((tmp_path / "tripdata.V9.truth.json").read_text())
    assert truth["true_soh"] == 0.8 and truth["noise"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "unknown profile 'nope'; valid choices: renault-zoe-ze50"),
        (["--cycle", "nedc"], "unknown cycle 'nedc'; valid choices: udds, hwfet, us06, wltc3"),
        (["--soh", "1.5"], "SoH 1.5 is outside (0, 1.2]"),
        (["--soh", "-0.2"], "SoH -0.2 is outside (0, 1.2]"),
        (["--repeats", "-1"], "repeats -1 is outside"),
        (["--vehicle", "a/b"], "vehicle id 'a/b' is not allowed"),
    ],
)
def test_twin_trip_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    result = runner.invoke(app, ["twin", "trip", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "f").write_text("")
    result = runner.invoke(app, ["twin", "trip", "--out", str(tmp_path / "f" / "x")])
    assert result.exit_code == 2 and "cannot create output folder" in result.output


@pytest.mark.parametrize("args", [["--days", "-3"], ["--vehicles", "0"],
                                  ["--profiles", "renault-zoe-ze50,bogus"]])
def test_twin_fleet_bad_input(tmp_path, args):
    result = runner.invoke(app, ["twin", "fleet", "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_twin_fleet_small_run(tmp_path):
    result = runner.invoke(app, ["twin", "fleet", "--vehicles", "2", "--trips", "2",
                                 "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("tripdata.*.csv"))) == 4


def test_twin_validate_passes_every_check():
    result = runner.invoke(app, ["twin", "validate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert all(check["ok"] for check in report["checks"])
    zoe_udds = next(r for r in report["rows"]
                    if r["profile"] == "renault-zoe-ze50" and r["cycle"] == "udds")
    assert zoe_udds["distance_km"] == pytest.approx(11.99, abs=0.05)
    assert zoe_udds["duration_s"] == 1369


def test_console_script_runs_as_a_real_process(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "evpm.cli", "twin", "trip", "--cycle", "x",
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: unknown cycle 'x'")
    assert bad.stdout == ""


def test_features_prints_the_json_row(repo):
    result = runner.invoke(app, ["features", str(repo / "test_cases" / "tripdata.TC06.csv")])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["profile"] == "nissan-leaf-30"  # from the fleet registry
    assert row["dod"] > 0 and row["capacity_ratio"] == pytest.approx(0.85, abs=0.02)
    forced = runner.invoke(app, ["features", str(repo / "test_cases" / "tripdata.TC06.csv"),
                                 "--profile", "renault-zoe-ze50"])
    assert json.loads(forced.output)["profile"] == "renault-zoe-ze50"


@pytest.mark.parametrize(("content", "message"), [
    ("time_s,voltage_V\n0,1\n", "missing required column(s): current_A"),
    ("time_s,voltage_V,current_A\n0,380,0\n1,380,-5\n", "insufficient data"),
])
def test_features_bad_trip_is_one_line(tmp_path, content, message):
    path = tmp_path / "tripdata.X1.csv"
    path.write_text(content)
    result = runner.invoke(app, ["features", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_validate_nasa_on_a_missing_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["validate-nasa", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_db_init_and_migrate(tmp_path, postgres_url):
    from evpm.storage import Storage, metadata

    source = f"sqlite:///{tmp_path / 'fleet.db'}"
    assert runner.invoke(app, ["db", "init", "--url", source]).exit_code == 0
    target = postgres_url.rsplit("/", 1)[0] + "/evpm_migrate_test"
    metadata.drop_all(Storage(target).engine)
    result = runner.invoke(app, ["db", "migrate", "--from", source, "--to", target])
    assert result.exit_code == 0, result.output
    assert "health_records: 0 rows → 0 rows (verified)" in result.output


def test_db_migrate_bad_input(tmp_path):
    result = runner.invoke(app, ["db", "migrate", "--from", f"sqlite:///{tmp_path}/none.db",
                                 "--to", "postgresql://x@localhost:1/y"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_up_names_a_port_conflict_before_starting_anything(tmp_path, monkeypatch):
    import socket

    from tests.processes import free_ports

    monkeypatch.setenv("EVPM_JWT_SECRET", "cli-test-secret-0123456789abcdefghij")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    api, dashboard, metrics = free_ports(3)
    monkeypatch.setenv("EVPM_WATCH_METRICS_PORT", str(metrics))
    same = runner.invoke(app, ["up", "--api-port", str(api), "--dashboard-port", str(api)])
    assert same.exit_code == 2 and "three different ports" in same.output
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", dashboard))
        busy.listen()
        taken = runner.invoke(app, ["up", "--api-port", str(api), "--dashboard-port",
                                    str(dashboard)])
    assert taken.exit_code == 2 and f"port {dashboard} (dashboard) is already in use" in \
        taken.output
    assert not (tmp_path / "db.sqlite").exists()  # nothing seeded, nothing started


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.output
    assert "Traceback" not in result.output


def test_db_init_takes_the_common_postgres_spelling(postgres_url):
    url = "postgres://" + postgres_url.split("://", 1)[1]
    result = runner.invoke(app, ["db", "init", "--url", url])
    assert result.exit_code == 0, result.output
    assert "database ready" in result.output
    assert ":evpm@" not in result.output and ":***@" in result.output  # password masked


@pytest.mark.parametrize(("url", "text"), [
    ("nonsense", "not supported"), ("mysql://u:secret@h/db", "not supported"),
    ("postgresql://evpm:secret@localhost:1/none", "not usable"),
])
def test_db_init_bad_url_is_one_line(url, text):
    result = runner.invoke(app, ["db", "init", "--url", url])
    _one_line_error(result, text)
    assert "secret" not in result.output


def test_db_init_on_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the tables you are looking for\n" * 200)
    _one_line_error(runner.invoke(app, ["db", "init", "--url", f"sqlite:///{path}"]),
                    "not a database")


def test_api_token_lifetime_is_capped(monkeypatch):
    monkeypatch.setenv("EVPM_JWT_SECRET", "cli-test-secret-0123456789abcdefghij")
    _one_line_error(runner.invoke(app, ["api", "token", "--days", "3650"]), "at most 365")
