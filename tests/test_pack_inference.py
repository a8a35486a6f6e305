"""What an unregistered vehicle's trip says about its own pack (evpm.pack_inference), and the
watcher's row for such a trip (evpm.trip_rows)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from evpm.health import ASSUMED, REGISTERED
from evpm.pack_inference import PackGuess, guess_pack, guess_trip
from evpm.profiles import DEFAULT_PROFILE, get_profile
from evpm.trip_rows import trip_row
from evpm.trips import read_trip
from tests.conftest import REPO

CASES = {case["vehicle_id"]: case for case in
         json.loads((REPO / "test_cases" / "index.json").read_text())}


def unregistered(vehicle: str):
    """A shipped test case read as an unregistered vehicle's trip (the default profile)."""
    trip = read_trip(REPO / "test_cases" / f"tripdata.{vehicle}.csv", registry={})
    assert trip.profile_source == ASSUMED and trip.profile.name == DEFAULT_PROFILE
    return trip


@pytest.mark.parametrize("vehicle", ["TC01", "TC03", "TC06", "TC08", "TC12", "TC16"])
def test_the_series_count_is_found_whatever_profile_read_the_trip(vehicle):
    true = get_profile(CASES[vehicle]["profile"]).series
    guess = guess_trip(unregistered(vehicle))
    # The chemistry's own count when the trip tells it, else one per chemistry family.
    counts = [guess.series] if guess.chemistry else list(guess.series_other.values())
    assert any(abs(count - true) <= 1 for count in counts)


@pytest.mark.parametrize(("vehicle", "family"), [
    ("TC03", "NMC-type"), ("TC06", "NMC-type"), ("TC08", "NMC-type"), ("TC12", "NMC-type"),
    ("TC16", "LFP")])
def test_a_wide_enough_trip_tells_the_chemistry(vehicle, family):
    assert guess_trip(unregistered(vehicle)).chemistry == family


@pytest.mark.parametrize("vehicle", ["TC01", "TC09", "TC13", "TC15"])
def test_a_short_hop_makes_no_chemistry_claim_and_gives_both_counts(vehicle):
    guess = guess_trip(unregistered(vehicle))
    assert guess.chemistry is None and set(guess.series_other) == {"NMC-type", "LFP"}
    assert " if NMC-type or " in guess.describe()


@pytest.mark.parametrize("vehicle", ["TC07", "TC08"])
def test_the_capacity_is_read_off_a_window_of_ten_percent(vehicle):
    case = CASES[vehicle]
    true_ah = get_profile(case["profile"]).pack_capacity_ah * case["true_soh"]
    guess = guess_trip(unregistered(vehicle))
    assert guess.capacity_ah == pytest.approx(true_ah, rel=0.05)
    assert guess_trip(unregistered("TC06")).capacity_ah is None  # 8 %: too little to tell


def test_without_soc_the_cell_window_gives_a_range():
    t = np.arange(0.0, 600.0)
    voltage = np.full_like(t, 380.0) - 20.0 * (t > 100)  # 360-380 V under load
    guess = guess_pack(t, voltage, np.where(t > 100, -50.0, 0.0), None)
    # 3.0-4.2 V per cell: at least 380 / 4.2 cells, at most 360 / 3.0.
    assert (guess.series_low, guess.series_high) == (91, 120) and guess.series is None
    assert guess.describe() == "91-120 cells in series"
    cell = guess_pack(t, np.full_like(t, 4.0) - 0.3 * (t > 100), -np.ones_like(t), None)
    assert cell.series == 1 and cell.describe() == "~1 cell in series"


def test_the_description_lists_what_is_known():
    assert PackGuess().describe() is None
    assert PackGuess(96, 96, 96, 120.4, "NMC-type").describe() == \
        "~96 cells in series, ~120 Ah, NMC-type"


def test_the_guess_is_cheap_enough_for_the_watcher():
    trip = unregistered("TC08")
    started = time.perf_counter()
    for _ in range(100):
        guess_trip(trip)
    assert (time.perf_counter() - started) / 100 < 0.002  # ~0.1 ms; the watcher's budget is 10 ms


def test_an_assumed_profile_is_sent_as_such_with_the_guess(repo):
    path = repo / "test_cases" / "tripdata.TC08.csv"
    row = trip_row(path, path.read_bytes(), {})
    assert "profile" not in row and row["assumed_profile"] == DEFAULT_PROFILE
    assert row["pack_guess"] == "~95 cells in series, ~53 Ah, NMC-type"
    registered = trip_row(path, path.read_bytes(), {"TC08": "nissan-leaf-30"})
    assert registered["profile"] == "nissan-leaf-30"
    assert "assumed_profile" not in registered and "pack_guess" not in registered
    assert read_trip(path, registry={"TC08": "nissan-leaf-30"}).profile_source == REGISTERED
    # The features are the default profile's, as before: only the profile's label moved.
    given = trip_row(path, path.read_bytes(), {}, profile=DEFAULT_PROFILE)
    assert given["profile"] == DEFAULT_PROFILE and "assumed_profile" not in given
    assert {k: v for k, v in row.items() if k not in ("assumed_profile", "pack_guess")} == \
        {k: v for k, v in given.items() if k != "profile"}
