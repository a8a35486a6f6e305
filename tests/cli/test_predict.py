"""`evpm predict FILE...`: offline scores, one JSON line per file, the pipeline's numbers."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from evpm.cli import app
from evpm.offline import RESULT_KEYS, score_files
from evpm.profiles import read_registry
from evpm.trip_rows import trip_row
from tests.cli.helpers import one_line_error


@pytest.fixture
def registry(tmp_path):
    path = tmp_path / "fleet_registry.csv"
    path.write_text("vehicle_id,profile\nTC06,nissan-leaf-30\n")
    return path


@pytest.fixture
def trips(repo, tmp_path):
    """Two test cases in a folder of their own."""
    folder = tmp_path / "trips"
    folder.mkdir()
    for case in ("TC06", "TC08"):
        shutil.copy(repo / "test_cases" / f"tripdata.{case}.csv", folder)
    return folder


def run(*args: str):
    return CliRunner().invoke(app, ["predict", *args])


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_one_json_line_per_file_in_the_product_shape(trips, registry):
    given = [str(trips / "tripdata.TC06.csv"), str(trips / "tripdata.TC08.csv")]
    result = run(*given, "--registry", str(registry), "--json")
    assert result.exit_code == 0, result.output
    leaf, stranger = json_lines(result)
    assert list(leaf) == list(RESULT_KEYS) and [leaf["file"], stranger["file"]] == given
    assert (leaf["vehicle_id"], leaf["profile"], leaf["profile_source"], leaf["confidence"]) == \
        ("TC06", "nissan-leaf-30", "registered", "medium")
    # Every prediction carries its 90 % intervals around it.
    assert leaf["soh_low"] < leaf["predicted_soh"] < leaf["soh_high"]
    assert leaf["sop_low"] < leaf["predicted_sop"] < leaf["sop_high"]
    assert leaf["predicted_soh"] == pytest.approx(0.85, abs=0.05) and leaf["warnings"] == []
    # TC08 is not in this registry: the default profile, said to be assumed, never Priority.
    assert (stranger["profile"], stranger["profile_source"], stranger["confidence"]) == \
        ("renault-zoe-ze50", "assumed", "low")
    assert stranger["status"] == "Monitor"
    assert any(w.startswith("profile assumed (renault-zoe-ze50): vehicle TC08") and
               "its pack looks like ~95 cells in series, ~53 Ah" in w
               for w in stranger["warnings"])
    assert any(w.startswith("status capped at Monitor") for w in stranger["warnings"])


def test_a_bad_file_is_an_error_line_and_the_others_are_scored(trips, registry, tmp_path):
    empty = tmp_path / "tripdata.BAD1.csv"
    empty.write_bytes(b"")
    result = run(str(empty), str(tmp_path / "missing.csv"), str(trips / "tripdata.TC06.csv"),
                 "--registry", str(registry), "--json")
    assert result.exit_code == 0, result.output
    bad, missing, good = json_lines(result)
    assert bad == {"file": str(empty), "error": {"reason": "empty_file",
                                                 "message": "file is empty"}}
    assert missing["error"]["reason"] == "not_found" and set(missing) == {"file", "error"}
    assert good["status"] in ("Healthy", "Monitor", "Priority_Maintenance")


def test_nothing_scored_is_a_non_zero_exit_with_one_line(tmp_path):
    empty = tmp_path / "tripdata.BAD1.csv"
    empty.write_bytes(b"")
    result = run(str(empty), "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["reason"] == "empty_file"
    assert result.stderr.strip() == "error: no file could be scored (1 failed)"


def test_profile_overrides_the_registry_and_is_given(trips, registry):
    path = str(trips / "tripdata.TC08.csv")
    [row] = json_lines(run(path, "--profile", "nissan-leaf-30", "--registry", str(registry),
                           "--json"))
    assert (row["profile"], row["profile_source"], row["confidence"]) == \
        ("nissan-leaf-30", "given", "medium")
    assert row["status"] == "Priority_Maintenance"  # SoH ~0.64 over a 17 % window: trusted
    one_line_error(run(path, "--profile", "ford-model-t"), "ford-model-t")


def test_registry_option_overrides_the_settings(trips, registry, tmp_path, monkeypatch):
    other = tmp_path / "other.csv"
    other.write_text("vehicle_id,profile\nTC08,nissan-leaf-30\n")
    monkeypatch.setenv("EVPM_REGISTRY", str(registry))  # knows TC06 only
    path = str(trips / "tripdata.TC08.csv")
    [by_settings] = json_lines(run(path, "--json"))
    [by_option] = json_lines(run(path, "--registry", str(other), "--json"))
    assert by_settings["profile_source"] == "assumed"
    assert (by_option["profile"], by_option["profile_source"]) == ("nissan-leaf-30",
                                                                   "registered")
    one_line_error(run(path, "--registry", str(tmp_path / "nowhere.csv")), "nowhere.csv")


def test_the_same_trip_named_two_ways_scores_the_same(repo, tmp_path, registry):
    raw = (repo / "test_cases" / "tripdata.TC06.csv").read_bytes()
    lines = raw.decode().splitlines()
    column = tmp_path / "anything.csv"  # the vehicle named by a column instead of the name
    column.write_text("\n".join([f"vehicle_id,{lines[0]}"] +
                                [f"TC06,{line}" for line in lines[1:]]) + "\n")
    named = tmp_path / "tripdata.TC06.csv"
    named.write_bytes(raw)
    by_name, by_column = score_files([named, column], registry=read_registry(registry))
    assert by_name["vehicle_id"] == by_column["vehicle_id"] == "TC06"
    same = ("profile", "profile_source", "predicted_soh", "predicted_sop", "health_score",
            "status", "confidence", "warnings")
    assert {k: by_name[k] for k in same} == {k: by_column[k] for k in same}


def test_offline_scores_are_what_the_api_answers_for_the_pipelines_row(repo, client, settings):
    # The API test app's registry knows LEAF1 only: TC08 is unregistered on both sides.
    path = repo / "test_cases" / "tripdata.TC08.csv"
    [offline] = score_files([path], registry=read_registry(settings.registry_path),
                            settings=settings)
    answer = client.post("/predict", json=trip_row(path, path.read_bytes(), {})).get_json()
    for key in ("vehicle_id", "profile", "profile_source", "status", "confidence", "warnings"):
        assert offline[key] == answer[key], key
    for key in ("predicted_soh", "predicted_sop", "health_score"):
        assert offline[key] == pytest.approx(answer[key], rel=1e-6), key


def test_a_directory_stands_for_its_csv_files(trips, registry, tmp_path):
    (trips / "notes.txt").write_text("not a trip")
    (trips / ".tripdata.X.csv").write_text("a hidden file")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(str(trips), str(empty), "--registry", str(registry), "--json")
    rows = json_lines(result)
    assert [r["file"] for r in rows] == [str(trips / "tripdata.TC06.csv"),
                                         str(trips / "tripdata.TC08.csv"), str(empty)]
    assert rows[2]["error"]["reason"] == "no_trip_files"


def test_without_json_a_table_and_with_many_files_a_progress_bar(repo, tmp_path):
    folder = tmp_path / "cases"
    shutil.copytree(repo / "test_cases", folder)
    result = run(str(folder), "--registry", str(repo / "data" / "fleet_registry.csv"))
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.split("\n\nwarnings:")[0].splitlines()
    assert header.split()[:3] == ["file", "vehicle", "profile"] and len(rows) == 20
    assert "tripdata.TC08.csv  TC08" in result.stdout and "(registered)" in result.stdout
    assert "scoring" in result.stderr and "20/20" in result.stderr


def test_a_file_of_no_vehicle_needs_a_profile(repo, tmp_path):
    path = tmp_path / "anything.csv"
    shutil.copy(repo / "test_cases" / "tripdata.TC06.csv", path)
    [refused] = json_lines(run(str(path), "--json"))
    assert refused["error"]["reason"] == "no_vehicle_id"
    [row] = json_lines(run(str(path), "--profile", "nissan-leaf-30", "--json"))
    assert row["vehicle_id"] is None and row["profile_source"] == "given"
