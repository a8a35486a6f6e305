"""The dashboard's numbers on known data: per-vehicle table (robust SoH, its interval, the
vehicle's status), scorecard, KPIs, trend, alerts."""

import datetime as dt
import math

import pandas as pd
import pytest

from evpm.dashboard.data import read_details, read_fleet
from evpm.dashboard.fleet import (
    STATUS_COLOURS,
    AlertRules,
    alerts,
    eol_text,
    fleet_trend,
    interval_text,
    kpis,
    scorecard_frame,
    vehicle_forecast,
    vehicle_statuses,
    week_before,
)
from evpm.health import (
    MONITOR,
    PRIORITY,
    STATUSES,
    VEHICLE_ASSUMED,
    StatusRules,
    assumed_profile_warning,
    soh_forecast,
)
from evpm.service import fleet_snapshot
from evpm.settings import Settings
from evpm.storage import Record, Storage

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def record(vehicle, days_ago, soh, status="Healthy", score=0.2, profile="renault-zoe-ze50",
           interval=None, warnings=None, window=0.3):
    """A stored prediction; `interval` (low, high) of its SoH, None as before intervals."""
    low, high = interval or (None, None)
    return Record(vehicle_id=vehicle, timestamp=NOW - dt.timedelta(days=days_ago),
                  predicted_soh=soh, predicted_sop=100_000.0, health_score=score, status=status,
                  prediction_id=f"id-{vehicle}-{days_ago}", model_version="t",
                  source_file=f"tripdata.{vehicle}.csv", profile=profile,
                  features={"soc_window": window}, warnings=warnings, soh_low=low,
                  soh_high=high)


def stored(tmp_path, records, name="db.sqlite") -> Storage:
    """A SQLite storage holding `records`."""
    storage = Storage(f"sqlite:///{tmp_path / name}")
    storage.init()
    storage.save(records)
    return storage


@pytest.fixture
def fleet(tmp_path):
    """The page's load (`read_fleet`) of three known vehicles."""
    records = [
        # A: healthy, steady, 20 trips over 38 days, each with a narrow interval
        *[record("A", 40 - 2 * i, 0.95, interval=(0.93, 0.97)) for i in range(20)],
        # B: Monitor now, was Healthy 10 days ago; lost ~8 points this week (its two older
        # records stored before intervals)
        record("B", 20, 0.90), record("B", 10, 0.90),
        record("B", 3, 0.82, "Monitor", 0.55, interval=(0.79, 0.85)),
        record("B", 1, 0.82, "Monitor", 0.55, interval=(0.79, 0.85)),
        # C: Priority, and silent for 30 days (stale); stored before intervals
        record("C", 30, 0.69, "Priority_Maintenance", 0.9, "nissan-leaf-30"),
    ]
    return read_fleet(stored(tmp_path, records))


def test_vehicle_table_is_one_row_per_vehicle_worst_first(fleet):
    table = fleet.table
    assert table["vehicle_id"].tolist() == ["C", "B", "A"]
    a = table.set_index("vehicle_id").loc["A"]
    assert a["soh"] == pytest.approx(0.95) and a["trips"] == 20 and a["sop_kw"] == 100.0
    assert table.set_index("vehicle_id").loc["C", "model"] == "2016 Nissan Leaf 30 kWh"
    assert table.set_index("vehicle_id").loc["B", "soh_drop_7d"] == pytest.approx(0.08)


def test_vehicle_table_has_the_robust_interval_and_the_vehicle_status(fleet):
    table = fleet.table.set_index("vehicle_id")
    # A: ten trips' intervals combined are narrower than the models' floor (±1.645 × 0.015).
    assert table.loc["A", "soh_low"] == pytest.approx(0.95 - 1.6449 * 0.015)
    assert table.loc["A", "soh_high"] == pytest.approx(0.95 + 1.6449 * 0.015)
    # C was stored before intervals: no interval, still on the page with its status.
    assert math.isnan(table.loc["C", "soh_low"]) and math.isnan(table.loc["C", "soh_high"])
    assert table["status"].tolist() == [PRIORITY, MONITOR, "Healthy"]
    assert table["latest_status"].tolist() == [PRIORITY, MONITOR, "Healthy"]
    assert table["status_reason"].isna().all()


def one_trip(tmp_path, interval, warnings=None, name="one.sqlite") -> pd.DataFrame:
    """The table of a vehicle with one low-SoH trip (Priority by the 70 % floor)."""
    storage = stored(tmp_path, [record("L", 1, 0.69, PRIORITY, 0.5, interval=interval,
                                       warnings=warnings)], name)
    return read_fleet(storage).table


def single(tmp_path, interval, warnings=None, name="one.sqlite") -> pd.Series:
    """`one_trip`'s row."""
    return one_trip(tmp_path, interval, warnings, name).iloc[0]


def test_a_wide_interval_reaching_healthy_makes_monitor_with_a_reason(tmp_path):
    wide = single(tmp_path, (0.45, 0.93))
    assert (wide["status"], wide["latest_status"]) == (MONITOR, PRIORITY)
    assert wide["status_reason"].startswith("Monitor, not Priority_Maintenance")
    assert "interval reaches 93.0%" in wide["status_reason"]
    assert (wide["soh_low"], wide["soh_high"]) == pytest.approx((0.45, 0.93))
    narrow = single(tmp_path, (0.66, 0.72), name="narrow.sqlite")
    assert narrow["status"] == PRIORITY and narrow["status_reason"] is None


def test_an_assumed_profile_never_makes_priority_maintenance(tmp_path):
    warning = assumed_profile_warning("L", "renault-zoe-ze50")
    assumed = single(tmp_path, (0.66, 0.72), [warning])
    assert assumed["status"] == MONITOR and VEHICLE_ASSUMED in assumed["status_reason"]


def test_records_without_intervals_keep_the_estimates_status(tmp_path):
    old = single(tmp_path, None)
    assert old["status"] == PRIORITY and old["status_reason"] is None
    assert math.isnan(old["soh_low"]) and old["soh"] == pytest.approx(0.69)


def test_the_page_and_get_vehicles_give_every_vehicle_the_same_numbers(tmp_path):
    warning = assumed_profile_warning("U", None)
    records = [
        *[record("W", 9 - 3 * i, 0.69 - 0.002 * i, PRIORITY, 0.45, interval=(0.40, 0.98),
                 window=0.05 + 0.1 * i) for i in range(3)],
        *[record("N", 30 - 3 * i, 0.72 - 0.003 * i, PRIORITY, 0.85,
                  interval=(0.70 - 0.003 * i, 0.74 - 0.003 * i)) for i in range(12)],
        record("O", 5, 0.9), record("O", 2, 0.88, interval=(0.85, 0.91)),
        record("U", 4, 0.68, PRIORITY, 0.9, interval=(0.66, 0.7), warnings=[warning]),
    ]
    storage = stored(tmp_path, records)
    rules = StatusRules(priority_score=0.7, monitor_score=0.4)
    table = read_fleet(storage, rules).table.set_index("vehicle_id")
    api = {v["vehicle_id"]: v for v in fleet_snapshot(storage, rules=rules)}
    assert set(api) == set(table.index) == {"W", "N", "O", "U"}
    for vehicle, row in table.iterrows():
        served = api[vehicle]
        assert row["soh"] == pytest.approx(served["robust_soh"])
        assert row["soh_low"] == pytest.approx(served["robust_soh_low"])
        assert row["soh_high"] == pytest.approx(served["robust_soh_high"])
        assert (row["status"], row["status_reason"]) == (served["vehicle_status"],
                                                         served["vehicle_status_reason"])
        assert row["latest_status"] == served["status"]
    # The cases differ, so the comparison above is not of four identical rows.
    assert table["status"].to_dict() == {"W": MONITOR, "N": PRIORITY, "O": "Healthy",
                                         "U": MONITOR}


def test_scorecard_shows_the_interval_the_vehicle_status_and_why(fleet, tmp_path):
    card = scorecard_frame(fleet.table).set_index("Vehicle")
    assert card.loc["A", "SoH 90 %"] == "92.5–97.5 %" and card.loc["C", "SoH 90 %"] == ""
    assert card.loc["B", "Status"] == MONITOR and card.loc["B", "Why"] == ""
    wide = scorecard_frame(one_trip(tmp_path, (0.45, 0.93))).iloc[0]
    assert (wide["Status"], wide["Latest trip status"]) == (MONITOR, PRIORITY)
    assert wide["Why"].startswith("Monitor, not Priority_Maintenance")
    assert interval_text(0.871, 0.913) == "87.1–91.3 %"
    assert interval_text(math.nan, 0.9) == ""


def test_kpis_on_known_data(fleet):
    summary = kpis(fleet.table, fleet.before)
    assert summary.vehicles == 3 and summary.attention == 2
    # 7 days before the newest record, B was still Healthy: one more needs attention now.
    assert summary.attention_delta == 1
    assert summary.fleet_soh == pytest.approx(fleet.table["soh"].mean())
    assert kpis(fleet.table).attention_delta is None


def test_kpis_count_the_vehicle_status_now_and_a_week_before(tmp_path):
    # One trip, Priority by its score, but its interval reaches Healthy: the vehicle is Monitor
    # (attention, whichever status counts); a week before it had no trip yet.
    wide = [record("W", 1, 0.69, PRIORITY, 0.5, interval=(0.45, 0.93)),
            record("H", 20, 0.95), record("H", 1, 0.95)]
    loaded = read_fleet(stored(tmp_path, wide))
    assert kpis(loaded.table, loaded.before).attention_delta == 1
    alerted = alerts(loaded.table, loaded.records, AlertRules(), now=NOW)
    assert not any(PRIORITY in a.title for a in alerted)  # the vehicle status, not the trip's


def test_a_week_old_status_reads_the_features_its_trips_had(tmp_path):
    # 15 trips, 2 days apart. A week before the newest, the robust SoH read trips 1–10; the
    # newest 10 (whose details are read first) are 5–14, so 1–4 are read by id. They were
    # wide windows at 86 %, 5–14 tiny ones at 76 %: Healthy then, Monitor now.
    records = [record("V", 28 - 2 * i, 0.86 if i < 5 else 0.76, window=0.6 if i < 5 else 0.05)
               for i in range(15)]
    storage = stored(tmp_path, records)
    loaded = read_fleet(storage)
    assert loaded.table["status"].tolist() == [MONITOR]
    assert loaded.before.to_dict() == {"V": "Healthy"}
    assert kpis(loaded.table, loaded.before).attention_delta == 1
    # Without trips 1–4's features they would weigh as unknown windows: another status.
    newest = read_details(storage, loaded.records["id"].nlargest(10))
    assert vehicle_statuses(week_before(loaded.records), newest.features).to_dict() == {
        "V": MONITOR}


def test_alerts_follow_the_rules(fleet):
    records, table = fleet.records, fleet.table
    found = alerts(table, records, AlertRules(soh_drop_7d=0.05, stale_days=7),
                   api_problem="http://api/health did not answer", now=NOW)
    titles = [a.title for a in found]
    assert titles[0] == "Model API unreachable"
    assert any("Priority_Maintenance" in t for t in titles)
    dropping = next(a for a in found if "lost more than" in a.title)
    assert dropping.vehicles == ["B"]
    stale = next(a for a in found if "sent no trip" in a.title)
    assert stale.vehicles == ["C"]
    assert not any("Fleet average" in t for t in titles)
    quiet = alerts(table[table["vehicle_id"] == "A"], records, AlertRules(), now=NOW)
    assert quiet == []


def test_fleet_average_drop_alert():
    stamps = [NOW - dt.timedelta(days=d) for d in (13, 12, 11, 3, 2, 1)]
    records = pd.DataFrame({"timestamp": pd.to_datetime(stamps, utc=True),
                            "predicted_soh": [0.95, 0.95, 0.95, 0.80, 0.80, 0.80]})
    table = pd.DataFrame(columns=["vehicle_id", "status", "soh_drop_7d", "last_trip"])
    table["last_trip"] = pd.to_datetime(table["last_trip"], utc=True)
    found = alerts(table, records, AlertRules(fleet_drop_7d=0.10), now=NOW)
    assert [a.title for a in found] == ["Fleet average SoH dropped"]
    assert alerts(table, records, AlertRules(fleet_drop_7d=0.2), now=NOW) == []
    configured = AlertRules.from_settings(Settings(alert_fleet_drop=0.2))
    assert alerts(table, records, configured, now=NOW) == []


def test_alert_rules_come_from_the_settings():
    assert AlertRules() == AlertRules.from_settings(Settings())  # defaults in one place
    assert AlertRules.from_settings(Settings(alert_soh_drop=0.01, alert_fleet_drop=0.02,
                                             stale_days=3.0)) == AlertRules(0.01, 0.02, 3.0)


def test_status_colours_follow_the_status_names():
    assert tuple(STATUS_COLOURS) == STATUSES


def test_fleet_trend_is_daily(fleet):
    records = fleet.records
    daily = fleet_trend(records)
    assert daily["trips"].sum() == len(records) and daily["day"].is_monotonic_increasing


def test_forecast_for_a_vehicle_and_its_text(fleet):
    records = fleet.records
    steady = records[records["vehicle_id"] == "A"]
    forecast, points = vehicle_forecast(steady)
    assert points is not None and len(points) == len(forecast.soh)
    assert eol_text(forecast).startswith("Not projected to cross 80% SoH within 10 years")
    short, none = vehicle_forecast(records[records["vehicle_id"] == "C"])
    assert none is None and "too little history" in eol_text(short)
    days = [0, 10, 20, 30, 40]
    assert "around" in eol_text(soh_forecast(days, [0.9, 0.88, 0.86, 0.84, 0.82]))
