"""The twin's validation table and the physical checks every simulated trip must pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evpm.profiles import PROFILES, get_profile
from evpm.twin.cycles import LAB_CYCLES
from evpm.twin.trip import TripResult, TripSpec, simulate_trip

ENERGY_TOLERANCE = 0.02  # ∫V·I dt within 2 % of FASTSim's electrical energy


@dataclass
class Check:
    """One named physical check and whether it held."""

    name: str
    ok: bool
    detail: str = ""


def trip_checks(result: TripResult) -> list[Check]:
    """Physical checks on one simulated trip (noise-free trace and the written table)."""
    profile = get_profile(result.spec.profile)
    trace, table = result.trace, result.table
    v_lo, v_hi = profile.cell_v_min * profile.series, profile.cell_v_max * profile.series
    tolerance = 1e-6 * v_hi
    checks = [
        Check("no missing values", not table.isna().any().any()),
        Check("time increasing", bool(np.all(np.diff(table["time_s"]) > 0))),
        Check(
            "SOC within limits",
            bool(trace.soc.min() >= -1e-9 and trace.soc.max() <= 1.0),
            f"{trace.soc.min():.4f}..{trace.soc.max():.4f}",
        ),
        Check(
            "voltage within cell limits × series",
            bool(trace.voltage_v.min() >= v_lo - tolerance
                 and trace.voltage_v.max() <= v_hi + tolerance),
            f"{trace.voltage_v.min():.2f}..{trace.voltage_v.max():.2f} V "
            f"(limits {v_lo:.1f}..{v_hi:.1f})",
        ),
    ]
    if result.spec.cycle in LAB_CYCLES:
        checks.append(Check("discharged to cut-off", bool(result.truth["reached_cutoff"])))
    else:
        energy = pack_energy_j(result)
        error = abs(energy - result.fastsim_energy_j) / abs(result.fastsim_energy_j)
        checks.append(
            Check("energy ∫V·I dt vs FASTSim within 2 %", error <= ENERGY_TOLERANCE,
                  f"{100 * error:.2f} %")
        )
    return checks


def pack_energy_j(result: TripResult) -> float:
    """Energy out of the pack, ∫V·I dt over the true trace (each step's power × its length)."""
    trace = result.trace
    power = -trace.voltage_v[1:] * trace.current_a[1:]
    return float(np.sum(power * np.diff(trace.time_s)))


def summary_row(result: TripResult) -> dict:
    """The reference design's validation metrics for one trip."""
    trace = result.trace
    energy_kwh = pack_energy_j(result) / 3.6e6
    duration = float(trace.time_s[-1] - trace.time_s[0])
    # A drive cycle replayed on a lab cell is logged as a cycler logs it: no speed.
    distance_km = float(np.sum(result.table["speed_mps"].to_numpy()[1:]
                               * np.diff(result.table["time_s"]))) / 1000.0 \
        if "speed_mps" in result.table else float("nan")
    return {
        "profile": result.spec.profile,
        "cycle": result.spec.cycle,
        "samples": len(result.table),
        "distance_km": distance_km,
        "duration_s": duration,
        "soc_start": float(trace.soc[0]),
        "soc_end": float(trace.soc[-1]),
        "energy_kwh": energy_kwh,
        "fastsim_energy_kwh": result.fastsim_energy_j / 3.6e6,
        "avg_power_kw": energy_kwh * 3600.0 / duration,
        "peak_power_kw": float(np.max(-trace.voltage_v * trace.current_a)) / 1000.0,
        "max_current_a": float(np.max(-trace.current_a)),
        "kwh_per_km": energy_kwh / distance_km if distance_km else float("nan"),
    }


def validate_twin(cycles: tuple[str, ...] = ("udds", "hwfet")) -> tuple[list[dict], list[Check]]:
    """Simulate every profile on the drive cycles (and the lab cell's discharges); check all."""
    rows, checks = [], []
    for name in PROFILES:
        for cycle in cycles:
            result = simulate_trip(TripSpec(profile=name, cycle=cycle, ambient_c=25.0))
            rows.append(summary_row(result))
            checks += [Check(f"{name}/{cycle}: {c.name}", c.ok, c.detail)
                       for c in trip_checks(result)]
    for cycle in LAB_CYCLES:
        result = simulate_trip(TripSpec(profile="lab-18650-2ah", cycle=cycle, ambient_c=24.0))
        checks += [Check(f"lab-18650-2ah/{cycle}: {c.name}", c.ok, c.detail)
                   for c in trip_checks(result)]
    return rows, checks


def format_table(rows: list[dict]) -> str:
    """Plain-text validation table, one line per profile × cycle (lab cell in Wh and W)."""
    header = (f"{'profile':<18} {'cycle':<6} {'km':>6} {'s':>6} {'SOC start→end':>15} "
              f"{'energy':>9} {'avg P':>9} {'peak P':>9} {'max A':>7} {'per km':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        # Pack rows in kWh / kW; the single lab cell in Wh / W so the numbers stay readable.
        lab = get_profile(r["profile"]).cells == 1
        scale, e_unit, p_unit = (1000.0, "Wh", "W") if lab else (1.0, "kWh", "kW")
        lines.append(
            f"{r['profile']:<18} {r['cycle']:<6} {r['distance_km']:>6.2f} {r['duration_s']:>6.0f} "
            f"{100 * r['soc_start']:>6.1f}%→{100 * r['soc_end']:>5.1f}% "
            f"{scale * r['energy_kwh']:>5.3f} {e_unit:<3} {scale * r['avg_power_kw']:>5.2f} "
            f"{p_unit:<3} {scale * r['peak_power_kw']:>5.2f} {p_unit:<3} "
            f"{r['max_current_a']:>7.1f} {scale * r['kwh_per_km']:>6.4f} {e_unit}"
        )
    return "\n".join(lines)
