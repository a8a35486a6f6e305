"""Baseline: the tables of release 89c56b1, the last release before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

The same DDL as that release's `metadata.create_all`, so a database it made is adopted by
stamping this revision (evpm.schema_migrations) without changing anything in it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create health_records (+ its vehicle index) and vehicles."""
    op.create_table(
        "health_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("predicted_soh", sa.Float(), nullable=False),
        sa.Column("predicted_sop", sa.Float(), nullable=False),
        sa.Column("health_score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("prediction_id", sa.String(length=36), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("source_file", sa.String(length=255), nullable=True),
        sa.Column("profile", sa.String(length=40), nullable=True),
        sa.Column("features", sa.Text(), nullable=True),
        sa.Column("warnings", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        # Unnamed, as create_all made it: PostgreSQL names it health_records_idempotency_key_key.
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_health_records_vehicle_id_id", "health_records", ["vehicle_id", "id"])
    op.create_table(
        "vehicles",
        sa.Column("vehicle_id", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=40), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vehicle_id"),
    )


def downgrade() -> None:
    """Drop both tables (and every stored prediction)."""
    op.drop_table("vehicles")
    op.drop_index("ix_health_records_vehicle_id_id", table_name="health_records")
    op.drop_table("health_records")
