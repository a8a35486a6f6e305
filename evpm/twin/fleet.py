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
from evpm.twin import aging, fastsim_adapter, randomise
from evpm.twin.cycles import LAB_CYCLES
from evpm.twin.trip import TripSpec, simulate_trip, trip_file_name, write_table

TRUTH_COLUMNS = [
    "vehicle_id", "trip_id", "file", "date", "profile", "climate", "duty", "cycle", "repeats",
    "ambient_c", "true_soh", "resistance_factor", "true_sop_w", "soc_start", "soc_end",
    "duration_s", "start_age_days", "degradation_scalar", "discharge_capacity_ah",
    "cell_capacity_ah", "cell_v_min", "chemistry", "reached_cutoff", "standard_capacity_ah",
]
HVAC_BIN_C = 5.0  # FASTSim runs are shared between trips whose ambient rounds to the same bin
LAB_MAX_AGE_YEARS = 1.0
# Simulated lab cells are not all the profile's 2.0 Ah NASA-type cell: each draws its rated
# capacity, cut-off, OCV family and how its resistance compares with its rating, spanning
# common 18650/21700 cells (1.5-5 Ah, 2.5-3.0 V cut-offs; real cells measure 0.3-1.5 x the
# resistance a profile's rated power implies).
LAB_CELL_AH = (1.5, 5.0)
LAB_CUTOFFS_V = (2.5, 2.7, 2.8, 3.0)
LAB_CHEMISTRIES = ("lab", "nmc", "nca")
LAB_RESISTANCE_SCALE = (0.3, 1.5)
# The slow (diffusion) RC pair: R2 / R0 and its time constant. Real 18650s relax by tens of
# mV from one to five minutes after a load (real-drive-cycles) and deliver 7-8 % less at 1 C
# than at C/20 (its README); a single fast RC pair does neither.
LAB_SLOW_R_FRACTION = (0.3, 1.5)
LAB_SLOW_TAU_S = (60.0, 600.0)
# Half-gap between a lab cell's charge and discharge OCV branches at mid SOC (see pack): 18650
# NMC/NCA cells show 5-30 mV. Drawn from the cell's own seed so the other draws stay as they were.
LAB_HYSTERESIS_V = (0.005, 0.03)
# The surface-SOC lag at 1 C (see pack): how much usable capacity a cell loses to solid-state
# diffusion at its rate. 0 is a cell with none; 0.1 gives the DMEGC INR18650's 8 % less at 1 C
# than at C/20 (real-drive-cycles README). Drawn across the span, because a cell's rate
# capability is not in its rating; with its relaxation time at 25 °C (longer in the cold).
LAB_SURFACE_LAG = (0.0, 0.12)
LAB_SURFACE_TAU_S = (300.0, 1200.0)


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
    vary_cells: bool = True  # lab cells: draw each cell's rating (see LAB_CELL_AH …)
    randomise: bool = False  # every cell: its own OCV curve, dynamics, sensor, BMS (randomise)

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
    cell_ah: float | None = None  # lab cells: the cell's own rating (None: the profile's)
    cell_v_min: float | None = None
    chemistry: str | None = None
    resistance_scale: float = 1.0
    slow_r_fraction: float = 0.0
    slow_tau_s: float = 1800.0
    hysteresis_v: float = 0.0
    surface_lag: float = 0.0
    surface_tau_s: float = 900.0
    ocv_shape: tuple[float, float] = (0.0, 0.0)
    draw: randomise.CellDraw | None = None  # the randomised twin's draws (None: off)


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
        cell: dict = {}
        if lab and spec.vary_cells:
            cell = {"cell_ah": round(float(rng.uniform(*LAB_CELL_AH)), 3),
                    "cell_v_min": float(rng.choice(LAB_CUTOFFS_V)),
                    "chemistry": str(rng.choice(LAB_CHEMISTRIES))}
        if lab and spec.vary_cells:  # no cell measures exactly its rating's resistance
            cell["resistance_scale"] = float(np.exp(rng.uniform(*np.log(LAB_RESISTANCE_SCALE))))
            cell["slow_r_fraction"] = float(np.exp(rng.uniform(*np.log(LAB_SLOW_R_FRACTION))))
            cell["slow_tau_s"] = float(rng.uniform(*LAB_SLOW_TAU_S))
        start_age_days = float(rng.uniform(0.0, max_age_years * 365.0))
        degradation_scalar = float(np.exp(rng.normal(0.0, 0.35)))
        seed = int(rng.integers(0, 2**31 - 1))
        if lab and spec.vary_cells:
            own = np.random.default_rng([seed, 1])
            cell["hysteresis_v"] = float(own.uniform(*LAB_HYSTERESIS_V))
            cell["surface_lag"] = float(own.uniform(*LAB_SURFACE_LAG))
            cell["surface_tau_s"] = float(own.uniform(*LAB_SURFACE_TAU_S))
        if spec.randomise:
            cell.update(_randomised(seed, lab, lab and spec.vary_cells))
        plans.append(
            VehiclePlan(
                index=index,
                vehicle_id=f"{spec.id_prefix}{index + 1:0{width}d}",
                profile=profile,
                climate=climate,
                duty=duty,
                start_age_days=start_age_days,
                degradation_scalar=degradation_scalar,
                seed=seed,
                trip_days=slots * spec.days,
                **cell,
            )
        )
    return plans


def _randomised(seed: int, lab: bool, varied_lab_cell: bool) -> dict:
    """A plan's randomised-twin fields: every cell's own OCV curve, sensor (a cycler's for a
    lab cell) and BMS; vehicle packs also the slow RC pair, hysteresis and surface lag that
    varied lab cells already draw."""
    draw = randomise.draw_cell(seed, lab=lab)
    fields: dict = {"draw": draw, "ocv_shape": draw.ocv_shape}
    if not varied_lab_cell:
        fields.update(slow_r_fraction=draw.slow_r_fraction, slow_tau_s=draw.slow_tau_s,
                      hysteresis_v=draw.hysteresis_v, surface_lag=draw.surface_lag,
                      surface_tau_s=draw.surface_tau_s)
    return fields


def _randomised_trip(plan: VehiclePlan, rng: np.random.Generator | None, lab: bool) -> dict:
    """A trip's randomised-twin fields (nothing when the plan has no draws)."""
    draw = plan.draw
    if draw is None or rng is None:
        return {}
    fields = {"sensor_gain": draw.sensor_gain, "sensor_offset_a": draw.sensor_offset_a,
              "ocv_shape": plan.ocv_shape}
    if not lab:
        trip = randomise.draw_trip(rng)
        fields.update(bms_capacity_error=draw.bms_capacity_error,
                      bms_rest_corrected=trip.rest_corrected,
                      bms_start_drift=trip.start_drift, bms_stale_s=trip.stale_s,
                      bms_soc_step=draw.bms_soc_step, rest_after_s=trip.parked_tail_s)
    return fields


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
    # Its own generator: the other draws stay as they are with randomisation on.
    varied = np.random.default_rng([plan.seed, 3]) if plan.draw is not None else None
    for number, day in enumerate(plan.trip_days, start=1):
        cycle = str(rng.choice(duty.cycles))
        hour = float(rng.uniform(6.0, 21.0))
        ambient = aging.ambient_c(climate, spec.start_date.timetuple().tm_yday - 1 + day, hour)
        ambient = round(float(np.clip(ambient + rng.normal(0.0, 2.0), -30.0, 50.0)), 1)
        lab = profile.fastsim_vehicle is None
        resistance_factor = float(np.clip(resistance[number - 1] * plan.resistance_scale,
                                          0.2, 10.0))
        trip = TripSpec(
            vehicle_id=plan.vehicle_id,
            profile=plan.profile,
            cycle=cycle,
            soh=float(np.clip(soh[number - 1], 0.3, 1.2)),
            resistance_factor=resistance_factor,
            ambient_c=ambient,
            soc0=_lab_start_soc(rng) if lab else
            round(float(rng.uniform(0.55, duty.charge_to_soc)), 3),
            repeats=50 if lab and cycle not in LAB_CYCLES else
            int(rng.integers(1, duty.max_repeats + 1)),
            noise=spec.noise,
            seed=int(rng.integers(0, 2**31 - 1)),
            fastsim_ambient_c=round(ambient / HVAC_BIN_C) * HVAC_BIN_C,
            cell_ah=plan.cell_ah, cell_v_min=plan.cell_v_min, chemistry=plan.chemistry,
            slow_r_fraction=plan.slow_r_fraction,
            # Randomised: diffusion slows as the cell ages.
            slow_tau_s=plan.slow_tau_s if plan.draw is None else
            randomise.aged_tau_s(plan.slow_tau_s, resistance_factor),
            hysteresis_v=plan.hysteresis_v, surface_lag=plan.surface_lag,
            surface_tau_s=plan.surface_tau_s,
            **(_lab_rests(rng, cycle, ambient < 10.0) if lab else {}),
            **_randomised_trip(plan, varied, lab),
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
            "cell_capacity_ah": truth["cell_capacity_ah"], "cell_v_min": truth["cell_v_min"],
            "chemistry": truth["chemistry"], "reached_cutoff": truth["reached_cutoff"],
            "standard_capacity_ah": truth["standard_capacity_ah"],
        })
    return rows


def _lab_start_soc(rng: np.random.Generator) -> float:
    """A lab test starts full most of the time, else part-charged (a cycler's partial start)."""
    return 1.0 if rng.uniform() < 0.6 else round(float(rng.uniform(0.3, 0.97)), 3)


def _lab_rests(rng: np.random.Generator, cycle: str, cold: bool) -> dict:
    """Rests a cycler logs around a test, and where a drive test stops (cut-off or charge)."""
    rests = {"rest_before_s": float(rng.choice([0.0, 0.0, rng.uniform(60.0, 3600.0)])),
             "rest_after_s": float(rng.choice([0.0, rng.uniform(60.0, 1800.0)])),
             "log_from_load": bool(rng.uniform() < 0.3)}
    if cycle not in LAB_CYCLES:
        # A car's drive cycle scaled onto one cell runs it harder than the reference car's
        # per-cell share (the real-data tests reach 4-7 C peaks).
        rests["drive_power_scale"] = round(float(rng.uniform(1.5, 3.5)), 2)
        if rng.uniform() < 0.5 or cold:  # in the cold a test ends on charge, not voltage
            rests["stop_soc"] = round(float(rng.uniform(0.1, 0.5)), 3)
    return rests


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
