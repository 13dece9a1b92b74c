"""The support console (PRODUCT.md §8; docs/api.md, "Support console"): when a requester
cannot prove enough, staff review the request.

Who is staff: an account the operator granted the role ``support``
(``sparekey admin grant-role USER support``), signed in with two factors. Every staff call
checks both inside its own transaction; anyone else gets ``staff_only`` and learns nothing
about what they asked for (not even whether the request exists).

What happens, in order:

* The requester asks (``ask_support``, no session: the request's id is the requester's
  handle): a statement of 1..2000 characters while the request is collecting or waiting,
  at most ``MAX_STATEMENTS`` per request; the first one puts the request in the queue. A
  request for an unknown username is queued the same way and reads as ``unknown_account``
  to staff, who deny it. An answer clears the open question.
* Staff read the queue (``queue``) and one request (``detail``): what was proved and when,
  the score, the statements, the risk signals (``Risk``) and the audit trail. Never a
  secret: no code, token or hash of the request, nothing of the account's factors.
* Staff decide, each with a reason, on an open request only (else ``request_closed``):
  ``approve`` adds the proof ``support`` (``recovery.prove``: the wait still runs, shorter,
  never under a quarter) and records ``recovery_approved`` on the owner's account with
  ``by="support"`` (never the staff member's name); ``deny`` ends it (``recovery.deny``);
  ``ask`` puts a question to the requester. ``note`` adds an internal note (any request,
  open or closed), which neither the requester nor the owner ever sees.
* Every step is one row of ``recovery_actions``: who (the staff account, None for the
  requester), when, what, and the reason, question, note or statement.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events, usernames
from sparekey.core.assurance import Level
from sparekey.core.crypto import plausible_id
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, RequestClosed, StaffOnly, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import recovery
from sparekey.core.flows.recovery import OPEN, Proof, read_state
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Account, RecoveryAction, RecoveryRequest, RecoveryState
from sparekey.core.ports import Transaction
from sparekey.core.user_agents import describe


class Role(enum.StrEnum):
    SUPPORT = "support"


class Action(enum.StrEnum):
    """The kinds of entry in a request's audit trail."""

    SUPPORT_REQUESTED = "support_requested"  # the requester's statement (or answer)
    APPROVED = "approved"
    DENIED = "denied"
    ASKED = "asked"  # a question to the requester
    NOTE = "note"  # internal: staff only


class Risk(enum.StrEnum):
    """Signals that call for care, with stable ids (docs/api.md)."""

    UNKNOWN_ACCOUNT = "unknown_account"  # the username names no account
    NEW_ADDRESS = "new_address"  # the request's address was never the owner's
    NEW_DEVICE = "new_device"  # nor its kind of device (browser and system)
    RECENT_PASSWORD_CHANGE = "recent_password_change"  # within RECENT_PASSWORD_CHANGE before it
    MANY_REQUESTS = "many_requests"  # more than MANY_REQUESTS in MANY_REQUESTS_WINDOW


MAX_TEXT = 2000
MAX_STATEMENTS = 3
QUEUE_LIMIT = 200
SEEN_SIGN_INS = 1000  # how many of the owner's newest sign-ins tell which clients were theirs
RECENT_PASSWORD_CHANGE = timedelta(days=14)
MANY_REQUESTS = 2
MANY_REQUESTS_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Entry:
    """One line of the audit trail, as staff read it: ``actor`` is the staff member's
    username (None for the requester)."""

    at: datetime
    action: str
    actor: str | None
    text: str | None


@dataclass(frozen=True)
class Case:
    """A request as the console shows it. ``request`` holds keyed hashes: the web layer
    shows only the fields named in docs/api.md."""

    request: RecoveryRequest
    username: str | None
    state: RecoveryState
    risk: list[Risk]
    actions_count: int
    actions: list[Entry] | None = None  # the trail, in ``detail``


# --- roles (the operator's CLI) ---------------------------------------------------------


def _role(role: str) -> Role:
    if role not in Role.__members__.values():
        raise ValidationFailed(field="role", reason="unknown", known=sorted(r.value for r in Role))
    return Role(role)


def _account_named(tx: Transaction, username: str) -> Account:
    account = tx.accounts.by_username(usernames.canonical(username) or "")
    if account is None:
        raise NotFound()
    return account


def grant_role(deps: Deps, username: str, role: str) -> tuple[Account, list[str]]:
    """The account and its roles after; ``role_granted`` when it is new."""
    granted = _role(role)
    with deps.store.transaction() as tx:
        account = _account_named(tx, username)
        if tx.roles.grant(account.id, granted.value, at=deps.clock.now()):
            events.record(tx, deps.clock, account.id, EventType.ROLE_GRANTED, role=granted.value)
        return account, tx.roles.for_account(account.id)


def revoke_role(deps: Deps, username: str, role: str) -> tuple[Account, list[str]]:
    """The account and its roles after; ``role_revoked`` when it had the role."""
    revoked = _role(role)
    with deps.store.transaction() as tx:
        account = _account_named(tx, username)
        if tx.roles.revoke(account.id, revoked.value):
            events.record(tx, deps.clock, account.id, EventType.ROLE_REVOKED, role=revoked.value)
        return account, tx.roles.for_account(account.id)


def is_staff(deps: Deps, current: Current) -> bool:
    with deps.store.transaction() as tx:
        return _staff_in(tx, current)


def _staff_in(tx: Transaction, current: Current) -> bool:
    two_factors = current.session.context.level is not Level.ONE_FACTOR
    return two_factors and tx.roles.has(current.account.id, Role.SUPPORT.value)


def _require_staff(tx: Transaction, current: Current) -> None:
    if not _staff_in(tx, current):
        raise StaffOnly()


# --- what staff read ---------------------------------------------------------------------


def _text(value: str, field: str) -> str:
    """A reason, question, note or statement: controls other than line breaks and tabs
    dropped, trimmed, 1..MAX_TEXT characters."""
    cleaned = value.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(ch for ch in cleaned if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if not cleaned:
        raise ValidationFailed(field=field, reason="missing")
    if len(cleaned) > MAX_TEXT:
        raise ValidationFailed(field=field, reason="too_long", max_length=MAX_TEXT)
    return cleaned


def _get(tx: Transaction, request_id: str, *, lock: bool = False) -> RecoveryRequest:
    if lock and plausible_id(request_id):
        tx.locks.hold(f"recovery:{request_id}")  # decisions and statements one after the other
    return recovery.get(tx, request_id)


class _Risks:
    """The risk signals of requests, each account's history read once per call."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.seen: dict[str, tuple[set[str], set[tuple[str | None, str | None]]]] = {}

    def of(self, found: RecoveryRequest) -> list[Risk]:
        if found.account_id is None:
            return [Risk.UNKNOWN_ACCOUNT]
        account_id = found.account_id
        if account_id not in self.seen:
            addresses, agents = self.tx.recovery_actions.seen_clients(account_id, limit=SEEN_SIGN_INS)
            self.seen[account_id] = addresses, {describe(agent) for agent in agents}
        addresses, devices = self.seen[account_id]
        signals = []
        if found.ip is None or found.ip not in addresses:
            signals.append(Risk.NEW_ADDRESS)
        device = describe(found.user_agent)
        if device == (None, None) or device not in devices:  # an unreadable device is a new one
            signals.append(Risk.NEW_DEVICE)
        changed = self.tx.events.for_account(account_id, limit=1, types=[EventType.PASSWORD_CHANGED.value])
        if changed and changed[0].at >= found.created_at - RECENT_PASSWORD_CHANGE:
            signals.append(Risk.RECENT_PASSWORD_CHANGE)
        since = found.created_at - MANY_REQUESTS_WINDOW
        if self.tx.recovery_requests.count_for_account(account_id, since=since) > MANY_REQUESTS:
            signals.append(Risk.MANY_REQUESTS)
        return signals


def queue(deps: Deps, staff: Current, *, open_only: bool = True) -> list[Case]:
    """The requests whose requester asked support, newest first; with ``open_only``, only
    those still collecting or waiting."""
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        risks = _Risks(tx)
        cases = []
        for found, username, count in tx.recovery_actions.queue(open_only=open_only, limit=QUEUE_LIMIT):
            state = read_state(found, now)
            if open_only and state not in OPEN:
                continue
            cases.append(Case(found, username, state, risks.of(found), count))
        return cases


def _case(tx: Transaction, deps: Deps, found: RecoveryRequest) -> Case:
    actions = tx.recovery_actions.for_request(found.id)
    names: dict[str, str | None] = {}
    for actor_id in {action.actor_id for action in actions if action.actor_id}:
        actor = tx.accounts.get(actor_id)
        names[actor_id] = actor.username if actor else None
    trail = [
        Entry(at=a.at, action=a.action, actor=names.get(a.actor_id) if a.actor_id else None, text=a.text)
        for a in actions
    ]
    return Case(
        request=found,
        username=tx.recovery_actions.username_of(found.id),
        state=read_state(found, deps.clock.now()),
        risk=_Risks(tx).of(found),
        actions_count=len(trail),
        actions=trail,
    )


def detail(deps: Deps, staff: Current, request_id: str) -> Case:
    """One request with its audit trail (any request, asked about or not)."""
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        return _case(tx, deps, _get(tx, request_id))


# --- what staff do -----------------------------------------------------------------------


def _open(found: RecoveryRequest, deps: Deps) -> None:
    if read_state(found, deps.clock.now()) not in OPEN:
        raise RequestClosed()


def _log(
    tx: Transaction, deps: Deps, found: RecoveryRequest, action: Action, actor: str | None, text: str
) -> None:
    tx.recovery_actions.add(
        RecoveryAction(
            id=None, request_id=found.id, action=action.value, at=deps.clock.now(), actor_id=actor, text=text
        )
    )


def approve(deps: Deps, staff: Current, request_id: str, *, reason: str) -> Case:
    """Support's proof: the wait starts (or shortens); it still runs. Approving twice adds nothing."""
    reason = _text(reason, "reason")
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        found = _get(tx, request_id, lock=True)
        _open(found, deps)
        if found.account_id is None:
            raise RequestClosed(reason="unknown_account")
        if recovery.prove(tx, deps, found, {Proof.SUPPORT}):
            events.record(tx, deps.clock, found.account_id, EventType.RECOVERY_APPROVED, by="support")
            _log(tx, deps, found, Action.APPROVED, staff.account.id, reason)
        return _case(tx, deps, found)


def deny(deps: Deps, staff: Current, request_id: str, *, reason: str) -> Case:
    reason = _text(reason, "reason")
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        found = _get(tx, request_id, lock=True)
        _open(found, deps)
        if not recovery.deny(tx, deps, found, by="support"):
            raise RequestClosed()
        _log(tx, deps, found, Action.DENIED, staff.account.id, reason)
        return _case(tx, deps, found)


def ask(deps: Deps, staff: Current, request_id: str, *, question: str) -> Case:
    """A question the requester sees on the request's page and answers with a statement."""
    question = _text(question, "question")
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        found = _get(tx, request_id, lock=True)
        _open(found, deps)
        tx.recovery_requests.set_support(found.id, support_question=question)
        found.support_question = question
        _log(tx, deps, found, Action.ASKED, staff.account.id, question)
        return _case(tx, deps, found)


def note(deps: Deps, staff: Current, request_id: str, *, text: str) -> Case:
    """An internal note: in the trail for staff, never shown to the requester or the owner."""
    text = _text(text, "text")
    with deps.store.transaction() as tx:
        _require_staff(tx, staff)
        found = _get(tx, request_id)
        _log(tx, deps, found, Action.NOTE, staff.account.id, text)
        return _case(tx, deps, found)


# --- the requester -----------------------------------------------------------------------


def ask_support(deps: Deps, request_id: str, *, statement: str) -> tuple[RecoveryState, datetime | None]:
    """``POST /api/v1/recovery/{id}/support``: the requester asks for a review, or answers
    support's question. The same for an unknown username's request."""
    statement = _text(statement, "statement")
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        found = _get(tx, request_id, lock=True)
        _open(found, deps)
        if tx.recovery_actions.count(found.id, action=Action.SUPPORT_REQUESTED.value) >= MAX_STATEMENTS:
            raise recovery.limited(found, now)
        tx.recovery_requests.set_support(
            found.id,
            support_requested_at=found.support_requested_at or now,
            support_statement=statement,
            support_question=None,
        )
        _log(tx, deps, found, Action.SUPPORT_REQUESTED, None, statement)
    return recovery.answer(found, now)
