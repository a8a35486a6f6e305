"""Reading stored predictions tolerantly (evpm.dashboard.data) and showing strings safely
(evpm.dashboard.markup), without a page."""

from __future__ import annotations

import math
import uuid

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evpm.dashboard.data import (
    BAD_SCORE,
    BAD_SOH,
    BAD_SOP,
    BAD_STATUS,
    BAD_TIME,
    COLUMNS,
    NO_VEHICLE,
    Skipped,
    clean_features,
    clean_records,
    read_history,
    read_recent_features,
    read_records,
)
from evpm.dashboard.fleet import AlertRules, alerts, fleet_trend, kpis, vehicle_table
from evpm.dashboard.markup import message, plain


def raw(*rows: tuple) -> pd.DataFrame:
    """Rows of (vehicle_id, timestamp, soh, sop, score, status) as a driver returns them."""
    return pd.DataFrame.from_records(
        [(i + 1, *row, "renault-zoe-ze50", "f.csv", "m") for i, row in enumerate(rows)],
        columns=COLUMNS)


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


# Anything a SQLite column can hand back (NULL, integer, real incl. ±inf, text, blob), plus
# strings that look almost right.
ANY_VALUE = st.one_of(
    st.none(), st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=30),
    st.binary(max_size=12), st.sampled_from(["Healthy", "monitor", "2026-11-27 12:00:00",
                                             "0001-01-01", "9999-12-31 23:59:59", "NaN",
                                             "inf", "1e999", " ", "[x](http://e)"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[ANY_VALUE] * 9), max_size=8))
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
    assert set(frame["status"]) <= {"Healthy", "Monitor", "Priority_Maintenance"}
    for name in ("profile", "source_file", "model_version"):
        assert all(v is None or isinstance(v, str) for v in frame[name])
    # And every figure of the page computes on them.
    table = vehicle_table(frame, {})
    kpis(table, frame)
    alerts(table, frame, AlertRules())
    if len(frame):
        fleet_trend(frame)


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
    assert sorted(read_recent_features(pg_schema, 10).values(), key=len) == [{}] * 7 + [
        {"dod": 30.0}]
    past = read_history(pg_schema, "A")
    assert past["status"].tolist() == ["Healthy", "Monitor"] and past["features"][0] == {
        "dod": 30.0}
