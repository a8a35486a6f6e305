"""Reading and validating a trip CSV (PRODUCT.md format) into clean numeric columns.

Every rejection is a `TripError` with a reason code, and the column and row where it applies,
so the pipeline can write it into `failed/<name>.error.json` and the CLI as one line.
Whose trip a file is, and so which profile reads it, is decided in one place:
`trip_identity` (used by `read_trip`, hence by the pipeline, `evpm features` and training).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evpm.errors import EvpmError
from evpm.health import ASSUMED, GIVEN, profile_source
from evpm.profiles import VEHICLE_ID_PATTERN, Profile, get_profile, profile_for_vehicle

REQUIRED_COLUMNS = ("time_s", "voltage_V", "current_A")
OPTIONAL_COLUMNS = ("soc", "temperature_C", "speed_mps", "power_kw", "energy_kwh")
MAX_NAN_RUN = 2  # isolated gaps of up to this many samples are interpolated; longer runs reject
MIN_DURATION_S = 60.0
MIN_SAMPLES = 10
# Rejections that blame the profile rather than the file (voltages or currents it cannot have).
PROFILE_REASONS = frozenset({"voltage_out_of_range", "current_out_of_range"})


class TripError(EvpmError):
    """A trip that cannot be used, with a machine-readable reason."""

    def __init__(self, reason: str, message: str, *, column: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.column, self.row = reason, column, row

    def as_dict(self) -> dict:
        """JSON-ready description: reason, message, column and row where they apply."""
        out = {"reason": self.reason, "message": str(self)}
        if self.column is not None:
            out["column"] = self.column
        if self.row is not None:
            out["row"] = self.row
        return out


class InsufficientDataError(TripError):
    """A trip too short or too flat to say anything about the battery."""

    def __init__(self, message: str) -> None:
        super().__init__("insufficient_data", f"insufficient data: {message}")


@dataclass(frozen=True)
class Trip:
    """A validated trip at cell level, plus its pack-level source table."""

    profile: Profile
    time_s: np.ndarray
    cell_voltage: np.ndarray  # V per cell
    cell_current: np.ndarray  # A per cell, negative while discharging
    soc: np.ndarray | None
    temperature_c: np.ndarray | None
    vehicle_id: str | None = None
    profile_source: str = GIVEN  # given / registered / assumed (`trip_identity`)


def read_trip_table(source: Path | str | bytes) -> pd.DataFrame:
    """Parse a trip CSV (path or bytes): UTF-8 with or without BOM, ',' or ';' delimited."""
    raw = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    if b"\x00" in raw[:4096]:
        raise TripError("not_text", "file is binary, not a CSV text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TripError("not_text", "file is not UTF-8 text") from None
    if not text.strip():
        raise TripError("empty_file", "file is empty")
    header = text.lstrip().splitlines()[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","
    try:
        # Numbers are parsed by pandas' C reader; a column with anything else stays text and is
        # checked cell by cell (`_numeric`), so a bad cell is reported with its row.
        table = pd.read_csv(io.StringIO(text), sep=delimiter, skipinitialspace=True,
                            dtype={"vehicle_id": str}, na_values=["", "nan", "NaN", "NA"],
                            keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise TripError("malformed_csv", f"not a well-formed CSV: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise TripError("no_rows", "file has a header but no data rows")
    return table


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(table[column]):
        array = table[column].to_numpy(dtype=float)
        if np.isinf(array).any():
            row = int(np.flatnonzero(np.isinf(array))[0])
            raise TripError("non_finite", f"column {column!r} row {row + 2} is infinite",
                            column=column, row=row + 2)
        return array
    text = table[column].astype(str).str.strip()
    values = pd.to_numeric(text.replace({"": "nan", "NaN": "nan", "nan": "nan", "NA": "nan"}),
                           errors="coerce")
    bad = values.isna() & ~text.str.lower().isin(["", "nan", "na"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TripError("non_numeric", f"column {column!r} row {row + 2}: "
                        f"{table[column].iloc[row]!r} is not a number", column=column, row=row + 2)
    array = values.to_numpy(dtype=float)
    if np.isinf(array).any():
        row = int(np.flatnonzero(np.isinf(array))[0])
        raise TripError("non_finite", f"column {column!r} row {row + 2} is infinite",
                        column=column, row=row + 2)
    return array


def _fill_short_gaps(values: np.ndarray, column: str) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values
    if missing.all():
        raise TripError("nan_run", f"column {column!r} has no values", column=column)
    # Find the longest run of consecutive NaNs.
    edges = np.diff(np.r_[0, missing.astype(int), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    if ends[longest] - starts[longest] > MAX_NAN_RUN:
        raise TripError(
            "nan_run",
            f"column {column!r} has {ends[longest] - starts[longest]} missing values in a row "
            f"from row {starts[longest] + 2} (at most {MAX_NAN_RUN} are bridged)",
            column=column, row=int(starts[longest]) + 2,
        )
    index = np.arange(len(values))
    return np.interp(index, index[~missing], values[~missing])


def validate_trip(table: pd.DataFrame, profile: Profile, vehicle_id: str | None = None,
                  source: str = GIVEN) -> Trip:
    """Check a parsed trip table against the format and the profile's physics; return a Trip
    (`source`: where its profile came from)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise TripError("missing_column", f"missing required column(s): {', '.join(missing)} "
                        f"(required: {', '.join(REQUIRED_COLUMNS)})", column=missing[0])
    if len(table) < 2:
        raise InsufficientDataError(f"{len(table)} data row; a trip needs at least {MIN_SAMPLES}")
    columns = {c: _fill_short_gaps(_numeric(table, c), c) for c in REQUIRED_COLUMNS}
    optional = {}
    for column in ("soc", "temperature_C"):
        if column in table.columns:
            values = _numeric(table, column)
            if not np.isnan(values).all():
                optional[column] = _fill_short_gaps(values, column)
    time_s = columns["time_s"]
    steps = np.diff(time_s)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 3
        kind = "duplicated" if steps[row - 3] == 0 else "going backwards"
        raise TripError("time_not_increasing", f"time_s is {kind} at row {row}",
                        column="time_s", row=row)
    cell_v = columns["voltage_V"] / profile.series
    cell_i = columns["current_A"] / profile.parallel
    low, high = 0.5 * profile.cell_v_min, 1.15 * profile.cell_v_max
    median_v = float(np.median(cell_v))
    if not low <= median_v <= high:
        raise TripError(
            "voltage_out_of_range",
            f"voltage_V median {np.median(columns['voltage_V']):.3g} V is impossible for profile "
            f"{profile.name} ({profile.series} cells in series: expected "
            f"{profile.cell_v_min * profile.series:.4g}-{profile.cell_v_max * profile.series:.4g}"
            " V)", column="voltage_V",
        )
    c_rate = np.abs(cell_i) / profile.cell_capacity_ah
    if c_rate.max() > 25.0:
        row = int(np.argmax(c_rate)) + 2
        raise TripError(
            "current_out_of_range",
            f"current_A {columns['current_A'][row - 2]:.4g} A at row {row} is over 25 C for "
            f"profile {profile.name} ({profile.pack_capacity_ah:g} Ah pack)",
            column="current_A", row=row,
        )
    soc = optional.get("soc")
    if soc is not None and (soc.min() < -0.01 or soc.max() > 1.01):
        hint = " (looks like percent: use 0-1)" if soc.max() <= 100.0 else ""
        raise TripError("soc_out_of_range", f"soc must be a fraction 0-1{hint}", column="soc")
    temperature = optional.get("temperature_C")
    if temperature is not None and (temperature.min() < -50 or temperature.max() > 100):
        raise TripError("temperature_out_of_range", "temperature_C outside -50..100 °C",
                        column="temperature_C")
    if len(time_s) < MIN_SAMPLES:
        raise InsufficientDataError(f"{len(time_s)} rows; a trip needs at least {MIN_SAMPLES}")
    duration = time_s[-1] - time_s[0]
    if duration < MIN_DURATION_S:
        raise InsufficientDataError(f"trip lasts {duration:.0f} s; at least "
                                    f"{MIN_DURATION_S:.0f} s are needed")
    if (-cell_i).max() < 0.01 * profile.cell_capacity_ah:
        raise InsufficientDataError("no discharge current (the pack never delivered 0.01 C)")
    return Trip(profile, time_s, cell_v, cell_i, None if soc is None else np.clip(soc, 0, 1),
                temperature, vehicle_id, source)


def vehicle_id_from_name(name: str) -> str | None:
    """Vehicle id from `tripdata.<VEHICLE_ID>.csv` or `tripdata.<VEHICLE_ID>.<TRIP>.csv`."""
    parts = name.split(".")
    if len(parts) in (3, 4) and parts[0] == "tripdata" and parts[-1].lower() == "csv" and parts[1]:
        return parts[1]
    return None


@dataclass(frozen=True)
class TripIdentity:
    """Whose trip a file is, and the profile that reads its pack-level columns."""

    vehicle_id: str | None  # None only when the caller named the profile itself
    profile: Profile
    source: str = GIVEN  # given / registered / assumed (evpm.health.profile_source)


def trip_identity(table: pd.DataFrame, name: str | None = None,
                  registry: Mapping[str, str] | None = None,
                  profile: Profile | str | None = None) -> TripIdentity:
    """The one rule for a trip's vehicle id and profile.

    The vehicle id is the file name's (`tripdata.<VEHICLE_ID>[.<TRIP>].csv`), unless a
    `vehicle_id` column names one, which wins; a column naming several is `several_vehicle_ids`.
    The profile is `profile` when given (an explicit override, e.g. training's known profile),
    else the fleet registry's for the vehicle (the default profile for an unknown one). Without
    an override a trip needs a vehicle id (`no_vehicle_id`); an id must be a safe name
    (`invalid_vehicle_id`). The source says which: `given` (the override; `registered` when the
    registry maps the vehicle to that same profile), `registered`, or `assumed` (the default).
    """
    vehicle_id = vehicle_id_from_name(name) if name else None
    if "vehicle_id" in table.columns:
        ids = [v for v in table["vehicle_id"].dropna().str.strip().unique() if v]
        if len(ids) > 1:
            raise TripError("several_vehicle_ids", f"vehicle_id column holds {len(ids)} "
                            "different vehicles; one file is one vehicle's trip",
                            column="vehicle_id")
        vehicle_id = ids[0] if ids else vehicle_id
    if vehicle_id is None and profile is None:
        raise TripError("no_vehicle_id", "no vehicle id: name the file "
                        "tripdata.<VEHICLE_ID>.csv or add a vehicle_id column")
    if vehicle_id is not None and not VEHICLE_ID_PATTERN.fullmatch(vehicle_id):
        raise TripError("invalid_vehicle_id", f"vehicle id {vehicle_id!r} is not allowed: "
                        "use 1-64 letters, digits, '_' or '-', starting with a letter or digit")
    if profile is not None:
        chosen = get_profile(profile) if isinstance(profile, str) else profile
    else:
        chosen = profile_for_vehicle(vehicle_id, registry or {})
    registered = (registry or {}).get(vehicle_id) if vehicle_id is not None else None
    named = chosen.name if profile is not None else None
    return TripIdentity(vehicle_id, chosen, profile_source(named, registered))


def read_trip(source: Path | str | bytes, *, name: str | None = None,
              registry: Mapping[str, str] | None = None,
              profile: Profile | str | None = None) -> Trip:
    """Read a trip CSV, decide its vehicle and profile (`trip_identity`), validate it.

    `name` is the file's name (default: the path's; bytes have none unless given).
    """
    if name is None and isinstance(source, (str, Path)):
        name = Path(source).name
    table = read_trip_table(source)
    identity = trip_identity(table, name, registry, profile)
    try:
        return validate_trip(table, identity.profile, identity.vehicle_id, identity.source)
    except TripError as exc:
        if identity.source != ASSUMED or exc.reason not in PROFILE_REASONS:
            raise
        # The profile that finds the pack impossible was only a guess: say so, and the fix.
        raise TripError(exc.reason, f"{exc}; that profile is assumed: vehicle "
                        f"{identity.vehicle_id} is not in the fleet registry (register it with "
                        "its own profile)", column=exc.column, row=exc.row) from None


def load_trip(source: Path | str | bytes, profile: Profile) -> Trip:
    """Read and validate a trip CSV for a known profile (vehicle id as `trip_identity` finds it)."""
    return read_trip(source, profile=profile)
