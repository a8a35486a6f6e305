"""Vehicle and pack profiles as data, and the fleet registry that maps vehicles to profiles.

A profile holds what turns pack-level measurements into cell-level ones (series and parallel
counts, rated cell capacity, voltage limits), the chemistry, the rated peak power and the few
electrical / thermal parameters of the twin's equivalent-circuit cell model.

Two sources, one catalog:
- the **built-ins**, shipped in `evpm/builtin_profiles.json` (read on first use): the four
  FASTSim vehicles and the 18650 lab cell that the twin simulates and the models were trained
  on. `PROFILES`, `VEHICLE_PROFILES`, `LAB_PROFILE` and `DEFAULT_PROFILE` mean these only.
- the **user profiles**, in the JSON file `EVPM_PROFILES` names (default
  `data/profiles.json`), written by `evpm profile add|remove` or by hand. Services re-read it
  when it changes (no restart); a broken edit is logged and the last good set kept.

`get_profile`, `find_profile`, `is_profile` and `all_profiles` look in both.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import functools
import json
import logging
import math
import os
import re
import statistics
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from evpm import chemistry
from evpm.errors import EvpmError, InvalidValueError, UnknownChoiceError
from evpm.settings import PROFILES_ENV, profiles_path_from_env

DEFAULT_PROFILE = "renault-zoe-ze50"
LAB_PROFILE = "lab-18650-2ah"
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Profile names: lowercase words of letters and digits joined by single dashes (PRODUCT.md).
PROFILE_NAME_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
PROFILE_NAME_MAX = 64
PROFILE_NAME_RULE = ("lowercase letters, digits and single dashes (e.g. bmw-i3-60ah), at most "
                     f"{PROFILE_NAME_MAX} characters")
BUILTIN_FILE = "builtin_profiles.json"

# The 10-second pulse of the state-of-power definition (PRODUCT.md): 50 % SOC, 25 °C.
SOP_PULSE_S = 10.0
SOP_SOC = 0.5

KINDS = ("road", "lab")
# How a profile's rated peak power was set: stated, derived from a stated cell resistance, or
# derived from the typical resistance of a new cell of its capacity.
RATED_POWER_SOURCES = ("given", "from resistance", "typical")
SOURCES = ("builtin", "user")

# Plausibility limits of a user profile (a typo such as 60000 Ah for 60 Ah is refused).
MAX_CELL_AH = 2000.0
MAX_CELLS_PER_DIMENSION = 1000  # series or parallel
CELL_V_LIMITS = (1.5, 5.0)
LABEL_MAX = 120

# Twin-only parameters of a user profile (the twin and training use the built-ins; these make
# a user profile complete). Cell thermal mass scales with capacity: 13.5 J/K per Ah is the
# median of the built-ins (11.2 Leaf … 22.5 lab cell); cooling gives the median thermal time
# constant of the built-ins, 4250 s (1000 lab cell … 6900 Tesla).
THERMAL_MASS_J_PER_K_PER_AH = 13.5
THERMAL_TIME_CONSTANT_S = 4250.0

_REQUIRED_USER_FIELDS = ("name", "chemistry", "series", "parallel", "cell_capacity_ah",
                         "cell_v_min", "cell_v_max", "rated_peak_power_w")
_OPTIONAL_USER_FIELDS = ("label", "kind", "rated_power_source", "cell_thermal_mass_j_per_k",
                         "cell_cooling_w_per_k", "aging_capacity_model", "aging_resistance_model")

log = logging.getLogger("evpm.profiles")


def pulse_resistance_factor(r1_fraction: float = 0.5, tau1_s: float = 30.0) -> float:
    """10-s pulse resistance over the series resistance, from the cell model's RC pair."""
    return 1.0 + r1_fraction * (1.0 - math.exp(-SOP_PULSE_S / tau1_s))


@dataclass(frozen=True)
class Profile:
    """One vehicle (or lab cell) and its battery pack."""

    name: str
    label: str
    fastsim_vehicle: str | None  # FASTSim 3 vehicle resource; None for the lab cell and users'
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
    kind: str = "road"  # "road" (a vehicle pack) or "lab" (a test cell)
    rated_power_source: str = "given"  # one of RATED_POWER_SOURCES
    source: str = "builtin"  # "builtin" (shipped) or "user" (the EVPM_PROFILES file)

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
        return pulse_resistance_factor(self.r1_fraction, self.tau1_s)

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


# --- validation -------------------------------------------------------------------------------

def check_profile_name(name: object) -> str:
    """Return the name if it is a valid profile name, else raise InvalidValueError."""
    if not isinstance(name, str) or len(name) > PROFILE_NAME_MAX \
            or not PROFILE_NAME_PATTERN.fullmatch(name):
        raise InvalidValueError(f"profile name {name!r} is not allowed: use {PROFILE_NAME_RULE}")
    return name


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise InvalidValueError(f"{field} must be a finite number, got {value!r}")
    return float(value)


def _count(field: str, value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_CELLS_PER_DIMENSION:
        raise InvalidValueError(f"{field} must be a whole number of cells from 1 to "
                                f"{MAX_CELLS_PER_DIMENSION}, got {value!r}")
    return value


def check_chemistry(name: object) -> str:
    """Return the chemistry family if it has an OCV curve, else raise UnknownChoiceError."""
    # Read at call time: families added to evpm.chemistry are valid at once.
    families = sorted(chemistry.OCV_TABLES)
    if not isinstance(name, str) or name not in chemistry.OCV_TABLES:
        raise UnknownChoiceError("chemistry", str(name), families)
    return name


def check_pack(*, chemistry_name: object, cell_ah: object, series: object, parallel: object,
               v_min: object, v_max: object) -> tuple[str, float, int, int, float, float]:
    """Check a pack's chemistry, capacity, layout and voltage limits; return them typed."""
    family = check_chemistry(chemistry_name)
    series_n, parallel_n = _count("series", series), _count("parallel", parallel)
    ah = _number("cell capacity (Ah)", cell_ah)
    if not 0 < ah <= MAX_CELL_AH:
        raise InvalidValueError(f"cell capacity {ah:g} Ah is not plausible: it must be above 0 "
                                f"and at most {MAX_CELL_AH:g} Ah (a cell, not the pack)")
    low, high = _number("cell v_min", v_min), _number("cell v_max", v_max)
    if not CELL_V_LIMITS[0] <= low < high <= CELL_V_LIMITS[1]:
        raise InvalidValueError(f"cell voltage limits {low:g}-{high:g} V are not plausible: need "
                                f"{CELL_V_LIMITS[0]:g} <= v_min < v_max <= {CELL_V_LIMITS[1]:g} "
                                "V (cell, not pack, voltages)")
    ocv_half = float(chemistry.ocv(family, SOP_SOC))
    if not low < ocv_half < high:
        # The state-of-power definition needs room between the rest voltage and the cut-off.
        raise InvalidValueError(f"cell voltage limits {low:g}-{high:g} V do not suit {family}: "
                                f"its open-circuit voltage at 50 % SOC, {ocv_half:.2f} V, must "
                                "lie between v_min and v_max")
    return family, ah, series_n, parallel_n, low, high


def _check_choice(kind: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UnknownChoiceError(kind, str(value), list(choices))
    return str(value)


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= LABEL_MAX \
            or not label.isprintable():
        raise InvalidValueError(f"label must be printable text of 1-{LABEL_MAX} characters, "
                                f"got {label!r}")
    return label.strip()


# --- rated power ------------------------------------------------------------------------------

def _power_per_pulse_resistance(cells: int, family: str, v_min: float) -> float:
    """Pack power × cell pulse resistance: P = cells · Vmin · (OCV(50 %) − Vmin) / R_10s."""
    return cells * v_min * (float(chemistry.ocv(family, SOP_SOC)) - v_min)


def typical_pulse_resistance_ohm_ah() -> float:
    """A new cell's 10-s pulse resistance × its capacity: the median of the built-ins'.

    A cell of twice the capacity has about half the resistance, so R_10s · Ah is nearly a
    constant across cell sizes (0.17-0.29 Ω·Ah for the built-ins; median 0.217, the Leaf's).
    """
    return statistics.median(p.rated_pulse_resistance_ohm * p.cell_capacity_ah
                             for p in builtin_profiles().values())


def rated_power(*, cells: int, family: str, cell_ah: float, v_min: float,
                rated_power_kw: float | None = None,
                cell_r_mohm: float | None = None) -> tuple[float, str]:
    """The pack's rated 10-s peak power (W) and how it was set (RATED_POWER_SOURCES).

    Given → as given. Else from the cell's series resistance R0 (mΩ, new, 25 °C): the
    profile's own rule inverted (R_10s = R0 × the RC pair's pulse factor). Else from the
    typical R_10s · Ah of a new cell (`typical_pulse_resistance_ohm_ah`).
    """
    if rated_power_kw is not None:
        kw = _number("rated power (kW)", rated_power_kw)
        if kw <= 0:
            raise InvalidValueError(f"rated power must be above 0 kW, got {kw:g}")
        return kw * 1000.0, "given"
    scale = _power_per_pulse_resistance(cells, family, v_min)
    if cell_r_mohm is not None:
        r0 = _number("cell resistance (mΩ)", cell_r_mohm)
        if r0 <= 0:
            raise InvalidValueError(f"cell resistance must be above 0 mΩ, got {r0:g}")
        # Rounded to 0.1 W: a derived rating claims no more precision than that.
        return round(scale / (r0 / 1000.0 * pulse_resistance_factor()), 1), "from resistance"
    return round(scale / (typical_pulse_resistance_ohm_ah() / cell_ah), 1), "typical"


# --- building profiles ------------------------------------------------------------------------

def _twin_defaults(family: str, cell_ah: float) -> dict:
    """Twin-only parameters of a user profile: thermal ones scaled with capacity, the aging
    models of the first built-in of the same chemistry (else the default profile's)."""
    builtins = builtin_profiles()
    like = next((p for p in builtins.values() if p.chemistry == family),
                builtins[DEFAULT_PROFILE])
    mass = THERMAL_MASS_J_PER_K_PER_AH * cell_ah
    return {"cell_thermal_mass_j_per_k": mass,
            "cell_cooling_w_per_k": mass / THERMAL_TIME_CONSTANT_S,
            "aging_capacity_model": like.aging_capacity_model,
            "aging_resistance_model": like.aging_resistance_model}


def make_profile(name: str, *, chemistry_name: str, cell_ah: float, series: int, parallel: int,
                 v_min: float, v_max: float, rated_power_kw: float | None = None,
                 cell_r_mohm: float | None = None, kind: str = "road",
                 label: str | None = None) -> Profile:
    """A user profile from what `evpm profile add` takes, checked; the rated power derived
    when not given (see `rated_power`). Raises EvpmError with a one-line reason."""
    name = check_profile_name(name)
    if name in builtin_profiles():
        raise InvalidValueError(f"profile {name!r} is built in: choose another name")
    family, ah, series_n, parallel_n, low, high = check_pack(
        chemistry_name=chemistry_name, cell_ah=cell_ah, series=series, parallel=parallel,
        v_min=v_min, v_max=v_max)
    kind = _check_choice("kind", kind, KINDS)
    power, how = rated_power(cells=series_n * parallel_n, family=family, cell_ah=ah, v_min=low,
                             rated_power_kw=rated_power_kw, cell_r_mohm=cell_r_mohm)
    text = _check_label(label) if label is not None else \
        f"{name} ({series_n}s{parallel_n}p, {ah:g} Ah {family})"
    return Profile(name=name, label=text, fastsim_vehicle=None, series=series_n,
                   parallel=parallel_n, cell_capacity_ah=ah, cell_v_min=low, cell_v_max=high,
                   chemistry=family, rated_peak_power_w=power, kind=kind,
                   rated_power_source=how, source="user", **_twin_defaults(family, ah))


def _user_profile(entry: object) -> Profile:
    """A user profile from one entry of the user file, checked."""
    if not isinstance(entry, dict):
        raise InvalidValueError("each profile must be a JSON object")
    where = f"profile {entry.get('name')!r}"
    try:
        missing = [f for f in _REQUIRED_USER_FIELDS if f not in entry]
        if missing:
            raise InvalidValueError(f"missing {', '.join(missing)}")
        unknown = sorted(set(entry) - set(_REQUIRED_USER_FIELDS) - set(_OPTIONAL_USER_FIELDS))
        if unknown:
            raise InvalidValueError(f"unknown field {', '.join(unknown)}; valid: "
                                    f"{', '.join(_REQUIRED_USER_FIELDS + _OPTIONAL_USER_FIELDS)}")
        power = _number("rated_peak_power_w", entry["rated_peak_power_w"])
        if power <= 0:
            raise InvalidValueError(f"rated_peak_power_w must be above 0, got {power:g}")
        made = make_profile(
            entry["name"], chemistry_name=entry["chemistry"], cell_ah=entry["cell_capacity_ah"],
            series=entry["series"], parallel=entry["parallel"], v_min=entry["cell_v_min"],
            v_max=entry["cell_v_max"], rated_power_kw=power / 1000.0,
            kind=entry.get("kind", "road"), label=entry.get("label"))
        twin = {f: entry[f] for f in _OPTIONAL_USER_FIELDS[3:] if f in entry}
        for field in ("cell_thermal_mass_j_per_k", "cell_cooling_w_per_k"):
            if field in twin:
                twin[field] = _number(field, twin[field])
                if twin[field] <= 0:
                    raise InvalidValueError(f"{field} must be above 0")
        for field in ("aging_capacity_model", "aging_resistance_model"):
            if field in twin and not (isinstance(twin[field], str) and twin[field]):
                raise InvalidValueError(f"{field} must be a BLAST-Lite model name")
        how = _check_choice("rated power source", entry.get("rated_power_source", "given"),
                            RATED_POWER_SOURCES)
    except EvpmError as exc:
        raise InvalidValueError(f"{where}: {exc}") from None
    return dataclasses.replace(made, rated_peak_power_w=power, rated_power_source=how, **twin)


def profile_entry(profile: Profile) -> dict:
    """What the user file stores of a user profile: the twin-only fields only where they
    differ from the defaults (a hand-set value survives `evpm profile add` of another)."""
    entry = {"name": profile.name, "label": profile.label, "kind": profile.kind,
             "chemistry": profile.chemistry, "series": profile.series,
             "parallel": profile.parallel, "cell_capacity_ah": profile.cell_capacity_ah,
             "cell_v_min": profile.cell_v_min, "cell_v_max": profile.cell_v_max,
             "rated_peak_power_w": profile.rated_peak_power_w,
             "rated_power_source": profile.rated_power_source}
    defaults = _twin_defaults(profile.chemistry, profile.cell_capacity_ah)
    return entry | {k: getattr(profile, k) for k, v in defaults.items()
                    if getattr(profile, k) != v}


def profile_summary(profile: Profile) -> dict:
    """A profile as the API (`GET /profiles`) and `evpm profile list --json` show it."""
    return {"name": profile.name, "label": profile.label, "kind": profile.kind,
            "chemistry": profile.chemistry, "series": profile.series,
            "parallel": profile.parallel, "cell_capacity_ah": profile.cell_capacity_ah,
            "pack_capacity_ah": profile.pack_capacity_ah, "cell_v_min": profile.cell_v_min,
            "cell_v_max": profile.cell_v_max, "rated_peak_power_w": profile.rated_peak_power_w,
            "rated_power_source": profile.rated_power_source, "source": profile.source}


# --- the built-ins ----------------------------------------------------------------------------

@functools.cache
def builtin_profiles() -> Mapping[str, Profile]:
    """The shipped profiles (read from evpm/builtin_profiles.json once, on first use)."""
    text = resources.files("evpm").joinpath(BUILTIN_FILE).read_text(encoding="utf-8")
    profiles = {}
    for entry in json.loads(text)["profiles"]:
        profile = Profile(**entry, source="builtin")
        # The same checks as a user profile's (the limits hold for the shipped ones too).
        check_profile_name(profile.name)
        check_pack(chemistry_name=profile.chemistry, cell_ah=profile.cell_capacity_ah,
                   series=profile.series, parallel=profile.parallel, v_min=profile.cell_v_min,
                   v_max=profile.cell_v_max)
        _check_choice("kind", profile.kind, KINDS)
        profiles[profile.name] = profile
    return MappingProxyType(profiles)


class _BuiltinProfiles(Mapping[str, Profile]):
    """`PROFILES`: a read-only view of the built-ins that loads them on first use."""

    def __getitem__(self, name: str) -> Profile:
        return builtin_profiles()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(builtin_profiles())

    def __len__(self) -> int:
        return len(builtin_profiles())

    def __repr__(self) -> str:
        return f"PROFILES({list(self)})"


PROFILES: Mapping[str, Profile] = _BuiltinProfiles()


def __getattr__(name: str) -> list[str]:
    # VEHICLE_PROFILES is computed on first use, so importing this module reads no file.
    if name == "VEHICLE_PROFILES":
        return [n for n, p in builtin_profiles().items() if p.fastsim_vehicle is not None]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the user file ----------------------------------------------------------------------------

def profiles_path() -> Path:
    """The user profiles file of the current settings (EVPM_PROFILES)."""
    return profiles_path_from_env()


def read_user_profiles(path: Path) -> dict[str, Profile]:
    """Read and check the user profiles file; a missing file is none. EvpmError if broken."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise EvpmError(f"profiles file {path} cannot be read: {exc}") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise EvpmError(f"profiles file {path} is not valid JSON: {exc}") from None
    entries = document.get("profiles") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise EvpmError(f"profiles file {path} must be a JSON object with a \"profiles\" list")
    profiles: dict[str, Profile] = {}
    for entry in entries:
        try:
            profile = _user_profile(entry)
        except EvpmError as exc:
            raise EvpmError(f"profiles file {path}: {exc}") from None
        if profile.name in profiles:
            raise EvpmError(f"profiles file {path}: profile {profile.name!r} appears twice")
        profiles[profile.name] = profile
    return profiles


class ProfileCatalog:
    """The built-ins and one user file, re-read when the file changes (services' view).

    A broken file is logged once per change and the last good set kept, so a bad edit never
    stops the API, the watcher or the dashboard. `generation` counts the loads that changed
    the set (the registry cache re-checks its names when it moves).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        self.error: str | None = None  # why the file on disk is not the set in use
        self._stamp: tuple | None = None
        self._merged: Mapping[str, Profile] = builtin_profiles()

    def current(self) -> Mapping[str, Profile]:
        """Every profile, as the file is on disk now (one stat when unchanged)."""
        try:
            info = os.stat(self.path)
            # The inode too: an atomic replace within one mtime tick is still a change.
            stamp: tuple | None = (info.st_mtime_ns, info.st_size, info.st_ino)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            stamp = ("error", str(exc))
        if stamp != self._stamp:
            self._load()
            self._stamp = stamp
        return self._merged

    def _load(self) -> None:
        try:
            user = read_user_profiles(self.path)
        except EvpmError as exc:
            self.error = str(exc)
            log.error("profiles file %s not loaded, keeping the previous profiles: %s",
                      self.path, exc)
            return
        self.error = None
        self._merged = MappingProxyType({**builtin_profiles(), **user})
        self.generation += 1

    def invalidate(self) -> None:
        """Read the file again on the next call (after this process wrote it)."""
        self._stamp = ("stale",)


_catalogs: dict[Path, ProfileCatalog] = {}
_by_env: dict[str, ProfileCatalog] = {}  # EVPM_PROFILES as written → its catalog


def catalog(path: Path | None = None) -> ProfileCatalog:
    """The catalog of a user file (default: the current settings'), one per file."""
    if path is None:
        # Looked up per request row: the environment's raw value is the key (no Path built).
        key = os.environ.get(PROFILES_ENV, "")
        found = _by_env.get(key)
        if found is None:
            found = _by_env.setdefault(key, catalog(profiles_path()))
        return found
    found = _catalogs.get(path)
    if found is None:
        found = _catalogs.setdefault(path, ProfileCatalog(path))
    return found


def all_profiles(path: Path | None = None) -> dict[str, Profile]:
    """Every profile by name: the built-ins, then the user file's (default: EVPM_PROFILES)."""
    return dict(catalog(path).current())


# A user profile never takes a built-in's name, so a built-in name is answered without
# looking at the user file (the API checks a request row's profile this way).

def is_profile(name: object, path: Path | None = None) -> bool:
    """True for the name of a built-in or user profile."""
    return isinstance(name, str) and (name in builtin_profiles()
                                      or name in catalog(path).current())


def find_profile(name: str | None, path: Path | None = None) -> Profile | None:
    """The profile of that name, or None (for None or an unknown name)."""
    if not isinstance(name, str):
        return None
    return builtin_profiles().get(name) or catalog(path).current().get(name)


def get_profile(name: str, path: Path | None = None) -> Profile:
    """Return a profile by name, or raise an error naming the valid choices."""
    found = find_profile(name, path)
    if found is None:
        raise UnknownChoiceError("profile", str(name), list(catalog(path).current()))
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the file's folder while it is read, changed and replaced: two
    writers (two `evpm profile add`) never lose each other's change. No lock file is left."""
    from evpm.files import ensure_writable_dir

    ensure_writable_dir(path.parent)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_user_profiles(path: Path, profiles: Mapping[str, Profile]) -> None:
    from evpm.files import atomic_path

    document = {"profiles": [profile_entry(p) for _, p in sorted(profiles.items())]}
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644  # readable by services running as another user, like a file cp'd in
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        tmp.chmod(mode)
    catalog(path).invalidate()


def add_user_profile(path: Path, profile: Profile, *, replace: bool = False) -> Profile:
    """Add a user profile to the file (atomically); an existing name needs `replace`."""
    if profile.name in builtin_profiles():
        raise InvalidValueError(f"profile {profile.name!r} is built in: choose another name")
    with _locked(path):
        profiles = read_user_profiles(path)
        if profile.name in profiles and not replace:
            raise InvalidValueError(f"profile {profile.name!r} already exists in {path}: add "
                                    "--replace to overwrite it")
        profiles[profile.name] = dataclasses.replace(profile, source="user")
        _write_user_profiles(path, profiles)
    return profiles[profile.name]


def remove_user_profile(path: Path, name: str, registry_path: Path | None = None) -> Profile:
    """Remove a user profile from the file; refused for built-ins and for a profile that the
    fleet registry at `registry_path` still gives vehicles."""
    if name in builtin_profiles():
        raise InvalidValueError(f"profile {name!r} is built in and cannot be removed")
    with _locked(path):
        profiles = read_user_profiles(path)
        if name not in profiles:
            raise UnknownChoiceError("user profile", name, sorted(profiles) or ["(none)"])
        if registry_path is not None:
            users = sorted(v for v, p in _raw_registry(registry_path).items() if p == name)
            if users:
                shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more"
                                                if len(users) > 5 else "")
                raise InvalidValueError(
                    f"profile {name!r} is still used by {len(users)} vehicle(s) in "
                    f"{registry_path} ({shown}): register them to another profile first")
        removed = profiles.pop(name)
        _write_user_profiles(path, profiles)
    return removed


# --- the fleet registry -----------------------------------------------------------------------

def check_vehicle_id(vehicle_id: str) -> str:
    """Return the vehicle id if it is safe as a file-name part, else raise."""
    if not VEHICLE_ID_PATTERN.fullmatch(vehicle_id or ""):
        raise InvalidValueError(
            f"vehicle id {vehicle_id!r} is not allowed: use 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return vehicle_id


def _raw_registry(path: Path) -> dict[str, str]:
    """The registry's vehicle → profile name pairs, names unchecked."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return {(row.get("vehicle_id") or "").strip(): (row.get("profile") or "").strip()
                for row in csv.DictReader(handle)}


def read_registry(path: Path) -> dict[str, str]:
    """Read the fleet registry CSV (`vehicle_id,profile`); a missing file is an empty registry.

    Every profile must be one the catalog knows (built-in or user)."""
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
    """The fleet registry, re-read when its file changes (services keep one of these).

    Also re-read when the profile catalog changes: a registry line naming a profile that did
    not exist yet loads once the profile is added, without touching the registry again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple | None = None
        self._registry: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        """The registry as it is on disk now (cheap when unchanged)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._stamp, self._registry = None, {}
            return self._registry
        profiles = catalog()
        profiles.current()
        stamp = (mtime, id(profiles), profiles.generation)
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


def profile_for_vehicle(vehicle_id: str, registry: Mapping[str, str]) -> Profile:
    """Profile of a vehicle from the registry; unknown vehicles get the default profile."""
    return get_profile(registry.get(vehicle_id, DEFAULT_PROFILE))
