"""The page on whatever an old database may hold: unusable rows are left out and counted, every
stored string is shown as plain text, and no credential reaches the page."""

from __future__ import annotations

import sqlite3

import pytest
from markdown_it import MarkdownIt

from tests.dashboard.apptest import everything, markdown_sources, texts
from tests.processes import free_port

COLUMNS = ("vehicle_id, timestamp, predicted_soh, predicted_sop, health_score, status, "
           "prediction_id, model_version, source_file, profile, features")
GOOD = "'2026-11-26 08:00:00.000000', 0.9, 90000.0, 0.3, 'Healthy'"
TAIL = "'m', 'tripdata.x.csv', 'renault-zoe-ze50', '{\"soc_window\": 0.3}'"
# SQL value lists no API would store today, as rows of an old database may look. Each is
# (vehicle_id, timestamp, soh, sop, score, status) with the same tail.
UNUSABLE = {
    "timestamp outside 2000–2100": [
        "'A', '1500-01-01 00:00:00.000000', 0.9, 90000.0, 0.3, 'Healthy'",
        "'B', '0001-01-01 00:00:00.000000', 0.9, 90000.0, 0.3, 'Healthy'",
        "'C', '9999-12-31 23:59:59.999999', 0.9, 90000.0, 0.3, 'Healthy'",
        "'A', '2150-06-01 00:00:00.000000', 0.9, 90000.0, 0.3, 'Healthy'",
        "'A', 'yesterday', 0.9, 90000.0, 0.3, 'Healthy'",
    ],
    "SoH": [
        "'B', '2026-11-26 08:00:00.000000', 'NaN', 90000.0, 0.3, 'Healthy'",
        "'B', '2026-11-26 08:00:00.000000', 9e999, 90000.0, 0.3, 'Healthy'",
        "'B', '2026-11-26 08:00:00.000000', -3.0, 90000.0, 0.3, 'Healthy'",
    ],
    "SoP": ["'C', '2026-11-26 08:00:00.000000', 0.9, -9e999, 0.3, 'Healthy'"],
    "health score": ["'C', '2026-11-26 08:00:00.000000', 0.9, 90000.0, 'abc', 'Healthy'"],
    "status": ["'A', '2026-11-26 08:00:00.000000', 0.9, 90000.0, 0.3, 'Exploded'"],
    "vehicle id": [f"'', {GOOD}", f"'   ', {GOOD}"],
}
# Rows the page can show although they are odd: no profile, features that are not JSON or not
# numbers, an integer id, an id that is not valid UTF-8, a status in another spelling.
ODD_BUT_USABLE = [
    f"'D', {GOOD}, 'p', 'm', NULL, NULL, '{{not json'",
    f"42, {GOOD}, 'p', 'm', 'tripdata.42.csv', 'no-such-profile', '[1, 2]'",
    f"'E', {GOOD}, 'p', 'm', NULL, 'renault-zoe-ze50', '{{\"soc_window\": \"wide\"}}'",
    f"CAST(X'FF41' AS TEXT), {GOOD}, 'p', 'm', NULL, NULL, 'null'",
    "'F', '2026-11-26T08:00:00+02:00', 0.75, 60000.0, 0.9, 'priority maintenance', 'p', 'm', "
    "NULL, NULL, NULL",
]


def insert(url: str, rows: list[str]) -> None:
    """Rows given as SQL value lists, straight into the table (no API, no validation)."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        for values in rows:
            if values.count(",") < 10:  # the six leading columns: the common tail added
                values = f"{values}, 'p', {TAIL}"
            db.execute(f"INSERT INTO health_records ({COLUMNS}) VALUES ({values})")  # noqa: S608


def test_unusable_rows_are_left_out_and_counted_not_a_crash(page, known):
    insert(known, [row for rows in UNUSABLE.values() for row in rows] + ODD_BUT_USABLE)
    app = page(known)
    body = texts(app)
    assert "Database unreachable" not in body
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Vehicles monitored"] == "8"  # A B C from the fleet, D 42 E \ufffdA F
    note = next(m.value for m in app.info if "could not be shown" in m.value)
    assert note.startswith("13 stored predictions could not be shown")
    assert "5 timestamp outside 2000–2100" in note and "1 unknown status" in note
    assert "2 no vehicle id" in note and "3 SoH" in note
    scorecard = app.dataframe[0].value.set_index("Vehicle")
    assert set(scorecard.index) == {"A", "B", "C", "D", "42", "E", "\ufffdA", "F"}
    assert scorecard.loc["D", "Model"] == "unknown" and scorecard.loc["F", "Status"] == \
        "Priority_Maintenance"
    # A, whose newest rows are unusable, keeps its last good prediction and its history.
    assert scorecard.loc["A", "Status"] == "Healthy" and scorecard.loc["A", "Trips"] == 20
    app.selectbox(key="vehicle").set_value("A").run()
    assert not app.exception, app.exception
    assert "Not projected to cross 80% SoH" in texts(app)
    assert set(app.dataframe[-1].value["source_file"]) == {"tripdata.A.csv"}
    for vehicle in ("D", "42", "\ufffdA"):
        app.selectbox(key="vehicle").set_value(vehicle).run()
        assert not app.exception, (vehicle, app.exception)


def test_a_database_of_only_unusable_rows_says_so(page, tmp_path):
    from evpm.storage import Storage

    url = f"sqlite:///{tmp_path / 'bad.db'}"
    Storage(url).init()
    insert(url, UNUSABLE["timestamp outside 2000–2100"][:2])
    app = page(url)
    assert "2 stored predictions could not be shown: 2 timestamp outside 2000–2100" in texts(app)
    assert "Database unreachable" not in texts(app) and not app.metric


def test_unreadable_features_leave_the_prediction_on_the_page(page, known):
    insert(known, [f"'G', {GOOD}, 'p', 'm', NULL, NULL, '{{\"dod\": \"x\", \"soc_window\": []}}'"])
    app = page(known)
    assert {m.label: m.value for m in app.metric}["Vehicles monitored"] == "4"
    assert not any("could not be shown" in m.value for m in app.info)


MARKDOWN = MarkdownIt("commonmark").enable("strikethrough")
ODD_ID = "*bold*_[x](http://e)"


def test_vehicle_ids_and_file_names_are_plain_text_never_markdown(page, known):
    # Old enough to be listed in the "no trip for 7 days" alert; its file name is odd too.
    insert(known, [f"'{ODD_ID}', '2026-01-01 00:00:00', 0.6, 40000.0, 1.1, "
                   f"'Priority_Maintenance', 'p', 'm', '<b>x</b>_*f*.csv', NULL, NULL"])
    app = page(known)
    app.selectbox(key="vehicle").set_value(ODD_ID).run()
    assert not app.exception, app.exception
    assert ODD_ID in everything(app)  # shown, as it is
    for source in markdown_sources(app):
        html = MARKDOWN.render(source)
        assert "<a " not in html and "<em>" not in html and "<b>" not in html, source
        # GitHub-flavoured Markdown (Streamlit's) also links bare URLs.
        assert "http://e" not in source, source
    assert any("sent no trip" in m.value for m in app.warning)
    assert f"{ODD_ID}, C" in [t.value for t in app.text]  # its vehicles, as plain text


@pytest.fixture
def first_run(monkeypatch):
    """A database without tables, whatever the URL (the first-run page without a server)."""
    from evpm.storage import Storage

    monkeypatch.setattr(Storage, "has_tables", lambda self: False)


def test_first_run_page_masks_the_database_password(page, first_run):
    app = page(f"postgresql://evpm:s3cret-pw@127.0.0.1:{free_port()}/fleet")
    assert "No predictions yet" in texts(app)
    shown = everything(app)
    assert "s3cret-pw" not in shown and "evpm:***@127.0.0.1" in shown


def test_database_errors_and_api_problems_mask_passwords(page, monkeypatch):
    from evpm.storage import Storage

    url = f"postgresql://evpm:s3cret-pw@127.0.0.1:{free_port()}/fleet"

    def fails(self):
        raise RuntimeError(f"could not reach {self.url} (*really*)")

    monkeypatch.setattr(Storage, "has_tables", fails)
    app = page(url)
    shown = everything(app)
    assert "Database unreachable" in shown and "s3cret-pw" not in shown
    assert "evpm:***@127.0.0.1" in shown and "(*really*)" in [t.value for t in app.text][-1]
    assert "*really*" not in "\n".join(markdown_sources(app))  # plain text, not Markdown


def test_the_api_url_password_is_masked_in_the_alert(page, known, monkeypatch):
    monkeypatch.setenv("API_URL", f"http://ops:api-pw@127.0.0.1:{free_port()}/predict")
    app = page(known)
    shown = everything(app)
    assert "Model API unreachable" in shown and "api-pw" not in shown
