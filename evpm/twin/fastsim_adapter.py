"""FASTSim 3 behind one module: the rest of the project never imports `fastsim`.

Given a vehicle resource, a drive cycle and the ambient temperature, FASTSim solves the vehicle
dynamics (and, for the vehicles with a thermal model, cabin HVAC load) and returns the battery's
electrical power demand each second. FASTSim's own battery model is used only for that power;
voltage, current, SOC and temperature come from our equivalent-circuit pack model.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evpm.twin.cycles import CYCLE_DIR, DRIVE_CYCLES

KELVIN = 273.15


@dataclass(frozen=True)
class PowerDemand:
    """FASTSim's result for one vehicle over one cycle, sampled every second."""

    time_s: np.ndarray
    speed_mps: np.ndarray
    distance_m: np.ndarray
    power_w: np.ndarray  # battery electrical output power, + discharge / − regen
    energy_j: np.ndarray  # FASTSim's cumulative electrical energy out of the battery


def _fastsim():
    # Imported lazily: importing fastsim pulls plotly and polars (~0.6 s), which the
    # commands that never simulate should not pay for.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import fastsim

    return fastsim


@functools.lru_cache(maxsize=16)
def _cycle_dict(cycle: str) -> dict:
    fsim = _fastsim()
    spec = DRIVE_CYCLES[cycle]
    if spec.fastsim_resource:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return fsim.Cycle.from_resource(spec.fastsim_resource).to_dict()
    table = pd.read_csv(CYCLE_DIR / spec.csv_file)
    return {
        "name": cycle,
        "time_seconds": table["cycSecs"].astype(float).tolist(),
        "speed_meters_per_second": table["cycMps"].astype(float).tolist(),
    }


def cycle_length(cycle: str) -> int:
    """Number of one-second points in a drive cycle."""
    return len(_cycle_dict(cycle)["time_seconds"])


@functools.lru_cache(maxsize=512)
def power_demand(vehicle_resource: str, cycle: str, ambient_c: float) -> PowerDemand:
    """Run FASTSim for one vehicle over one drive cycle at an ambient temperature."""
    fsim = _fastsim()
    cycle_dict = dict(_cycle_dict(cycle))
    n = len(cycle_dict["time_seconds"])
    cycle_dict["temp_amb_air_kelvin"] = [ambient_c + KELVIN] * n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        vehicle = fsim.Vehicle.from_resource(vehicle_resource)
        vehicle.set_save_interval(1)
        # A vehicle too weak for a cycle (the Leaf on US06) falls behind the trace instead of
        # failing the run: the achieved speed is what the battery powered.
        params = fsim.SimParams.from_dict(
            {**fsim.SimParams.default().to_dict(), "trace_miss_opts": "Allow"}
        )
        sim = fsim.SimDrive(vehicle, fsim.Cycle.from_dict(cycle_dict), params)
        sim.walk()
        result = sim.to_dict()
    history = result["veh"]["pt_type"]["BEV"]["res"]["history"]
    time_s = np.asarray(result["cyc"]["time_seconds"], dtype=float)
    speed = np.asarray(result["veh"]["history"]["speed_ach_meters_per_second"], dtype=float)
    return PowerDemand(
        time_s=time_s,
        speed_mps=speed,
        distance_m=np.concatenate([[0.0], np.cumsum(speed[1:] * np.diff(time_s))]),
        power_w=np.asarray(history["pwr_out_electrical_watts"], dtype=float),
        energy_j=np.asarray(history["energy_out_electrical_joules"], dtype=float),
    )
