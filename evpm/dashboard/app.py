"""Fleet battery health dashboard (Streamlit). Run: `evpm dashboard` (port 8501).

Read top to bottom: settings → access (login or password when configured, see access.py) →
data (cached, read-only storage, unusable rows left out: data.py) → first-run page or fleet
summary, alerts, risk quadrant, scorecard, trend, vehicle drill-down. The data part reruns on
its own every EVPM_REFRESH_SECONDS without touching the user's filters or selection.

Everything stored (vehicle ids, file names, profiles) and every error message is shown as plain
text: in dataframes, st.text, or escaped by `markup.plain` where it sits inside Markdown.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
import urllib.request
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from evpm.dashboard.access import gate
from evpm.dashboard.data import Skipped, read_history, read_recent_features, read_records
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
from evpm.dashboard.markup import message, plain
from evpm.health import END_OF_LIFE_SOH, HEALTHY, PRIORITY, RECENT_TRIPS, STATUSES
from evpm.settings import Settings, redact_url

st.set_page_config(page_title="EV fleet battery health", page_icon="🔋", layout="wide")
settings = Settings.from_env()
rules = AlertRules.from_settings(settings)
STATUS_SCALE = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))


@st.cache_resource
def storage(url: str):
    """One read-only storage (engine and pool) per server process."""
    from evpm.storage import Storage

    return Storage(url, read_only=True)


@st.cache_resource
def predictor(models_dir: str):
    """The models, for the drill-down's feature contributions."""
    from evpm.predictor import Predictor

    return Predictor.load(Path(models_dir))


@st.cache_data(show_spinner=False, max_entries=4)
def load(url: str, period: int) -> tuple[pd.DataFrame, dict[int, dict], pd.DataFrame, Skipped]:
    """Every usable prediction (scalar columns), recent features, the per-vehicle table, and
    the stored rows left out (data.py says which and why).

    `period` (the refresh period number) is part of the cache key: a new period, new data.
    """
    store = storage(url)
    if not store.has_tables():  # nothing stored yet: the first-run page
        return pd.DataFrame(columns=["id", "timestamp"]), {}, vehicle_table(
            pd.DataFrame(), {}), Skipped()
    records, skipped = read_records(store)
    features = read_recent_features(store, RECENT_TRIPS)
    return records, features, vehicle_table(records, features), skipped


@st.cache_data(show_spinner=False, ttl=30)
def api_problem(api_url: str) -> str | None:
    """None if the model API's /health answers, else why not."""
    parts = urllib.parse.urlsplit(api_url)
    health = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/health", "", ""))
    shown = redact_url(health)  # the page shows it; API_URL may carry credentials
    try:
        with urllib.request.urlopen(health, timeout=1.5) as response:  # noqa: S310 — our API
            return None if response.status == 200 else f"{shown} answered {response.status}"
    except Exception as exc:  # noqa: BLE001 — any failure means unreachable
        return f"{shown} did not answer ({type(exc).__name__}); predictions are not being made"


@st.cache_data(show_spinner=False, max_entries=64)
def history(url: str, vehicle_id: str, period: int) -> pd.DataFrame:
    """One vehicle's usable records, oldest first, with their features."""
    return read_history(storage(url), vehicle_id)


def contributions(vehicle: pd.Series) -> pd.DataFrame:
    """The latest prediction's top SoH contributions (TreeSHAP of the stored features)."""
    from evpm.batch import feature_matrix
    from evpm.profiles import find_profile

    model = predictor(str(settings.models_dir))
    matrix = feature_matrix([vehicle["features"] or {}])
    profile = find_profile(vehicle["profile"])  # built-in or user (EVPM_PROFILES)
    [top] = model.predict_matrix(matrix, [profile], explain=True, top=6).contributions
    return pd.DataFrame(top or [], columns=["feature", "value", "contribution"])


st.title("EV fleet battery health")
if not gate(settings):  # a login, a password or a configuration error; nothing of the fleet
    st.stop()


def refresh_now() -> None:
    """The manual refresh: fresh data and API status on this run (filters untouched)."""
    load.clear()
    api_problem.clear()
    history.clear()


@st.fragment(run_every=settings.refresh_seconds)
def fleet_view() -> None:
    """Everything that depends on the data; reruns on its own every refresh period."""
    current = int(time.time() // settings.refresh_seconds)
    try:
        records, features, table, skipped = load(settings.database_url, current)
        st.session_state["last_good"] = (records, features, table, skipped,
                                         dt.datetime.now(dt.UTC))
    except Exception as exc:  # noqa: BLE001 — a database problem must not take the page down
        last = st.session_state.get("last_good")
        st.error("**Database unreachable.** "
                 + (f"Showing the data from {last[4]:%H:%M:%S} UTC." if last else
                    "No data loaded yet; retrying every "
                    f"{settings.refresh_seconds:g} s."), icon="🛑")
        # The driver's words may hold the database URL (masked here) and any stored text.
        st.text(message(exc))
        if not last:
            return
        records, features, table, skipped, _ = last

    note = skipped.note()
    if note:  # rows of an old database the page cannot use: a note, not an alarm
        st.info(note, icon="ℹ️")
    if records.empty:
        st.info("**No usable predictions yet.**" if note else
                "**No predictions yet.** This page fills itself as trips arrive.", icon="👋")
        st.markdown(
            "- **Drop trip files**: start the watcher (`evpm watch`) and copy trip CSVs "
            "(`tripdata.<VEHICLE_ID>.csv`) into `incoming/`; each becomes a prediction here.\n"
            "- **No trips at hand?** Make a synthetic fleet with the digital twin: "
            "`evpm twin fleet --vehicles 20 --trips 10 --out incoming/ --truth "
            "data/twin_truth.csv --registry data/fleet_registry.csv`.\n"
            "- **Integrators** can `POST /predict` to the model API on port 5000.")
        # Plain text, password masked: the URL is configuration, not Markdown.
        st.text(f"Database: {redact_url(settings.database_url)}; refresh every "
                f"{settings.refresh_seconds:g} s.")
        return

    # Summary metrics.
    summary = kpis(table, records)
    first, second, third = st.columns(3)
    first.metric("Vehicles monitored", f"{summary.vehicles}")
    second.metric("Fleet average SoH", f"{summary.fleet_soh:.1%}",
                  help="Mean of each vehicle's robust SoH (a trend over its recent trips).")
    change = summary.attention_delta
    third.metric("Vehicles requiring attention", f"{summary.attention}",
                 delta=None if change is None else
                 "no change in 7 days" if change == 0 else f"{change:+d} in 7 days",
                 delta_color="off" if not change else "inverse",
                 help=f"Status {' or '.join(s for s in STATUSES if s != HEALTHY)}.")

    # Alerts.
    found = alerts(table, records, rules, api_problem(settings.api_url))
    with st.expander(f"Alerts ({len(found)})", expanded=bool(found)):
        if not found:
            st.success("No alerts.", icon="✅")
        for alert in found:
            show = st.error if alert.level == "error" else st.warning
            # Title and detail are the page's own words (the detail may hold the API's URL);
            # vehicle ids are stored data: plain text under the box, never Markdown.
            show(f"**{alert.title}** — {plain(alert.detail)}")
            if alert.items:
                st.text(", ".join(alert.items))

    # Filters (kept across refreshes: widget keys).
    left, right = st.columns(2)
    statuses = left.multiselect("Status", STATUSES, key="status_filter",
                                placeholder="All statuses")
    models = right.multiselect("Vehicle model", sorted(table["model"].unique()),
                               key="model_filter", placeholder="All models")
    keep = np.ones(len(table), dtype=bool)
    if statuses:
        keep &= table["status"].isin(statuses).to_numpy()
    if models:
        keep &= table["model"].isin(models).to_numpy()
    shown = table[keep]

    quadrant, scorecard = st.columns([5, 6])
    with quadrant:
        st.subheader("Risk quadrant")
        st.altair_chart(risk_quadrant(shown), width="stretch")
    with scorecard:
        st.subheader("Scorecard (worst first)")
        st.dataframe(scorecard_frame(shown).style.map(status_colour, subset=["Status"])
                     .format(precision=1, subset=["Latest trip SoH %", "SoH drop 7 d %"],
                             na_rep="–"),
                     hide_index=True, width="stretch", height=420,
                     column_config=SCORECARD_COLUMNS)
        st.download_button("Download CSV", scorecard_frame(shown).to_csv(index=False),
                           file_name="fleet_scorecard.csv", mime="text/csv")

    st.subheader("Fleet SoH trend")
    st.altair_chart(trend_chart(fleet_trend(records)), width="stretch")

    drill_down(shown if len(shown) else table, current)
    refreshed = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    st.caption(f"{len(records):,} predictions · data as of "
               f"{records['timestamp'].max():%Y-%m-%d %H:%M} UTC · refreshed {refreshed} UTC · "
               f"every {settings.refresh_seconds:g} s")


def risk_quadrant(frame: pd.DataFrame) -> alt.LayerChart:
    """SoH vs health score, coloured by status, median lines; zoom and pan."""
    base = alt.Chart(frame.assign(soh_pct=frame["soh"] * 100))
    points = base.mark_circle(size=120, opacity=0.85).encode(
        x=alt.X("soh_pct:Q", title="SoH, robust per vehicle (%) — higher is better",
                scale=alt.Scale(zero=False)),
        y=alt.Y("health_score:Q", title="Health score — lower is better",
                scale=alt.Scale(zero=False)),
        color=alt.Color("status:N", scale=STATUS_SCALE, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("vehicle_id:N", title="Vehicle"), alt.Tooltip("model:N"),
                 alt.Tooltip("soh:Q", title="SoH (robust)", format=".1%"),
                 alt.Tooltip("latest_soh:Q", title="SoH (latest trip)", format=".1%"),
                 alt.Tooltip("sop_kw:Q", title="SoP (kW)", format=".1f"),
                 alt.Tooltip("health_score:Q", format=".3f"), alt.Tooltip("status:N"),
                 alt.Tooltip("trips:Q"), alt.Tooltip("last_trip:T", format="%Y-%m-%d %H:%M"),
                 alt.Tooltip("source_file:N", title="Latest trip file"),
                 alt.Tooltip("model_version:N")],
    ).interactive()
    # Labels for every vehicle of a small fleet; in a large one for the 15 worst (the rest
    # would be an unreadable blot; every point has its tooltip).
    labelled = frame if len(frame) <= 40 else frame.nlargest(15, "health_score")
    labels = alt.Chart(labelled.assign(soh_pct=labelled["soh"] * 100)).mark_text(
        align="left", dx=8, fontSize=10).encode(x="soh_pct:Q", y="health_score:Q",
                                               text="vehicle_id:N")
    medians = pd.DataFrame({"x": [frame["soh"].median() * 100],
                            "y": [frame["health_score"].median()]})
    vline = alt.Chart(medians).mark_rule(strokeDash=[5, 5], color="gray").encode(x="x:Q")
    hline = alt.Chart(medians).mark_rule(strokeDash=[5, 5], color="gray").encode(y="y:Q")
    return (points + labels + vline + hline).properties(height=420)


def scorecard_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The scorecard's columns (also what the CSV download holds)."""
    return pd.DataFrame({
        "Vehicle": frame["vehicle_id"], "Model": frame["model"], "Status": frame["status"],
        "SoH %": (frame["soh"] * 100).round(1),
        "Latest trip SoH %": (frame["latest_soh"] * 100).round(1),
        "Health score": frame["health_score"].round(3), "SoP kW": frame["sop_kw"].round(1),
        "SoH drop 7 d %": (frame["soh_drop_7d"] * 100).round(1), "Trips": frame["trips"],
        "Last trip (UTC)": frame["last_trip"].dt.tz_convert(None),
    })


def status_colour(status: str) -> str:
    """The scorecard's status cell style: the quadrant's colour."""
    return f"color: {STATUS_COLOURS.get(status, 'inherit')}; font-weight: 600"


SCORECARD_COLUMNS = {
    "SoH %": st.column_config.ProgressColumn("SoH %", min_value=0, max_value=100,
                                             format="%.1f"),
    "Health score": st.column_config.ProgressColumn("Health score", min_value=0, max_value=2,
                                                    format="%.3f"),
    "SoP kW": st.column_config.NumberColumn("SoP", format="%.1f kW"),
    "Status": st.column_config.TextColumn("Status"),
    "Last trip (UTC)": st.column_config.DatetimeColumn("Last trip (UTC)",
                                                       format="YYYY-MM-DD HH:mm"),
}


def trend_chart(daily: pd.DataFrame) -> alt.LayerChart:
    """Daily mean per-trip SoH and its 7-day rolling mean."""
    base = alt.Chart(daily).encode(x=alt.X("day:T", title=None))
    dots = base.mark_circle(size=25, opacity=0.4).encode(
        y=alt.Y("soh:Q", title="Fleet mean SoH", scale=alt.Scale(zero=False),
                axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("day:T"), alt.Tooltip("soh:Q", format=".1%"), "trips:Q"])
    line = base.mark_line(color="#1f77b4").encode(y="soh_7d:Q")
    return (dots + line).properties(height=220)


def drill_down(frame: pd.DataFrame, current: int) -> None:
    """One vehicle: SoH (with forecast) and SoP history, contributions, source files."""
    st.subheader("Vehicle drill-down")
    options = frame["vehicle_id"].tolist()
    if st.session_state.get("vehicle") not in options:
        st.session_state["vehicle"] = options[0]
    vehicle_id = st.selectbox("Vehicle (worst first)", options, key="vehicle")
    try:
        past = history(settings.database_url, vehicle_id, current)
    except Exception:  # noqa: BLE001 — the banner above already says the database is down
        st.warning("The vehicle's history is unavailable while the database is unreachable.")
        return
    if past.empty:  # stored after the fleet table was loaded: shown at the next refresh
        return
    forecast, projection = vehicle_forecast(past)
    soh_col, sop_col = st.columns(2)
    with soh_col:
        chart = alt.Chart(past).mark_circle(size=40).encode(
            x=alt.X("timestamp:T", title=None),
            y=alt.Y("predicted_soh:Q", title="SoH per trip", scale=alt.Scale(zero=False),
                    axis=alt.Axis(format="%")),
            color=alt.Color("status:N", scale=STATUS_SCALE, legend=None),
            tooltip=["timestamp:T", alt.Tooltip("predicted_soh:Q", format=".1%"),
                     "source_file:N"])
        if projection is not None:
            band = alt.Chart(projection).mark_area(opacity=0.2, color="#1f77b4").encode(
                x="day:T", y="low:Q", y2="high:Q")
            trend = alt.Chart(projection).mark_line(strokeDash=[6, 3]).encode(x="day:T",
                                                                              y="soh:Q")
            chart = chart + band + trend
        eol = alt.Chart(pd.DataFrame({"y": [END_OF_LIFE_SOH]})).mark_rule(
            color=STATUS_COLOURS[PRIORITY]).encode(y="y:Q")
        st.altair_chart((chart + eol).properties(height=260, title="SoH and 30-day forecast"),
                        width="stretch")
        st.markdown(f"**Forecast:** {eol_text(forecast)}")
    with sop_col:
        st.altair_chart(alt.Chart(past).mark_line(point=True).encode(
            x=alt.X("timestamp:T", title=None), y=alt.Y("sop_kw:Q", title="SoP (kW)",
                                                       scale=alt.Scale(zero=False)),
            tooltip=["timestamp:T", alt.Tooltip("sop_kw:Q", format=".1f")]).properties(
            height=260, title="State of power"), width="stretch")
    latest = past.iloc[-1]
    why, files = st.columns(2)
    with why:
        st.markdown("**Top contributions to the latest SoH prediction**")
        try:
            top = contributions(latest)
            st.dataframe(top, hide_index=True, width="stretch", column_config={
                "contribution": st.column_config.NumberColumn(format="%+.4f")})
            st.caption("TreeSHAP of the stored features under the current model "
                       f"({plain(predictor(str(settings.models_dir)).version)}); positive "
                       "raises SoH.")
        except Exception as exc:  # noqa: BLE001 — explanations are optional on this page
            st.caption(f"Contributions unavailable: {type(exc).__name__}")
    with files:
        st.markdown("**Source trip files (newest first)**")
        st.dataframe(past[["timestamp", "source_file", "predicted_soh", "status"]].iloc[::-1]
                     .head(50), hide_index=True, width="stretch",
                     column_config={"predicted_soh": st.column_config.NumberColumn(
                         "SoH", format="%.3f")})


with st.sidebar:
    st.header("Refresh")
    st.caption(f"Automatic every {settings.refresh_seconds:g} s; filters and the selected "
               "vehicle are kept.")
    st.button("Refresh now", width="stretch", on_click=refresh_now)

fleet_view()
