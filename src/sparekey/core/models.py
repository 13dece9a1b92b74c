"""Domain records. Repositories read and write these; nothing here touches storage."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sparekey.core.assurance import Amr, AuthContext, Level, parse_methods


@dataclass
class Account:
    id: str
    username: str
    password_hash: str
    created_at: datetime
    email: str | None = None
    two_factor_enabled: bool = False
    backup_salt: bytes | None = None
    username_skeleton: str | None = None  # see core/usernames.py; for comparison, never shown
    chosen_language: str | None = None  # picked with the pages' language switch
    sign_in_language: str | None = None  # the Accept-Language of the latest sign-in
    time_zone: str | None = None  # IANA name for times in messages and pages; None: UTC
    muted_notifications: str = ""  # informational notification types, space-separated
    last_reminded_at: datetime | None = None  # the periodic "is your sheet still there?" reminder
    drill_started_at: datetime | None = None  # the open recovery drill (core/flows/drill.py), if any
    last_drill_at: datetime | None = None  # when the last recovery drill passed
    last_drill_method: str | None = None  # the way in (Method) it passed with

    @property
    def language(self) -> str | None:
        """The language messages to the owner are written in (API.md, "Security center")."""
        return self.chosen_language or self.sign_in_language


@dataclass
class Authenticator:
    """A TOTP authenticator app. ``secret_enc`` is the AES-GCM ciphertext of the key."""

    id: str
    account_id: str
    name: str
    secret_enc: str
    created_at: datetime
    confirmed_at: datetime | None = None
    last_used_step: int | None = None
    last_used_at: datetime | None = None
    drift_steps: int = 0
    last_offset_steps: int | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass
class Session:
    id: str
    account_id: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    sudo_until: datetime | None = None
    # How it was made (core/assurance.py): the amr values, when, and the level they reach.
    auth_methods: str = Amr.PWD.value
    auth_level: str = Level.ONE_FACTOR.value
    auth_time: datetime | None = None
    trusted_device_id: str | None = None  # the trusted device it was made with, or made trusted
    restriction: str | None = None  # SessionRestriction: what it must do before anything else

    @property
    def context(self) -> AuthContext:
        return AuthContext(
            methods=parse_methods(self.auth_methods),
            auth_time=self.auth_time or self.created_at,
            level=Level(self.auth_level)
            if self.auth_level in Level.__members__.values()
            else Level.ONE_FACTOR,
        )


class FlowKind(enum.StrEnum):
    """What a sign-in flow waits for."""

    SECOND_FACTOR = "second_factor"  # the password was right; a second factor is asked
    PASSKEY = "passkey"  # a passkey alone; the account is known once the key answers


class FlowState(enum.StrEnum):
    """Sign-in flow states; see docs/sign-in-flow.md for the diagram.

    awaiting_second_factor --(right code)--> completed
    awaiting_second_factor --(too many wrong codes)--> failed
    awaiting_second_factor --(password changed, factor removed, 2FA off)--> ended
    awaiting_second_factor --(expires_at passes)--> (expired; read as such)
    """

    AWAITING_SECOND_FACTOR = "awaiting_second_factor"
    COMPLETED = "completed"
    FAILED = "failed"
    ENDED = "ended"


@dataclass
class LoginFlow:
    """A sign-in in progress. ``context`` is server-only state (the WebAuthn challenge of the
    flow, where a code was sent): it never leaves the server."""

    id: str
    account_id: str | None  # None for a passkey flow until the key answers
    state: FlowState
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    ip: str | None = None
    user_agent: str | None = None
    known_client_id: str | None = None  # the account's known client that started it, if any
    kind: FlowKind = FlowKind.SECOND_FACTOR
    webauthn_challenge: str | None = None  # base64url; spent by the first key answer
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class KnownClient:
    """A client (browser or app) that has signed in to the account before: it keeps its own
    failure count, so strangers' failures never limit it. See core/flows/known_clients.py."""

    id: str
    account_id: str
    created_at: datetime
    last_used_at: datetime


@dataclass
class Event:
    id: int | None
    account_id: str
    at: datetime
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    notification: str | None = None  # the notification it calls for (core/notifications.py), if any
    notified_at: datetime | None = None  # when the notifier took it (sent, or muted)


@dataclass
class BackupCodeSet:
    id: str
    account_id: str
    set_number: int
    created_at: datetime
    replaced_at: datetime | None = None
    confirmed_at: datetime | None = None


@dataclass
class BackupCode:
    set_id: str
    position: int
    code_hash: bytes
    used_at: datetime | None = None
    used_ip: str | None = None
    used_user_agent: str | None = None


@dataclass
class Throttle:
    """Consecutive failures under one key, and the back-off they earned."""

    key: str
    failures: int = 0
    lockouts: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Client:
    """Who is on the other end of a request, as far as we can tell."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Contact:
    """An e-mail address or a phone number (E.164) of the account; a sign-in way once verified."""

    id: str
    account_id: str
    kind: str  # ContactKind: "email" or "phone"
    address: str
    created_at: datetime
    verified_at: datetime | None = None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


@dataclass
class SentCode:
    """A 6-digit code sent to a contact point, stored as a keyed hash, for one purpose:
    verifying that contact (``flow_id`` None) or finishing one sign-in flow."""

    id: str
    account_id: str
    contact_id: str
    channel: str  # Channel: "email", "sms" or "voice"
    destination: str  # the address it went to, for the per-destination caps
    code_hash: str
    created_at: datetime
    expires_at: datetime
    flow_id: str | None = None
    ip: str | None = None
    used_at: datetime | None = None
    ended_at: datetime | None = None  # replaced by a resend, or ended with its flow


@dataclass
class QueuedMessage:
    """A composed message waiting to be sent, being retried, sent or given up.

    ``body_enc`` is the AES-GCM sealed message (subject, text, html, speech): it may hold a
    code. It is dropped once a sender other than the outbox has delivered it."""

    id: str
    channel: str
    to: str
    kind: str
    created_at: datetime
    next_attempt_at: datetime
    body_enc: str | None
    account_id: str | None = None
    state: str = "queued"  # DeliveryState
    attempts: int = 0
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    sender: str | None = None
    last_error: str | None = None


@dataclass
class SecurityKey:
    """A registered WebAuthn credential: a security key, or a passkey (discoverable, with user
    verification) that signs in on its own. The public key is COSE-encoded; nothing secret."""

    id: str
    account_id: str
    name: str
    credential_id: bytes
    public_key: bytes
    created_at: datetime
    sign_count: int = 0
    passkey: bool = False
    backup_eligible: bool = False
    backed_up: bool = False
    transports: list[str] = field(default_factory=list)
    aaguid: str = ""
    last_used_at: datetime | None = None


class CeremonyPurpose(enum.StrEnum):
    REGISTER = "register"
    SUDO = "sudo"


@dataclass
class KeyCeremony:
    """A WebAuthn challenge handed to a signed-in session, to register a key or to enter sudo
    mode with one. Single use: the first answer spends it, right or wrong."""

    id: str
    account_id: str
    session_id: str
    purpose: CeremonyPurpose
    challenge: bytes
    created_at: datetime
    expires_at: datetime
    name: str | None = None
    passkey: bool = False
    used_at: datetime | None = None


@dataclass
class TrustedDevice:
    """A browser or app the owner chose to trust: with the right password it skips the second
    step until ``expires_at``. Only a hash of its token is stored."""

    id: str
    account_id: str
    token_hash: str
    name: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None = None
    ip: str | None = None


class RecoveryState(enum.StrEnum):
    """A recovery request's states; the diagram is in ``core/flows/recovery.py``."""

    COLLECTING = "collecting"
    WAITING = "waiting"
    READY = "ready"  # never stored: a waiting request whose ready_at has passed reads so
    CANCELLED = "cancelled"
    DENIED = "denied"
    COMPLETED = "completed"


@dataclass
class RecoveryRequest:
    """Someone who lost every way in asks for the account back (core/flows/recovery.py).

    ``account_id`` is None for a username that names no account: such a request looks the
    same from outside and never reaches ``waiting``. Only keyed hashes of the e-mail link's
    token, of the phone code and of the cancel token are stored; ``evidence`` says what was
    proved and when (never a secret)."""

    id: str
    account_id: str | None
    state: RecoveryState
    created_at: datetime
    expires_at: datetime  # collecting ends here
    ready_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    score: int = 0
    wrong_answers: int = 0
    language: str | None = None  # the requester's, for messages to an account that never chose one
    email_token_hash: str | None = None
    code_hash: str | None = None
    cancel_token_hash: str | None = None
    dispatched_at: datetime | None = None  # when the links, codes and notices were queued
    ip: str | None = None
    user_agent: str | None = None
    completion_token_hash: str | None = None  # the single-use completion's, once it is ready
    completion_started_at: datetime | None = None
    completed_at: datetime | None = None
    support_requested_at: datetime | None = None  # the requester asked support to review it
    support_statement: str | None = None  # what the requester wrote for support
    support_question: str | None = None  # what support asked the requester for, if anything

    @property
    def requester(self) -> Client:
        """Who asked, as far as we could tell: for the events recorded about the request."""
        return Client(ip=self.ip, user_agent=self.user_agent)


class SessionRestriction(enum.StrEnum):
    """What a session must do before anything else (``Session.restriction``)."""

    ENROL_SECOND_FACTOR = "enrol_second_factor"  # an organisation requires 2FA, grace is over


@dataclass
class RecoveryAction:
    """One entry of a recovery request's audit trail (core/flows/support.py): a staff
    decision or note, a requester's statement. ``actor_id`` is the staff member's account,
    None for the requester or the system. Never a secret."""

    id: int | None
    request_id: str
    action: str
    at: datetime
    actor_id: str | None = None
    text: str | None = None


class OrganisationRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@dataclass
class Organisation:
    id: str
    name: str
    created_at: datetime
    require_two_factor: bool = False
    grace_days: int = 7
    required_since: datetime | None = None  # when the requirement was turned on


@dataclass
class OrganisationMember:
    organisation_id: str
    account_id: str
    role: OrganisationRole
    joined_at: datetime


@dataclass
class OrganisationInvitation:
    id: str
    organisation_id: str
    account_id: str  # who is invited
    role: OrganisationRole
    created_at: datetime
    expires_at: datetime
    invited_by: str | None = None
    answered_at: datetime | None = None
    accepted: bool | None = None


@dataclass
class RecoveryContact:
    """Someone with their own account whom the owner named (core/flows/recovery_contacts.py);
    asked during a recovery only once they accepted."""

    id: str
    account_id: str  # the owner
    contact_account_id: str
    created_at: datetime
    accepted_at: datetime | None = None


@dataclass
class RecoveryContactAsk:
    """A contact asked, during one recovery request, whether the requester is the owner."""

    id: str
    request_id: str
    recovery_contact_id: str
    contact_account_id: str
    asked_at: datetime
    answer: str | None = None  # "confirmed" or "declined"
    answered_at: datetime | None = None
