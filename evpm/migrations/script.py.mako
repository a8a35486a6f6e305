"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

import sqlalchemy as sa  # noqa: F401 — most migrations need it
from alembic import op  # noqa: F401
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    """Upgrade the schema by one revision (runs on SQLite and PostgreSQL: batch operations)."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Undo upgrade()."""
    ${downgrades if downgrades else "pass"}
