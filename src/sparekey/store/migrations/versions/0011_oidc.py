"""the OpenID Connect provider: clients, codes, grants, consents, signing keys

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _cascade(column: str, table: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_clients")),
    )
    op.create_table(
        "oidc_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=16), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("amr", sa.String(length=64), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        _cascade("client_id", "oidc_codes", "oidc_clients"),
        _cascade("account_id", "oidc_codes", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oidc_codes_code_hash")),
    )
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_codes_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_codes_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_oidc_codes_client_nonce", ["client_id", "nonce"], unique=False)
    op.create_table(
        "oidc_grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_hash", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(), nullable=False),
        sa.Column("refresh_expires_at", sa.DateTime(), nullable=True),
        sa.Column("auth_time", sa.DateTime(), nullable=False),
        sa.Column("amr", sa.String(length=64), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        _cascade("client_id", "oidc_grants", "oidc_clients"),
        _cascade("account_id", "oidc_grants", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_grants")),
        sa.UniqueConstraint("access_hash", name=op.f("uq_oidc_grants_access_hash")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_oidc_grants_refresh_hash")),
    )
    with op.batch_alter_table("oidc_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oidc_grants_access_expires_at"), ["access_expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_oidc_grants_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_grants_family_id"), ["family_id"], unique=False)
    op.create_table(
        "oidc_consents",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        _cascade("account_id", "oidc_consents", "accounts"),
        _cascade("client_id", "oidc_consents", "oidc_clients"),
        sa.PrimaryKeyConstraint("account_id", "client_id", name=op.f("pk_oidc_consents")),
    )
    op.create_table(
        "oidc_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_sealed", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("publish_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_oidc_signing_keys")),
    )


def downgrade() -> None:
    op.drop_table("oidc_signing_keys")
    op.drop_table("oidc_consents")
    with op.batch_alter_table("oidc_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_grants_family_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_grants_account_id"))
        batch_op.drop_index(batch_op.f("ix_oidc_grants_access_expires_at"))
    op.drop_table("oidc_grants")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_codes_client_nonce")
        batch_op.drop_index(batch_op.f("ix_oidc_codes_expires_at"))
        batch_op.drop_index(batch_op.f("ix_oidc_codes_account_id"))
    op.drop_table("oidc_codes")
    op.drop_table("oidc_clients")
