"""The soc column as a vehicle's BMS computes it (randomised twin), not truth plus noise.

A BMS counts the charge its own current sensor measures over its own capacity estimate; it
sets its start from the rest voltage when the car was parked long enough (with the family's
OCV table: the cell's own curve and hysteresis come out as an error), else it carries on from
where the last trip left it (with that trip's drift); after wake-up it may report its stored
value for a while before the new one; it reports in steps. See `evpm.twin.randomise` for the
ranges.
"""

from __future__ import annotations

import numpy as np

from evpm import chemistry


def bms_soc(time_s: np.ndarray, current_a: np.ndarray, true_soc0: float, rest_voltage_v: float,
            *, chemistry_name: str, capacity_ah: float, rest_corrected: bool,
            start_drift: float, stale_s: float, step: float) -> np.ndarray:
    """The BMS's soc per sample.

    `current_a`: the pack current its sensor measures (negative discharging), `capacity_ah`:
    the pack capacity it believes; `rest_voltage_v`: the cell voltage at wake-up (read with
    the family's table when `rest_corrected`); `start_drift`: its error otherwise;
    `stale_s`: how long the stored value is reported after wake-up.
    """
    stored = float(np.clip(true_soc0 + start_drift, 0.0, 1.0))
    start = float(chemistry.soc_from_ocv(chemistry_name, rest_voltage_v)) if rest_corrected \
        else stored
    step_h = np.diff(time_s, prepend=time_s[0]) / 3600.0
    counted = start + np.cumsum(current_a * step_h) / capacity_ah
    if stale_s > 0:
        counted = np.where(time_s - time_s[0] < stale_s, stored, counted)
    return np.clip(np.round(counted / step) * step, 0.0, 1.0)
