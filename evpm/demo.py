"""The first local run's demo fleet: twin trips, predicted and stored, so no view is empty."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from evpm.settings import Settings

DEMO_DAYS = 180.0  # the demo fleet's trips end today, so trends and staleness read naturally


def seed_demo(settings: Settings, out: Path = Path("data/demo")) -> int:
    """First run only: a small twin fleet, predicted and stored; how many predictions (0: the
    database already had some)."""
    from evpm.features import extract_file
    from evpm.predictor import Predictor
    from evpm.profiles import get_profile
    from evpm.storage import Storage
    from evpm.twin.fleet import FleetSpec, simulate_fleet

    storage = Storage(settings.database_url)
    storage.init()
    if storage.count():
        return 0
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DEMO_DAYS)
    rows = simulate_fleet(FleetSpec(vehicles=12, trips=8, days=DEMO_DAYS, seed=7,
                                    id_prefix="DEMO", start_date=start),
                          out / "trips", truth_path=out / "ground_truth.csv",
                          registry_path=out / "fleet_registry.csv", workers=2)
    predictor = Predictor.from_settings(settings)  # the configured status thresholds
    from evpm.api.schemas import parse_timestamp
    from evpm.batch import ParsedBatch, ParsedRow
    from evpm.service import predict_and_store

    parsed = [ParsedRow(extract_file(out / "trips" / r["file"], get_profile(r["profile"])),
                        r["vehicle_id"], r["profile"], f"demo:{r['file']}", r["file"],
                        parse_timestamp(r["date"])) for r in rows]
    predict_and_store(ParsedBatch.from_rows(parsed), predictor, storage, {})
    storage.dispose()
    return len(parsed)
