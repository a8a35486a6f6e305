"""What a pack-level trip says about its own pack, for a vehicle whose profile is assumed.

Cheap (a few numpy passes over one trip: the watcher runs it on every unregistered trip) and
stated as a guess: cells in series, pack capacity and a chemistry hint, so that the assumed-
profile warning can tell the operator what to register.

- Series count: with a BMS `soc` column, the first sample at rest divided by the chemistry's
  open-circuit voltage at that SOC (`evpm.chemistry.OCV_TABLES`); without one, every S that
  keeps all cell voltages inside a typical 3.0-4.2 V window (a range when several do).
- Capacity: the net charge over the SOC change, when the trip covers at least 10 % of SOC.
- Chemistry: LFP's flat plateau against NMC's slope. Scaled to the first rest sample, each
  family predicts the later rest voltages from the SOC; the family whose prediction drifts
  least by the end of the trip wins, when the trip covers at least 5 % of SOC and the other
  family drifts at least twice as much. Otherwise no hint (and both series counts are given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evpm.chemistry import ocv
from evpm.trips import Trip

CELL_V_WINDOW = (3.0, 4.2)  # a typical Li-ion cell under load, when the chemistry is unknown
MIN_CAPACITY_WINDOW = 0.10  # SOC change needed to read a capacity off the charge
MIN_CHEMISTRY_WINDOW = 0.05  # SOC change needed to tell a plateau from a slope
CLEAR_RATIO = 2.0  # the other family must drift this many times more
REST_FRACTION = 0.03  # at rest: under 3 % of the trip's largest current (or 1 A)
END_SAMPLES = 5  # rest samples averaged at the end of the trip
# The OCV tables of each family: NMC-type (nmc, lmo-nmc and the lab cell differ by < 3 %, too
# little to tell apart) and LFP. The first table of a family sets its series count.
FAMILIES = {"NMC-type": ("nmc", "lmo-nmc", "lab"), "LFP": ("lfp",)}


@dataclass(frozen=True)
class PackGuess:
    """A pack's cells in series (a best guess and a range), capacity (Ah) and chemistry hint."""

    series: int | None = None
    series_low: int | None = None
    series_high: int | None = None
    capacity_ah: float | None = None
    chemistry: str | None = None  # a family name of FAMILIES, when the trip tells
    series_other: dict[str, int] | None = None  # per family, when the chemistry is unclear

    def describe(self) -> str | None:
        """One phrase for a warning ("~96 cells in series, ~120 Ah, NMC-type"), or None."""
        parts = []
        if self.chemistry is None and self.series_other:
            first, *others = self.series_other.items()
            parts.append(" or ".join([f"~{first[1]} cells in series if {first[0]}",
                                      *(f"~{s} if {family}" for family, s in others)]))
        elif self.series is not None:
            parts.append(f"~{self.series} {'cell' if self.series == 1 else 'cells'} in series")
        elif self.series_low is not None and self.series_high is not None:
            parts.append(f"{self.series_low}-{self.series_high} cells in series")
        if self.capacity_ah is not None:
            parts.append(f"~{self.capacity_ah:.0f} Ah")
        if self.chemistry is not None:
            parts.append(self.chemistry)
        return ", ".join(parts) if parts else None


def guess_trip(trip: Trip) -> PackGuess:
    """The guess for a validated trip (read with any profile: its pack values are restored)."""
    profile = trip.profile
    return guess_pack(trip.time_s, trip.cell_voltage * profile.series,
                      trip.cell_current * profile.parallel, trip.soc)


def guess_pack(time_s: np.ndarray, voltage: np.ndarray, current: np.ndarray,
               soc: np.ndarray | None) -> PackGuess:
    """The guess from pack-level columns (V, A negative while discharging, SOC 0-1 or None)."""
    largest = float(np.abs(current).max())
    rest = np.flatnonzero(np.abs(current) <= max(1.0, REST_FRACTION * largest))
    if soc is None or not len(rest):
        low, high = _series_window(voltage)
        return PackGuess(low if low == high else None, low, high)
    window = float(soc[0] - soc[-1])
    capacity = None
    if abs(window) >= MIN_CAPACITY_WINDOW:
        charge_ah = float(np.trapz(-current, time_s)) / 3600.0
        capacity = charge_ah / window if charge_ah / window > 0 else None
    first_v, first_soc = float(voltage[rest[0]]), float(soc[rest[0]])
    series = {family: first_v / float(ocv(tables[0], first_soc))
              for family, tables in FAMILIES.items()}
    family = _family(voltage[rest], soc[rest], first_v, first_soc, window)
    if family is not None:
        best = round(series[family])
        return PackGuess(best, best, best, capacity, family)
    counts = {name: round(s) for name, s in series.items()}
    return PackGuess(counts["NMC-type"], min(counts.values()), max(counts.values()), capacity,
                     None, counts)


def _series_window(voltage: np.ndarray) -> tuple[int, int]:
    """Every S that keeps the cells inside CELL_V_WINDOW (the nearest S when none does)."""
    low = math.ceil(float(voltage.max()) / CELL_V_WINDOW[1])
    high = math.floor(float(voltage.min()) / CELL_V_WINDOW[0])
    if low > high:  # a sag below the window: the best compromise
        middle = max(1, round(float(np.median(voltage)) / (sum(CELL_V_WINDOW) / 2)))
        return middle, middle
    return max(1, low), max(1, high)


def _family(rest_v: np.ndarray, rest_soc: np.ndarray, first_v: float, first_soc: float,
            window: float) -> str | None:
    """The chemistry family whose OCV curve follows the rest voltages clearly best, or None."""
    if abs(window) < MIN_CHEMISTRY_WINDOW or len(rest_v) < 2:
        return None
    end_v, end_soc = float(rest_v[-END_SAMPLES:].mean()), rest_soc[-END_SAMPLES:]
    # Each table scaled to the first rest sample predicts the last ones; a family drifts as
    # little as its best table.
    drift = {family: min(abs(end_v - first_v / float(ocv(table, first_soc))
                             * float(np.mean(ocv(table, end_soc)))) for table in tables)
             for family, tables in FAMILIES.items()}
    best, other = sorted(drift, key=drift.get)
    return best if drift[other] >= CLEAR_RATIO * max(drift[best], 1e-9) else None
