"""recovery requests: evidence, a wait, and a cancel link for every contact point

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recovery_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ready_at", sa.DateTime(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("email_token_hash", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("cancel_token_hash", sa.String(length=64), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_requests")),
        sa.UniqueConstraint("cancel_token_hash", name=op.f("uq_recovery_requests_cancel_token_hash")),
    )
    with op.batch_alter_table("recovery_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_requests_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_recovery_requests_ip_created", ["ip", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recovery_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_requests_ip_created")
        batch_op.drop_index(batch_op.f("ix_recovery_requests_account_id"))
    op.drop_table("recovery_requests")
