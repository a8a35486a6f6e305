"""Fleet simulation: files, ground truth, registry, aging over time, reproducibility."""

import pandas as pd
import pytest

from evpm.errors import InvalidValueError
from evpm.profiles import read_registry
from evpm.twin.fleet import TRUTH_COLUMNS, FleetSpec, simulate_fleet

SMALL = dict(vehicles=5, trips=3, days=400.0, seed=11,
             profiles=("renault-zoe-ze50", "nissan-leaf-30", "chevrolet-bolt",
                       "tesla-model3-rwd", "lab-18650-2ah"))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    ticks = []
    rows = simulate_fleet(FleetSpec(**SMALL), out, workers=2, progress=ticks.append)
    return out, rows, ticks


def test_fleet_writes_every_trip_truth_and_registry(fleet):
    out, rows, ticks = fleet
    assert len(rows) == 15 and len(ticks) == 5
    truth = pd.read_csv(out / "ground_truth.csv")
    assert list(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == 15
    for name in truth["file"]:
        assert (out / name).exists() and name.startswith("tripdata.EV")
    registry = read_registry(out / "fleet_registry.csv")
    assert set(registry) == set(truth["vehicle_id"])
    assert set(registry.values()) == set(SMALL["profiles"])
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_each_vehicle_ages_over_its_trips(fleet):
    _, rows, _ = fleet
    truth = pd.DataFrame(rows)
    for _, trips in truth.groupby("vehicle_id"):
        assert trips["date"].is_monotonic_increasing
        assert trips["true_soh"].is_monotonic_decreasing
        assert trips["resistance_factor"].is_monotonic_increasing
        assert trips["true_sop_w"].is_monotonic_decreasing
    assert truth["true_soh"].between(0.3, 1.05).all()


def test_fleet_is_reproducible_across_worker_counts(fleet, tmp_path):
    out, rows, _ = fleet
    again = simulate_fleet(FleetSpec(**SMALL), tmp_path, workers=1)
    assert again == rows
    first = sorted(out.glob("tripdata.*.csv"))[0].name
    assert (tmp_path / first).read_bytes() == (out / first).read_bytes()


@pytest.mark.parametrize("kwargs", [{"vehicles": 0}, {"trips": 0}, {"days": -5.0},
                                    {"max_initial_age_years": -1.0}])
def test_bad_fleet_settings_are_rejected(kwargs):
    with pytest.raises(InvalidValueError):
        FleetSpec(**kwargs)


def test_a_fleet_adds_its_vehicles_to_an_existing_registry(tmp_path):
    registry = tmp_path / "fleet_registry.csv"
    registry.write_text("vehicle_id,profile\nTC01,lab-18650-2ah\n")
    simulate_fleet(FleetSpec(vehicles=1, trips=1, days=10.0, seed=3,
                             profiles=("nissan-leaf-30",)), tmp_path / "trips",
                   registry_path=registry, workers=1)
    assert read_registry(registry) == {"TC01": "lab-18650-2ah", "EV0001": "nissan-leaf-30"}
