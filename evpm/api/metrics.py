"""Prometheus metrics of the API (prometheus_client), multi-process aware under gunicorn."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ApiMetrics:
    """The API's counters and histograms, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("evpm_api_requests_total", "HTTP requests",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("evpm_api_request_seconds", "Request latency",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("evpm_api_errors_total", "Responses with status >= 400",
                              ["endpoint", "status"], registry=self.registry)
        self.predictions = Counter("evpm_predictions_total", "New predictions, by status",
                                   ["status"], registry=self.registry)
        self.rows = Counter("evpm_prediction_rows_total", "Rows predicted (batch rows count "
                            "one each)", registry=self.registry)
        # Data quality (the reference design's monitoring list).
        self.out_of_range = Counter("evpm_out_of_range_features_total",
                                    "Feature values outside the models' training range",
                                    registry=self.registry)
        self.missing = Counter("evpm_missing_features_total",
                               "Optional physics features absent from predicted rows",
                               registry=self.registry)

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, str(status)).inc()

    def exposition(self, database_bytes: int | None = None) -> tuple[bytes, str]:
        """The text exposition; under gunicorn (PROMETHEUS_MULTIPROC_DIR) all workers summed.

        `database_bytes` (measured at scrape time) is added as a gauge.
        """
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            text = generate_latest(registry)
        else:
            text = generate_latest(self.registry)
        if database_bytes is not None:
            text += (b"# HELP evpm_database_size_bytes Size of the prediction database\n"
                     b"# TYPE evpm_database_size_bytes gauge\n"
                     b"evpm_database_size_bytes %d\n" % database_bytes)
        return text, CONTENT_TYPE_LATEST
