"""the account's language, time zone, muted notifications and reminders; events that call
for a notification

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PENDING = "notification IS NOT NULL AND notified_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chosen_language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("sign_in_language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("muted_notifications", sa.String(length=400), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("last_reminded_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notification", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("notified_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_events_pending_notification",
            ["id"],
            unique=False,
            sqlite_where=sa.text(_PENDING),
            postgresql_where=sa.text(_PENDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_pending_notification")
        batch_op.drop_column("notified_at")
        batch_op.drop_column("notification")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("last_reminded_at")
        batch_op.drop_column("muted_notifications")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("sign_in_language")
        batch_op.drop_column("chosen_language")
