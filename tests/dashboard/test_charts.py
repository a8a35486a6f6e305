"""The page's charts as Vega-Lite specs: the 90 % intervals are drawn where records have them."""

from __future__ import annotations

import pytest

from evpm.dashboard.charts import risk_quadrant, soh_history_chart
from evpm.dashboard.data import read_history
from evpm.dashboard.fleet import vehicle_forecast
from tests.dashboard.test_fleet import record, stored


def rule_layers(spec: dict) -> list[dict]:
    """The layers drawn as rules whose encoding spans two fields (x→x2 or y→y2)."""
    return [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"
            and {"x2", "y2"} & set(layer["encoding"])]


def rows(spec: dict, layer: dict) -> list[dict]:
    """The rows a layer draws: its data set (inline, as Altair writes it) through its
    `isValid(datum.<field>)` filter, the only transform the page's charts use (a layer
    without data of its own draws the chart's)."""
    data = spec["datasets"][layer.get("data", spec.get("data"))["name"]]
    for step in layer.get("transform", []):
        field = step["filter"].removeprefix("isValid(datum.").removesuffix(")")
        data = [row for row in data if row[field] is not None]
    return data


def test_the_quadrant_has_a_bar_per_vehicle_interval_along_the_soh_axis(fleet):
    spec = risk_quadrant(fleet.table).to_dict()
    [bars] = rule_layers(spec)
    encoding = bars["encoding"]
    # SoH is on x: the bar spans the interval along x at the vehicle's health score.
    assert (encoding["x"]["field"], encoding["x2"]["field"]) == ("soh_low_pct", "soh_high_pct")
    assert encoding["y"]["field"] == "health_score"
    points = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "circle")
    assert points["encoding"]["x"]["field"] == "soh_pct"
    drawn = {row["vehicle_id"]: row for row in rows(spec, bars)}
    assert set(drawn) == {"A", "B"}  # C's trip was stored before intervals: no bar
    assert drawn["A"]["soh_90"] == "92.5–97.5 %"
    a = fleet.table.set_index("vehicle_id").loc["A"]
    assert (drawn["A"]["soh_low_pct"], drawn["A"]["soh_high_pct"]) == pytest.approx(
        (a["soh_low"] * 100, a["soh_high"] * 100))
    assert drawn["A"]["health_score"] == a["health_score"]  # at the point's height
    titles = {t.get("title") for t in points["encoding"]["tooltip"]}
    assert {"SoH 90 %", "Status (vehicle)", "Status (latest trip)", "Why"} <= titles


def test_the_quadrant_of_vehicles_without_intervals_draws_no_bar(fleet):
    old = fleet.table[fleet.table["vehicle_id"] == "C"]
    spec = risk_quadrant(old).to_dict()
    [bars] = rule_layers(spec)
    assert rows(spec, bars) == []


def test_the_soh_history_has_an_error_bar_per_trip_with_an_interval(tmp_path):
    storage = stored(tmp_path, [record("H", 20 - 2 * i, 0.9, interval=(0.88, 0.92) if i % 2
                                       else None) for i in range(8)])
    past = read_history(storage, "H")
    _, projection = vehicle_forecast(past)
    spec = soh_history_chart(past, projection).to_dict()
    [bars] = rule_layers(spec)  # the forecast's band is an area, the end of life one line
    assert (bars["encoding"]["y"]["field"], bars["encoding"]["y2"]["field"]) == (
        "soh_low", "soh_high")
    assert len(rows(spec, bars)) == 4  # the trips with an interval
    assert {row["soh_90"] for row in rows(spec, bars)} == {"88.0–92.0 %"}
