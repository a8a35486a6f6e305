"""Equivalent-circuit pack model with a lumped thermal model.

Every cell of the pack is taken as identical, so the pack is one cell scaled by the series and
parallel counts. The cell is an open-circuit voltage source (chemistry curve) with a series
resistance R0 and one RC pair (R1, τ1); both resistances grow with the aging state's resistance
factor, rise in the cold (Arrhenius) and near empty. A cycler's cell may add a slow RC pair, a
surface state of charge that lags the bulk one under load (solid-state diffusion) and its own
bend of the family's OCV curve. Capacity is
the rated capacity × SoH, so a worn cell moves further in SOC per ampere-hour. Heat is
R0·I² + V1²/R1 (+ the slow pair's and the lag's losses) per cell, lost to ambient through a
conductance, stored in the cell's thermal mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evpm import chemistry
from evpm.errors import InvalidValueError
from evpm.profiles import SOP_PULSE_S, SOP_SOC, Profile

EMPTY_SOC = 0.02  # a drive stops here: the BMS cuts propulsion before the cell is empty
EMPTY_SLOPE_V = 10.0  # V per unit SOC below the OCV table's 0 %


@dataclass(frozen=True)
class AgingState:
    """How worn a battery is: capacity fraction and resistance growth factor."""

    soh: float = 1.0
    resistance_factor: float = 1.0

    def __post_init__(self) -> None:
        if not (0.0 < self.soh <= 1.2) or not math.isfinite(self.soh):
            raise InvalidValueError(f"SoH {self.soh} is outside (0, 1.2]")
        # Below 1: a cell better than its profile's rating (real cells often are).
        if not (0.2 <= self.resistance_factor <= 10.0) or not math.isfinite(
            self.resistance_factor
        ):
            raise InvalidValueError(
                f"resistance factor {self.resistance_factor} is outside [0.2, 10]"
            )


@dataclass
class PackTrace:
    """Per-sample pack signals, noise-free (true values)."""

    time_s: np.ndarray
    voltage_v: np.ndarray  # pack terminal voltage
    current_a: np.ndarray  # pack current, negative while discharging
    soc: np.ndarray
    temperature_c: np.ndarray  # cell temperature
    power_w: np.ndarray  # delivered pack power (+ discharge)
    derated: int  # samples where the BMS limited power (voltage or power limit)
    stopped_early: bool  # the pack reached empty / cut-off / stop SOC before the demand ended
    hit_cutoff: bool = False  # it stopped at the cut-off voltage (a lab discharge's end)
    stop_index: int | None = None  # the sample where the work stopped (before any rest)


def _arrhenius(temp_c: float, ea_over_r: float = chemistry.RESISTANCE_EA_OVER_R) -> float:
    # Scalar form of chemistry.resistance_temperature_factor (called every step).
    return math.exp(ea_over_r * (1.0 / (temp_c + 273.15) - 1.0 / chemistry.T_REF_K))


# The slow RC pair's temperature and SOC dependence: evpm.chemistry's (shared with the
# features' read error).
DIFFUSION_EA_OVER_R = chemistry.DIFFUSION_EA_OVER_R


# The surface lag (see `simulate`) grows as the square root of the C-rate: real 18650s lose
# 6.6 / 8.3 / 9.2 % of their C/20 capacity at 0.5 / 1 / 2 C (DMEGC INR18650 in
# ../shared/datasets/real-drive-cycles: 2.571 / 2.523 / 2.499 Ah against 2.752 Ah), far less
# than in proportion to the current.
SURFACE_RATE_EXPONENT = 0.5
# It deepens in the cold more mildly than the time to relax lengthens (which follows
# DIFFUSION_EA_OVER_R): a real cell still gives ~94 % of its 25 °C capacity at 0 °C and 0.5 C
# (Panasonic 18650PF, same set: 2.61 Ah without reaching its cut-off).
SURFACE_EA_OVER_R = 1200.0


# Voltage hysteresis (one-state model, Plett 2004): a relaxed cell sits `hysteresis_v` above its
# OCV table after a charge and below it after a discharge, the state moving between the two
# branches within a few % of SOC of current (HYSTERESIS_RATE per unit SOC). The gap widens near
# empty (× 1 + HYSTERESIS_LOW_GAIN at 0 %, from HYSTERESIS_LOW_SOC down): NMC/NCA 18650s show
# 10-30 mV half-gaps mid-range and 2-4× that below 15 % SOC. It closes over the top
# HYSTERESIS_TOP_SOC: a charge held at the top voltage settles the cell on its curve.
HYSTERESIS_RATE = 50.0
HYSTERESIS_LOW_SOC = 0.2
HYSTERESIS_LOW_GAIN = 2.0
HYSTERESIS_TOP_SOC = 0.05


def _hysteresis_gain(soc: float) -> float:
    low = 1.0 + HYSTERESIS_LOW_GAIN * max(0.0, HYSTERESIS_LOW_SOC - soc) / HYSTERESIS_LOW_SOC
    return low * min(1.0, max(0.0, 1.0 - soc) / HYSTERESIS_TOP_SOC)


def _soc_factor(soc: float) -> float:
    # Resistance rises steeply only near empty; flat over the usual window.
    return 1.0 + 0.6 * math.exp(-max(soc, 0.0) / 0.06)


def _diffusion_factor(soc: float) -> float:
    # The slow (diffusion) overpotential grows as the electrode surface empties.
    return chemistry.diffusion_soc_factor(soc)


def ocv_table(chemistry_name: str, ocv_shape: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The cell's OCV table: its family's, bent by a·sin(π·SOC) + b·sin(2π·SOC) volts."""
    return (chemistry.ocv_table(chemistry_name)
            + ocv_shape[0] * np.sin(np.pi * chemistry.SOC_POINTS)
            + ocv_shape[1] * np.sin(2.0 * np.pi * chemistry.SOC_POINTS))


def true_sop_w(profile: Profile, aging: AgingState, slow_r_fraction: float = 0.0,
               slow_tau_s: float = 1800.0, ocv_shape: tuple[float, float] = (0.0, 0.0)) -> float:
    """State of power: the pack's 10-s peak discharge power at 50 % SOC and 25 °C, in watts.

    Voltage-limited HPPC definition: the constant current that brings the terminal voltage to
    the cell's minimum after 10 s from rest, times that voltage, times the cell count (the slow
    RC pair, when the cell has one, adds what it builds in those 10 s).
    """
    r0 = profile.cell_r0_ohm * aging.resistance_factor * _soc_factor(SOP_SOC)
    r_pulse = r0 * profile.pulse_resistance_factor + (
        profile.cell_r0_ohm * aging.resistance_factor * slow_r_fraction
        * _diffusion_factor(SOP_SOC) * (1.0 - math.exp(-SOP_PULSE_S / slow_tau_s)))
    ocv_half = float(np.interp(SOP_SOC, chemistry.SOC_POINTS,
                               ocv_table(profile.chemistry, ocv_shape)))
    current = (ocv_half - profile.cell_v_min) / r_pulse
    return profile.cells * profile.cell_v_min * current


def simulate(
    profile: Profile,
    aging: AgingState,
    time_s: np.ndarray,
    demand: np.ndarray,
    *,
    mode: str,
    soc0: float,
    ambient_c: float,
    temp0_c: float | None = None,
    stop_at_cutoff: bool = False,
    stop_soc: float | None = None,
    rest_after_s: float = 0.0,
    slow_r_fraction: float = 0.0,
    slow_tau_s: float = 1800.0,
    surface_lag: float = 0.0,
    surface_tau_s: float = 900.0,
    ocv_shape: tuple[float, float] = (0.0, 0.0),
    hysteresis_v: float = 0.0,
    hysteresis0: float = 1.0,
) -> PackTrace:
    """Run the pack over a demand sampled at `time_s`.

    `mode="power"`: demand is pack power in W (+ discharge, − regen), held over each step
    ending at that sample (FASTSim's convention). `mode="current"`: demand is pack current in A
    (+ discharge). The run stops at empty SOC, or with `stop_at_cutoff` at the cut-off voltage,
    or at `stop_soc` (a test that ends after a set charge); `rest_after_s` then keeps logging
    the cell at rest (current 0) while it relaxes, as a cycler does after a step.
    `slow_r_fraction` adds a second, slow RC pair (R2 = fraction × R0, time constant
    `slow_tau_s`): the diffusion overpotential that makes a real cell deliver less at 1 C than
    at C/20 and relax for many minutes after a load.
    `surface_lag` makes the open-circuit voltage follow the particles' surface, whose state of
    charge trails the bulk one by `surface_lag` × √(C-rate) under a steady load (× √ of the
    resistance growth: worn cells lose more at rate), reached and relaxed with time constant
    `surface_tau_s` at 25 °C (longer in the cold): near empty, where
    the curve is steep, that is the knee at which a cell reaches its cut-off well before its
    charge is out, the cause of the rate-dependent capacity and of the hours-long relaxation
    after a deep discharge.
    `ocv_shape` (a, b) bends the chemistry's OCV curve for this cell by
    a·sin(πSOC) + b·sin(2πSOC) volts (ends unchanged): no real cell sits exactly on its family's
    table, and the features read every cell with the table.
    `hysteresis_v` is the half-gap between the cell's charge and discharge branches (see
    HYSTERESIS_RATE); `hysteresis0` its state at the start: +1 after a charge, −1 after a
    discharge.
    """
    if mode not in ("power", "current"):
        raise ValueError(f"mode must be 'power' or 'current', not {mode!r}")
    if not 0.0 < soc0 <= 1.0:
        raise InvalidValueError(f"initial SOC {soc0} is outside (0, 1]")
    n = len(time_s)
    cells, parallel, series = profile.cells, profile.parallel, profile.series
    capacity_as = profile.cell_capacity_ah * aging.soh * 3600.0
    r0_base = profile.cell_r0_ohm * aging.resistance_factor
    r1_base = r0_base * profile.r1_fraction
    tau = profile.tau1_s
    r2_base = r0_base * slow_r_fraction
    v_min, v_max = profile.cell_v_min, profile.cell_v_max
    heat_mass, cooling = profile.cell_thermal_mass_j_per_k, profile.cell_cooling_w_per_k
    table_soc = chemistry.SOC_POINTS.tolist()
    table_v = ocv_table(profile.chemistry, ocv_shape).tolist()

    volts = np.empty(n)
    amps = np.empty(n)
    socs = np.empty(n)
    temps = np.empty(n)
    powers = np.empty(n)
    soc, v1, v2 = soc0, 0.0, 0.0
    branch = hysteresis0 if hysteresis_v else 0.0  # hysteresis state, −1..+1
    lag = 0.0  # bulk SOC − surface SOC
    nominal_a = capacity_as / 3600.0  # A at 1 C
    lag_1c = surface_lag * math.sqrt(aging.resistance_factor)
    temp = ambient_c if temp0_c is None else temp0_c
    derated = 0
    stopped = False
    last = n
    rest_until = math.inf  # set when the work stops and a rest follows
    hit_cutoff = False
    stop_index = None

    def ocv_at(s: float) -> float:
        # Scalar interpolation: np.interp per step costs more than the rest of the step.
        if s < 0.0:  # past empty the voltage collapses (a cut-off below the table's 0 %)
            return table_v[0] + EMPTY_SLOPE_V * s
        s = min(s, 1.0)
        for j in range(1, len(table_soc)):
            if s <= table_soc[j]:
                x0, x1 = table_soc[j - 1], table_soc[j]
                return table_v[j - 1] + (table_v[j] - table_v[j - 1]) * (s - x0) / (x1 - x0)
        return table_v[-1]

    # At rest before the first sample: terminal voltage is the OCV.
    start_v = ocv_at(soc) + hysteresis_v * _hysteresis_gain(soc) * branch
    volts[0], amps[0], socs[0], temps[0], powers[0] = start_v * series, 0.0, soc, temp, 0.0
    for k in range(1, n):
        dt = time_s[k] - time_s[k - 1]
        temp_factor = _arrhenius(temp)
        r0 = r0_base * temp_factor * _soc_factor(soc)
        r1 = r1_base * temp_factor
        decay = math.exp(-dt / tau)
        r2 = (r2_base * _arrhenius(temp, DIFFUSION_EA_OVER_R) * _diffusion_factor(soc)
              if r2_base else 0.0)
        decay2 = math.exp(-dt / slow_tau_s)
        r_eff = r0 + r1 * (1.0 - decay) + r2 * (1.0 - decay2)
        surface_ocv = ocv_at(soc - lag) if surface_lag else ocv_at(soc)
        emf = surface_ocv - v1 * decay - v2 * decay2
        if hysteresis_v:
            emf += hysteresis_v * _hysteresis_gain(soc) * branch
        limited = False
        if time_s[k] > rest_until:
            last = k
            break
        if stopped:  # resting after the stop: the RC pair relaxes, nothing flows
            current = 0.0
        elif mode == "power":
            p_cell = demand[k] / cells
            disc = emf * emf - 4.0 * r_eff * p_cell
            if disc < 0.0:  # more power asked than the cell can give: give the most it can
                current = emf / (2.0 * r_eff)
                limited = True
            else:
                current = (emf - math.sqrt(disc)) / (2.0 * r_eff)
        else:
            current = demand[k] / parallel
        volt = emf - r_eff * current
        if stopped:
            pass
        elif volt < v_min and current > 0.0:
            if stop_at_cutoff:
                # Land exactly on the cut-off, the way a lab cycler ends the step.
                current = (emf - v_min) / r_eff
                volt = v_min
            else:
                current = max((emf - v_min) / r_eff, 0.0)
                volt = emf - r_eff * current
                limited = True
        elif volt > v_max and current < 0.0:  # regen would overcharge: the BMS cuts it back
            current = min((emf - v_max) / r_eff, 0.0)
            volt = emf - r_eff * current
            limited = True
        derated += limited
        v1 = v1 * decay + r1 * (1.0 - decay) * current
        v2 = v2 * decay2 + r2 * (1.0 - decay2) * current
        if surface_lag:
            # The lag relaxes towards its steady value for this current (explicitly: τ ≫ dt).
            rate = current / nominal_a
            target = math.copysign(lag_1c * abs(rate) ** SURFACE_RATE_EXPONENT, rate) \
                * _arrhenius(temp, SURFACE_EA_OVER_R)
            relax = math.exp(-dt / (surface_tau_s * _arrhenius(temp, DIFFUSION_EA_OVER_R)))
            lag = target + (lag - target) * relax
        heat = r0 * current * current + (v1 * v1 / r1 if r1 > 0 else 0.0) \
            + (v2 * v2 / r2 if r2 > 0 else 0.0)
        if surface_lag:  # the concentration overpotential is lost as heat too
            heat += current * (ocv_at(soc) - surface_ocv)
        soc -= current * dt / capacity_as
        if hysteresis_v and current:
            move = math.exp(-HYSTERESIS_RATE * abs(current) * dt / capacity_as)
            branch = branch * move - (1.0 - move) * math.copysign(1.0, current)
        temp += dt * (heat - cooling * (temp - ambient_c)) / heat_mass
        volts[k] = volt * series
        amps[k] = -current * parallel
        socs[k] = soc
        temps[k] = temp
        powers[k] = volt * current * cells
        if not stopped and (stopped_now := (
                (volt <= v_min and stop_at_cutoff and current > 0.0)
                or (soc <= EMPTY_SOC and not stop_at_cutoff)
                or (stop_soc is not None and soc <= stop_soc))):
            stopped = stopped_now
            hit_cutoff = stop_at_cutoff and volt <= v_min
            stop_index = k
            if rest_after_s <= 0.0:
                last = k + 1
                break
            rest_until = time_s[k] + rest_after_s
    return PackTrace(
        time_s=np.asarray(time_s[:last], dtype=float),
        voltage_v=volts[:last],
        current_a=amps[:last],
        soc=socs[:last],
        temperature_c=temps[:last],
        power_w=powers[:last],
        derated=derated,
        stopped_early=stopped,
        hit_cutoff=hit_cutoff,
        stop_index=stop_index,
    )
