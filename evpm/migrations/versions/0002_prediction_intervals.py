"""Prediction intervals: each stored prediction keeps its 90 % SoH and SoP intervals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Four nullable columns: records stored before intervals were predicted keep NULL (no interval
was ever computed for them; none is made up).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("soh_low", "soh_high", "sop_low", "sop_high")


def upgrade() -> None:
    """Add the four interval columns to health_records."""
    with op.batch_alter_table("health_records") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop them (the intervals stored are lost)."""
    with op.batch_alter_table("health_records") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
