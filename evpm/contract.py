"""The request contract's limits, one definition each.

Read by the API's checks (`evpm.api.schemas`), its OpenAPI document, the database's column sizes
and the watcher, which must never send what the API refuses. Nothing but the standard library
here, so that storage and the watcher can import it without the API's modules. The vehicle id
pattern itself is `evpm.profiles.VEHICLE_ID_PATTERN` (the registry checks it too); the batch
size is a setting (`Settings.max_batch_rows`).
"""

from __future__ import annotations

import datetime as dt
import re

# The words for evpm.profiles.VEHICLE_ID_PATTERN, in error messages and the document.
VEHICLE_ID_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"
# Visible ASCII only: a key travels in an HTTP header, and keys the API derives for the rows
# of a batch contain a space, so no client key can ever equal one of them.
IDEMPOTENCY_KEY_MAX = 200
IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX}}}")
IDEMPOTENCY_KEY_RULE = (f"1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters (no spaces or "
                        "control characters)")
SOURCE_FILE_MAX = 255
# A trip's time must be one a fleet can have: not before 2000, not more than a day ahead
# (clocks drift; a later time is a wrong clock, and would sort after every real trip).
EARLIEST_TIMESTAMP = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_TOLERANCE = dt.timedelta(days=1)
# GET /vehicles: at most this many vehicles per page (also the default page).
VEHICLES_PAGE_MAX = 1000
# GET /vehicles/{id}/history: the largest `limit` (without one: the whole history).
HISTORY_LIMIT_MAX = 100_000
# The 90 % intervals every prediction carries (evpm.uncertainty), in answer and storage order.
INTERVAL_FIELDS = ("soh_low", "soh_high", "sop_low", "sop_high")
