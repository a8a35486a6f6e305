"""One simulated trip: FASTSim power demand (or a lab discharge) through the pack model.

Output is a trip table in the PRODUCT.md trip-CSV format and its ground truth.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.errors import InvalidValueError
from evpm.files import atomic_path, ensure_writable_dir
from evpm.profiles import DEFAULT_PROFILE, Profile, check_vehicle_id, get_profile
from evpm.twin import fastsim_adapter, noise, pack
from evpm.twin.cycles import LAB_CYCLES, check_cycle

# A drive cycle on the lab cell replays this vehicle's per-cell power, scaled to 2.0 Ah.
LAB_DRIVE_REFERENCE = DEFAULT_PROFILE
LAB_MAX_HOURS = 6.0  # a lab discharge longer than this means a wrong setting, not a slow cell


@dataclass(frozen=True)
class TripSpec:
    """Everything that determines one simulated trip."""

    vehicle_id: str = "V001"
    profile: str = DEFAULT_PROFILE
    cycle: str = "udds"
    soh: float = 1.0
    resistance_factor: float = 1.0
    ambient_c: float = 25.0
    soc0: float | None = None  # None: 0.9 for vehicles, 1.0 (full) for lab discharges
    repeats: int = 1
    noise: bool = False
    seed: int = 0
    fastsim_ambient_c: float | None = None  # HVAC load temperature; None = ambient_c

    def __post_init__(self) -> None:
        check_vehicle_id(self.vehicle_id)
        get_profile(self.profile)
        check_cycle(self.cycle)
        pack.AgingState(self.soh, self.resistance_factor)  # validates both
        if not -40.0 <= self.ambient_c <= 60.0 or not math.isfinite(self.ambient_c):
            raise InvalidValueError(f"ambient temperature {self.ambient_c} °C is outside [-40, 60]")
        if not 1 <= self.repeats <= 50:
            raise InvalidValueError(f"repeats {self.repeats} is outside [1, 50]")


@dataclass
class TripResult:
    """A simulated trip: the logged table, the true trace and the ground truth."""

    spec: TripSpec
    table: pd.DataFrame
    trace: pack.PackTrace
    truth: dict = field(default_factory=dict)
    fastsim_energy_j: float = float("nan")  # FASTSim's electrical energy for the same span


def _drive_demand(spec: TripSpec, profile: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time s, pack power W, speed m/s) of a drive cycle repeated `repeats` times."""
    source = profile if profile.fastsim_vehicle else get_profile(LAB_DRIVE_REFERENCE)
    hvac_c = spec.ambient_c if spec.fastsim_ambient_c is None else spec.fastsim_ambient_c
    demand = fastsim_adapter.power_demand(source.fastsim_vehicle, spec.cycle, float(hvac_c))
    step = demand.time_s[1:] - demand.time_s[:-1]
    times = [demand.time_s]
    for _ in range(spec.repeats - 1):
        start = times[-1][-1]
        times.append(start + np.cumsum(step))
    time_s = np.concatenate(times)
    power = np.concatenate([demand.power_w] + [demand.power_w[1:]] * (spec.repeats - 1))
    speed = np.concatenate([demand.speed_mps] + [demand.speed_mps[1:]] * (spec.repeats - 1))
    if source is not profile:
        scale = profile.cells * profile.cell_capacity_ah / (source.cells * source.cell_capacity_ah)
        power = power * scale
    return time_s, power, speed


def _lab_demand(spec: TripSpec, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """(time s, pack current A) of a lab discharge, long enough to reach the cut-off."""
    lab = LAB_CYCLES[spec.cycle]
    c_rate_scale = profile.pack_capacity_ah / get_profile("lab-18650-2ah").cell_capacity_ah
    time_s = np.arange(0.0, LAB_MAX_HOURS * 3600.0 + 1.0)
    current = np.full_like(time_s, lab.current_a * c_rate_scale)
    if lab.period_s:
        current[(time_s % lab.period_s) >= lab.period_s / 2] = 0.0
    current[0] = 0.0
    return time_s, current


def simulate_trip(spec: TripSpec) -> TripResult:
    """Simulate one trip; noise-free unless `spec.noise`."""
    profile = get_profile(spec.profile)
    aging = pack.AgingState(spec.soh, spec.resistance_factor)
    is_lab = spec.cycle in LAB_CYCLES
    soc0 = spec.soc0 if spec.soc0 is not None else (1.0 if is_lab else 0.9)
    speed = None
    if is_lab:
        time_s, current = _lab_demand(spec, profile)
        trace = pack.simulate(
            profile, aging, time_s, current, mode="current", soc0=soc0,
            ambient_c=spec.ambient_c, stop_at_cutoff=True,
        )
        # Log every `sample_s` like the lab cycler, always keeping the cut-off point.
        every = int(LAB_CYCLES[spec.cycle].sample_s)
        keep = np.unique(np.r_[np.arange(0, len(trace.time_s), every), len(trace.time_s) - 1])
        fastsim_energy = float("nan")
    else:
        time_s, power, speed = _drive_demand(spec, profile)
        trace = pack.simulate(
            profile, aging, time_s, power, mode="power", soc0=soc0, ambient_c=spec.ambient_c
        )
        keep = np.arange(len(trace.time_s))
        speed = speed[: len(trace.time_s)]
        dt = np.diff(time_s[: len(trace.time_s)])
        fastsim_energy = float(np.sum(power[1 : len(trace.time_s)] * dt))

    volts, amps = trace.voltage_v[keep], trace.current_a[keep]
    temps, socs = trace.temperature_c[keep], trace.soc[keep]
    if spec.noise:
        rng = np.random.default_rng(spec.seed)
        volts, amps, temps, socs = noise.add_noise(profile, rng, volts, amps, temps, socs)

    time_out = trace.time_s[keep]
    table = pd.DataFrame({"time_s": time_out, "voltage_V": volts, "current_A": amps})
    if not is_lab:
        table["soc"] = socs
    table["temperature_C"] = temps
    if not is_lab:
        power_kw = -volts * amps / 1000.0
        step_h = np.diff(time_out, prepend=time_out[0]) / 3600.0
        table["speed_mps"] = speed[keep]
        table["power_kw"] = power_kw
        table["energy_kwh"] = np.cumsum(power_kw * step_h)

    truth = {
        "vehicle_id": spec.vehicle_id,
        "profile": spec.profile,
        "cycle": spec.cycle,
        "repeats": spec.repeats,
        "true_soh": spec.soh,
        "resistance_factor": spec.resistance_factor,
        "true_sop_w": round(pack.true_sop_w(profile, aging), 1),
        "ambient_c": spec.ambient_c,
        "soc_start": round(float(trace.soc[0]), 5),
        "soc_end": round(float(trace.soc[-1]), 5),
        "duration_s": float(trace.time_s[-1] - trace.time_s[0]),
        "samples": len(table),
        "noise": spec.noise,
        "seed": spec.seed,
        "reached_cutoff": bool(is_lab and trace.stopped_early),
        # A lab discharge's measured capacity (true current, the logged samples, trapezoid to
        # the cut-off): what a cycler reports as the cell's capacity and what the NASA PCoE
        # labels are. None for road trips.
        "discharge_capacity_ah": round(float(
            np.trapz(-trace.current_a[keep], trace.time_s[keep]) / 3600.0), 6) if is_lab
        else None,
        "derated_samples": trace.derated,
    }
    return TripResult(spec, table, trace, truth, fastsim_energy)


_DECIMALS = {
    "time_s": 2, "voltage_V": 4, "current_A": 4, "soc": 5, "temperature_C": 3,
    "speed_mps": 3, "power_kw": 4, "energy_kwh": 5,
}


def trip_file_name(vehicle_id: str, trip_id: str | None = None) -> str:
    """File name per PRODUCT.md: tripdata.<VEHICLE>.csv or tripdata.<VEHICLE>.<TRIP>.csv."""
    check_vehicle_id(vehicle_id)
    return f"tripdata.{vehicle_id}.{trip_id}.csv" if trip_id else f"tripdata.{vehicle_id}.csv"


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a trip table as CSV atomically (temporary name, then rename)."""
    rounded = table.round({c: d for c, d in _DECIMALS.items() if c in table})
    with atomic_path(path) as tmp:
        rounded.to_csv(tmp, index=False)
    return path


def write_trip(result: TripResult, out_dir: Path, trip_id: str | None = None) -> Path:
    """Write the trip CSV and its ground truth (`<name>.truth.json`) into `out_dir`."""
    ensure_writable_dir(out_dir)
    path = out_dir / trip_file_name(result.spec.vehicle_id, trip_id)
    truth_path = path.with_suffix(".truth.json")
    with atomic_path(truth_path) as tmp:
        tmp.write_text(json.dumps({**result.truth, "spec": asdict(result.spec)}, indent=2) + "\n")
    return write_table(result.table, path)
