"""recovery completion, the support console, organisations, recovery contacts; restricted sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("require_two_factor", sa.Boolean(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("required_since", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "account_roles",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_roles_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "role", name=op.f("pk_account_roles")),
    )
    op.create_table(
        "organisation_invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_organisation_invitations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["accounts.id"],
            name=op.f("fk_organisation_invitations_invited_by_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_invitations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_invitations")),
    )
    with op.batch_alter_table("organisation_invitations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_invitations_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_organisation_invitations_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "organisation_members",
        sa.Column("organisation_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_organisation_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_members_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "account_id", name=op.f("pk_organisation_members")),
    )
    with op.batch_alter_table("organisation_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_members_account_id"), ["account_id"], unique=False)

    op.create_table(
        "recovery_contacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("contact_account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_contacts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_account_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_contacts_contact_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_contacts")),
        sa.UniqueConstraint("account_id", "contact_account_id", name="uq_recovery_contacts_pair"),
    )
    with op.batch_alter_table("recovery_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_contacts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recovery_contacts_contact_account_id"), ["contact_account_id"], unique=False
        )

    op.create_table(
        "recovery_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_actions_actor_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["recovery_requests.id"],
            name=op.f("fk_recovery_actions_request_id_recovery_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_actions")),
    )
    with op.batch_alter_table("recovery_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_actions_request_id"), ["request_id"], unique=False)

    op.create_table(
        "recovery_contact_asks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("recovery_contact_id", sa.String(length=32), nullable=False),
        sa.Column("contact_account_id", sa.String(length=32), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_account_id"],
            ["accounts.id"],
            name=op.f("fk_recovery_contact_asks_contact_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recovery_contact_id"],
            ["recovery_contacts.id"],
            name=op.f("fk_recovery_contact_asks_recovery_contact_id_recovery_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["recovery_requests.id"],
            name=op.f("fk_recovery_contact_asks_request_id_recovery_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_contact_asks")),
        sa.UniqueConstraint("request_id", "recovery_contact_id", name="uq_recovery_contact_asks_pair"),
    )
    with op.batch_alter_table("recovery_contact_asks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recovery_contact_asks_contact_account_id"), ["contact_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recovery_contact_asks_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("recovery_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completion_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("completion_started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("support_requested_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("support_statement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("support_question", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_recovery_requests_completion_token_hash"), ["completion_token_hash"]
        )

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restriction", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("restriction")

    with op.batch_alter_table("recovery_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_recovery_requests_completion_token_hash"), type_="unique")
        batch_op.drop_column("support_question")
        batch_op.drop_column("support_statement")
        batch_op.drop_column("support_requested_at")
        batch_op.drop_column("completed_at")
        batch_op.drop_column("completion_started_at")
        batch_op.drop_column("completion_token_hash")

    with op.batch_alter_table("recovery_contact_asks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_contact_asks_request_id"))
        batch_op.drop_index(batch_op.f("ix_recovery_contact_asks_contact_account_id"))

    op.drop_table("recovery_contact_asks")
    with op.batch_alter_table("recovery_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_actions_request_id"))

    op.drop_table("recovery_actions")
    with op.batch_alter_table("recovery_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_contacts_contact_account_id"))
        batch_op.drop_index(batch_op.f("ix_recovery_contacts_account_id"))

    op.drop_table("recovery_contacts")
    with op.batch_alter_table("organisation_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_members_account_id"))

    op.drop_table("organisation_members")
    with op.batch_alter_table("organisation_invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_invitations_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_organisation_invitations_account_id"))

    op.drop_table("organisation_invitations")
    op.drop_table("account_roles")
    op.drop_table("organisations")
