"""The Streamlit page, run by Streamlit's AppTest on known data."""

from __future__ import annotations

from tests.dashboard.apptest import texts
from tests.processes import free_port


def test_kpis_alerts_and_scorecard_on_known_data(page, known):
    app = page(known)
    metrics = {m.label: m for m in app.metric}
    assert metrics["Vehicles monitored"].value == "3"
    assert metrics["Vehicles requiring attention"].value == "2"
    assert metrics["Vehicles requiring attention"].delta == "+1 in 7 days"
    assert metrics["Fleet average SoH"].value.endswith("%")
    body = texts(app)
    assert "Model API unreachable" in body and "Priority_Maintenance" in body
    scorecard = app.dataframe[0].value
    assert list(scorecard["Vehicle"]) == ["C", "B", "A"]  # worst first
    assert {"SoH %", "Health score", "SoP kW", "Status"} <= set(scorecard.columns)
    card = scorecard.set_index("Vehicle")
    assert card.loc["A", "SoH 90 %"] == "92.5–97.5 %" and card.loc["C", "SoH 90 %"] == ""
    assert list(card["Status"]) == ["Priority_Maintenance", "Monitor", "Healthy"]
    assert {"Latest trip status", "Why"} <= set(card.columns)


def test_a_vehicle_whose_interval_reaches_healthy_is_monitor_with_why(page, tmp_path):
    from tests.dashboard.test_fleet import record, stored

    url = stored(tmp_path, [record("L", 1, 0.69, "Priority_Maintenance", 0.5,
                                   interval=(0.45, 0.93))]).url
    app = page(url)
    [row] = app.dataframe[0].value.to_dict("records")
    assert (row["Status"], row["Latest trip status"]) == ("Monitor", "Priority_Maintenance")
    assert row["Why"].startswith("Monitor, not Priority_Maintenance")
    assert {m.label: m.value for m in app.metric}["Vehicles requiring attention"] == "1"
    assert not any("Priority_Maintenance" in m.value for m in app.error)  # no such alert
    summary = next(c.value for c in app.caption if "robust SoH" in c.value)
    assert "Monitor" in summary and "45" in summary and "93" in summary


def test_filters_narrow_the_scorecard_and_survive_a_refresh(page, known):
    app = page(known)
    app.multiselect(key="status_filter").set_value(["Priority_Maintenance"]).run()
    assert list(app.dataframe[0].value["Vehicle"]) == ["C"]
    app.multiselect(key="model_filter").set_value(["2016 Nissan Leaf 30 kWh"]).run()
    assert list(app.dataframe[0].value["Vehicle"]) == ["C"]
    app.button[0].click().run()  # "Refresh now": new data, same filters
    assert app.multiselect(key="status_filter").value == ["Priority_Maintenance"]
    assert list(app.dataframe[0].value["Vehicle"]) == ["C"]


def test_drill_down_forecast_with_enough_and_too_little_history(page, known):
    app = page(known)
    assert app.selectbox(key="vehicle").value == "C"
    assert "too little history" in texts(app)
    app.selectbox(key="vehicle").set_value("A").run()
    assert "Not projected to cross 80% SoH" in texts(app)
    files = app.dataframe[-1].value
    assert set(files["source_file"]) == {"tripdata.A.csv"}


def test_empty_database_shows_the_first_run_page(page, tmp_path):
    app = page(f"sqlite:///{tmp_path / 'nothing-yet.db'}")
    body = texts(app)
    assert "No predictions yet" in body and "incoming/" in body and "evpm twin fleet" in body
    assert not app.metric


def test_unreachable_database_is_a_banner_not_a_traceback(page):
    app = page(f"postgresql://evpm:evpm@127.0.0.1:{free_port()}/nowhere")
    assert "Database unreachable" in texts(app)


def test_database_outage_keeps_the_last_good_data(page, known, monkeypatch):
    app = page(known)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://evpm:evpm@127.0.0.1:{free_port()}/gone")
    app.button[0].click().run()  # the next refresh finds the database gone
    assert not app.exception
    assert "Database unreachable" in texts(app) and "Showing the data from" in texts(app)
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "3"
