"""`evpm features|train|validate-nasa`: the feature row printed is the one the pipeline posts."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from evpm.cli import app
from evpm.cli.model import features
from evpm.features import FEATURES
from evpm.profiles import read_registry
from evpm.trip_rows import trip_row


def with_vehicle_column(raw: bytes, vehicle: str) -> bytes:
    """The trip with a leading vehicle_id column."""
    lines = raw.decode().splitlines()
    return ("\n".join([f"vehicle_id,{lines[0]}"] + [f"{vehicle},{line}" for line in lines[1:]])
            + "\n").encode()


def feature_values(row: dict) -> dict:
    """The features of a row, a missing or NaN one as None (the command prints JSON)."""
    return {name: None if (v := row.get(name)) is None or (isinstance(v, float) and math.isnan(v))
            else v for name in FEATURES}


@pytest.mark.parametrize(("name", "column"), [
    ("tripdata.TC06.csv", None), ("tripdata.ZZZ.csv", "TC06"), ("anything.csv", "TC06"),
], ids=["vehicle in the file name", "vehicle_id column beats the name", "vehicle_id column only"])
def test_features_command_and_pipeline_row_agree_however_the_vehicle_is_named(
        repo, tmp_path, monkeypatch, name, column):
    registry_path = repo / "data" / "fleet_registry.csv"  # TC06 → nissan-leaf-30
    monkeypatch.setenv("EVPM_REGISTRY", str(registry_path))
    registry = read_registry(registry_path)
    original = repo / "test_cases" / "tripdata.TC06.csv"
    raw = original.read_bytes() if column is None else with_vehicle_column(
        original.read_bytes(), column)
    path = tmp_path / name
    path.write_bytes(raw)
    reference = trip_row(original, original.read_bytes(), registry)
    posted = trip_row(path, raw, registry)
    printed = features(file=path)
    assert feature_values(printed) == feature_values(posted) == feature_values(reference)
    assert printed["capacity_ratio"] == pytest.approx(0.857, abs=0.005)
    assert printed["profile"] == posted["profile"] == "nissan-leaf-30"
    assert printed["vehicle_id"] == posted["vehicle_id"] == "TC06"


def test_a_file_of_several_vehicles_is_refused_as_the_pipeline_refuses_it(repo, tmp_path):
    raw = (repo / "test_cases" / "tripdata.TC06.csv").read_bytes()
    lines = with_vehicle_column(raw, "TC06").decode().splitlines()
    lines[-1] = lines[-1].replace("TC06", "TC07", 1)
    path = tmp_path / "tripdata.TC06.csv"
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["features", str(path)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line == ("error: vehicle_id column holds 2 different vehicles; one file is one "
                    "vehicle's trip")


def test_features_prints_the_json_row(repo, monkeypatch, capsys):
    monkeypatch.setenv("EVPM_REGISTRY", str(repo / "data" / "fleet_registry.csv"))
    trip = repo / "test_cases" / "tripdata.TC06.csv"
    row = features(file=trip)
    printed = json.loads(capsys.readouterr().out)
    assert printed == row and list(printed)[:2] == ["vehicle_id", "profile"]
    assert row["profile"] == "nissan-leaf-30"  # from the fleet registry
    assert row["dod"] > 0 and row["capacity_ratio"] == pytest.approx(0.85, abs=0.02)
    assert row["idempotency_key"].startswith("sha256:TC06:")  # what the watcher would send
    assert features(file=trip, profile="renault-zoe-ze50")["profile"] == "renault-zoe-ze50"


def test_a_file_without_a_vehicle_needs_one_or_a_profile(repo, tmp_path):
    path = tmp_path / "anything.csv"
    path.write_bytes((repo / "test_cases" / "tripdata.TC06.csv").read_bytes())
    result = CliRunner().invoke(app, ["features", str(path)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: no vehicle id") and "--profile" in line
    row = features(file=path, profile="nissan-leaf-30")
    assert row["profile"] == "nissan-leaf-30" and "vehicle_id" not in row


@pytest.mark.parametrize(("content", "message"), [
    ("time_s,voltage_V\n0,1\n", "missing required column(s): current_A"),
    ("time_s,voltage_V,current_A\n0,380,0\n1,380,-5\n", "insufficient data"),
])
def test_features_bad_trip_is_one_line(tmp_path, content, message):
    path = tmp_path / "tripdata.X1.csv"
    path.write_text(content)
    result = CliRunner().invoke(app, ["features", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_validate_nasa_on_a_missing_folder_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["validate-nasa", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a folder" in result.output
