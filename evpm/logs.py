"""Log set-up shared by the services: one line per event, credentials never printed."""

from __future__ import annotations

import logging

from evpm.settings import redact_url

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RedactingFormatter(logging.Formatter):
    """A formatter that masks URL passwords in the message and in tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line, credentials masked."""
        return redact_url(super().format(record))


def configure(level: int = logging.INFO) -> None:
    """Root logging to stderr, one line per event, with credentials masked (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, RedactingFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(RedactingFormatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
