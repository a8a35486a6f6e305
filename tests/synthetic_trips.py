"""Trip CSVs of any pack without the twin: a constant-current discharge from the OCV curve.

The twin simulates the built-in profiles only; a user profile's trip is made here: a rest,
then a constant-current discharge, pack-level columns as PRODUCT.md's trip CSV has them.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from evpm import chemistry
from evpm.profiles import Profile


def discharge_trip(profile: Profile, *, c_rate: float = 1.0, minutes: float = 25.0,
                   soc_start: float = 0.9, soh: float = 1.0, rest_s: int = 30,
                   seed: int = 0) -> bytes:
    """A trip CSV (bytes) of `profile`'s pack: `rest_s` at rest, then `c_rate` × rated capacity
    for `minutes`, cell voltage = OCV(SOC) − I · R_10s (the rated pulse resistance)."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(0.0, rest_s + minutes * 60.0, 1.0)
    cell_i = np.where(time_s < rest_s, 0.0, -c_rate * profile.cell_capacity_ah)
    charge_ah = np.r_[0.0, np.cumsum(-cell_i[1:] * np.diff(time_s))] / 3600.0
    soc = soc_start - charge_ah / (profile.cell_capacity_ah * soh)
    cell_v = chemistry.ocv(profile.chemistry, soc) + cell_i * profile.rated_pulse_resistance_ohm
    temperature = 25.0 + 6.0 * (time_s / time_s[-1]) ** 1.5
    table = pd.DataFrame({
        "time_s": time_s,
        "voltage_V": np.round(cell_v * profile.series + rng.normal(0, 0.02, len(time_s)), 3),
        "current_A": np.round(cell_i * profile.parallel, 3),
        "soc": np.round(soc, 5),
        "temperature_C": np.round(temperature, 2),
    })
    out = io.StringIO()
    table.to_csv(out, index=False)
    return out.getvalue().encode()
