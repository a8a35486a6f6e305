"""The tables, as SQLAlchemy metadata: what the migrations (evpm/migrations) must build.

Alembic owns the schema: a change here needs a migration too (`python -m
evpm.schema_migrations revision --autogenerate -m "..."`), and a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# The reference design's health_records columns, plus traceability.
health_records = Table(
    "health_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vehicle_id", String(64), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("predicted_soh", Float, nullable=False),
    Column("predicted_sop", Float, nullable=False),
    Column("health_score", Float, nullable=False),
    Column("status", String(32), nullable=False),
    Column("prediction_id", String(36), nullable=False),  # uuid4; no index: never searched
    Column("model_version", String(32), nullable=False),
    Column("idempotency_key", String(200), unique=True),
    Column("source_file", String(255)),
    Column("profile", String(40)),
    Column("features", Text),  # JSON of the features the prediction used
    Column("warnings", Text),  # JSON list
    # 90 % intervals (migration 0002; NULL for records stored before them)
    Column("soh_low", Float),
    Column("soh_high", Float),
    Column("sop_low", Float),
    Column("sop_high", Float),
    # A vehicle's records newest first, without a scan: history and the per-vehicle estimate.
    Index("ix_health_records_vehicle_id_id", "vehicle_id", "id"),
)

vehicles = Table(
    "vehicles",
    metadata,
    Column("vehicle_id", String(64), primary_key=True),
    Column("profile", String(40)),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)
