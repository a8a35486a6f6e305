"""Vehicle and pack profiles, and the fleet registry that maps vehicles to profiles.

A profile holds what turns pack-level measurements into cell-level ones (series and parallel
counts, rated cell capacity, voltage limits), the chemistry, the rated peak power and the few
electrical / thermal parameters of the twin's equivalent-circuit cell model.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

from evpm import chemistry
from evpm.errors import EvpmError, InvalidValueError, UnknownChoiceError

DEFAULT_PROFILE = "renault-zoe-ze50"
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

# The 10-second pulse of the state-of-power definition (PRODUCT.md): 50 % SOC, 25 °C.
SOP_PULSE_S = 10.0
SOP_SOC = 0.5


@dataclass(frozen=True)
class Profile:
    """One vehicle (or lab cell) and its battery pack."""

    name: str
    label: str
    fastsim_vehicle: str | None  # FASTSim 3 vehicle resource; None for the lab cell
    series: int
    parallel: int
    cell_capacity_ah: float
    cell_v_min: float
    cell_v_max: float
    chemistry: str
    rated_peak_power_w: float  # pack 10 s discharge power at 50 % SOC, 25 °C, when new
    cell_thermal_mass_j_per_k: float
    cell_cooling_w_per_k: float  # heat conductance cell → ambient
    aging_capacity_model: str  # BLAST-Lite model giving relative capacity
    aging_resistance_model: str  # BLAST-Lite model giving relative resistance
    r1_fraction: float = 0.5  # RC-pair resistance as a fraction of the series resistance
    tau1_s: float = 30.0  # RC-pair time constant

    @property
    def cells(self) -> int:
        """Number of cells in the pack."""
        return self.series * self.parallel

    @property
    def pack_capacity_ah(self) -> float:
        """Rated pack capacity in ampere-hours."""
        return self.cell_capacity_ah * self.parallel

    @property
    def nominal_energy_kwh(self) -> float:
        """Rated pack energy: capacity × mean OCV over the full SOC range × cells."""
        mean_ocv = float(chemistry.ocv_table(self.chemistry)[1:].mean())
        return self.cells * self.cell_capacity_ah * mean_ocv / 1000.0

    @property
    def pulse_resistance_factor(self) -> float:
        """10-s pulse resistance over the series resistance, from the RC pair."""
        return 1.0 + self.r1_fraction * (1.0 - math.exp(-SOP_PULSE_S / self.tau1_s))

    @property
    def rated_pulse_resistance_ohm(self) -> float:
        """10-s pulse resistance of a new cell at 25 °C that its rated peak power implies."""
        ocv_half = float(chemistry.ocv(self.chemistry, SOP_SOC))
        cell_power = self.rated_peak_power_w / self.cells
        return self.cell_v_min * (ocv_half - self.cell_v_min) / cell_power

    @property
    def cell_r0_ohm(self) -> float:
        """Series resistance of a new cell at 25 °C, set so the new pack's SoP is its rating.

        SoP is voltage-limited: P = Vmin · (OCV − Vmin) / R_10s per cell, so R_10s follows
        from the rated power, and R0 from R_10s and the RC pair.
        """
        return self.rated_pulse_resistance_ohm / self.pulse_resistance_factor


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            name="renault-zoe-ze50",
            label="2022 Renault Zoe ZE50 R135",
            fastsim_vehicle="2022_Renault_Zoe_ZE50_R135.yaml",
            series=96, parallel=2, cell_capacity_ah=78.0,
            cell_v_min=3.0, cell_v_max=4.2, chemistry="nmc",
            rated_peak_power_w=110_000.0,
            cell_thermal_mass_j_per_k=1050.0, cell_cooling_w_per_k=0.20,
            aging_capacity_model="Nmc622_Gr_DENSO50Ah_Battery",
            aging_resistance_model="Nmc111_Gr_Sanyo2Ah_Battery",
        ),
        Profile(
            name="nissan-leaf-30",
            label="2016 Nissan Leaf 30 kWh",
            fastsim_vehicle="2016 Nissan Leaf 30 kWh thrml.yaml",
            series=96, parallel=2, cell_capacity_ah=41.0,
            cell_v_min=3.0, cell_v_max=4.2, chemistry="lmo-nmc",
            rated_peak_power_w=86_000.0,
            cell_thermal_mass_j_per_k=460.0, cell_cooling_w_per_k=0.14,
            aging_capacity_model="Lmo_Gr_NissanLeaf66Ah_2ndLife_Battery",
            aging_resistance_model="Nmc111_Gr_Sanyo2Ah_Battery",
        ),
        Profile(
            name="chevrolet-bolt",
            label="2020 Chevrolet Bolt EV",
            fastsim_vehicle="2020 Chevrolet Bolt EV thrml.yaml",
            series=96, parallel=3, cell_capacity_ah=63.0,
            cell_v_min=3.0, cell_v_max=4.2, chemistry="nmc",
            rated_peak_power_w=165_000.0,
            cell_thermal_mass_j_per_k=850.0, cell_cooling_w_per_k=0.20,
            aging_capacity_model="Nmc622_Gr_DENSO50Ah_Battery",
            aging_resistance_model="Nmc111_Gr_Sanyo2Ah_Battery",
        ),
        Profile(
            name="tesla-model3-rwd",
            label="2022 Tesla Model 3 RWD (LFP)",
            fastsim_vehicle="2022 Tesla Model 3 RWD thrml.yaml",
            series=106, parallel=1, cell_capacity_ah=161.5,
            cell_v_min=2.5, cell_v_max=3.65, chemistry="lfp",
            rated_peak_power_w=201_000.0,
            cell_thermal_mass_j_per_k=3100.0, cell_cooling_w_per_k=0.45,
            aging_capacity_model="Lfp_Gr_250AhPrismatic",
            aging_resistance_model="Lfp_Gr_SonyMurata3Ah_Battery",
        ),
        Profile(
            name="lab-18650-2ah",
            label="18650 lab cell, 2.0 Ah (NASA PCoE type)",
            fastsim_vehicle=None,
            series=1, parallel=1, cell_capacity_ah=2.0,
            cell_v_min=2.7, cell_v_max=4.2, chemistry="lab",
            rated_peak_power_w=27.0,
            cell_thermal_mass_j_per_k=45.0, cell_cooling_w_per_k=0.045,
            aging_capacity_model="Nmc111_Gr_Sanyo2Ah_Battery",
            aging_resistance_model="Nmc111_Gr_Sanyo2Ah_Battery",
        ),
    ]
}

VEHICLE_PROFILES = [name for name, p in PROFILES.items() if p.fastsim_vehicle is not None]
LAB_PROFILE = "lab-18650-2ah"


def get_profile(name: str) -> Profile:
    """Return a profile by name, or raise an error naming the valid choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownChoiceError("profile", name, list(PROFILES)) from None


def check_vehicle_id(vehicle_id: str) -> str:
    """Return the vehicle id if it is safe as a file-name part, else raise."""
    if not VEHICLE_ID_PATTERN.fullmatch(vehicle_id or ""):
        raise InvalidValueError(
            f"vehicle id {vehicle_id!r} is not allowed: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return vehicle_id


def read_registry(path: Path) -> dict[str, str]:
    """Read the fleet registry CSV (`vehicle_id,profile`); a missing file is an empty registry."""
    if not path.exists():
        return {}
    registry: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            vehicle_id = check_vehicle_id((row.get("vehicle_id") or "").strip())
            registry[vehicle_id] = get_profile((row.get("profile") or "").strip()).name
    return registry


def update_registry(path: Path, entries: dict[str, str]) -> dict[str, str]:
    """Add or replace vehicles in the registry file (written atomically); return the result."""
    from evpm.files import atomic_path

    registry = read_registry(path)
    for vehicle_id, profile in entries.items():
        registry[check_vehicle_id(vehicle_id)] = get_profile(profile).name
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["vehicle_id", "profile"])
        writer.writerows(sorted(registry.items()))
    return registry


class RegistryCache:
    """The fleet registry, re-read when its file changes (services keep one of these)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._registry: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        """The registry as it is on disk now (cheap when unchanged)."""
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            self._stamp, self._registry = None, {}
            return self._registry
        if stamp != self._stamp:
            try:
                self._registry = read_registry(self.path)
            except (EvpmError, OSError, UnicodeDecodeError) as exc:
                # A bad edit must not stop the services: keep the last good registry (new
                # vehicles get the default profile meanwhile) and say what to fix.
                logging.getLogger("evpm.registry").error(
                    "fleet registry %s not loaded, keeping the previous one: %s", self.path, exc)
            self._stamp = stamp
        return self._registry


def profile_for_vehicle(vehicle_id: str, registry: dict[str, str]) -> Profile:
    """Profile of a vehicle from the registry; unknown vehicles get the default profile."""
    return get_profile(registry.get(vehicle_id, DEFAULT_PROFILE))
