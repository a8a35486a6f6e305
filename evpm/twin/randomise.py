"""Domain randomisation: per simulated cell and per trip, draws that make the twin differ from
the equations the features invert (one table of ranges, each with where it comes from).

The features read every cell with its family's OCV table, one resistance and one RC pair, and
take a BMS soc at its word. Real cells and real BMSs do none of that, so a twin that does the
same proves little. With `FleetSpec.randomise`, every vehicle and lab cell draws:

- its own OCV curve: the family's bent by a·sin(πSOC) + b·sin(2πSOC) (shape, not only offset;
  ends unchanged), |a| ≤ OCV_BEND_V[0], |b| ≤ OCV_BEND_V[1]: cells of one family from different
  makers differ by tens of mV mid-range; the bound is set above the 20 mV the features allow
  for reading an OCV (OCV_READ_ERROR_V), so the twin can put a cell where they do not look;
- a second, slow RC pair (diffusion, R2 / R0 in SLOW_R_FRACTION, τ2 in SLOW_TAU_S at new,
  growing with the square root of the resistance growth as the cell ages), hysteresis
  (HYSTERESIS_V) and a rate-dependent usable capacity (SURFACE_LAG, SURFACE_TAU_S): the lab
  cells' ranges of `evpm.twin.fleet` (real 18650s relax by tens of mV over one to five minutes
  and give 7-8 % less at 1 C than at C/20), now for vehicle packs as well;
- a current sensor with its own gain and offset, kept for the vehicle's life (SENSOR_GAIN_SIGMA,
  SENSOR_OFFSET_SIGMA_A per parallel string: automotive Hall sensors are specified at ±0.5-1 %
  and tens to hundreds of mA before calibration; a lab cycler's channel LAB_SENSOR_*);
- a BMS that computes soc as a BMS does (`evpm.twin.bms`): coulomb counting over its own
  capacity estimate, which lags the true fade (BMS_CAPACITY_LAG: it is updated now and then,
  so it believes the cell a little healthier than it is) with its own error
  (BMS_CAPACITY_SIGMA); corrected from the rest voltage after long parking (REST_CORRECTED
  share of trips; read with the family's table, so the cell's own bend and hysteresis show up
  as an offset), else carrying the drift of earlier trips (START_DRIFT_SIGMA); its value at
  start stale for a while on some trips (STALE_SHARE, STALE_S); reported in BMS_SOC_STEP steps.

Per trip, vehicles also log the first minutes of parking on some trips (PARKED_TAIL_SHARE,
PARKED_TAIL_S), so some trips end after a rest and the rest end under load.
Draws come from their own generators (seeded from the vehicle's seed), so a fleet drawn with
randomisation off is the same as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OCV_BEND_V = (0.03, 0.02)
SLOW_R_FRACTION = (0.3, 1.5)  # log-uniform
SLOW_TAU_S = (30.0, 900.0)  # log-uniform: from half a minute to a quarter of an hour
HYSTERESIS_V = (0.005, 0.03)
SURFACE_LAG = (0.0, 0.12)
SURFACE_TAU_S = (300.0, 1200.0)
SENSOR_GAIN_SIGMA = 0.007
SENSOR_OFFSET_SIGMA_A = 0.1
# A lab cycler's channel is calibrated to its cell's currents: ±0.1-0.2 % of reading and a few
# mA (a vehicle sensor's 0.1 A would be a quarter of a 0.4 A test's current).
LAB_SENSOR_GAIN_SIGMA = 0.002
LAB_SENSOR_OFFSET_SIGMA_A = 0.005
BMS_CAPACITY_LAG = (0.0, 0.03)
BMS_CAPACITY_SIGMA = 0.01
REST_CORRECTED = 0.6
START_DRIFT_SIGMA = 0.02
STALE_SHARE = 0.3
STALE_S = (5.0, 60.0)
BMS_SOC_STEP = (0.001, 0.005, 0.01)
PARKED_TAIL_SHARE = 0.3
PARKED_TAIL_S = (60.0, 900.0)


@dataclass(frozen=True)
class CellDraw:
    """One cell's (or pack's) randomised physics, sensor and BMS."""

    ocv_shape: tuple[float, float]
    slow_r_fraction: float
    slow_tau_s: float
    hysteresis_v: float
    surface_lag: float
    surface_tau_s: float
    sensor_gain: float
    sensor_offset_a: float  # per parallel string
    bms_capacity_error: float  # the BMS's capacity estimate / true capacity − 1
    bms_soc_step: float


def _log_uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(*np.log(span))))


def draw_cell(seed: int, lab: bool = False) -> CellDraw:
    """A cell's draws from its own generator (`seed`: the vehicle's); `lab`: logged by a
    cycler (its sensor errors), else by a vehicle's BMS."""
    rng = np.random.default_rng([seed, 2])
    gain_sigma, offset_sigma = (LAB_SENSOR_GAIN_SIGMA, LAB_SENSOR_OFFSET_SIGMA_A) if lab \
        else (SENSOR_GAIN_SIGMA, SENSOR_OFFSET_SIGMA_A)
    return CellDraw(
        ocv_shape=(round(float(rng.uniform(-1.0, 1.0) * OCV_BEND_V[0]), 4),
                   round(float(rng.uniform(-1.0, 1.0) * OCV_BEND_V[1]), 4)),
        slow_r_fraction=_log_uniform(rng, SLOW_R_FRACTION),
        slow_tau_s=_log_uniform(rng, SLOW_TAU_S),
        hysteresis_v=float(rng.uniform(*HYSTERESIS_V)),
        surface_lag=float(rng.uniform(*SURFACE_LAG)),
        surface_tau_s=float(rng.uniform(*SURFACE_TAU_S)),
        sensor_gain=float(1.0 + rng.normal(0.0, gain_sigma)),
        sensor_offset_a=float(rng.normal(0.0, offset_sigma)),
        bms_capacity_error=float(rng.uniform(*BMS_CAPACITY_LAG)
                                 + rng.normal(0.0, BMS_CAPACITY_SIGMA)),
        bms_soc_step=float(rng.choice(BMS_SOC_STEP)),
    )


@dataclass(frozen=True)
class TripDraw:
    """One trip's BMS start and logging draws."""

    rest_corrected: bool  # the BMS re-read its soc from the rest voltage before the trip
    start_drift: float  # else: its soc error carried from earlier trips
    stale_s: float  # the soc column holds its value at start this long (0: not stale)
    parked_tail_s: float  # seconds of parking logged after the drive (0: ends under load)


def draw_trip(rng: np.random.Generator) -> TripDraw:
    """A trip's draws (`rng`: the vehicle's randomisation generator, drawn in trip order)."""
    corrected = bool(rng.uniform() < REST_CORRECTED)
    drift = float(rng.normal(0.0, START_DRIFT_SIGMA))
    stale = float(rng.uniform(*STALE_S)) if rng.uniform() < STALE_SHARE else 0.0
    tail = float(rng.uniform(*PARKED_TAIL_S)) if rng.uniform() < PARKED_TAIL_SHARE else 0.0
    return TripDraw(corrected, 0.0 if corrected else drift, stale, tail)


def aged_tau_s(tau_new_s: float, resistance_factor: float) -> float:
    """The slow time constant of an aged cell: τ at new × √(resistance growth)."""
    return tau_new_s * float(np.sqrt(max(resistance_factor, 1.0)))
