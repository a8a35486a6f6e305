"""Reading stored predictions tolerantly (evpm.dashboard.data) and showing strings safely
(evpm.dashboard.markup), without a page."""

from __future__ import annotations

import math
import uuid

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evpm.dashboard.charts import risk_quadrant
from evpm.dashboard.data import (
    BAD_SCORE,
    BAD_SOH,
    BAD_SOP,
    BAD_STATUS,
    BAD_TIME,
    COLUMNS,
    NO_VEHICLE,
    Details,
    Skipped,
    clean_features,
    clean_records,
    clean_warnings,
    read_history,
    read_recent_details,
    read_records,
)
from evpm.dashboard.fleet import (
    AlertRules,
    alerts,
    fleet_trend,
    kpis,
    scorecard_frame,
    vehicle_statuses,
    vehicle_table,
    week_before,
)
from evpm.dashboard.markup import message, plain


def raw(*rows: tuple, intervals: tuple = (None, None, None, None)) -> pd.DataFrame:
    """Rows of (vehicle_id, timestamp, soh, sop, score, status[, soh_low, soh_high, sop_low,
    sop_high]) as a driver returns them (without intervals: `intervals`, NULL by default)."""
    return pd.DataFrame.from_records(
        [(i + 1, *row[:6], "renault-zoe-ze50", "f.csv", "m", *(row[6:] or intervals))
         for i, row in enumerate(rows)], columns=COLUMNS)


def test_driver_values_no_api_would_store_are_left_out_by_reason():
    ok = "2026-11-27 12:00:00"
    frame, skipped = clean_records(raw(
        ("A", ok, 0.9, 9e4, 0.3, "Healthy"),
        (None, ok, 0.9, 9e4, 0.3, "Healthy"),
        ("A", None, 0.9, 9e4, 0.3, "Healthy"),
        ("A", "1999-12-31 23:59:59", 0.9, 9e4, 0.3, "Healthy"),
        ("A", "2101-01-01 00:00:00+00", 0.9, 9e4, 0.3, "Healthy"),
        ("A", "infinity", 0.9, 9e4, 0.3, "Healthy"),
        ("A", ok, None, 9e4, 0.3, "Healthy"),
        ("A", ok, math.nan, 9e4, 0.3, "Healthy"),
        ("A", ok, 2.5, 9e4, 0.3, "Healthy"),
        ("A", ok, 0.9, math.inf, 0.3, "Healthy"),
        ("A", ok, 0.9, 9e4, -math.inf, "Healthy"),
        ("A", ok, 0.9, 9e4, 0.3, None),
        ("A", ok, 0.9, 9e4, 0.3, "healthy "),  # usable: another spelling
        (b"B\xff", ok, "0.8", 8e4, 0.4, "MONITOR"),  # usable: bytes, a number as text
    ))
    assert skipped.reasons == {NO_VEHICLE: 1, BAD_TIME: 4, BAD_SOH: 3, BAD_SOP: 1,
                               BAD_SCORE: 1, BAD_STATUS: 1}
    assert skipped.ids == (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    assert frame["id"].tolist() == [1, 13, 14]
    assert frame["vehicle_id"].tolist() == ["A", "A", "B\ufffd"]
    assert frame["status"].tolist() == ["Healthy", "Healthy", "Monitor"]
    assert frame["predicted_soh"].tolist() == [0.9, 0.9, 0.8]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_an_unusable_interval_is_nan_and_its_row_stays():
    ok = ("A", "2026-11-27 12:00:00", 0.9, 9e4, 0.3, "Healthy")
    frame, skipped = clean_records(raw(
        (*ok, 0.85, 0.95, 8e4, 1e5),
        (*ok, None, None, None, None),  # stored before intervals
        (*ok, math.nan, 0.95, 8e4, math.inf),
        (*ok, 0.95, 0.85, 1e5, 8e4),  # out of order
        (*ok, -0.1, 0.95, -1.0, 1e5),  # below zero
        (*ok, 0.85, 9e99, 8e4, "1e5"),  # beyond any SoH; a number as text
        (*ok, "x", b"0.9", "nan", "inf"),
    ))
    assert skipped.total == 0 and len(frame) == 7
    pairs = list(zip(frame["soh_low"], frame["soh_high"], strict=True))
    assert pairs[0] == (0.85, 0.95)
    assert all(math.isnan(low) and math.isnan(high) for low, high in pairs[1:])
    sop = list(zip(frame["sop_low"], frame["sop_high"], strict=True))
    assert sop[0] == (8e4, 1e5) and sop[5] == (8e4, 1e5)
    assert all(math.isnan(low) and math.isnan(high) for low, high in sop[1:5] + sop[6:])


def test_warnings_are_a_list_of_strings_or_none():
    assert clean_warnings('["profile assumed (x)", 3, null, "b"]') == [
        "profile assumed (x)", "b"]
    for text in (None, "", "[not json", '{"a": 1}', '"text"', "null", b"\xff"):
        assert clean_warnings(text) == []
    rows = [(1, '{"dod": 30}', '["w"]'), (2, None, "{bad")]
    assert Details.from_rows(rows) == Details({1: {"dod": 30.0}, 2: {}}, {1: ["w"], 2: []})


# Anything a SQLite column can hand back (NULL, integer, real incl. ±inf, text, blob), plus
# strings that look almost right.
ANY_VALUE = st.one_of(
    st.none(), st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=30),
    st.binary(max_size=12), st.sampled_from(["Healthy", "monitor", "2026-11-27 12:00:00",
                                             "0001-01-01", "9999-12-31 23:59:59", "NaN",
                                             "inf", "1e999", " ", "[x](http://e)"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[ANY_VALUE] * (len(COLUMNS) - 1)), max_size=8))
def test_any_stored_values_give_usable_rows_or_a_reason_never_an_error(rows):
    raw = pd.DataFrame.from_records([(i + 1, *row) for i, row in enumerate(rows)],
                                    columns=COLUMNS)
    frame, skipped = clean_records(raw)
    assert len(frame) + skipped.total == len(rows)
    assert all(isinstance(v, str) and v.strip() for v in frame["vehicle_id"])
    assert frame["timestamp"].between(pd.Timestamp("2000-01-01", tz="UTC"),
                                      pd.Timestamp("2101-01-01", tz="UTC")).all()
    for name in ("predicted_soh", "predicted_sop", "health_score"):
        assert frame[name].map(math.isfinite).all()
    for low, high in (("soh_low", "soh_high"), ("sop_low", "sop_high")):  # both or neither
        assert (frame[low].isna() == frame[high].isna()).all()
        assert (frame[low].dropna() <= frame[high].dropna()).all()
    assert set(frame["status"]) <= {"Healthy", "Monitor", "Priority_Maintenance"}
    for name in ("profile", "source_file", "model_version"):
        assert all(v is None or isinstance(v, str) for v in frame[name])
    # And every figure of the page computes on them.
    table = vehicle_table(frame, {})
    kpis(table, vehicle_statuses(week_before(frame), {}))
    alerts(table, frame, AlertRules())
    if len(frame):  # the page shows its first-run text instead of the rest
        fleet_trend(frame)
        scorecard_frame(table)
        risk_quadrant(table).to_dict()


def test_the_note_counts_and_names_record_ids():
    assert Skipped().note() is None
    note = Skipped({BAD_TIME: 2, BAD_STATUS: 1}, (7, 8, 9)).note()
    assert note == ("3 stored predictions could not be shown: 2 timestamp outside 2000–2100, "
                    "1 unknown status (record id 7, 8, 9; the database is left as it is).")
    assert Skipped({BAD_TIME: 1}, (7,)).note().startswith("1 stored prediction could not")


def test_features_keep_only_finite_numbers():
    assert clean_features('{"soc_window": 0.3, "dod": "x", "a": null, "b": true, '
                          '"c": NaN, "d": [1]}') == {"soc_window": 0.3}
    for text in (None, "", "{not json", "[1, 2]", "null", "3", b"\xff"):
        assert clean_features(text) == {}


def test_plain_shows_markdown_as_text_and_masks_passwords():
    assert plain("*b*_[x](http://e)") == r"\*b\*\_\[x\]\(http\:\/\/e\)"
    assert plain(":red[x] $y$\n# h") == r"\:red\[x\] \$y\$ \# h"
    assert plain("postgresql://u:pw@h/db") == r"postgresql\:\/\/u\:\*\*\*\@h\/db"
    error = RuntimeError("no route to postgresql://u:pw@h/db\nsecond line")
    assert message(error) == "RuntimeError: no route to postgresql://u:***@h/db"
    assert len(message(RuntimeError("x" * 500))) == 200


@pytest.fixture
def pg_schema(postgres_url):
    """A Storage on a PostgreSQL schema of its own (other tests use the same database)."""
    import psycopg

    from evpm.storage import Storage

    schema = f"dash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    store = Storage(f"{postgres_url}?options=-csearch_path%3D{schema}")
    store.init()
    yield store
    store.dispose()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_postgresql_infinity_timestamps_and_nan_numbers(pg_schema):
    columns = ("vehicle_id, timestamp, predicted_soh, predicted_sop, health_score, status, "
               "prediction_id, model_version, features")
    rows = [
        "'A', '2026-11-27 12:00:00+00', 0.9, 9e4, 0.3, 'Healthy', 'p', 'm', '{\"dod\": 30}'",
        "'A', 'infinity', 0.9, 9e4, 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '-infinity', 0.9, 9e4, 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '0001-01-01 00:00:00+00 BC', 0.9, 9e4, 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '1500-01-01 00:00:00+00', 0.9, 9e4, 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '2026-11-27 12:00:00+00', 'NaN', 9e4, 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '2026-11-27 12:00:00+00', 0.9, 'Infinity', 0.3, 'Healthy', 'p', 'm', NULL",
        "'A', '2026-11-27 13:00:00+00', 0.8, 8e4, 0.4, 'Monitor', 'p', 'm', '{bad'",
    ]
    with pg_schema.engine.begin() as conn:
        for values in rows:
            conn.exec_driver_sql(
                f"INSERT INTO health_records ({columns}) VALUES ({values})")  # noqa: S608
    frame, skipped = read_records(pg_schema)
    assert skipped.reasons == {BAD_TIME: 4, BAD_SOH: 1, BAD_SOP: 1}
    assert frame["timestamp"].dt.hour.tolist() == [12, 13]
    assert sorted(read_recent_details(pg_schema, 10).features.values(), key=len) == [
        {}] * 7 + [{"dod": 30.0}]
    past = read_history(pg_schema, "A")
    assert past["status"].tolist() == ["Healthy", "Monitor"] and past["features"][0] == {
        "dod": 30.0}
    assert past["soh_low"].isna().all()  # inserted without intervals


def test_history_has_each_trips_interval(tmp_path):
    from tests.dashboard.test_fleet import record, stored

    storage = stored(tmp_path, [record("H", 3, 0.9, interval=(0.88, 0.92)), record("H", 1, 0.9)])
    past = read_history(storage, "H")
    assert (past["soh_low"][0], past["soh_high"][0]) == (0.88, 0.92)
    assert math.isnan(past["soh_low"][1]) and math.isnan(past["soh_high"][1])  # stored without
