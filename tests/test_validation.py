"""`evpm validate`: the real-data checks over every set found, on a small set made here and,
when present, on the shared sets."""

import json

import pandas as pd
import pytest

from evpm.twin.trip import TripSpec, simulate_trip
from tests.conftest import SHARED

DATASETS = SHARED / "datasets"
needs_shared = pytest.mark.skipif(not (DATASETS / "real-drive-cycles").is_dir(),
                                  reason="../shared/datasets/real-drive-cycles is not present")

CELLS = ("source,cell,chemistry,rated_capacity_ah,cell_v_min,cell_v_max,series,parallel,note\n"
         "acme-18650,A1,nmc,2.5,2.7,4.2,1,1,a made-up cell, for the test\n")


def _make_set(folder, sohs=(1.0, 0.9)):
    """A real-drive-cycles-shaped folder: twin lab discharges of a 2.5 Ah NMC cell."""
    folder.mkdir()
    (folder / "cells.csv").write_text(CELLS)
    frames, segments = [], []
    for n, soh in enumerate(sohs):
        result = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle="cc-2a", soh=soh,
                                        cell_ah=2.5, chemistry="nmc", cell_v_min=2.7,
                                        rest_after_s=600, seed=n))
        table = result.table.assign(segment=f"A1_cc_{n}")
        frames.append(table)
        loaded = table[table["current_A"] < -0.05]["time_s"]
        segments.append({"source": "acme-18650", "cell": "A1", "segment": f"A1_cc_{n}",
                         "file": "acme.parquet", "kind": "cc_1c", "ambient_C": 25,
                         "drive_start_s": 0.0, "drive_end_s": float(loaded.max()),
                         "label_soh": result.truth["discharge_capacity_ah"] / 2.5})
    pd.concat(frames).to_parquet(folder / "acme.parquet")
    pd.DataFrame(segments).to_csv(folder / "segments.csv", index=False)
    return folder


def test_a_drive_cycle_set_is_found_scored_and_summarised(tmp_path, predictor):
    from evpm.validation import find_sets, run, summarise

    folder = _make_set(tmp_path / "real-drive-cycles")
    assert find_sets(tmp_path) == {"real-drive-cycles": folder}
    frame = run(tmp_path, predictor)
    assert frame["skipped"].isna().all()
    assert (frame["variant"].value_counts()[["whole", "drive"]] == 2).all()  # one per segment
    # The loaded part cut into whole 20-minute trips (the two discharges last ~1 h each).
    segments = pd.read_csv(folder / "segments.csv")
    expected = ((segments["drive_end_s"] - segments["drive_start_s"]) // 1200).sum()
    windows = frame[frame["variant"] == "window"]
    assert len(windows) == expected >= 4 and windows["segment"].str.contains("@").all()
    summary = summarise(frame)
    (whole,) = [s for s in summary["sets"] if s["variant"] == "whole"]
    assert whole["count"] == 2 and whole["mae"] < 0.05
    assert {g["kind"] for g in summary["groups"]} == {"cc_1c"}


def test_the_cell_is_read_with_its_own_profile(tmp_path):
    from evpm.drive_cycles import cell_profiles

    folder = _make_set(tmp_path / "set")
    (profile,) = cell_profiles(folder).values()
    assert (profile.cell_capacity_ah, profile.chemistry, profile.cell_v_min) == (2.5, "nmc", 2.7)
    assert profile.name == "acme-18650"


def test_a_folder_without_a_set_is_a_one_line_error(tmp_path):
    from evpm.errors import EvpmError
    from evpm.validation import find_sets

    with pytest.raises(EvpmError, match="no data set found"):
        find_sets(tmp_path)


def test_cli_prints_json(tmp_path, repo):
    from typer.testing import CliRunner

    from evpm.cli import app

    _make_set(tmp_path / "set")
    result = CliRunner().invoke(app, ["validate", str(tmp_path), "--json",
                                      "--models", str(repo / "models")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert {s["variant"] for s in summary["sets"]} == {"whole", "drive", "window"}


def test_a_held_out_randomised_twin_is_scored_per_trip_and_per_vehicle(tmp_path, repo):
    from typer.testing import CliRunner

    from evpm.cli import app

    _make_set(tmp_path / "set")
    result = CliRunner().invoke(app, [
        "validate", str(tmp_path), "--json", "--models", str(repo / "models"),
        "--twin-vehicles", "3", "--twin-lab-cells", "2", "--twin-trips", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    twin = {s["variant"]: s for s in summary["sets"] if s["set"] == "randomised-twin"}
    assert twin["vehicle"]["count"] == 5  # one robust estimate per vehicle and cell
    assert 0 < twin["trip"]["count"] <= 15  # the trips over ≥ 10 % of SOC
    assert 0 <= twin["trip"]["coverage"] <= 1 and twin["trip"]["median_width"] > 0
    assert twin["trip"]["mae"] < 0.2


@needs_shared
def test_shared_sets_hold_what_the_model_report_says(repo, predictor):
    """Real cells, each registered as what it is: the floors docs/MODEL_REPORT.md reports
    (the full table, and the kinds that miss the issue's 0.05, are there)."""
    from evpm.validation import run, summarise

    frame = run(DATASETS, predictor)
    summary = summarise(frame)
    sets = {(s["set"], s["variant"]): s for s in summary["sets"]}
    assert sets[("nasa-pcoe-discharge", "whole")]["mae"] <= 0.008
    for group in summary["groups"]:
        if group["set"] == "dmegc-inr18650" and group["variant"] != "window" and \
                group["kind"] in ("rw", "ref", "cc_0.5c", "cc_2c", "ocv_c20"):
            assert group["mae"] <= 0.05, group
    for s in summary["sets"]:
        assert s["warning_rate"] <= 0.10, s  # a warning means something unusual
    # Whole logs and whole discharges; the windows that end under load are issue 14's, and
    # their figures are in the report.
    used = frame[frame["skipped"].isna() & frame["variant"].isin(["whole", "drive"])]
    warm_new = used[(used["ambient_c"] >= 0) & (used["label_soh"] >= 0.85)]
    assert not (warm_new["status"] == "Priority_Maintenance").any()
    # No new cell of the drive-cycle set is flagged at all (the issue's target: met by the
    # shipped models; not by every training of the recipe, docs/MODEL_REPORT.md).
    drive_cycles = warm_new[warm_new["set"] != "nasa-pcoe-discharge"]
    assert len(drive_cycles) and (drive_cycles["status"] == "Healthy").all()


@needs_shared
def test_every_kind_logged_whole_is_within_the_issue_target(predictor):
    """real-drive-cycles at >= 0 °C, each segment as the cycler logged it: MAE <= 0.05 per
    set and kind (the loaded part only does not meet it yet: docs/MODEL_REPORT.md)."""
    from evpm.validation import errors, run

    frame = run(DATASETS / "real-drive-cycles", predictor)
    used = frame[frame["skipped"].isna() & (frame["variant"] == "whole")
                 & (frame["ambient_c"] >= 0)]
    per_kind = errors(used).abs().groupby([used["set"], used["kind"]]).mean()
    assert len(per_kind) >= 14
    assert (per_kind <= 0.05).all(), per_kind[per_kind > 0.05]
