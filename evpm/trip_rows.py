"""One trip file → one /predict request row, or the named reason there is none.

The watcher posts these rows; `evpm features` prints them and `evpm predict` scores them. Whose
trip it is and which profile reads it is `evpm.trips.trip_identity`'s decision, the same for
all and for training. A row names its `profile` only when it is given or registered: for an
assumed one (an unregistered vehicle) it says `assumed_profile` instead, with what the trip
itself says about its pack (`pack_guess`), so the API answers with `profile_source: assumed`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from evpm.errors import EvpmError
from evpm.features import extract
from evpm.files import shown
from evpm.health import ASSUMED
from evpm.pack_inference import guess_trip
from evpm.profiles import Profile
from evpm.trips import TripError, read_trip


class FileFailedError(EvpmError):
    """A trip file that can never succeed: a reason code, a message, where it applies."""

    def __init__(self, reason: str, message: str, *, column: str | None = None,
                 row: int | None = None, details: list | None = None) -> None:
        super().__init__(message)
        self.reason, self.column, self.row, self.details = reason, column, row, details

    @classmethod
    def from_trip_error(cls, error: TripError) -> FileFailedError:
        """The pipeline's form of a trip validation error."""
        return cls(error.reason, str(error), column=error.column, row=error.row)

    def as_dict(self) -> dict:
        """What goes into `<name>.error.json` (besides the file and the time)."""
        out: dict = {"reason": self.reason, "message": str(self)}
        for name in ("column", "row", "details"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def content_key(raw: bytes, vehicle_id: str) -> str:
    """The idempotency key of a trip: `sha256:<vehicle_id>:<hex digest of its bytes>`.

    The vehicle is part of the key: the same bytes sent for two vehicles are two trips (a
    copied file, a test pattern), and must not be answered with the other vehicle's record.
    A vehicle id is at most 64 of [A-Za-z0-9_-], so the key is at most 136 visible ASCII
    characters (the API takes 200).
    """
    return f"sha256:{vehicle_id}:{hashlib.sha256(raw).hexdigest()}"


def trip_row(path: Path, raw: bytes, registry: dict[str, str], name: str | None = None, *,
             profile: Profile | str | None = None) -> dict:
    """The /predict row for a trip file's bytes, or FileFailedError saying why there is none.

    `name` is the file's name as it arrived (default: the path's); `profile` overrides the
    registry (`evpm features --profile`; the watcher never sets it).
    """
    name = name or path.name
    try:
        trip = read_trip(raw, name=name, registry=registry, profile=profile)
        features = extract(trip)
    except TripError as exc:
        raise FileFailedError.from_trip_error(exc) from None
    row = {k: v for k, v in features.items() if v == v}  # NaN: a feature this trip lacks
    if trip.profile_source == ASSUMED:
        # The features were still read with the default profile: the API uses it, and says so.
        row["assumed_profile"] = trip.profile.name
        guess = guess_trip(trip).describe()
        if guess is not None:
            row["pack_guess"] = guess
    else:
        row["profile"] = trip.profile.name
    if trip.vehicle_id is not None:  # always, unless the caller chose the profile itself
        row.update(vehicle_id=trip.vehicle_id, idempotency_key=content_key(raw, trip.vehicle_id))
    # The name as stored is the one the logs show: control characters escaped (the API
    # refuses them), and its end kept if long (the end says the vehicle and trip).
    row["source_file"] = shown(name)[-255:]
    return row
