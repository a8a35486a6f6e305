"""Refresh docs/dashboard.png: the dashboard on the demo fleet `make run` seeds (digital twin
trips predicted by the shipped models), in headless Chromium.

Run: .venv/bin/python scripts/dashboard_screenshot.py   (needs: apt-get install chromium)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evpm.demo import seed_demo  # noqa: E402
from evpm.settings import Settings  # noqa: E402
from tests.processes import ApiProcess, DashboardProcess, chromium  # noqa: E402


def main() -> None:
    """Seed a demo database, serve the page, save the picture."""
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="evpm-screenshot-"))
    api = ApiProcess(work)  # the page shows the API's health: run one on the same database
    url = api.env["DATABASE_URL"]
    seed_demo(Settings(database_url=url, models_dir=ROOT / "models"), work / "demo")
    api.start()
    server = DashboardProcess(work, url, api.url).start()
    try:
        with sync_playwright() as playwright:
            browser = chromium(playwright)
            page = browser.new_page(viewport={"width": 1500, "height": 2300})
            page.goto(server.url)
            page.get_by_text("refreshed").wait_for(timeout=90_000)
            page.wait_for_timeout(2000)  # let the charts finish drawing
            out = ROOT / "docs" / "dashboard.png"
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.stop()
        api.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
