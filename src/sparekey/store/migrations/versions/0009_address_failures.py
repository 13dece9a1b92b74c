"""failures per client address, shared by every process

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_failures")),
    )
    with op.batch_alter_table("address_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_failures_at"), ["at"], unique=False)
        batch_op.create_index("ix_address_failures_ip_at", ["ip", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("address_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_address_failures_ip_at")
        batch_op.drop_index(batch_op.f("ix_address_failures_at"))

    op.drop_table("address_failures")
