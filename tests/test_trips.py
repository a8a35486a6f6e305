"""Reading and validating trip CSVs: every rejection is named, harmless variants are accepted."""

import pytest

from evpm.health import ASSUMED, GIVEN, REGISTERED
from evpm.profiles import DEFAULT_PROFILE, get_profile
from evpm.trips import (
    InsufficientDataError,
    TripError,
    load_trip,
    read_trip,
    read_trip_table,
    trip_identity,
    vehicle_id_from_name,
)

ZOE = get_profile("renault-zoe-ze50")
LAB = get_profile("lab-18650-2ah")


def csv_text(rows: int = 120, *, step: float = 1.0, volts: float = 380.0, amps: float = -20.0,
             sep: str = ",", extra: str = "") -> str:
    lines = [sep.join(["time_s", "voltage_V", "current_A", "soc"])]
    for k in range(rows):
        lines.append(sep.join([f"{k * step:g}", f"{volts:g}", f"{amps if k else 0.0:g}",
                               f"{0.9 - 0.0001 * k:.4f}"]))
    return "\n".join(lines) + "\n" + extra


def test_good_trip_is_accepted_at_cell_level():
    trip = load_trip(csv_text().encode(), ZOE)
    assert trip.cell_voltage[0] == pytest.approx(380.0 / 96)
    assert trip.cell_current[1] == pytest.approx(-10.0)
    assert trip.soc is not None and trip.temperature_c is None


@pytest.mark.parametrize("variant", [
    lambda t: ("\ufeff" + t).encode("utf-8"),
    lambda t: t.replace(",", ";").encode(),
    lambda t: t.replace("\n", "\r\n").encode(),
])
def test_bom_semicolons_and_crlf_are_harmless(variant):
    trip = load_trip(variant(csv_text()), ZOE)
    assert len(trip.time_s) == 120


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty_file"),
        (b"time_s,voltage_V,current_A\n", "no_rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "not_text"),
        (csv_text().replace("current_A", "amps").encode(), "missing_column"),
        (csv_text().replace("380,-20", "380,abc", 1).encode(), "non_numeric"),
        (csv_text().replace("380,-20", "380,inf", 1).encode(), "non_finite"),
        (csv_text().replace("\n5,", "\n4,").encode(), "time_not_increasing"),
        (csv_text(volts=3.7).encode(), "voltage_out_of_range"),
        (csv_text(amps=-9000.0).encode(), "current_out_of_range"),
        (csv_text().replace(",0.89", ",89", 1).encode(), "soc_out_of_range"),
        (b"time_s,voltage_V,current_A\n0,380,-10\n", "insufficient_data"),
        (csv_text(rows=30).encode(), "insufficient_data"),
        (csv_text(amps=0.0).encode(), "insufficient_data"),
    ],
)
def test_bad_trips_are_named(content, reason):
    with pytest.raises(TripError) as caught:
        load_trip(content, ZOE)
    assert caught.value.reason == reason
    assert caught.value.as_dict()["message"]


def test_nan_runs_reject_but_single_gaps_are_bridged():
    lines = csv_text().splitlines()
    one_gap = lines.copy()
    one_gap[10] = one_gap[10].replace("380", "")
    assert len(load_trip("\n".join(one_gap).encode(), ZOE).time_s) == 120
    run = lines.copy()
    for k in range(10, 14):
        run[k] = run[k].replace("380", "NaN")
    with pytest.raises(TripError) as caught:
        load_trip("\n".join(run).encode(), ZOE)
    assert caught.value.reason == "nan_run" and caught.value.column == "voltage_V"
    assert caught.value.row == 11


def test_insufficient_data_is_its_own_type():
    with pytest.raises(InsufficientDataError, match="insufficient data: trip lasts 29 s"):
        load_trip(csv_text(rows=30).encode(), ZOE)


@pytest.mark.parametrize(("name", "vehicle"), [
    ("tripdata.V001.csv", "V001"), ("tripdata.EV_2.0007.csv", "EV_2"),
    ("trip.csv", None), ("tripdata..csv", None), ("data.V1.csv", None)])
def test_vehicle_id_from_file_name(name, vehicle):
    assert vehicle_id_from_name(name) == vehicle


# --- whose trip it is: one rule (trip_identity) for the pipeline, `evpm features`, training ----

REGISTRY = {"LEAF1": "nissan-leaf-30"}


def with_column(text: str, *ids: str) -> bytes:
    """The trip with a vehicle_id column cycling through `ids`."""
    lines = text.splitlines()
    return ("\n".join([f"vehicle_id,{lines[0]}"] + [f"{ids[k % len(ids)]},{line}"
                                                   for k, line in enumerate(lines[1:])])
            + "\n").encode()


@pytest.mark.parametrize(("name", "raw", "vehicle", "profile"), [
    ("tripdata.LEAF1.csv", csv_text().encode(), "LEAF1", "nissan-leaf-30"),
    ("tripdata.ZZZ.csv", with_column(csv_text(), "LEAF1"), "LEAF1", "nissan-leaf-30"),
    ("anything.csv", with_column(csv_text(), "LEAF1"), "LEAF1", "nissan-leaf-30"),
    ("tripdata.NEW9.csv", csv_text().encode(), "NEW9", DEFAULT_PROFILE),
    ("tripdata.LEAF1.csv", with_column(csv_text(), " "), "LEAF1", "nissan-leaf-30"),
], ids=["file name", "column beats the name", "column only", "unknown vehicle: default",
        "blank column: the name"])
def test_the_vehicle_comes_from_the_column_else_the_name_and_its_profile_from_the_registry(
        name, raw, vehicle, profile):
    identity = trip_identity(read_trip_table(raw), name, REGISTRY)
    assert (identity.vehicle_id, identity.profile.name) == (vehicle, profile)
    trip = read_trip(raw, name=name, registry=REGISTRY)
    assert (trip.vehicle_id, trip.profile.name) == (vehicle, profile)


def test_an_explicit_profile_wins_and_needs_no_vehicle():
    identity = trip_identity(read_trip_table(csv_text().encode()), "tripdata.LEAF1.csv",
                             REGISTRY, profile="renault-zoe-ze50")
    assert (identity.vehicle_id, identity.profile.name) == ("LEAF1", "renault-zoe-ze50")
    nameless = trip_identity(read_trip_table(csv_text().encode()), None, profile=ZOE)
    assert nameless.vehicle_id is None and nameless.profile is ZOE


@pytest.mark.parametrize(("name", "raw", "reason"), [
    ("tripdata.A1.csv", with_column(csv_text(), "A1", "B2"), "several_vehicle_ids"),
    ("anything.csv", csv_text().encode(), "no_vehicle_id"),
    ("anything.csv", with_column(csv_text(), "../etc"), "invalid_vehicle_id"),
    ("tripdata.EV\x07X.csv", csv_text().encode(), "invalid_vehicle_id"),
])
def test_a_trip_of_no_one_or_of_several_vehicles_is_named(name, raw, reason):
    with pytest.raises(TripError) as caught:
        trip_identity(read_trip_table(raw), name, REGISTRY)
    assert caught.value.reason == reason


def test_several_vehicles_in_one_file_are_refused_with_a_known_profile_too():
    # Training and `evpm features --profile` read trips this way: the same rule as the pipeline.
    with pytest.raises(TripError) as caught:
        load_trip(with_column(csv_text(), "A1", "B2"), ZOE)
    assert caught.value.reason == "several_vehicle_ids" and caught.value.column == "vehicle_id"


@pytest.mark.parametrize(("name", "profile", "source", "chosen"), [
    ("tripdata.LEAF1.csv", None, REGISTERED, "nissan-leaf-30"),
    ("tripdata.NEW9.csv", None, ASSUMED, DEFAULT_PROFILE),
    ("tripdata.NEW9.csv", "chevrolet-bolt", GIVEN, "chevrolet-bolt"),
    ("tripdata.LEAF1.csv", "chevrolet-bolt", GIVEN, "chevrolet-bolt"),
    ("tripdata.LEAF1.csv", "nissan-leaf-30", REGISTERED, "nissan-leaf-30"),  # what it is anyway
], ids=["registry", "unknown vehicle", "named", "named over the registry", "named as registered"])
def test_the_profile_source_is_decided_with_the_profile(name, profile, source, chosen):
    identity = trip_identity(read_trip_table(csv_text().encode()), name, REGISTRY, profile)
    assert (identity.profile.name, identity.source) == (chosen, source)
    trip = read_trip(csv_text().encode(), name=name, registry=REGISTRY, profile=profile)
    assert (trip.profile.name, trip.profile_source) == (chosen, source)


def test_a_trip_built_elsewhere_has_a_given_profile():
    assert load_trip(csv_text().encode(), ZOE).profile_source == GIVEN


def test_a_pack_the_assumed_profile_cannot_read_says_the_profile_was_a_guess():
    lab_cell = csv_text(volts=3.7, amps=-1.0).encode()  # one 18650 cell, not 96 in series
    with pytest.raises(TripError) as caught:
        read_trip(lab_cell, name="tripdata.CELL1.csv", registry=REGISTRY)
    assert caught.value.reason == "voltage_out_of_range"
    assert "assumed" in str(caught.value) and "CELL1 is not in the fleet registry" in \
        str(caught.value)
    with pytest.raises(TripError) as named:  # a profile chosen by the caller: no such note
        read_trip(lab_cell, name="tripdata.CELL1.csv", profile=ZOE)
    assert "assumed" not in str(named.value)
