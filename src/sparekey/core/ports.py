"""What the core needs from storage and infrastructure, as Protocols.

``store/`` implements these with SQLAlchemy; one shared test suite runs them on SQLite
and PostgreSQL. A ``Transaction`` is one unit of work: everything done through it commits
together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sparekey.core.models import (
    Account,
    Authenticator,
    BackupCode,
    BackupCodeSet,
    Contact,
    Event,
    KeyCeremony,
    KnownClient,
    LoginFlow,
    Organisation,
    OrganisationInvitation,
    OrganisationMember,
    QueuedMessage,
    RecoveryAction,
    RecoveryContact,
    RecoveryContactAsk,
    RecoveryRequest,
    SecurityKey,
    SentCode,
    Session,
    Throttle,
    TrustedDevice,
)

if TYPE_CHECKING:  # the provider is an outer layer: the core never imports it at run time
    from sparekey.oidc.ports import OidcRecords


class Accounts(Protocol):
    def add(self, account: Account) -> None: ...
    def get(self, account_id: str) -> Account | None: ...
    def get_for_update(self, account_id: str) -> Account | None: ...
    def by_username(self, username: str) -> Account | None: ...
    def by_skeleton(self, skeleton: str) -> Account | None: ...
    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...
    def set_two_factor(self, account_id: str, enabled: bool) -> None: ...
    def set_backup_salt(self, account_id: str, salt: bytes) -> None: ...
    def set_preferences(self, account_id: str, **values: str | None) -> None:
        """Any of ``chosen_language``, ``sign_in_language``, ``time_zone``, ``muted_notifications``."""
        ...

    def due_for_reminder(self, before: datetime, *, limit: int) -> list[Account]:
        """Accounts with two-step verification whose last reminder (or, without one, creation)
        is older than ``before``."""
        ...

    def take_reminder(self, account_id: str, *, before: datetime, at: datetime) -> bool:
        """Mark the reminder sent if it is still due: True for the one process that takes it."""
        ...

    def start_drill(self, account_id: str, at: datetime) -> None:
        """Open a recovery drill at ``at`` (an open one starts over)."""
        ...

    def pass_drill(self, account_id: str, *, at: datetime, method: str, started_after: datetime) -> bool:
        """Pass the open drill if it started after ``started_after``: record ``at`` and
        ``method`` as the last drill and close it. True for the one call that passed it."""
        ...


class Authenticators(Protocol):
    def add(self, authenticator: Authenticator) -> None: ...
    def get(self, account_id: str, authenticator_id: str) -> Authenticator | None: ...
    def for_account(self, account_id: str, *, confirmed_only: bool = False) -> list[Authenticator]: ...
    def confirm(self, authenticator_id: str, *, at: datetime, step: int) -> bool:
        """Mark confirmed and record ``step`` as used; False if it was already confirmed."""
        ...

    def claim_step(
        self, authenticator_id: str, *, step: int, at: datetime, drift_steps: int, offset_steps: int
    ) -> bool:
        """Atomically record ``step`` as used if it is newer than the last one and was never
        refused (``refuse_step``); True if this call won."""
        ...

    def refuse_step(self, authenticator_id: str, step: int, *, at: datetime, keep_after: int) -> None:
        """Remember that the code of ``step`` was refused (as clock drift): it never works later.

        Steps at or before ``keep_after`` are forgotten: their codes can no longer be accepted.
        """
        ...

    def delete(self, authenticator_id: str) -> None: ...
    def delete_for_account(self, account_id: str) -> None: ...
    def set_secret(self, authenticator_id: str, secret_enc: str) -> None: ...
    def all_secrets(self) -> list[tuple[str, str]]: ...


class Sessions(Protocol):
    def add(self, session: Session) -> None: ...
    def by_token_hash(self, token_hash: str) -> Session | None: ...
    def get(self, account_id: str, session_id: str) -> Session | None: ...
    def for_account(self, account_id: str) -> list[Session]: ...
    def touch(self, session_id: str, at: datetime) -> None: ...
    def set_token_hash(self, session_id: str, token_hash: str) -> None: ...
    def set_sudo_until(self, session_id: str, until: datetime | None) -> None: ...
    def delete(self, session_id: str) -> None: ...
    def delete_for_account(self, account_id: str, *, except_id: str | None = None) -> int:
        """End the account's sessions (but ``except_id``); how many ended."""
        ...

    def set_restriction(self, session_id: str, restriction: str | None) -> None: ...
    def lift_restrictions(self, account_id: str) -> int:
        """Every session of the account may do anything again; how many were restricted."""
        ...


class LoginFlows(Protocol):
    def add(self, flow: LoginFlow) -> None: ...
    def get(self, flow_id: str) -> LoginFlow | None: ...
    def reserve_attempt(self, flow_id: str, *, max_attempts: int) -> bool:
        """Count one attempt before it is checked, atomically: False (nothing counted) when the
        flow is no longer awaiting a code or already had ``max_attempts``."""
        ...

    def fail_if_spent(self, flow_id: str, *, max_attempts: int) -> None:
        """awaiting -> failed once ``max_attempts`` have been counted (after a wrong code)."""
        ...

    def complete(self, flow_id: str) -> bool:
        """awaiting -> completed, atomically; False if another request completed or ended it first."""
        ...

    def end_for_account(self, account_id: str) -> int:
        """Every flow of the account still awaiting a code -> ended; how many there were."""
        ...

    def extend(self, flow_id: str, until: datetime) -> None:
        """The flow lives at least until ``until`` (a code sent late still has its minutes)."""
        ...

    def set_context(self, flow_id: str, context: dict[str, Any]) -> None: ...
    def set_challenge(self, flow_id: str, challenge: str) -> None: ...
    def take_challenge(self, flow_id: str, challenge: str) -> bool:
        """Spend the flow's WebAuthn challenge ``challenge`` (base64url), atomically: True for
        the one request that finds it still there."""
        ...

    def bind_account(self, flow_id: str, account_id: str) -> None:
        """A passkey flow learns whose sign-in it is."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget flows that expired before ``before`` (and the codes sent for them)."""
        ...


class KnownClients(Protocol):
    def add(self, client: KnownClient) -> None: ...
    def find(self, account_id: str, client_ids: Sequence[str]) -> list[KnownClient]: ...
    def touch(self, client_id: str, at: datetime) -> None: ...
    def any_for(self, account_id: str) -> bool: ...
    def keep_newest(self, account_id: str, count: int) -> None:
        """Forget all but the ``count`` most recently used known clients of the account."""
        ...


class SecurityKeys(Protocol):
    def add(self, key: SecurityKey) -> None: ...
    def get(self, account_id: str, key_id: str) -> SecurityKey | None: ...
    def by_credential_id(self, credential_id: bytes) -> SecurityKey | None: ...
    def for_account(self, account_id: str) -> list[SecurityKey]: ...
    def rename(self, key_id: str, name: str) -> None: ...
    def record_use(self, key_id: str, *, sign_count: int, backed_up: bool, at: datetime) -> bool:
        """Store the new sign count, atomically refusing one that does not grow (unless both are
        0): True if this use was recorded."""
        ...

    def delete(self, key_id: str) -> None: ...


class KeyCeremonies(Protocol):
    def add(self, ceremony: KeyCeremony) -> None: ...
    def get(self, ceremony_id: str) -> KeyCeremony | None: ...
    def spend(self, ceremony_id: str, at: datetime) -> bool:
        """``UPDATE ... WHERE used_at IS NULL``: True for the one answer that spends it."""
        ...

    def prune(self, before: datetime) -> int: ...


class TrustedDevices(Protocol):
    def add(self, device: TrustedDevice) -> None: ...
    def by_token_hashes(self, account_id: str, token_hashes: Sequence[str]) -> list[TrustedDevice]: ...
    def get(self, account_id: str, device_id: str) -> TrustedDevice | None: ...
    def for_account(self, account_id: str) -> list[TrustedDevice]: ...
    def touch(self, device_id: str, at: datetime) -> None: ...
    def rename(self, device_id: str, name: str) -> None: ...
    def delete(self, device_id: str) -> bool: ...
    def delete_for_account(self, account_id: str) -> list[TrustedDevice]:
        """Revoke every trusted device of the account; the ones there were."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget devices whose trust ended before ``before``."""
        ...


class Events(Protocol):
    def add(self, event: Event) -> None: ...
    def pending_notifications(self, *, limit: int) -> list[Event]:
        """Events that call for a notification the notifier has not taken yet, oldest first."""
        ...

    def take_notification(self, event_id: int, at: datetime) -> bool:
        """``UPDATE ... WHERE notified_at IS NULL``: True for the one process that takes it."""
        ...

    def for_account(
        self, account_id: str, *, limit: int = 100, types: Sequence[str] | None = None
    ) -> list[Event]:
        """Newest first; only the ``types`` given, when given."""
        ...


class BackupCodes(Protocol):
    def current_set(self, account_id: str) -> BackupCodeSet | None: ...
    def recent_replaced_sets(self, account_id: str, *, limit: int) -> list[BackupCodeSet]: ...
    def next_set_number(self, account_id: str) -> int: ...
    def end_current_set(self, account_id: str, *, at: datetime) -> BackupCodeSet | None: ...
    def add_set(self, code_set: BackupCodeSet, hashes: Sequence[bytes]) -> None: ...
    def codes(self, set_ids: Sequence[str]) -> list[BackupCode]: ...
    def counts(self, set_id: str) -> tuple[int, int]:
        """``(total, unused)`` codes of one set."""
        ...

    def consume(
        self, set_id: str, position: int, *, at: datetime, ip: str | None, user_agent: str | None
    ) -> bool:
        """``UPDATE ... WHERE used_at IS NULL`` on a current set; True only for the one request that won."""
        ...

    def mark_confirmed(self, set_id: str, *, at: datetime) -> None: ...


class Throttles(Protocol):
    def get(self, key: str) -> Throttle | None: ...
    def count_attempt(self, key: str) -> Throttle:
        """Add one to the failures under ``key`` atomically and return the row as it now is.

        Concurrent calls for one key are serialised: each sees every earlier call's commit
        (its count and any lock it set).
        """
        ...

    def set_lock(self, key: str, *, locked_until: datetime, lockouts: int) -> None: ...
    def reset(self, key: str) -> None: ...


class Contacts(Protocol):
    def add(self, contact: Contact) -> None: ...
    def get(self, account_id: str, contact_id: str) -> Contact | None: ...
    def for_account(self, account_id: str, *, verified_only: bool = False) -> list[Contact]: ...
    def find(self, account_id: str, kind: str, address: str) -> Contact | None: ...
    def mark_verified(self, contact_id: str, at: datetime) -> bool:
        """Unverified -> verified, atomically; False if it already was (or is gone)."""
        ...

    def delete(self, contact_id: str) -> None: ...
    def delete_for_account(self, account_id: str, *, kind: str | None = None) -> None: ...


class SentCodes(Protocol):
    def add(self, code: SentCode) -> None: ...
    def live_for_flow(self, flow_id: str) -> SentCode | None:
        """The flow's newest code that is neither used nor ended (it may have expired)."""
        ...

    def live_for_contact(self, contact_id: str) -> SentCode | None:
        """The newest unused, unended verification code of the contact point."""
        ...

    def end_for_flow(self, flow_id: str, at: datetime) -> None: ...
    def end_for_contact(self, contact_id: str, at: datetime) -> None: ...
    def end_for_account(self, account_id: str, at: datetime) -> None: ...
    def consume(self, code_id: str, at: datetime) -> bool:
        """``UPDATE ... WHERE used_at IS NULL AND ended_at IS NULL``: True for the one winner."""
        ...

    def sends_since(
        self, since: datetime, *, destination: str, account_id: str, ip: str | None
    ) -> list[SendTime]:
        """Every code sent since ``since`` to the destination, for the account or to the client
        address, oldest first, each saying which of the three it counts for (one query)."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget codes sent before ``before`` (those of sign-in flows also go with their flow)."""
        ...

    def newest_for(self, *, flow_id: str | None = None, contact_id: str | None = None) -> SentCode | None:
        """The newest code sent for a flow (any state) or for verifying a contact: for the cool-down."""
        ...


@dataclass(frozen=True)
class SendTime:
    at: datetime
    to_destination: bool
    for_account: bool
    from_address: bool


class Messages(Protocol):
    def add(self, message: QueuedMessage) -> None: ...
    def claim_due(
        self,
        now: datetime,
        *,
        until: datetime,
        limit: int,
        ids: Sequence[str] | None = None,
        created_before: datetime | None = None,
    ) -> list[QueuedMessage]:
        """Queued messages due by ``now`` that no process is sending (only those created
        at or before ``created_before``, when given), each claimed until ``until`` by one
        conditional UPDATE: a message is sent by one process at a time."""
        ...

    def mark_sent(self, message_id: str, *, at: datetime, sender: str, keep_body: bool) -> None: ...
    def mark_retry(self, message_id: str, *, error: str, next_attempt_at: datetime) -> None: ...
    def mark_failed(self, message_id: str, *, error: str) -> None: ...
    def kept_by_outbox(self, *, limit: int, after: datetime | None = None) -> list[QueuedMessage]:
        """Messages the outbox sender delivered (kept for the operator), newest first."""
        ...


class RecoveryRequests(Protocol):
    def add(self, request: RecoveryRequest) -> None: ...
    def get(self, request_id: str) -> RecoveryRequest | None: ...
    def by_cancel_token_hash(self, cancel_token_hash: str) -> RecoveryRequest | None: ...
    def started_since(self, since: datetime, *, ip: str | None) -> list[datetime]:
        """When the requests from client address ``ip`` after ``since`` were made, oldest first."""
        ...

    def count_for_account(self, account_id: str, *, since: datetime) -> int: ...
    def take_dispatch(self, request_id: str, at: datetime) -> bool:
        """``UPDATE ... WHERE dispatched_at IS NULL``: True for the one call that takes it."""
        ...

    def set_secrets(
        self, request_id: str, *, email_token_hash: str, code_hash: str, cancel_token_hash: str
    ) -> None: ...
    def reserve_answer(self, request_id: str, *, max_wrong: int) -> bool:
        """Count an answer as wrong before it is checked, atomically (it also locks the row):
        False (nothing counted) once ``max_wrong`` were counted."""
        ...

    def release_answer(self, request_id: str) -> None:
        """The answer was right: it does not count."""
        ...

    def set_progress(
        self,
        request_id: str,
        *,
        state: str,
        evidence: dict[str, Any],
        score: int,
        ready_at: datetime | None,
    ) -> None: ...
    def cancel(self, request_id: str) -> bool:
        """collecting or waiting -> cancelled, atomically; True if this call cancelled it."""
        ...

    def cancel_open_for_account(self, account_id: str) -> int:
        """Every collecting or waiting request of the account -> cancelled; how many."""
        ...

    def deny(self, request_id: str) -> bool:
        """collecting or waiting -> denied (by support), atomically."""
        ...

    def set_support(self, request_id: str, **values: Any) -> None:
        """Set ``support_requested_at``, ``support_statement`` or ``support_question``."""
        ...

    def set_completion_token(self, request_id: str, token_hash: str, at: datetime) -> None:
        """A new completion token (keyed hash) replaces the previous one."""
        ...

    def complete(self, request_id: str, at: datetime) -> bool:
        """waiting -> completed, atomically; True if this call completed it."""
        ...

    def undispatched(self, *, before: datetime, limit: int) -> list[str]:
        """Ids of real accounts' requests never dispatched, created before ``before``."""
        ...

    def prune(self, before: datetime) -> int: ...


class RecoveryActions(Protocol):
    """The audit trail of recovery requests (core/flows/support.py), and the support
    console's reading of requests and of what an account has seen."""

    def add(self, action: RecoveryAction) -> None: ...
    def for_request(self, request_id: str) -> list[RecoveryAction]:
        """Oldest first."""
        ...

    def count(self, request_id: str, *, action: str) -> int: ...
    def queue(self, *, open_only: bool, limit: int) -> list[tuple[RecoveryRequest, str | None, int]]:
        """Requests whose requester asked support, newest first (only stored collecting or
        waiting ones with ``open_only``), each with its account's username (None for an
        unknown username) and how many actions its trail holds."""
        ...

    def username_of(self, request_id: str) -> str | None: ...
    def seen_clients(self, account_id: str, *, limit: int) -> tuple[set[str], set[str]]:
        """``(addresses, user agents)`` the account's owner used: its sessions, trusted
        devices and successful sign-ins (the newest ``limit`` of those)."""
        ...


class Roles(Protocol):
    """Staff roles granted by the operator (``sparekey admin grant-role``)."""

    def grant(self, account_id: str, role: str, *, at: datetime) -> bool:
        """True if the account did not have the role yet."""
        ...

    def revoke(self, account_id: str, role: str) -> bool:
        """True if the account had the role."""
        ...

    def for_account(self, account_id: str) -> list[str]:
        """The account's roles, sorted."""
        ...

    def has(self, account_id: str, role: str) -> bool: ...


class Organisations(Protocol):
    """Organisations, their members and invitations (core/flows/organisations.py).

    Changes to one organisation's members run under ``Locks.hold("organisation:<id>")``; the
    statements that must keep an owner check it themselves as well."""

    def add(self, organisation: Organisation) -> None: ...
    def get(self, organisation_id: str) -> Organisation | None: ...
    def set_policy(
        self,
        organisation_id: str,
        *,
        require_two_factor: bool,
        grace_days: int,
        required_since: datetime | None,
    ) -> None: ...
    def add_member(self, member: OrganisationMember) -> bool:
        """Insert unless the account already belongs to it: True if this call added it."""
        ...

    def member(self, organisation_id: str, account_id: str) -> OrganisationMember | None: ...
    def members(self, organisation_id: str) -> list[tuple[OrganisationMember, Account]]:
        """Every member with their account, owners first, then by username."""
        ...

    def memberships(self, account_id: str) -> list[tuple[Organisation, OrganisationMember]]:
        """The account's organisations, by name."""
        ...

    def set_role(self, organisation_id: str, account_id: str, role: str) -> bool:
        """Change a member's role unless that would leave no owner: True if it was changed."""
        ...

    def remove_member(self, organisation_id: str, account_id: str) -> bool:
        """Remove a member unless the last owner: True if removed."""
        ...

    def add_invitation(self, invitation: OrganisationInvitation) -> None: ...
    def open_invitation(
        self, organisation_id: str, account_id: str, now: datetime
    ) -> OrganisationInvitation | None:
        """The account's unanswered, unexpired invitation to the organisation, if any."""
        ...

    def invitations_for(
        self, account_id: str, now: datetime
    ) -> list[tuple[OrganisationInvitation, Organisation]]:
        """The account's unanswered, unexpired invitations, newest first."""
        ...

    def get_invitation(self, invitation_id: str) -> OrganisationInvitation | None: ...
    def answer_invitation(self, invitation_id: str, account_id: str, *, accepted: bool, at: datetime) -> bool:
        """``UPDATE ... WHERE answered_at IS NULL AND expires_at > at`` for the invitee:
        True for the one answer that counts."""
        ...

    def requiring_two_factor(self, account_id: str) -> list[tuple[Organisation, OrganisationMember]]:
        """The account's organisations that require two-step verification."""
        ...


class RecoveryContacts(Protocol):
    """Recovery contacts and the asks made of them (core/flows/recovery_contacts.py)."""

    def add(self, contact: RecoveryContact) -> bool:
        """False (and nothing added) when the owner already named that account."""
        ...

    def get(self, contact_id: str) -> RecoveryContact | None: ...
    def for_owner(self, account_id: str) -> list[tuple[RecoveryContact, str]]:
        """The owner's contacts, oldest first, each with the contact's username."""
        ...

    def naming(self, contact_account_id: str) -> list[tuple[RecoveryContact, str]]:
        """Who named this account, oldest first, each with the owner's username."""
        ...

    def accept(self, contact_id: str, at: datetime) -> bool:
        """pending -> accepted, atomically; True if this call accepted it."""
        ...

    def delete(self, contact_id: str) -> bool:
        """True if this call deleted it (its asks go with it)."""
        ...

    def add_ask(self, ask: RecoveryContactAsk) -> None: ...
    def get_ask(self, ask_id: str) -> RecoveryContactAsk | None: ...
    def unanswered_asks(self, contact_account_id: str) -> list[RecoveryContactAsk]:
        """The asks to this account not answered yet, oldest first."""
        ...

    def answer(self, ask_id: str, *, contact_account_id: str, answer: str, at: datetime) -> bool:
        """Record the answer of an unanswered ask to ``contact_account_id``, atomically
        (``UPDATE ... WHERE answer IS NULL``); True for the one call that answered it."""
        ...

    def asks_for_request(self, request_id: str) -> list[RecoveryContactAsk]: ...


class AddressFailures(Protocol):
    """Failed attempts per client address (store/address_limiter.py's database variant)."""

    def add(self, ip: str, at: datetime) -> None: ...
    def nth_newest_since(self, ip: str, since: datetime, n: int) -> datetime | None:
        """When the address's ``n``-th newest failure after ``since`` was, if it had that many."""
        ...

    def forget(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class GroupFacts:
    """What forward-auth says about an account besides its name, read in one statement."""

    organisation_ids: tuple[str, ...]  # the organisations it is a member of
    groups: tuple[str, ...]  # the operator's per-account list (``sparekey admin group-add``)
    verified_emails: tuple[str, ...]  # its verified e-mail addresses, the first verified first


class Groups(Protocol):
    """The groups the operator gives an account, for forward-auth (core/flows/forward_auth.py)."""

    def add(self, account_id: str, name: str, at: datetime) -> bool:
        """Insert unless the account already has it: True if this call added it."""
        ...

    def remove(self, account_id: str, name: str) -> bool: ...
    def for_account(self, account_id: str) -> list[str]:
        """The account's own groups, sorted."""
        ...

    def facts(self, account_id: str) -> GroupFacts: ...


@dataclass(frozen=True)
class SessionSnapshot:
    """A session, its account and the account's group facts, as one read saw them."""

    session: Session
    account: Account
    facts: GroupFacts


class Locks(Protocol):
    def hold(self, name: str) -> None:
        """Hold a lock named ``name`` until the transaction ends, so that transactions that
        read-then-write under the same name run one after the other (SQLite's transactions
        already do)."""
        ...


class Transaction(Protocol):
    accounts: Accounts
    authenticators: Authenticators
    sessions: Sessions
    flows: LoginFlows
    events: Events
    backup_codes: BackupCodes
    throttles: Throttles
    known_clients: KnownClients
    contacts: Contacts
    sent_codes: SentCodes
    messages: Messages
    locks: Locks
    security_keys: SecurityKeys
    key_ceremonies: KeyCeremonies
    trusted_devices: TrustedDevices
    recovery_requests: RecoveryRequests
    recovery_actions: RecoveryActions
    roles: Roles
    organisations: Organisations
    recovery_contacts: RecoveryContacts
    address_failures: AddressFailures
    groups: Groups
    oidc: OidcRecords  # the OpenID Connect provider's records (sparekey/oidc/)


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...
    def ping(self) -> None: ...
    def session_snapshot(self, token_hash: str) -> SessionSnapshot | None:
        """The session with this token digest, its account and group facts, read outside any
        transaction: no lock taken, nothing written (forward-auth's path, core/flows/forward_auth.py)."""
        ...


class AddressLimiter(Protocol):
    """Failures per client address in a moving window, shared by every process (Redis, or
    the database through ``tx``: the caller's transaction, so no second connection waits
    on the first one's lock)."""

    def hit(self, tx: Transaction, ip: str) -> None: ...
    def retry_after(self, tx: Transaction, ip: str) -> int:
        """0 while the address may try again, else whole seconds to wait."""
        ...


EventData = dict[str, Any]
