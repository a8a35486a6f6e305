"""gunicorn hooks for the API's workers (`evpm api`; the benchmark's baseline uses them too)."""

from __future__ import annotations

import gc
import logging
import socket
import struct

# A client that sends nothing for this long while a request is under way (half-sent headers,
# a stalled body) or reads nothing of its answer is dropped: it cannot hold a thread forever.
CLIENT_STALL_S = 10


def when_ready(server) -> None:
    """Before workers start: a receive and send time-out on the listening sockets.

    Linux copies them to every accepted connection. gunicorn reads a request with blocking
    calls, so without them a client that stops mid-header holds its thread for good.
    """
    stall = struct.pack("ll", CLIENT_STALL_S, 0)
    for listener in server.LISTENERS:
        sock = listener.sock if hasattr(listener, "sock") else listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, stall)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, stall)


def post_worker_init(worker) -> None:
    """Once the app and its models are loaded: masked logs, garbage collector off them."""
    from evpm import logs

    logs.configure(logging.WARNING)
    # A 10,000-row batch allocates some 100,000 objects. With the default thresholds that
    # triggers full collections which walk every long-lived object (models, modules) again:
    # ~20 % of a batch request. Frozen objects are never scanned; rarer young collections
    # cost nothing here, since request objects are freed by reference counting.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
