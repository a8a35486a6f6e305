"""gunicorn hooks for the API's workers (`evpm api`; the benchmark's baseline uses them too)."""

from __future__ import annotations

import gc


def post_worker_init(worker) -> None:
    """Once the app and its models are loaded: keep the garbage collector off them."""
    # A 10,000-row batch allocates some 100,000 objects. With the default thresholds that
    # triggers full collections which walk every long-lived object (models, modules) again:
    # ~20 % of a batch request. Frozen objects are never scanned; rarer young collections
    # cost nothing here, since request objects are freed by reference counting.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
