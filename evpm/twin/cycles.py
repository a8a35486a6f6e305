"""Drive cycles (for FASTSim) and lab discharge cycles (for the cell/pack model directly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evpm.errors import UnknownChoiceError

CYCLE_DIR = Path(__file__).parent / "cycles"


@dataclass(frozen=True)
class DriveCycle:
    """A speed-vs-time cycle that FASTSim drives."""

    name: str
    label: str
    fastsim_resource: str | None = None  # shipped in the FASTSim 3 wheel
    csv_file: str | None = None  # shipped with this package (cycSecs, cycMps columns)


@dataclass(frozen=True)
class LabCycle:
    """A lab discharge to the cut-off voltage: constant current or a square wave.

    Currents are for the 2.0 Ah lab cell; on a vehicle pack the same C-rate is applied.
    """

    name: str
    label: str
    current_a: float  # discharge current while on (positive = discharge)
    period_s: float = 0.0  # square-wave period (random walk: step length); 0 = constant
    sample_s: float = 10.0  # logging interval, as in the NASA PCoE files
    random_walk: bool = False  # steps of `period_s` drawn uniformly from 0..current_a
    on_s: float = 0.0  # square wave: on for this long in each period (0: half of it)


DRIVE_CYCLES: dict[str, DriveCycle] = {
    c.name: c
    for c in [
        DriveCycle("udds", "EPA Urban Dynamometer Driving Schedule", fastsim_resource="udds.csv"),
        DriveCycle("hwfet", "EPA Highway Fuel Economy Test", fastsim_resource="hwfet.csv"),
        DriveCycle("us06", "EPA US06 aggressive supplemental FTP", csv_file="us06.csv"),
        DriveCycle("wltc3", "WLTC class 3b (UNECE GTR 15)", csv_file="wltc3.csv"),
    ]
}

LAB_CYCLES: dict[str, LabCycle] = {
    c.name: c
    for c in [
        LabCycle("cc-0.4a", "constant current 0.4 A (0.2 C) to cut-off", 0.4, sample_s=30.0),
        LabCycle("cc-1a", "constant current 1 A (0.5 C) to cut-off", 1.0),
        LabCycle("cc-2a", "constant current 2 A (1 C) to cut-off", 2.0),
        LabCycle("cc-4a", "constant current 4 A (2 C) to cut-off", 4.0),
        LabCycle("square-4a", "4 A square wave, 50 % duty, 60 s period, to cut-off", 4.0, 60.0),
        LabCycle("cc-6a", "constant current 6 A (3 C) to cut-off", 6.0, sample_s=5.0),
        LabCycle("pulse-2a", "pulse test: 2 A (1 C) for 10 min, then 20 min at rest, repeated, "
                 "to cut-off", 2.0, 1800.0, on_s=600.0),
        LabCycle("random-walk", "random walk: 120-s steps drawn from 0-4.6 A (0-2.3 C), to "
                 "cut-off", 4.6, 120.0, random_walk=True),
    ]
}

ALL_CYCLES = [*DRIVE_CYCLES, *LAB_CYCLES]


def check_cycle(name: str) -> str:
    """Return the cycle name if known, else raise an error naming the valid choices."""
    if name not in DRIVE_CYCLES and name not in LAB_CYCLES:
        raise UnknownChoiceError("cycle", name, ALL_CYCLES)
    return name
