"""BMS-like measurement noise and quantisation, so simulated logs look like real ones.

Figures are typical of automotive BMS logs (and of lab cyclers for the lab cell): a per-trip
current-sensor gain error and offset, white noise on each reading, SOC reported by the BMS
with an estimation offset and 0.1 % resolution, temperatures from a thermistor in 0.5 °C steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evpm.profiles import Profile


@dataclass(frozen=True)
class SensorSpec:
    """Noise figures of one logging setup."""

    voltage_sigma_per_cell_v: float
    voltage_step_v: float
    current_gain_sigma: float  # relative, drawn once per trip
    current_offset_sigma_a: float  # per parallel branch, drawn once per trip
    current_sigma_a: float  # per parallel branch, per sample
    current_step_a: float
    temperature_sigma_c: float
    temperature_step_c: float
    soc_offset_sigma: float
    soc_gain_sigma: float
    soc_step: float


VEHICLE_BMS = SensorSpec(
    voltage_sigma_per_cell_v=0.002, voltage_step_v=0.1,
    current_gain_sigma=0.003, current_offset_sigma_a=0.05, current_sigma_a=0.15,
    current_step_a=0.1,
    temperature_sigma_c=0.2, temperature_step_c=0.5,
    soc_offset_sigma=0.01, soc_gain_sigma=0.005, soc_step=0.001,
)
LAB_CYCLER = SensorSpec(
    voltage_sigma_per_cell_v=0.002, voltage_step_v=0.0001,
    current_gain_sigma=0.002, current_offset_sigma_a=0.002, current_sigma_a=0.005,
    current_step_a=0.0001,
    temperature_sigma_c=0.1, temperature_step_c=0.01,
    soc_offset_sigma=0.0, soc_gain_sigma=0.0, soc_step=0.001,
)


def sensor_spec(profile: Profile) -> SensorSpec:
    """Logging setup of a profile: a lab cycler for single cells, a BMS for packs."""
    return LAB_CYCLER if profile.cells == 1 else VEHICLE_BMS


def _quantise(values: np.ndarray, step: float) -> np.ndarray:
    return np.round(values / step) * step


def add_noise(
    profile: Profile,
    rng: np.random.Generator,
    voltage_v: np.ndarray,
    current_a: np.ndarray,
    temperature_c: np.ndarray,
    soc: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Return measured (noisy, quantised) voltage, current, temperature and SOC."""
    spec = sensor_spec(profile)
    n = len(voltage_v)
    v_sigma = spec.voltage_sigma_per_cell_v * np.sqrt(profile.series)
    volts = _quantise(voltage_v + rng.normal(0.0, v_sigma, n), spec.voltage_step_v)
    gain = 1.0 + rng.normal(0.0, spec.current_gain_sigma)
    offset = rng.normal(0.0, spec.current_offset_sigma_a) * profile.parallel
    i_sigma = spec.current_sigma_a * np.sqrt(profile.parallel)
    amps = current_a * gain + offset + rng.normal(0.0, i_sigma, n)
    amps = _quantise(amps, spec.current_step_a)
    temps = _quantise(
        temperature_c + rng.normal(0.0, spec.temperature_sigma_c, n), spec.temperature_step_c
    )
    measured_soc = None
    if soc is not None:
        soc_gain = 1.0 + rng.normal(0.0, spec.soc_gain_sigma)
        estimate = soc[0] + rng.normal(0.0, spec.soc_offset_sigma) + (soc - soc[0]) * soc_gain
        measured_soc = np.clip(_quantise(estimate, spec.soc_step), 0.0, 1.0)
    return volts, amps, temps, measured_soc
