"""Dashboard speed on 500 vehicles × 100 predictions (50,000 stored records).

Run: .venv/bin/python bench/bench_dashboard.py [--vehicles 500] [--per-vehicle 100] [--loads 5]
Needs Debian's chromium (apt-get install chromium); Playwright drives it.

- data load: what the page does per refresh period (`read_fleet`: records, recent features
  and warnings, the per-vehicle table, the statuses of a week before), in-process, median
  of --loads.
- page render: a new browser tab until everything is on screen (KPIs, four charts, three
  tables, the footer written last); baseline in the same run: a one-metric Streamlit page
  served the same way (the browser's and Streamlit's own floor on this machine).
- refresh: "Refresh now" (caches cleared, data reloaded) until the footer's time changes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import print_table  # noqa: E402
from tests.fleet_records import fleet_records, seed  # noqa: E402
from tests.processes import DashboardProcess, answers, chromium, free_port, wait_until  # noqa: E402

# True once the footer ("… refreshed HH:MM:SS.mmm …") shows a time other than `old`.
FOOTER_CHANGED = """old => {
  const captions = Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'));
  const footer = captions.find(e => e.innerText.includes('refreshed'));
  return footer !== undefined && footer.innerText !== old;
}"""


def median_ms(values: list[float]) -> str:
    """A median in milliseconds, with the range."""
    return (f"{1000 * statistics.median(values):.0f} ms (range {1000 * min(values):.0f}–"
            f"{1000 * max(values):.0f})")


def render(page, url: str, full: bool) -> float:
    """Seconds from navigation until the page is complete."""
    start = time.perf_counter()
    page.goto(url)
    page.get_by_text("Vehicles monitored").wait_for(timeout=60_000)
    if full:
        page.locator(".vega-embed").nth(3).wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"]').nth(2).wait_for(timeout=60_000)
        page.get_by_text("refreshed").wait_for(timeout=60_000)
    return time.perf_counter() - start


def main() -> None:
    """Seed, measure, print a Markdown table."""
    import subprocess

    from playwright.sync_api import sync_playwright

    from evpm.dashboard.data import read_fleet
    from evpm.storage import Storage

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--per-vehicle", type=int, default=100)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evpm-bench-dashboard-"))
    url = f"sqlite:///{work / 'fleet.db'}"
    seed(url, fleet_records(args.vehicles, args.per_vehicle, seed=1)).dispose()
    total = args.vehicles * args.per_vehicle
    rows = []

    storage = Storage(url, read_only=True)
    def load():
        return read_fleet(storage)

    load()  # warm-up
    loads = []
    for _ in range(args.loads):
        start = time.perf_counter()
        load()
        loads.append(time.perf_counter() - start)
    rows.append((f"data load ({total:,} records, {args.vehicles} vehicles)", median_ms(loads),
                 "≤ 1 s"))

    hello = work / "hello.py"
    hello.write_text('import streamlit as st\nst.metric("Vehicles monitored", "1")\n')
    port = free_port()
    baseline_server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(hello), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    dashboard = DashboardProcess(work, url).start()
    try:
        with sync_playwright() as playwright:
            browser = chromium(playwright)

            def tab():
                return browser.new_page(viewport={"width": 1600, "height": 2400})

            assert wait_until(lambda: answers(port, "/_stcore/health"), 60)
            first = tab()
            cold = render(first, dashboard.url, True)
            first.close()
            base, full = [], []
            for _ in range(args.loads):
                page = tab()
                base.append(render(page, f"http://127.0.0.1:{port}/", False))
                page.close()
                page = tab()
                full.append(render(page, dashboard.url, True))
                page.close()
            page = tab()
            render(page, dashboard.url, True)
            refresh = []
            for _ in range(args.loads):
                footer = page.get_by_text("refreshed").inner_text()
                start = time.perf_counter()
                page.get_by_role("button", name="Refresh now").click()
                page.wait_for_function(FOOTER_CHANGED, arg=footer, timeout=60_000)
                refresh.append(time.perf_counter() - start)
            browser.close()
    finally:
        dashboard.stop()
        baseline_server.terminate()
    rows.append(("one-metric Streamlit page (baseline), warm server, new tab",
                 median_ms(base), "–"))
    rows.append(("dashboard fully rendered, warm server, new tab", median_ms(full) +
                 f" = {statistics.median(full) / statistics.median(base):.2f}× baseline",
                 "≤ 3 s"))
    rows.append(("dashboard fully rendered, first view after the server starts",
                 f"{1000 * cold:.0f} ms", "–"))
    rows.append(("refresh (\"Refresh now\": caches cleared, data reloaded, page redrawn)",
                 median_ms(refresh), "≤ 1 s"))
    print_table(rows, ("measurement", "median", "target"))


if __name__ == "__main__":
    main()
