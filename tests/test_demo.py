"""The first local run's demo fleet (`evpm.demo`)."""

from evpm.demo import seed_demo
from evpm.health import PRIORITY
from evpm.settings import Settings
from evpm.storage import Storage


def test_demo_fleet_is_judged_by_the_configured_status_thresholds(tmp_path, repo):
    """Seeding once loaded the models without the settings' thresholds (EVPM_PRIORITY_SCORE)."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    # A threshold every score reaches: with the settings honoured, every trip is Priority.
    settings = Settings(database_url=url, models_dir=repo / "models",
                        priority_score=1e-9, monitor_score=1e-9)
    seeded = seed_demo(settings, tmp_path / "demo")
    assert seeded > 0
    records = Storage(url).history("DEMO0001") + Storage(url).history("DEMO0002")
    assert records and {r.status for r in records} == {PRIORITY}
    assert seed_demo(settings, tmp_path / "demo") == 0  # once only
