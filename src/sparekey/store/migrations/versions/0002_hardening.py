"""known clients, refused TOTP steps, username skeletons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sparekey.core.usernames import skeleton

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_clients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_known_clients_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_clients")),
    )
    with op.batch_alter_table("known_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_known_clients_account_id"), ["account_id"], unique=False)

    op.create_table(
        "totp_refused_steps",
        sa.Column("authenticator_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("refused_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authenticator_id"],
            ["authenticators.id"],
            name=op.f("fk_totp_refused_steps_authenticator_id_authenticators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("authenticator_id", "step", name=op.f("pk_totp_refused_steps")),
    )

    with op.batch_alter_table("login_flows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("known_client_id", sa.String(length=32), nullable=True))

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username_skeleton", sa.String(length=512), nullable=True))
    _backfill_skeletons()
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_accounts_username_skeleton"), ["username_skeleton"])


def _backfill_skeletons() -> None:
    """Existing accounts get their skeleton; an account whose name looks like an older
    account's keeps none (it still signs in; only new look-alikes are refused)."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, username FROM accounts ORDER BY created_at, id")).all()
    taken: set[str] = set()
    for account_id, username in rows:
        value = skeleton(username)
        if value in taken:
            continue
        taken.add(value)
        conn.execute(
            sa.text("UPDATE accounts SET username_skeleton = :skeleton WHERE id = :id"),
            {"skeleton": value, "id": account_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_username_skeleton"), type_="unique")
        batch_op.drop_column("username_skeleton")
    with op.batch_alter_table("login_flows", schema=None) as batch_op:
        batch_op.drop_column("known_client_id")
    op.drop_table("totp_refused_steps")
    with op.batch_alter_table("known_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_clients_account_id"))
    op.drop_table("known_clients")
