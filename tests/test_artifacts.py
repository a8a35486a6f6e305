"""The shipped data artifacts are valid trips made by the twin."""

import json

import numpy as np
import pandas as pd

from evpm.profiles import PROFILES, read_registry
from evpm.twin.cases import CASES


def test_simulated_trip_data_is_one_udds_zoe_trip(repo):
    table = pd.read_csv(repo / "data" / "simulated_trip_data.csv")
    assert len(table) == 1370 and not table.isna().any().any()
    assert (np.diff(table["time_s"]) > 0).all()
    assert table["voltage_V"].between(96 * 3.0, 96 * 4.2).all()


def test_twenty_validated_test_cases_cover_profiles_cycles_and_soh(repo):
    index = json.loads((repo / "test_cases" / "index.json").read_text())
    files = sorted((repo / "test_cases").glob("tripdata.*.csv"))
    assert len(index) == len(files) == len(CASES) == 20
    assert {row["profile"] for row in index} == set(PROFILES)
    assert len({row["cycle"] for row in index}) >= 6
    sohs = [row["true_soh"] for row in index]
    assert min(sohs) == 0.65 and max(sohs) == 1.0
    registry = read_registry(repo / "data" / "fleet_registry.csv")
    for row in index:
        table = pd.read_csv(repo / "test_cases" / row["file"])
        assert not table.isna().any().any() and (np.diff(table["time_s"]) > 0).all()
        assert len(table) == row["samples"]
        assert registry[row["vehicle_id"]] == row["profile"]
