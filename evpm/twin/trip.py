"""One simulated trip: FASTSim power demand (or a lab discharge) through the pack model.

Output is a trip table in the PRODUCT.md trip-CSV format and its ground truth.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evpm import chemistry
from evpm.errors import InvalidValueError
from evpm.files import atomic_path, ensure_writable_dir
from evpm.profiles import DEFAULT_PROFILE, Profile, check_vehicle_id, get_profile
from evpm.twin import bms, fastsim_adapter, noise, pack
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
    # A lab cell that is not the profile's own: its rated capacity, cut-off and chemistry
    # (None: the profile's). Drawn per simulated cell so models cannot rely on one cell.
    cell_ah: float | None = None
    cell_v_min: float | None = None
    chemistry: str | None = None
    rest_before_s: float = 0.0  # lab: logged rest before the load starts
    rest_after_s: float = 0.0  # logged rest after the work stops (a vehicle: parked)
    stop_soc: float | None = None  # cycler: stop at this SOC (a test that ends on charge)
    drive_power_scale: float = 1.0  # lab drive: × the reference car's per-cell power
    log_from_load: bool = False  # lab: the log starts with the load (no rest sample first)
    slow_r_fraction: float = 0.0  # a second, slow RC pair (diffusion): R2 / R0 (0: none)
    slow_tau_s: float = 1800.0
    surface_lag: float = 0.0  # surface SOC lag at 1 C (diffusion knee; 0: none), see pack
    surface_tau_s: float = 900.0
    ocv_shape: tuple[float, float] = (0.0, 0.0)  # this cell's OCV bend (V), see pack
    hysteresis_v: float = 0.0  # half-gap between charge and discharge branches (V), see pack
    # The randomised twin (evpm.twin.randomise): the current sensor's own gain and offset
    # (A per parallel string), and a soc column computed as a BMS does (evpm.twin.bms) when
    # `bms_capacity_error` is set (None: the true soc with BMS noise).
    sensor_gain: float = 1.0
    sensor_offset_a: float = 0.0
    bms_capacity_error: float | None = None
    bms_rest_corrected: bool = True
    bms_start_drift: float = 0.0
    bms_stale_s: float = 0.0
    bms_soc_step: float = 0.001

    def __post_init__(self) -> None:
        check_vehicle_id(self.vehicle_id)
        get_profile(self.profile)
        check_cycle(self.cycle)
        pack.AgingState(self.soh, self.resistance_factor)  # validates both
        if not -40.0 <= self.ambient_c <= 60.0 or not math.isfinite(self.ambient_c):
            raise InvalidValueError(f"ambient temperature {self.ambient_c} °C is outside [-40, 60]")
        if not 1 <= self.repeats <= 50:
            raise InvalidValueError(f"repeats {self.repeats} is outside [1, 50]")
        if self.cell_ah is not None and not 0.1 <= self.cell_ah <= 500.0:
            raise InvalidValueError(f"cell capacity {self.cell_ah} Ah is outside [0.1, 500]")
        if self.chemistry is not None:
            chemistry.ocv_table(self.chemistry)
        if not 0.0 <= self.hysteresis_v <= 0.2:
            raise InvalidValueError(f"hysteresis half-gap {self.hysteresis_v} V is outside "
                                    "[0, 0.2]")


def cell_profile(spec: TripSpec) -> Profile:
    """The profile a trip is simulated (and read) with: the named one, with the spec's cell."""
    profile = get_profile(spec.profile)
    changes: dict = {}
    if spec.cell_ah is not None:
        # The same cell design, larger or smaller: rated power, heat capacity and cooling
        # scale with capacity (a 5 Ah cell is not heated like a 2 Ah one).
        scale = spec.cell_ah / profile.cell_capacity_ah
        changes.update(cell_capacity_ah=spec.cell_ah,
                       rated_peak_power_w=profile.rated_peak_power_w * scale,
                       cell_thermal_mass_j_per_k=profile.cell_thermal_mass_j_per_k * scale,
                       cell_cooling_w_per_k=profile.cell_cooling_w_per_k * scale)
    if spec.cell_v_min is not None:
        changes["cell_v_min"] = spec.cell_v_min
    if spec.chemistry is not None:
        changes["chemistry"] = spec.chemistry
    return replace(profile, **changes) if changes else profile


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
        power = power * scale * spec.drive_power_scale
    return time_s, power, speed


def _lab_demand(spec: TripSpec, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """(time s, pack current A) of a lab discharge, long enough to reach the cut-off."""
    lab = LAB_CYCLES[spec.cycle]
    c_rate_scale = profile.pack_capacity_ah / get_profile("lab-18650-2ah").cell_capacity_ah
    hours = LAB_MAX_HOURS * (5.0 if lab.current_a < 1.0 else 1.0)  # a 0.2 C discharge is slow
    on_s = lab.on_s or lab.period_s / 2.0
    if lab.period_s and not lab.random_walk:  # a pulse test rests most of the time
        hours *= max(1.0, lab.period_s / (2.0 * on_s))
    time_s = np.arange(0.0, hours * 3600.0 + spec.rest_before_s + spec.rest_after_s + 1.0)
    current = np.full_like(time_s, lab.current_a * c_rate_scale)
    if lab.random_walk:
        rng = np.random.default_rng(spec.seed)
        steps = rng.uniform(0.0, 1.0, int(len(time_s) // lab.period_s) + 1)
        current = current * steps[(time_s // lab.period_s).astype(int)]
    elif lab.period_s:
        current[(time_s % lab.period_s) >= on_s] = 0.0
    current[time_s <= spec.rest_before_s] = 0.0
    current[0] = 0.0
    return time_s, current


def _sop_cell(spec: TripSpec) -> dict:
    return {"slow_r_fraction": spec.slow_r_fraction, "slow_tau_s": spec.slow_tau_s,
            "ocv_shape": spec.ocv_shape}


def _cell_dynamics(spec: TripSpec) -> dict:
    # What the pack model needs beyond the profile; the SoP truth takes all but the surface lag,
    # which builds too slowly to matter in a 10-s pulse.
    return {**_sop_cell(spec), "surface_lag": spec.surface_lag,
            "surface_tau_s": spec.surface_tau_s, "hysteresis_v": spec.hysteresis_v}


def _start_branch(soc0: float) -> float:
    # A full cell comes off its charger (charge branch); a partial start was reached by
    # discharging to it (a cycler's set-SOC step, the end of the last drive).
    return 1.0 if soc0 >= 0.97 else -1.0


STANDARD_C_RATE = 1.0  # a cell's standard capacity: 1 C from full at 25 °C to its cut-off
STANDARD_AMBIENT_C = 25.0


def standard_capacity_ah(profile: Profile, aging: pack.AgingState, spec: TripSpec) -> float:
    """The cell's standard capacity now (Ah): a 1 C discharge from full at 25 °C to its cut-off.

    What a lab's capacity test reports and what the real-data labels are; a test at another
    rate or temperature, or a drive cycle, delivers more or less than this.
    """
    time_s = np.arange(0.0, 2.0 * 3600.0 / STANDARD_C_RATE, 5.0)
    demand = np.full_like(time_s, STANDARD_C_RATE * profile.pack_capacity_ah)
    demand[0] = 0.0
    trace = pack.simulate(profile, aging, time_s, demand, mode="current", soc0=1.0,
                          ambient_c=STANDARD_AMBIENT_C, stop_at_cutoff=True, **_cell_dynamics(spec))
    return float(np.trapz(-trace.current_a, trace.time_s) / 3600.0) / profile.parallel


def simulate_trip(spec: TripSpec) -> TripResult:
    """Simulate one trip; noise-free unless `spec.noise`."""
    profile = cell_profile(spec)
    aging = pack.AgingState(spec.soh, spec.resistance_factor)
    is_lab = spec.cycle in LAB_CYCLES
    # A drive cycle replayed on a lab cell is logged by a cycler: to the cut-off (or a set
    # charge), no SOC column.
    cycler = is_lab or profile.fastsim_vehicle is None
    soc0 = spec.soc0 if spec.soc0 is not None else (1.0 if is_lab else 0.9)
    speed = None
    if is_lab:
        time_s, current = _lab_demand(spec, profile)
        trace = pack.simulate(
            profile, aging, time_s, current, mode="current", soc0=soc0,
            ambient_c=spec.ambient_c, stop_at_cutoff=True, stop_soc=spec.stop_soc,
            rest_after_s=spec.rest_after_s, hysteresis0=_start_branch(soc0),
            **_cell_dynamics(spec),
        )
        # Log every `sample_s` like the lab cycler, always keeping the cut-off point.
        every = int(LAB_CYCLES[spec.cycle].sample_s)
        ends = [len(trace.time_s) - 1] + ([trace.stop_index] if trace.stop_index else [])
        keep = np.unique(np.r_[np.arange(0, len(trace.time_s), every), ends])
        fastsim_energy = float("nan")
    else:
        time_s, power, speed = _drive_demand(spec, profile)
        if not cycler and spec.rest_after_s > 0:  # the logger runs on into the parking
            tail = time_s[-1] + np.arange(1.0, spec.rest_after_s + 1.0)
            time_s = np.r_[time_s, tail]
            power, speed = np.r_[power, np.zeros(len(tail))], np.r_[speed, np.zeros(len(tail))]
        if cycler and spec.rest_before_s > 0:
            shift = float(spec.rest_before_s)
            time_s = np.r_[0.0, time_s + shift]
            power, speed = np.r_[0.0, power], np.r_[0.0, speed]
        trace = pack.simulate(
            profile, aging, time_s, power, mode="power", soc0=soc0, ambient_c=spec.ambient_c,
            # Drive cycles on a cell end as on the real cyclers: at a set charge (peaks that
            # touch the cut-off are limited there), else at the first touch of the cut-off.
            stop_at_cutoff=cycler and spec.stop_soc is None,
            stop_soc=spec.stop_soc if cycler else None,
            rest_after_s=spec.rest_after_s if cycler else 0.0, hysteresis0=_start_branch(soc0),
            **_cell_dynamics(spec),
        )
        keep = np.arange(len(trace.time_s))
        speed = speed[: len(trace.time_s)]
        dt = np.diff(time_s[: len(trace.time_s)])
        fastsim_energy = float(np.sum(power[1 : len(trace.time_s)] * dt))

    if cycler and spec.log_from_load and spec.rest_before_s <= 0 and len(keep) > 2:
        keep = keep[1:]  # many cycler files begin under load: the rest before is not logged
    volts, amps = trace.voltage_v[keep], trace.current_a[keep]
    temps, socs = trace.temperature_c[keep], trace.soc[keep]
    amps = amps * spec.sensor_gain + spec.sensor_offset_a * profile.parallel
    if spec.noise:
        rng = np.random.default_rng(spec.seed)
        volts, amps, temps, socs = noise.add_noise(profile, rng, volts, amps, temps, socs)
    if spec.bms_capacity_error is not None and not cycler:
        socs = bms.bms_soc(
            trace.time_s[keep], amps, float(trace.soc[0]),
            float(trace.voltage_v[0]) / profile.series, chemistry_name=profile.chemistry,
            capacity_ah=profile.pack_capacity_ah * spec.soh * (1.0 + spec.bms_capacity_error),
            rest_corrected=spec.bms_rest_corrected, start_drift=spec.bms_start_drift,
            stale_s=spec.bms_stale_s, step=spec.bms_soc_step)

    time_out = trace.time_s[keep]
    table = pd.DataFrame({"time_s": time_out, "voltage_V": volts, "current_A": amps})
    if not cycler:
        table["soc"] = socs
    table["temperature_C"] = temps
    if not cycler:
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
        "true_sop_w": round(pack.true_sop_w(profile, aging, **_sop_cell(spec)), 1),
        "ambient_c": spec.ambient_c,
        "soc_start": round(float(trace.soc[0]), 5),
        "soc_end": round(float(trace.soc[-1]), 5),
        "duration_s": float(trace.time_s[-1] - trace.time_s[0]),
        "samples": len(table),
        "noise": spec.noise,
        "seed": spec.seed,
        "reached_cutoff": bool(cycler and trace.hit_cutoff),
        # A lab discharge's measured capacity (true current, the logged samples, trapezoid to
        # the cut-off): what a cycler reports as the cell's capacity and what the NASA PCoE
        # labels are. None for road trips.
        "discharge_capacity_ah": round(float(
            np.trapz(-trace.current_a[keep], trace.time_s[keep]) / 3600.0), 6)
        if is_lab and trace.hit_cutoff else None,  # a drive test is labelled by capacity
        "standard_capacity_ah": round(standard_capacity_ah(profile, aging, spec), 6)
        if cycler else None,
        "cell_capacity_ah": profile.cell_capacity_ah,
        "cell_v_min": profile.cell_v_min,
        "chemistry": profile.chemistry,
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
