"""Stored predictions for dashboard tests and benchmarks: a fleet whose batteries fade.

Values follow the real rules (health score, status) from `evpm.health`; SoH per vehicle is a
straight fade plus trip-to-trip noise, so every number on the page can be checked. Records carry
90 % SoH and SoP intervals (`evpm.uncertainty`'s form, widths drawn per trip), except the
oldest quarter of each vehicle's and every record of one vehicle in seven: records stored
before intervals existed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from evpm.health import health_score, status_for
from evpm.profiles import PROFILES, VEHICLE_PROFILES
from evpm.storage import Record, Storage
from evpm.uncertainty import REAL_CELL_MODEL_SIGMA, Z90

OLD_SHARE = 0.25  # the oldest quarter of a vehicle's records predate intervals
OLD_VEHICLES = 7  # and every record of vehicles 6, 13, 20, …


def intervals(soh: float, sop: float, rng: np.random.Generator) -> dict[str, float]:
    """A record's 90 % SoH interval (read error of 1–8 % with the models' floor) and SoP's."""
    half = Z90 * float(np.hypot(soh * rng.uniform(0.01, 0.08), REAL_CELL_MODEL_SIGMA))
    return {"soh_low": max(soh - half, 0.0), "soh_high": soh + half,
            "sop_low": sop * 0.94, "sop_high": sop * 1.06}


def fleet_records(vehicles: int, per_vehicle: int, days: float = 180.0, seed: int = 0,
                  end: dt.datetime | None = None) -> list[Record]:
    """`vehicles` × `per_vehicle` records spread over `days` ending at `end` (default now)."""
    rng = np.random.default_rng(seed)
    widths = np.random.default_rng([seed, 1])  # its own stream: the SoH values stay as before
    end = end or dt.datetime.now(dt.UTC)
    out = []
    for v in range(vehicles):
        profile = PROFILES[VEHICLE_PROFILES[v % len(VEHICLE_PROFILES)]]
        start_soh = rng.uniform(0.74, 1.0)
        fade_per_day = rng.uniform(0.01, 0.08) / 365.0
        offsets = np.sort(rng.uniform(0, days, per_vehicle))
        for k, offset in enumerate(offsets):
            soh = float(start_soh - fade_per_day * offset + rng.normal(0, 0.008))
            sop = float(profile.rated_peak_power_w * (0.55 + 0.4 * soh))
            score = health_score(soh, sop, profile.rated_peak_power_w)
            old = v % OLD_VEHICLES == OLD_VEHICLES - 1 or k < OLD_SHARE * per_vehicle
            out.append(Record(
                vehicle_id=f"EV{v:04d}",
                timestamp=end - dt.timedelta(days=float(days - offset)),
                predicted_soh=soh, predicted_sop=sop, health_score=score,
                status=status_for(soh, score), prediction_id=f"{v:08d}-0000-4000-8000-{k:012d}",
                model_version="test", source_file=f"tripdata.EV{v:04d}.{k + 1:04d}.csv",
                profile=profile.name,
                features={"soc_window": float(rng.uniform(0.05, 0.6)), "dod": 30.0},
                **({} if old else intervals(soh, sop, widths)),
            ))
    return out


def seed(url: str, records: list[Record], chunk: int = 5000) -> Storage:
    """Store the records (tables created); return the storage."""
    storage = Storage(url)
    storage.init()
    for start in range(0, len(records), chunk):
        storage.save(records[start:start + chunk])
    return storage
