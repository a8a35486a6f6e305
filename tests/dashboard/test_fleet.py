"""The dashboard's numbers on known data: per-vehicle table, KPIs, trend, alerts."""

import datetime as dt

import pandas as pd
import pytest

from evpm.dashboard.data import read_recent_features, read_records
from evpm.dashboard.fleet import (
    STATUS_COLOURS,
    AlertRules,
    alerts,
    eol_text,
    fleet_trend,
    kpis,
    vehicle_forecast,
    vehicle_table,
)
from evpm.health import STATUSES, soh_forecast
from evpm.settings import Settings
from evpm.storage import Record, Storage

NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def record(vehicle, days_ago, soh, status="Healthy", score=0.2, profile="renault-zoe-ze50"):
    return Record(vehicle_id=vehicle, timestamp=NOW - dt.timedelta(days=days_ago),
                  predicted_soh=soh, predicted_sop=100_000.0, health_score=score, status=status,
                  prediction_id=f"id-{vehicle}-{days_ago}", model_version="t",
                  source_file=f"tripdata.{vehicle}.csv", profile=profile,
                  features={"soc_window": 0.3})


@pytest.fixture
def fleet(tmp_path):
    records = [
        # A: healthy, steady, 20 trips over 38 days
        *[record("A", 40 - 2 * i, 0.95) for i in range(20)],
        # B: Monitor now, was Healthy 10 days ago; lost ~8 points this week
        record("B", 20, 0.90), record("B", 10, 0.90), record("B", 3, 0.82, "Monitor", 0.55),
        record("B", 1, 0.82, "Monitor", 0.55),
        # C: Priority, and silent for 30 days (stale)
        record("C", 30, 0.69, "Priority_Maintenance", 0.9, "nissan-leaf-30"),
    ]
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.init()
    storage.save(records)
    frame, _ = read_records(storage)
    return frame, vehicle_table(frame, read_recent_features(storage, 10))


def test_vehicle_table_is_one_row_per_vehicle_worst_first(fleet):
    _, table = fleet
    assert table["vehicle_id"].tolist() == ["C", "B", "A"]
    a = table.set_index("vehicle_id").loc["A"]
    assert a["soh"] == pytest.approx(0.95) and a["trips"] == 20 and a["sop_kw"] == 100.0
    assert table.set_index("vehicle_id").loc["C", "model"] == "2016 Nissan Leaf 30 kWh"
    assert table.set_index("vehicle_id").loc["B", "soh_drop_7d"] == pytest.approx(0.08)


def test_kpis_on_known_data(fleet):
    records, table = fleet
    summary = kpis(table, records)
    assert summary.vehicles == 3 and summary.attention == 2
    # 7 days before the newest record, B was still Healthy: one more needs attention now.
    assert summary.attention_delta == 1
    assert summary.fleet_soh == pytest.approx(table["soh"].mean())


def test_alerts_follow_the_rules(fleet):
    records, table = fleet
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
    records, _ = fleet
    daily = fleet_trend(records)
    assert daily["trips"].sum() == len(records) and daily["day"].is_monotonic_increasing


def test_forecast_for_a_vehicle_and_its_text(fleet):
    records, _ = fleet
    steady = records[records["vehicle_id"] == "A"]
    forecast, points = vehicle_forecast(steady)
    assert points is not None and len(points) == len(forecast.soh)
    assert eol_text(forecast).startswith("Not projected to cross 80% SoH within 10 years")
    short, none = vehicle_forecast(records[records["vehicle_id"] == "C"])
    assert none is None and "too little history" in eol_text(short)
    days = [0, 10, 20, 30, 40]
    assert "around" in eol_text(soh_forecast(days, [0.9, 0.88, 0.86, 0.84, 0.82]))
