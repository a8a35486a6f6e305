"""The running dashboard in a real browser: headless Chromium loads the page on a seeded
database, finds the KPIs, the quadrant and the scorecard, downloads the CSV, takes a picture;
with a password set, it sees nothing of the fleet until the password is given."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from tests.fleet_records import fleet_records, seed
from tests.processes import CHROMIUM, DashboardProcess, chromium


def need_chromium() -> None:
    """Skip without Debian's chromium (fail instead when EVPM_REQUIRE_BROWSER=1)."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not installed (apt-get install chromium)"
        if os.environ.get("EVPM_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; EVPM_REQUIRE_BROWSER=1 requires it")
        pytest.skip(message)


@pytest.fixture
def dashboard(tmp_path):
    need_chromium()
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    seed(url, fleet_records(30, 20, seed=3)).dispose()
    server = DashboardProcess(tmp_path, url).start()
    yield server
    server.stop()


def test_the_page_shows_kpis_quadrant_scorecard_and_downloads_csv(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 2400},
                                accept_downloads=True)
        page.goto(dashboard.url)
        page.get_by_text("Vehicles monitored").wait_for(timeout=60_000)
        metric = page.locator('[data-testid="stMetric"]').first
        assert "30" in metric.inner_text()
        page.get_by_text("Risk quadrant").wait_for()
        page.locator(".vega-embed").first.wait_for(timeout=30_000)
        assert page.locator(".vega-embed canvas, .vega-embed svg").count() >= 1
        page.get_by_text("Scorecard (worst first)").wait_for()
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download CSV").click()
        text = Path(download_info.value.path()).read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 30 and rows[0]["Vehicle"].startswith("EV")
        assert float(rows[0]["Health score"]) >= float(rows[-1]["Health score"])
        # Every vehicle but the four whose records all predate intervals (fleet_records).
        assert sum(1 for row in rows if row["SoH 90 %"].endswith(" %")) == 26
        page.get_by_text("refreshed").wait_for(timeout=30_000)
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        browser.close()


def test_with_a_password_the_browser_sees_no_data_until_it_is_given(tmp_path):
    """The password gate in the real server: Enter submits, nothing of the fleet before."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    seed(url, fleet_records(5, 5, seed=3)).dispose()
    server = DashboardProcess(tmp_path, url)
    server.env.update({"EVPM_DASHBOARD_PASSWORD": "pässwort-1",
                       "EVPM_DASHBOARD_REQUIRE_AUTH": "true"})
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = chromium(playwright)
            page = browser.new_page()
            page.goto(server.url)
            field = page.get_by_label("Password", exact=True)
            field.wait_for(timeout=60_000)
            page.wait_for_timeout(1_000)  # anything else the run would draw
            assert "Vehicles monitored" not in page.content() and "EV0000" not in page.content()
            field.fill("wrong")
            field.press("Enter")
            page.get_by_text("Wrong password").wait_for(timeout=30_000)
            assert "EV0000" not in page.content()
            field.fill("pässwort-1")
            field.press("Enter")
            page.get_by_text("Vehicles monitored").wait_for(timeout=60_000)
            page.get_by_role("button", name="Log out").click()
            page.get_by_label("Password", exact=True).wait_for(timeout=30_000)
            page.wait_for_timeout(1_000)
            assert "Vehicles monitored" not in page.content()
            browser.close()
    finally:
        server.stop()
