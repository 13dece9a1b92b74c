"""the recovery drill: when one was started, when the last one passed and how

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drill_started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_drill_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_drill_method", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("last_drill_method")
        batch_op.drop_column("last_drill_at")
        batch_op.drop_column("drill_started_at")
