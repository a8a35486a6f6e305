"""Cell chemistry facts shared by the twin and the feature code: open-circuit voltage curves.

Each curve is the cell's open-circuit voltage (V) against state of charge (0..1) at 25 °C, read
from published OCV tables for the chemistry family (rounded; accuracy ±20 mV is enough for a
pack model and for estimating a SOC window from rest voltage). The `lab` curve is the 18650
lab cell of `../shared/datasets/nasa-pcoe-discharge`: see docs/DIGITAL_TWIN.md for how it was set.
"""

from __future__ import annotations

import math

import numpy as np

from evpm.errors import UnknownChoiceError

# Activation energy of a Li-ion cell's resistance over the gas constant (≈ 20 kJ/mol, a typical
# literature value): resistance × 1.9 from 25 °C to 0 °C. The twin's cell model and the
# temperature-corrected resistance feature share this one assumption.
RESISTANCE_EA_OVER_R = 2400.0
T_REF_K = 298.15
# Solid-state diffusion slows faster in the cold than the ohmic and charge-transfer parts
# (activation energies of 30-60 kJ/mol against ~20): the slow overpotential uses 40 kJ/mol.
# It also grows as the electrode surface empties (DIFFUSION_LOW_SOC_GAIN at 0 % SOC, decaying
# over DIFFUSION_LOW_SOC_SCALE): the reason a real cell's 1 C capacity is 5-10 % below its C/20
# capacity. The twin's slow RC pair and the features' read error share both.
DIFFUSION_EA_OVER_R = 4800.0
DIFFUSION_LOW_SOC_GAIN = 2.0
DIFFUSION_LOW_SOC_SCALE = 0.10

SOC_POINTS = np.array([0.0, 0.05, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00])

OCV_TABLES: dict[str, np.ndarray] = {
    # NMC (622/712) on graphite, as in the Zoe ZE50 and Bolt packs.
    "nmc": np.array([3.00, 3.38, 3.47, 3.56, 3.62, 3.67, 3.72, 3.80, 3.89, 3.98, 4.08, 4.19]),
    # LMO-NMC blend (first-generation Nissan Leaf cells), 4.15 V top.
    "lmo-nmc": np.array([3.00, 3.42, 3.52, 3.61, 3.68, 3.74, 3.79, 3.85, 3.92, 3.99, 4.07, 4.15]),
    # LFP on graphite: the long flat plateau that makes voltage-based SOC hard.
    "lfp": np.array([2.50, 3.05, 3.19, 3.24, 3.26, 3.28, 3.29, 3.30, 3.31, 3.32, 3.34, 3.45]),
    # NCA (LiNiCoAlO2) on graphite, as in Panasonic NCR18650-type cells: lower than NMC through
    # the middle, a steep tail below 10 %. Typical published C/20 OCV tables, rounded.
    "nca": np.array([2.90, 3.30, 3.43, 3.52, 3.58, 3.63, 3.69, 3.77, 3.87, 3.97, 4.07, 4.19]),
    # 18650 lab cell (NASA PCoE cells), 4.2 V / 2.7 V.
    "lab": np.array([2.70, 3.32, 3.45, 3.55, 3.61, 3.66, 3.71, 3.77, 3.85, 3.94, 4.04, 4.19]),
}


def resistance_temperature_factor(temp_c: float | np.ndarray) -> float | np.ndarray:
    """Resistance at `temp_c` over resistance at 25 °C (Arrhenius)."""
    return np.exp(RESISTANCE_EA_OVER_R * (1.0 / (np.asarray(temp_c) + 273.15) - 1.0 / T_REF_K))


def ocv_table(chemistry: str) -> np.ndarray:
    """Return the OCV-vs-SOC table (volts at SOC_POINTS) of a chemistry."""
    try:
        return OCV_TABLES[chemistry]
    except KeyError:
        raise UnknownChoiceError("chemistry", chemistry, sorted(OCV_TABLES)) from None


def ocv(chemistry: str, soc: float | np.ndarray) -> float | np.ndarray:
    """Open-circuit cell voltage at a state of charge (linear interpolation, clipped to 0..1)."""
    return np.interp(np.clip(soc, 0.0, 1.0), SOC_POINTS, ocv_table(chemistry))


def soc_from_ocv(chemistry: str, voltage: float | np.ndarray) -> float | np.ndarray:
    """Invert the OCV curve: state of charge of a rested cell at a terminal voltage."""
    table = ocv_table(chemistry)
    return np.interp(voltage, table, SOC_POINTS)


def diffusion_soc_factor(soc: float) -> float:
    """The slow (diffusion) overpotential at `soc` over its value mid-range."""
    # math, not numpy: the twin calls it every simulated second.
    return 1.0 + DIFFUSION_LOW_SOC_GAIN * math.exp(-max(soc, 0.0) / DIFFUSION_LOW_SOC_SCALE)


def diffusion_cold_factor(temp_c: float) -> float:
    """How much more the slow overpotential grows in the cold than the ohmic resistance does
    (1 at and above 25 °C): exp((Ea_diffusion − Ea_resistance)/R · (1/T − 1/T_ref))."""
    gap = (DIFFUSION_EA_OVER_R - RESISTANCE_EA_OVER_R) * (1.0 / (temp_c + 273.15) - 1.0 / T_REF_K)
    return math.exp(max(gap, 0.0))
