"""`evpm twin …`: the functions called directly, bad input through the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from evpm.cli import app
from evpm.cli.twin import twin_fleet, twin_trip, twin_validate

runner = CliRunner()


def test_twin_trip_writes_a_trip(tmp_path):
    path = twin_trip(out=tmp_path, vehicle="V9", cycle="hwfet", soh=0.8)
    assert path == tmp_path / "tripdata.V9.csv"
    table = pd.read_csv(path)
    assert len(table) == 766
    truth = json.loads((tmp_path / "tripdata.V9.truth.json").read_text())
    assert truth["true_soh"] == 0.8 and truth["noise"] is True


def test_a_direct_call_with_bad_input_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(typer.Exit) as caught:
        twin_trip(out=tmp_path, cycle="nedc")
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown cycle 'nedc'")


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
    rows = twin_fleet(out=tmp_path, vehicles=2, trips=2, workers=1)
    assert len(rows) == 4
    assert len(list(tmp_path.glob("tripdata.*.csv"))) == 4


def test_twin_validate_passes_every_check(capsys):
    assert twin_validate(as_json=True) is True
    report = json.loads(capsys.readouterr().out)
    assert all(check["ok"] for check in report["checks"])
    zoe_udds = next(r for r in report["rows"]
                    if r["profile"] == "renault-zoe-ze50" and r["cycle"] == "udds")
    assert zoe_udds["distance_km"] == pytest.approx(11.99, abs=0.05)
    assert zoe_udds["duration_s"] == 1369
