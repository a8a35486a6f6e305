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
from evpm.dashboard.charts import risk_quadrant, soh_history_chart, trend_chart
from evpm.dashboard.data import Fleet, Skipped, read_fleet, read_history
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
    vehicle_table,
)
from evpm.dashboard.markup import message, plain
from evpm.health import HEALTHY, STATUSES, StatusRules
from evpm.settings import Settings, redact_url

st.set_page_config(page_title="EV fleet battery health", page_icon="🔋", layout="wide")
settings = Settings.from_env()
rules = AlertRules.from_settings(settings)
# The vehicle status's thresholds (EVPM_PRIORITY_SCORE, EVPM_MONITOR_SCORE): the API's, so the
# page and GET /vehicles give every vehicle the same status.
status_rules = StatusRules.from_settings(settings)


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
def load(url: str, period: int) -> Fleet:
    """Every usable prediction (scalar columns), the per-vehicle table, each vehicle's status
    a week before, and the stored rows left out (data.py says which and why).

    `period` (the refresh period number) is part of the cache key: a new period, new data.
    """
    store = storage(url)
    if not store.has_tables():  # nothing stored yet: the first-run page
        return Fleet(pd.DataFrame(columns=["id", "timestamp"]), vehicle_table(
            pd.DataFrame(), {}), pd.Series(dtype=object), Skipped())
    return read_fleet(store, status_rules)


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
        fleet = load(settings.database_url, current)
        st.session_state["last_good"] = (fleet, dt.datetime.now(dt.UTC))
    except Exception as exc:  # noqa: BLE001 — a database problem must not take the page down
        last = st.session_state.get("last_good")
        st.error("**Database unreachable.** "
                 + (f"Showing the data from {last[1]:%H:%M:%S} UTC." if last else
                    "No data loaded yet; retrying every "
                    f"{settings.refresh_seconds:g} s."), icon="🛑")
        # The driver's words may hold the database URL (masked here) and any stored text.
        st.text(message(exc))
        if not last:
            return
        fleet = last[0]

    records, table = fleet.records, fleet.table
    note = fleet.skipped.note()
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
    summary = kpis(table, fleet.before)
    first, second, third = st.columns(3)
    first.metric("Vehicles monitored", f"{summary.vehicles}")
    second.metric("Fleet average SoH", f"{summary.fleet_soh:.1%}",
                  help="Mean of each vehicle's robust SoH (a trend over its recent trips).")
    change = summary.attention_delta
    third.metric("Vehicles requiring attention", f"{summary.attention}",
                 delta=None if change is None else
                 "no change in 7 days" if change == 0 else f"{change:+d} in 7 days",
                 delta_color="off" if not change else "inverse",
                 help=f"Vehicle status {' or '.join(s for s in STATUSES if s != HEALTHY)}; "
                      "the change against the vehicles' status 7 days before the newest data.")

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
        card = scorecard_frame(shown)
        # Only the vehicle's status is coloured: styling a column costs every refresh.
        st.dataframe(card.style.map(status_colour, subset=["Status"])
                     .format(precision=1, subset=["Latest trip SoH %", "SoH drop 7 d %"],
                             na_rep="–"),
                     hide_index=True, width="stretch", height=420,
                     column_config=SCORECARD_COLUMNS)
        st.download_button("Download CSV", card.to_csv(index=False),
                           file_name="fleet_scorecard.csv", mime="text/csv")

    st.subheader("Fleet SoH trend")
    st.altair_chart(trend_chart(fleet_trend(records)), width="stretch")

    drill_down(shown if len(shown) else table, current)
    refreshed = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
    st.caption(f"{len(records):,} predictions · data as of "
               f"{records['timestamp'].max():%Y-%m-%d %H:%M} UTC · refreshed {refreshed} UTC · "
               f"every {settings.refresh_seconds:g} s")


def status_colour(status: str) -> str:
    """The scorecard's status cell style: the quadrant's colour."""
    return f"color: {STATUS_COLOURS.get(status, 'inherit')}; font-weight: 600"


SCORECARD_COLUMNS = {
    "SoH %": st.column_config.ProgressColumn("SoH %", min_value=0, max_value=100,
                                             format="%.1f"),
    "Health score": st.column_config.ProgressColumn("Health score", min_value=0, max_value=2,
                                                    format="%.3f"),
    "SoP kW": st.column_config.NumberColumn("SoP", format="%.1f kW"),
    "Status": st.column_config.TextColumn(
        "Status", help="The vehicle's: its robust SoH's, but Monitor instead of "
        "Priority_Maintenance while the 90 % interval reaches Healthy or the profile is "
        "assumed (Why)."),
    "SoH 90 %": st.column_config.TextColumn(
        "SoH 90 %", help="90 % interval of the robust SoH; empty when its trips were stored "
        "before intervals."),
    "Why": st.column_config.TextColumn(
        "Why", help="Why the vehicle is Monitor where its robust SoH says "
        "Priority_Maintenance; empty otherwise."),
    "Last trip (UTC)": st.column_config.DatetimeColumn("Last trip (UTC)",
                                                       format="YYYY-MM-DD HH:mm"),
}


def vehicle_summary(vehicle: pd.Series) -> str:
    """The drill-down's status line (Markdown-safe: stored text passes through `plain`)."""
    interval = interval_text(vehicle["soh_low"], vehicle["soh_high"])
    line = (f"Status {vehicle['status']} · robust SoH {vehicle['soh']:.1%}"
            f"{f' (90 %: {interval})' if interval else ''} · latest trip "
            f"{vehicle['latest_status']}")
    reason = vehicle["status_reason"]
    return plain(f"{line}. {reason}" if isinstance(reason, str) else line)


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
    st.caption(vehicle_summary(frame[frame["vehicle_id"] == vehicle_id].iloc[0]))
    forecast, projection = vehicle_forecast(past)
    soh_col, sop_col = st.columns(2)
    with soh_col:
        st.altair_chart(soh_history_chart(past, projection), width="stretch")
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
