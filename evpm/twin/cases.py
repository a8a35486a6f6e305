"""The shipped test cases: 20 validated trips covering every profile, several cycles and SoH."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from evpm.errors import EvpmError
from evpm.files import atomic_path, ensure_writable_dir
from evpm.profiles import update_registry
from evpm.twin.trip import TripSpec, simulate_trip, trip_file_name, write_table
from evpm.twin.validate import trip_checks

# (profile, cycle, SoH, ambient °C): every profile, every drive or lab cycle, SoH 0.65..1.0.
CASES = [
    ("renault-zoe-ze50", "udds", 1.00, 20.0), ("renault-zoe-ze50", "hwfet", 0.92, 5.0),
    ("renault-zoe-ze50", "us06", 0.80, 30.0), ("renault-zoe-ze50", "wltc3", 0.70, -5.0),
    ("nissan-leaf-30", "udds", 0.95, 15.0), ("nissan-leaf-30", "hwfet", 0.85, 35.0),
    ("nissan-leaf-30", "us06", 0.75, 10.0), ("nissan-leaf-30", "wltc3", 0.65, 25.0),
    ("chevrolet-bolt", "udds", 0.98, 0.0), ("chevrolet-bolt", "hwfet", 0.88, 22.0),
    ("chevrolet-bolt", "us06", 0.78, 28.0), ("chevrolet-bolt", "wltc3", 0.68, 12.0),
    ("tesla-model3-rwd", "udds", 0.97, 25.0), ("tesla-model3-rwd", "hwfet", 0.90, -10.0),
    ("tesla-model3-rwd", "us06", 0.82, 18.0), ("tesla-model3-rwd", "wltc3", 0.72, 32.0),
    ("lab-18650-2ah", "cc-1a", 1.00, 24.0), ("lab-18650-2ah", "cc-2a", 0.90, 24.0),
    ("lab-18650-2ah", "cc-4a", 0.80, 43.0), ("lab-18650-2ah", "square-4a", 0.65, 24.0),
]


def resistance_for(soh: float) -> float:
    """A resistance factor that grows as capacity fades (typical of BLAST-Lite's NMC runs)."""
    return round(1.0 + 2.5 * (1.0 - soh), 3)


def write_cases(out_dir: Path, registry_path: Path | None = None) -> list[dict]:
    """Simulate, validate and write every case (with noise) and an index.json of truths.

    With `registry_path`, the cases' vehicles are added to that fleet registry.
    """
    ensure_writable_dir(out_dir)
    index = []
    for number, (profile, cycle, soh, ambient) in enumerate(CASES, start=1):
        spec = TripSpec(
            vehicle_id=f"TC{number:02d}", profile=profile, cycle=cycle, soh=soh,
            resistance_factor=resistance_for(soh), ambient_c=ambient, noise=True, seed=number,
        )
        result = simulate_trip(spec)
        failed = [c.name for c in trip_checks(result) if not c.ok]
        if failed:
            raise EvpmError(f"case {number} ({profile}/{cycle}) failed checks: {failed}")
        path = write_table(result.table, out_dir / trip_file_name(spec.vehicle_id))
        index.append({"file": path.name, **result.truth, "spec": asdict(spec)})
    with atomic_path(out_dir / "index.json") as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n")
    if registry_path is not None:
        update_registry(registry_path, {row["vehicle_id"]: row["profile"] for row in index})
    return index
