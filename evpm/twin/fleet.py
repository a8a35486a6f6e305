"""A fleet simulated over time: vehicles age (BLAST-Lite) and log trips (FASTSim + pack model).

Each vehicle gets a profile, a climate, a duty pattern, an age at the start (years already in
service) and a degradation scalar (how hard its cells age), all drawn from the seed. Its
capacity and resistance are integrated week by week; each trip is simulated with the state of
health of its date. Output: one trip CSV per trip (PRODUCT.md names), a ground-truth table and
the fleet registry (vehicle → profile) that the pipeline reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evpm.errors import InvalidValueError
from evpm.files import atomic_path, ensure_writable_dir
from evpm.profiles import LAB_PROFILE, VEHICLE_PROFILES, get_profile, update_registry
from evpm.twin import aging, fastsim_adapter
from evpm.twin.trip import TripSpec, simulate_trip, trip_file_name, write_table

TRUTH_COLUMNS = [
    "vehicle_id", "trip_id", "file", "date", "profile", "climate", "duty", "cycle", "repeats",
    "ambient_c", "true_soh", "resistance_factor", "true_sop_w", "soc_start", "soc_end",
    "duration_s", "start_age_days", "degradation_scalar", "discharge_capacity_ah",
]
HVAC_BIN_C = 5.0  # FASTSim runs are shared between trips whose ambient rounds to the same bin
LAB_MAX_AGE_YEARS = 1.0


@dataclass(frozen=True)
class FleetSpec:
    """What to simulate."""

    vehicles: int = 10
    trips: int = 10
    days: float = 365.0
    seed: int = 0
    profiles: tuple[str, ...] = tuple(VEHICLE_PROFILES)
    climates: tuple[str, ...] = aging.ROAD_CLIMATES  # lab cells: aging.LAB_CLIMATES
    duties: tuple[str, ...] = ("urban", "highway", "aggressive", "mixed")
    max_initial_age_years: float = 6.0
    noise: bool = True
    start_date: dt.date = dt.date(2026, 1, 1)
    id_prefix: str = "EV"

    def __post_init__(self) -> None:
        if not 1 <= self.vehicles <= 100_000:
            raise InvalidValueError(f"vehicles {self.vehicles} is outside [1, 100000]")
        if not 1 <= self.trips <= 10_000:
            raise InvalidValueError(f"trips {self.trips} is outside [1, 10000]")
        if not 0 < self.days <= 365 * 20:
            raise InvalidValueError(f"days {self.days} must be positive and at most 20 years")
        if not 0 <= self.max_initial_age_years <= 20:
            raise InvalidValueError("initial age must be between 0 and 20 years")
        for name in self.profiles:
            get_profile(name)
        for name in self.climates:
            aging.get_climate(name)
        for name in self.duties:
            aging.get_duty(name)


@dataclass
class VehiclePlan:
    """One vehicle's draws from the seed."""

    index: int
    vehicle_id: str
    profile: str
    climate: str
    duty: str
    start_age_days: float
    degradation_scalar: float
    seed: int
    trip_days: np.ndarray = field(default_factory=lambda: np.zeros(0))


def plan_fleet(spec: FleetSpec) -> list[VehiclePlan]:
    """Draw every vehicle's profile, climate, duty and age from the seed."""
    rng = np.random.default_rng(spec.seed)
    width = max(4, len(str(spec.vehicles)))
    plans = []
    for index in range(spec.vehicles):
        profile = spec.profiles[index % len(spec.profiles)]
        lab = profile == LAB_PROFILE
        duty = "lab" if lab else str(rng.choice(spec.duties))
        climate = str(rng.choice(aging.LAB_CLIMATES if lab else spec.climates))
        # Lab cells are cycled to end of life in months (NASA PCoE: up to ~200 cycles), not
        # kept for years like a vehicle.
        max_age_years = min(spec.max_initial_age_years, LAB_MAX_AGE_YEARS) if lab else \
            spec.max_initial_age_years
        # Trips spread over the period, in order, with jitter so dates are not a grid.
        slots = (np.arange(spec.trips) + rng.uniform(0.1, 0.9, spec.trips)) / spec.trips
        plans.append(
            VehiclePlan(
                index=index,
                vehicle_id=f"{spec.id_prefix}{index + 1:0{width}d}",
                profile=profile,
                climate=climate,
                duty=duty,
                start_age_days=float(rng.uniform(0.0, max_age_years * 365.0)),
                degradation_scalar=float(np.exp(rng.normal(0.0, 0.35))),
                seed=int(rng.integers(0, 2**31 - 1)),
                trip_days=slots * spec.days,
            )
        )
    return plans


def _kwh_per_km(profile_name: str, duty: aging.Duty) -> float:
    profile = get_profile(profile_name)
    if profile.fastsim_vehicle is None:
        return 0.0
    demand = fastsim_adapter.power_demand(profile.fastsim_vehicle, duty.cycles[0], 20.0)
    return float(demand.energy_j[-1] / 3.6e6 / (demand.distance_m[-1] / 1000.0))


def simulate_vehicle(spec: FleetSpec, plan: VehiclePlan, out_dir: Path) -> list[dict]:
    """Age one vehicle and write its trips; return its ground-truth rows."""
    profile = get_profile(plan.profile)
    climate = aging.get_climate(plan.climate)
    duty = aging.get_duty(plan.duty)
    rng = np.random.default_rng(plan.seed)
    soh, resistance = aging.age_battery(
        profile, climate, duty, plan.trip_days,
        start_age_days=plan.start_age_days,
        degradation_scalar=plan.degradation_scalar,
        kwh_per_km=_kwh_per_km(plan.profile, duty),
    )
    width = max(4, len(str(spec.trips)))
    rows = []
    for number, day in enumerate(plan.trip_days, start=1):
        cycle = str(rng.choice(duty.cycles))
        hour = float(rng.uniform(6.0, 21.0))
        ambient = aging.ambient_c(climate, spec.start_date.timetuple().tm_yday - 1 + day, hour)
        ambient = round(float(np.clip(ambient + rng.normal(0.0, 2.0), -30.0, 50.0)), 1)
        lab = profile.fastsim_vehicle is None
        trip = TripSpec(
            vehicle_id=plan.vehicle_id,
            profile=plan.profile,
            cycle=cycle,
            soh=float(np.clip(soh[number - 1], 0.3, 1.2)),
            resistance_factor=float(np.clip(resistance[number - 1], 0.5, 10.0)),
            ambient_c=ambient,
            soc0=None if lab else round(float(rng.uniform(0.55, duty.charge_to_soc)), 3),
            repeats=int(rng.integers(1, duty.max_repeats + 1)),
            noise=spec.noise,
            seed=int(rng.integers(0, 2**31 - 1)),
            fastsim_ambient_c=round(ambient / HVAC_BIN_C) * HVAC_BIN_C,
        )
        result = simulate_trip(trip)
        trip_id = f"{number:0{width}d}"
        path = write_table(result.table, out_dir / trip_file_name(plan.vehicle_id, trip_id))
        when = dt.datetime.combine(spec.start_date, dt.time()) + dt.timedelta(days=float(day))
        truth = result.truth
        rows.append({
            "vehicle_id": plan.vehicle_id, "trip_id": trip_id, "file": path.name,
            "date": when.isoformat(timespec="seconds"), "profile": plan.profile,
            "climate": plan.climate, "duty": plan.duty, "cycle": cycle, "repeats": trip.repeats,
            "ambient_c": ambient, "true_soh": round(trip.soh, 6),
            "resistance_factor": round(trip.resistance_factor, 6),
            "true_sop_w": truth["true_sop_w"], "soc_start": truth["soc_start"],
            "soc_end": truth["soc_end"], "duration_s": truth["duration_s"],
            "start_age_days": round(plan.start_age_days, 1),
            "degradation_scalar": round(plan.degradation_scalar, 4),
            "discharge_capacity_ah": truth["discharge_capacity_ah"],
        })
    return rows


def _vehicle_job(args: tuple[FleetSpec, VehiclePlan, Path]) -> list[dict]:
    return simulate_vehicle(*args)


def _run(spec: FleetSpec, plans: list[VehiclePlan], out_dir: Path, workers: int) -> Iterator:
    jobs = [(spec, plan, out_dir) for plan in plans]
    if workers <= 1 or len(plans) == 1:
        yield from map(_vehicle_job, jobs)
        return
    # fork keeps start-up cheap; each worker caches its own FASTSim runs.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_vehicle_job, jobs)


def simulate_fleet(
    spec: FleetSpec,
    out_dir: Path,
    *,
    truth_path: Path | None = None,
    registry_path: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Simulate the fleet into `out_dir`; return all ground-truth rows (vehicle, trip order)."""
    ensure_writable_dir(out_dir)
    truth_path = truth_path or out_dir / "ground_truth.csv"
    registry_path = registry_path or out_dir / "fleet_registry.csv"
    ensure_writable_dir(truth_path.parent)
    ensure_writable_dir(registry_path.parent)
    plans = plan_fleet(spec)
    workers = workers or min(os.cpu_count() or 1, 2)
    rows: list[dict] = []
    for vehicle_rows in _run(spec, plans, out_dir, workers):
        rows.extend(vehicle_rows)
        if progress:
            progress(1)
    with atomic_path(truth_path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRUTH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    # Added to the registry (not replacing it): a fleet written into a shared registry keeps
    # the vehicles already there.
    update_registry(registry_path, {plan.vehicle_id: plan.profile for plan in plans})
    return rows
