"""The page's Altair charts, built from the frames `fleet.py` and `data.py` give (no Streamlit:
importable, and their specs tested, without running the page)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from evpm.dashboard.fleet import STATUS_COLOURS, interval_text
from evpm.health import END_OF_LIFE_SOH, PRIORITY

STATUS_SCALE = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
INTERVAL_TITLE = "SoH 90 %"
# What the quadrant's points and interval bars draw or show in their tooltips.
QUADRANT_COLUMNS = ["vehicle_id", "model", "soh", "soh_pct", "soh_low_pct", "soh_high_pct",
                    "soh_90", "latest_soh", "sop_kw", "health_score", "status", "status_reason",
                    "latest_status", "trips", "last_trip", "source_file", "model_version"]
# Only rows with an interval get a bar (NaN reaches Vega as null).
HAS_INTERVAL = "isValid(datum.{low})"


def _interval_texts(frame: pd.DataFrame, low: str, high: str) -> list[str]:
    """Each row's interval as the page writes it (`interval_text`)."""
    return [interval_text(a, b) for a, b in zip(frame[low], frame[high], strict=True)]


def risk_quadrant(table: pd.DataFrame) -> alt.LayerChart:
    """SoH vs health score, coloured by the vehicle's status, each robust SoH's 90 % interval
    as a bar along the SoH axis (none without one), median lines; zoom and pan."""
    frame = table.assign(soh_pct=table["soh"] * 100, soh_low_pct=table["soh_low"] * 100,
                         soh_high_pct=table["soh_high"] * 100,
                         soh_90=_interval_texts(table, "soh_low", "soh_high"))
    # Only the columns drawn or shown, and points and bars on one data set: every column of
    # every layer's data goes to the browser (Altair sends a data set used twice once).
    data = frame[QUADRANT_COLUMNS]
    colour = alt.Color("status:N", scale=STATUS_SCALE, legend=alt.Legend(orient="bottom"))
    points = alt.Chart(data).mark_circle(size=120, opacity=0.85).encode(
        x=alt.X("soh_pct:Q", title="SoH, robust per vehicle (%) — higher is better",
                scale=alt.Scale(zero=False)),
        y=alt.Y("health_score:Q", title="Health score — lower is better",
                scale=alt.Scale(zero=False)),
        color=colour,
        tooltip=[alt.Tooltip("vehicle_id:N", title="Vehicle"), alt.Tooltip("model:N"),
                 alt.Tooltip("soh:Q", title="SoH (robust)", format=".1%"),
                 alt.Tooltip("soh_90:N", title=INTERVAL_TITLE),
                 alt.Tooltip("latest_soh:Q", title="SoH (latest trip)", format=".1%"),
                 alt.Tooltip("sop_kw:Q", title="SoP (kW)", format=".1f"),
                 alt.Tooltip("health_score:Q", format=".3f"),
                 alt.Tooltip("status:N", title="Status (vehicle)"),
                 alt.Tooltip("status_reason:N", title="Why"),
                 alt.Tooltip("latest_status:N", title="Status (latest trip)"),
                 alt.Tooltip("trips:Q"), alt.Tooltip("last_trip:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("source_file:N", title="Latest trip file"),
                 alt.Tooltip("model_version:N")],
    ).interactive()
    # One bar per vehicle with an interval; vehicles whose trips predate intervals have none.
    bars = alt.Chart(data).transform_filter(HAS_INTERVAL.format(low="soh_low_pct")).mark_rule(
        strokeWidth=2, opacity=0.45).encode(
        x="soh_low_pct:Q", x2="soh_high_pct:Q", y="health_score:Q", color=colour,
        tooltip=[alt.Tooltip("vehicle_id:N", title="Vehicle"),
                 alt.Tooltip("soh_90:N", title=INTERVAL_TITLE)])
    # Labels for every vehicle of a small fleet; in a large one for the 15 worst (the rest
    # would be an unreadable blot; every point has its tooltip).
    labelled = frame if len(frame) <= 40 else frame.nlargest(15, "health_score")
    labels = alt.Chart(labelled[["vehicle_id", "soh_pct", "health_score"]]).mark_text(
        align="left", dx=8, fontSize=10).encode(x="soh_pct:Q", y="health_score:Q",
                                                text="vehicle_id:N")
    medians = pd.DataFrame({"x": [frame["soh"].median() * 100],
                            "y": [frame["health_score"].median()]})
    vline = alt.Chart(medians).mark_rule(strokeDash=[5, 5], color="gray").encode(x="x:Q")
    hline = alt.Chart(medians).mark_rule(strokeDash=[5, 5], color="gray").encode(y="y:Q")
    return (bars + points + labels + vline + hline).properties(height=420)


def trend_chart(daily: pd.DataFrame) -> alt.LayerChart:
    """Daily mean per-trip SoH and its 7-day rolling mean."""
    base = alt.Chart(daily).encode(x=alt.X("day:T", title=None))
    dots = base.mark_circle(size=25, opacity=0.4).encode(
        y=alt.Y("soh:Q", title="Fleet mean SoH", scale=alt.Scale(zero=False),
                axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("day:T"), alt.Tooltip("soh:Q", format=".1%"), "trips:Q"])
    line = base.mark_line(color="#1f77b4").encode(y="soh_7d:Q")
    return (dots + line).properties(height=220)


def soh_history_chart(past: pd.DataFrame, projection: pd.DataFrame | None) -> alt.LayerChart:
    """A vehicle's per-trip SoH, each with its 90 % interval as an error bar (none for a record
    stored before intervals), its forecast when there is one, and the end-of-life line."""
    frame = past[["timestamp", "predicted_soh", "soh_low", "soh_high", "status",
                  "source_file"]].assign(soh_90=_interval_texts(past, "soh_low", "soh_high"))
    colour = alt.Color("status:N", scale=STATUS_SCALE, legend=None)
    tooltip = ["timestamp:T", alt.Tooltip("predicted_soh:Q", format=".1%"),
               alt.Tooltip("soh_90:N", title=INTERVAL_TITLE), "source_file:N"]
    bars = alt.Chart(frame).transform_filter(HAS_INTERVAL.format(low="soh_low")).mark_rule(
        opacity=0.45).encode(x="timestamp:T", y="soh_low:Q", y2="soh_high:Q", color=colour,
                             tooltip=tooltip)
    chart = bars + alt.Chart(frame).mark_circle(size=40).encode(
        x=alt.X("timestamp:T", title=None),
        y=alt.Y("predicted_soh:Q", title="SoH per trip (bars: 90 %)",
                scale=alt.Scale(zero=False), axis=alt.Axis(format="%")),
        color=colour, tooltip=tooltip)
    if projection is not None:
        band = alt.Chart(projection).mark_area(opacity=0.2, color="#1f77b4").encode(
            x="day:T", y="low:Q", y2="high:Q")
        trend = alt.Chart(projection).mark_line(strokeDash=[6, 3]).encode(x="day:T", y="soh:Q")
        chart = chart + band + trend
    eol = alt.Chart(pd.DataFrame({"y": [END_OF_LIFE_SOH]})).mark_rule(
        color=STATUS_COLOURS[PRIORITY]).encode(y="y:Q")
    return (chart + eol).properties(height=260, title="SoH and 30-day forecast")
