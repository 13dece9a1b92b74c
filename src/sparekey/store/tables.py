"""The schema, in SQLAlchemy Core. Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("email", String(320)),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("two_factor_enabled", Boolean, nullable=False, default=False),
    Column("backup_salt", LargeBinary(32)),
    # UTS #39 skeleton of the username: one account per look-alike family. Nullable only for
    # accounts that existed before the rule and clash with an older one. A username character
    # becomes at most 7 in the skeleton (checked over all of Unicode): 64 -> 448 < 512.
    Column("username_skeleton", String(512), unique=True),
    Column("chosen_language", String(8)),
    Column("sign_in_language", String(8)),
    Column("time_zone", String(64)),
    Column("muted_notifications", String(400), nullable=False, server_default=""),
    Column("last_reminded_at", UTCDateTime),
    # The recovery drill (core/flows/drill.py): open while drill_started_at is recent.
    Column("drill_started_at", UTCDateTime),
    Column("last_drill_at", UTCDateTime),
    Column("last_drill_method", String(32)),
)

authenticators = Table(
    "authenticators",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(64), nullable=False),
    Column("secret_enc", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("last_used_step", BigInteger),
    Column("last_used_at", UTCDateTime),
    Column("drift_steps", Integer, nullable=False, default=0),
    Column("last_offset_steps", Integer),
)

# Time steps whose code was refused as clock drift: that code must not work when its time
# comes (a guess answered "your clock is off" would otherwise be worth several guesses).
totp_refused_steps = Table(
    "totp_refused_steps",
    metadata,
    Column(
        "authenticator_id",
        String(32),
        ForeignKey("authenticators.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", BigInteger, primary_key=True),
    Column("refused_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("sudo_until", UTCDateTime),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    # How the session was made (core/assurance.py): amr values separated by spaces, the level.
    Column("auth_methods", String(64), nullable=False, server_default="pwd"),
    Column("auth_level", String(32), nullable=False, server_default="one_factor"),
    Column("auth_time", UTCDateTime),
    Column("trusted_device_id", String(32)),
    # What the session may do before anything else: NULL, or "enrol_second_factor" when an
    # organisation requires two-step verification and its grace period is over.
    Column("restriction", String(32)),
)

login_flows = Table(
    "login_flows",
    metadata,
    Column("id", String(64), primary_key=True),
    # NULL while a passkey flow does not know whose sign-in it is
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE")),
    Column("kind", String(16), nullable=False, server_default="second_factor"),
    Column("state", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("known_client_id", String(32)),
    # Server-only context: the WebAuthn challenge (spent by a conditional UPDATE), where a code was sent.
    Column("webauthn_challenge", String(128)),
    Column("context", JSON),
)

known_clients = Table(
    "known_clients",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("type", String(64), nullable=False),
    Column("data", JSON, nullable=False),
    Column("notification", String(32)),  # set when the event calls for one (core/notifications.py)
    Column("notified_at", UTCDateTime),
    Index("ix_events_account_at", "account_id", "id"),
    # The notifier's queue: events that call for a notification and were not taken yet.
    Index(
        "ix_events_pending_notification",
        "id",
        sqlite_where=text("notification IS NOT NULL AND notified_at IS NULL"),
        postgresql_where=text("notification IS NOT NULL AND notified_at IS NULL"),
    ),
)

backup_code_sets = Table(
    "backup_code_sets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("set_number", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("replaced_at", UTCDateTime),
    Column("confirmed_at", UTCDateTime),
    UniqueConstraint("account_id", "set_number", name="uq_backup_code_sets_account_number"),
    # At most one current set per account, enforced by the database itself.
    Index(
        "uq_backup_code_sets_one_current",
        "account_id",
        unique=True,
        sqlite_where=text("replaced_at IS NULL"),
        postgresql_where=text("replaced_at IS NULL"),
    ),
)

backup_codes = Table(
    "backup_codes",
    metadata,
    Column("set_id", String(32), ForeignKey("backup_code_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("code_hash", LargeBinary(64), nullable=False),
    Column("used_at", UTCDateTime),
    Column("used_ip", String(64)),
    Column("used_user_agent", String(512)),
)

throttles = Table(
    "throttles",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("lockouts", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("kind", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("verified_at", UTCDateTime),
    UniqueConstraint("account_id", "kind", "address", name="uq_contacts_account_kind_address"),
)

sent_codes = Table(
    "sent_codes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column(
        "contact_id", String(32), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("flow_id", String(64), ForeignKey("login_flows.id", ondelete="CASCADE"), index=True),
    Column("channel", String(16), nullable=False),
    Column("destination", String(320), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ip", String(64)),
    Column("used_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Index("ix_sent_codes_destination_created", "destination", "created_at"),
    Index("ix_sent_codes_ip_created", "ip", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="SET NULL"), index=True),
    Column("channel", String(16), nullable=False),
    Column("to", String(320), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("body_enc", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("sender", String(32)),
    Column("last_error", String(500)),
    Index("ix_messages_state_next", "state", "next_attempt_at"),
)

security_keys = Table(
    "security_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(64), nullable=False),
    Column("credential_id", LargeBinary(1023), nullable=False, unique=True),  # WebAuthn's upper bound
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key
    Column("sign_count", BigInteger, nullable=False, default=0),
    Column("passkey", Boolean, nullable=False, default=False),
    Column("backup_eligible", Boolean, nullable=False, default=False),
    Column("backed_up", Boolean, nullable=False, default=False),
    Column("transports", String(200), nullable=False, default=""),
    Column("aaguid", String(36), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
)

key_ceremonies = Table(
    "key_ceremonies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("session_id", String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("challenge", LargeBinary(64), nullable=False),
    Column("name", String(64)),
    Column("passkey", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)

trusted_devices = Table(
    "trusted_devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("user_agent", String(512)),
    Column("ip", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Recovery requests (core/flows/recovery.py). account_id is NULL for a username that names no
# account. Secrets are keyed hashes; evidence says what was proved and when.
recovery_requests = Table(
    "recovery_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), index=True),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ready_at", UTCDateTime),
    Column("evidence", JSON, nullable=False),
    Column("score", Integer, nullable=False, default=0),
    Column("wrong_answers", Integer, nullable=False, default=0),
    Column("language", String(8)),
    Column("email_token_hash", String(64)),
    Column("code_hash", String(64)),
    Column("cancel_token_hash", String(64), unique=True),
    Column("dispatched_at", UTCDateTime),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    # Completion (after the wait): a keyed hash of the single-use token, then when it was used.
    Column("completion_token_hash", String(64), unique=True),
    Column("completion_started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    # Support (core/flows/support.py): the requester asked for a review; staff asked for more.
    Column("support_requested_at", UTCDateTime),
    Column("support_statement", Text),
    Column("support_question", Text),
    Index("ix_recovery_requests_ip_created", "ip", "created_at"),
)

# Every action on a recovery request by someone other than the requester's proofs: staff
# decisions and notes, requester statements. Never a secret.
recovery_actions = Table(
    "recovery_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "request_id",
        String(64),
        ForeignKey("recovery_requests.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("actor_id", String(32), ForeignKey("accounts.id", ondelete="SET NULL")),
    Column("action", String(32), nullable=False),
    Column("text", Text),
    Column("at", UTCDateTime, nullable=False),
)

# Staff roles granted by the operator (``sparekey admin grant-role USER support``).
account_roles = Table(
    "account_roles",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("granted_at", UTCDateTime, nullable=False),
)

# Organisations (core/flows/organisations.py): members with a role; a policy that requires
# two-step verification after a grace period.
organisations = Table(
    "organisations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("require_two_factor", Boolean, nullable=False, default=False),
    Column("grace_days", Integer, nullable=False, default=7),
    Column("required_since", UTCDateTime),
)

organisation_members = Table(
    "organisation_members",
    metadata,
    Column(
        "organisation_id",
        String(32),
        ForeignKey("organisations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
    Column("role", String(16), nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
)

organisation_invitations = Table(
    "organisation_invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "organisation_id",
        String(32),
        ForeignKey("organisations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("role", String(16), nullable=False),
    Column("invited_by", String(32), ForeignKey("accounts.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("accepted", Boolean),
)

# Recovery contacts (core/flows/recovery_contacts.py): people with their own accounts whom the
# owner named; a named contact accepts on their own security page before being asked.
recovery_contacts = Table(
    "recovery_contacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column(
        "contact_account_id",
        String(32),
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime),
    UniqueConstraint("account_id", "contact_account_id", name="uq_recovery_contacts_pair"),
)

# A contact asked, during one recovery request, whether the requester is the owner.
recovery_contact_asks = Table(
    "recovery_contact_asks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "request_id",
        String(64),
        ForeignKey("recovery_requests.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "recovery_contact_id",
        String(32),
        ForeignKey("recovery_contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "contact_account_id",
        String(32),
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("asked_at", UTCDateTime, nullable=False),
    Column("answer", String(16)),
    Column("answered_at", UTCDateTime),
    UniqueConstraint("request_id", "recovery_contact_id", name="uq_recovery_contact_asks_pair"),
)

# Failed attempts per client address in a moving window (store/address_limiter.py), when no
# Redis is configured: every process of one installation counts in the same place.
address_failures = Table(
    "address_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ip", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Index("ix_address_failures_ip_at", "ip", "at"),
)

# Groups an account belongs to for forward-auth (``Remote-Groups``) when no organisation
# names them: a simple list kept by ``sparekey admin`` commands.
account_groups = Table(
    "account_groups",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
)

# The OpenID Connect provider (sparekey/oidc/). Secrets handed out (client secrets, codes,
# access and refresh tokens) are kept as SHA-256 digests only.
oidc_clients = Table(
    "oidc_clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64)),  # None: a public client (PKCE, no secret)
    Column("redirect_uris", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

oidc_codes = Table(
    "oidc_codes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), nullable=False),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", String(255)),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(16)),
    Column("auth_time", UTCDateTime, nullable=False),
    Column("amr", String(64), nullable=False),
    Column("acr", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("used_at", UTCDateTime),
    Index("ix_oidc_codes_client_nonce", "client_id", "nonce"),
)

# An access token and, with offline_access, its refresh token. A refresh makes a new row of
# the same family (the code's id); reusing a spent refresh token revokes the family.
oidc_grants = Table(
    "oidc_grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("family_id", String(32), nullable=False, index=True),
    Column("client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), nullable=False),
    Column(
        "account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("scope", Text, nullable=False),
    Column("access_hash", String(64), nullable=False, unique=True),
    Column("refresh_hash", String(64), unique=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("access_expires_at", UTCDateTime, nullable=False, index=True),
    Column("refresh_expires_at", UTCDateTime),
    Column("auth_time", UTCDateTime, nullable=False),
    Column("amr", String(64), nullable=False),
    Column("acr", String(64), nullable=False),
    Column("refreshed_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

oidc_consents = Table(
    "oidc_consents",
    metadata,
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), primary_key=True),
    Column("scopes", Text, nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
)

# ID token signing keys: the newest unretired one signs; retired ones stay published until
# the last ID token they signed has expired.
oidc_signing_keys = Table(
    "oidc_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_sealed", Text, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime),
    Column("publish_until", UTCDateTime),
)
