"""security keys and passkeys, key ceremonies, trusted devices, how sessions were made,
passkey flows and their server-only context

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auth_methods", sa.String(length=64), server_default="pwd", nullable=False)
        )
        batch_op.add_column(
            sa.Column("auth_level", sa.String(length=32), server_default="one_factor", nullable=False)
        )
        batch_op.add_column(sa.Column("auth_time", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("trusted_device_id", sa.String(length=32), nullable=True))

    with op.batch_alter_table("login_flows", schema=None) as batch_op:
        batch_op.alter_column("account_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="second_factor", nullable=False)
        )
        batch_op.add_column(sa.Column("webauthn_challenge", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))

    op.create_table(
        "security_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("passkey", sa.Boolean(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        _account_fk("security_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_keys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_security_keys_credential_id")),
    )
    with op.batch_alter_table("security_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "key_ceremonies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge", sa.LargeBinary(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("passkey", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        _account_fk("key_ceremonies"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_key_ceremonies_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_ceremonies")),
    )
    with op.batch_alter_table("key_ceremonies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_ceremonies_account_id"), ["account_id"], unique=False)

    op.create_table(
        "trusted_devices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        _account_fk("trusted_devices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_devices")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_trusted_devices_token_hash")),
    )
    with op.batch_alter_table("trusted_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_devices_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_table("trusted_devices")
    op.drop_table("key_ceremonies")
    op.drop_table("security_keys")
    op.execute("DELETE FROM login_flows WHERE account_id IS NULL")
    with op.batch_alter_table("login_flows", schema=None) as batch_op:
        batch_op.drop_column("context")
        batch_op.drop_column("webauthn_challenge")
        batch_op.drop_column("kind")
        batch_op.alter_column("account_id", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("trusted_device_id")
        batch_op.drop_column("auth_time")
        batch_op.drop_column("auth_level")
        batch_op.drop_column("auth_methods")
