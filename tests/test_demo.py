"""The first local run's demo fleet (`evpm.demo`)."""

from evpm.demo import seed_demo
from evpm.health import MONITOR, PRIORITY
from evpm.settings import Settings
from evpm.storage import Storage


def test_demo_fleet_is_judged_by_the_configured_status_thresholds(tmp_path, repo):
    """Seeding once loaded the models without the settings' thresholds (EVPM_PRIORITY_SCORE)."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    # A threshold every score reaches: with the settings honoured, every trip is Priority,
    # but for the short trips whose low confidence caps them at Monitor (and say so).
    settings = Settings(database_url=url, models_dir=repo / "models",
                        priority_score=1e-9, monitor_score=1e-9)
    seeded = seed_demo(settings, tmp_path / "demo")
    assert seeded > 0
    records = Storage(url).history("DEMO0001") + Storage(url).history("DEMO0002")
    assert records and PRIORITY in {r.status for r in records}
    assert all(r.status == PRIORITY or (r.status == MONITOR and any(
        w.startswith("status capped at Monitor") for w in r.warnings)) for r in records)
    assert seed_demo(settings, tmp_path / "demo") == 0  # once only
