"""Recovery when every way in is lost (PRODUCT.md §8; API.md, "When everything is lost").

A recovery request is a saved flow with an id, an expiry and a state::

    request ─> collecting ──(proofs reach THRESHOLD)──> waiting ──(ready_at passes)──> ready*
                  │  │                                    │  ▲                             │
                  │  │                                    └──┘ more proofs: a shorter wait  ├─> completed (1)
                  │  └──(24 h without enough proof)──> denied* <──(24 h after ready_at)─────┘
                  ├───────────(cancel link; the owner signs in normally)──> cancelled <──── waiting, ready*
                  └───────────(support denies; collecting or waiting)──> denied

    * read, never stored: a collecting request past ``expires_at`` reads as denied (unless
      support was asked to review it: then after ``SUPPORT_WINDOW``), a
      waiting one past ``ready_at`` as ready, and past ``ready_at + COMPLETION_WINDOW``
      as denied. A stored ``denied`` is support's decision (support.py).
    (1) recovery_completion.py

Rules, in order:

* ``request`` does the same work for any username, known or not: it counts the client
  address's requests (``REQUESTS_PER_ADDRESS_HOUR``, else ``429 rate_limited``), looks the
  name up, and saves a ``collecting`` request (``account_id`` None for an unknown name:
  such a request looks the same from outside and can never be proved). No argon2 and
  no message on that path: the same database round trips either way.
* ``dispatch`` runs after the answer has gone (the web layer hands it to a background
  task; it is taken once by a conditional UPDATE): for a real account it records
  ``recovery_requested`` (the notifier's critical notice) and writes to every verified
  contact point, in the account's language, that a recovery was asked for, with a
  one-click cancel link; the e-mail addresses also get the proof link, the phones a
  6-digit code (that works for ``sent_code_seconds``). Only keyed hashes of the three
  secrets are stored. At most
  ``MESSAGED_PER_ACCOUNT_DAY`` requests a day write to an account's contact points.
* Proofs (``Proof``, ``WEIGHTS``): the e-mail link, the phone code, the device the request
  came from and facts about the account (``recovery_facts.py``), the password; and from
  elsewhere, through ``prove``: a recovery contact's confirmation, support's approval.
* ``add_evidence``: each answer is counted as wrong before it is checked
  (``MAX_WRONG_ANSWERS`` per request, then ``429``) and released when right. A password
  costs one argon2 verify whatever the case. Each proof adds its weight to the score;
  at ``THRESHOLD`` the request waits ``recovery_wait_seconds`` (the password alone: the
  full wait), shorter when the e-mail AND the phone were proved, never under a quarter.
* ``cancel`` (the link) and ``cancel_open_for_account`` (a normal sign-in, called from
  ``sign_in._signed_in``) end any collecting or waiting request: ``recovery_cancelled``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events, usernames
from sparekey.core.crypto import new_token, plausible_id, token_hash
from sparekey.core.delivery import Channel, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.errors import InvalidCode, InvalidCredentials, NotFound, RateLimited, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.factors import sent_codes as mechanics
from sparekey.core.factors.codes import compact
from sparekey.core.factors.contact_points import ContactKind
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows import delivery, notify, recovery_contacts, recovery_facts
from sparekey.core.models import Client, RecoveryRequest, RecoveryState
from sparekey.core.policy import Policy
from sparekey.core.ports import Transaction
from sparekey.i18n import LANGUAGES

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
COLLECTING = DAY  # a request must be proved within this
SUPPORT_WINDOW = timedelta(days=14)  # a collecting request support was asked about stays open
COMPLETION_WINDOW = DAY  # after ready_at, it can be completed this long (recovery_completion.py)
REQUESTS_PER_ADDRESS_HOUR = 30
MAX_WRONG_ANSWERS = 5
MESSAGED_PER_ACCOUNT_DAY = 5
SIGNER_PURPOSE = "recovery"
MAX_TOKEN = 64


class Proof(enum.StrEnum):
    EMAIL = "email"  # the link sent to a verified e-mail address
    PHONE = "phone"  # the code sent to a verified phone
    PASSWORD = "password"  # the account's current password
    DEVICE = "device"  # asked from a browser the account trusts or signed in from (recovery_facts.py)
    FACTS = "facts"  # when the account was made and a device it signed in from lately
    CONTACT = "contact"  # a recovery contact confirmed it is the owner (recovery_contacts.py)
    SUPPORT = "support"  # a staff member approved it (support.py)


WEIGHTS = {
    Proof.EMAIL: 1,
    Proof.PHONE: 1,
    Proof.DEVICE: 1,
    Proof.FACTS: 1,
    Proof.PASSWORD: 2,
    Proof.CONTACT: 2,
    Proof.SUPPORT: 2,
}
THRESHOLD = 2  # the password alone, a contact, support, or two of the others
# What shortens the wait, and by how much (the wait is divided); never under a quarter.
SHORTER_WAITS = (
    (frozenset({Proof.EMAIL, Proof.PHONE}), 2),
    (frozenset({Proof.CONTACT}), 2),
    (frozenset({Proof.SUPPORT}), 2),
    (frozenset({Proof.CONTACT, Proof.EMAIL, Proof.PHONE}), 4),
)
OPEN = (RecoveryState.COLLECTING, RecoveryState.WAITING)


def wait_for(proved: set[Proof], policy: Policy) -> timedelta:
    full = policy.recovery_wait_seconds
    divisor = max((d for needed, d in SHORTER_WAITS if needed <= proved), default=1)
    return timedelta(seconds=max(full // divisor, full // 4))


def read_state(request: RecoveryRequest, now: datetime) -> RecoveryState:
    """The state as the outside sees it (the diagram's starred states are read, not stored)."""
    if request.state is RecoveryState.COLLECTING and now >= request.expires_at:
        # Support was asked to review it: it stays open for their decision (SUPPORT_WINDOW).
        asked = request.support_requested_at
        if asked is None or now >= max(asked, request.expires_at) + SUPPORT_WINDOW:
            return RecoveryState.DENIED
    if request.state is RecoveryState.WAITING and request.ready_at is not None and now >= request.ready_at:
        return RecoveryState.READY if now < request.ready_at + COMPLETION_WINDOW else RecoveryState.DENIED
    return request.state


def answer(request: RecoveryRequest, now: datetime) -> tuple[RecoveryState, datetime | None]:
    """What the requester is told: the state, and ``ready_at`` once it waits."""
    state = read_state(request, now)
    return state, request.ready_at if state in (RecoveryState.WAITING, RecoveryState.READY) else None


def limited(request: RecoveryRequest, now: datetime) -> RateLimited:
    """Too many answers to an open request: wait until it ends (collecting) or is ready."""
    until = request.expires_at if request.state is RecoveryState.COLLECTING else request.ready_at
    return RateLimited(retry_after=max(1, math.ceil(((until or now) - now).total_seconds())))


def get(tx: Transaction, request_id: str) -> RecoveryRequest:
    found = tx.recovery_requests.get(request_id) if plausible_id(request_id) else None
    if found is None:
        raise NotFound()
    return found


def request(
    deps: Deps,
    *,
    username: str,
    client: Client,
    language: str,
    client_tokens: Sequence[str] = (),
    device_tokens: Sequence[str] = (),
) -> str:
    """``POST /api/v1/recovery``: a new collecting request's id, for any username. Asked
    from a browser the account knows (``client_tokens``, ``device_tokens``: the cookies),
    the request starts with that proof."""
    name = usernames.canonical(username) or ""  # "" names no account; the look-up still runs
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        tx.locks.hold(f"recovery:address:{client.ip}")
        started = tx.recovery_requests.started_since(now - HOUR, ip=client.ip)
        if len(started) >= REQUESTS_PER_ADDRESS_HOUR:
            allowed_at = started[-REQUESTS_PER_ADDRESS_HOUR] + HOUR
            raise RateLimited(retry_after=max(1, math.ceil((allowed_at - now).total_seconds())))
        account = tx.accounts.by_username(name)
        known_device = recovery_facts.from_known_device(
            tx,
            deps,
            account.id if account else None,
            client_tokens=client_tokens,
            device_tokens=device_tokens,
        )
        created = RecoveryRequest(
            id=new_token(24),
            account_id=account.id if account is not None else None,
            state=RecoveryState.COLLECTING,
            created_at=now,
            expires_at=now + COLLECTING,
            language=language if language in LANGUAGES else None,
            ip=client.ip,
            user_agent=client.user_agent,
            evidence={Proof.DEVICE.value: now.isoformat()} if known_device else {},
            score=WEIGHTS[Proof.DEVICE] if known_device else 0,
        )
        tx.recovery_requests.add(created)
    return created.id


def dispatch(deps: Deps, request_id: str) -> None:
    """After the answer: the event, the proofs and the cancel links of a real account's
    request (nothing for an unknown username's). Safe to call twice: taken once."""
    now = deps.clock.now()
    message_ids: list[str | None] = []
    with deps.store.transaction() as tx:
        if not plausible_id(request_id) or not tx.recovery_requests.take_dispatch(request_id, now):
            return
        found = tx.recovery_requests.get(request_id)
        account = tx.accounts.get(found.account_id) if found and found.account_id else None
        if found is None or account is None:
            return
        events.record(tx, deps.clock, account.id, EventType.RECOVERY_REQUESTED, found.requester)
        if tx.recovery_requests.count_for_account(account.id, since=now - DAY) > MESSAGED_PER_ACCOUNT_DAY:
            return  # the owner is still told, by the notifier; no more links and codes today
        message_ids += recovery_contacts.ask_all(tx, deps, found, account)
        email_token, code, cancel_token = new_token(), mechanics.generate(), new_token()
        signer = deps.box.signer(SIGNER_PURPOSE)
        tx.recovery_requests.set_secrets(
            found.id,
            email_token_hash=signer.sign(f"{found.id}|email|{email_token}"),
            code_hash=signer.sign(f"{found.id}|code|{code}"),
            cancel_token_hash=token_hash(cancel_token),
        )
        lang = notify.language_of(deps, account, otherwise=found.language)
        cancel_url = deps.policy.url(f"/recovery/cancel/{cancel_token}")
        for contact in tx.contacts.for_account(account.id, verified_only=True):
            by_email = contact.kind == ContactKind.EMAIL
            proof = (
                {
                    "username": account.username,
                    "link": deps.policy.url(f"/recovery/{found.id}/email/{email_token}"),
                }
                if by_email
                else {"code": code, "minutes": deps.policy.sent_code_seconds // 60}
            )
            message_ids.append(
                delivery.queue(
                    tx,
                    deps,
                    MessageKind.RECOVERY,
                    channel=Channel.EMAIL if by_email else Channel.SMS,
                    to=contact.address,
                    language=lang,
                    account_id=account.id,
                    cancel_url=cancel_url,
                    **proof,
                )
            )
    delivery.deliver(deps, message_ids)


def status(deps: Deps, request_id: str) -> tuple[RecoveryState, datetime | None]:
    """``GET /api/v1/recovery/{id}``: the state, and ``ready_at`` once it waits."""
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
    return answer(found, deps.clock.now())


@dataclass(frozen=True)
class RequesterView:
    """What the requester's page shows: the state, its dates, and support's side (never a
    secret, nothing of the account)."""

    state: RecoveryState
    ready_at: datetime | None
    support_requested_at: datetime | None
    support_question: str | None


def requester_view(deps: Deps, request_id: str) -> RequesterView:
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
    state, ready_at = answer(found, deps.clock.now())
    return RequesterView(state, ready_at, found.support_requested_at, found.support_question)


def add_evidence(
    deps: Deps,
    request_id: str,
    *,
    email_token: str | None = None,
    code: str | None = None,
    password: str | None = None,
    created_month: str | None = None,
    recent_device: str | None = None,
) -> tuple[RecoveryState, datetime | None]:
    """``POST /api/v1/recovery/{id}/evidence``: what the answers proved, then the state.

    The answers of one call count as one attempt, committed before they are checked; a
    wrong one is ``invalid_credentials`` (the password) or ``invalid_code`` (the link's
    token, the code) after the right ones of the same call were kept."""
    facts = (created_month, recent_device)
    if email_token is None and code is None and password is None and facts == (None, None):
        raise ValidationFailed(field="evidence", reason="missing")
    if (created_month is None) != (recent_device is None):
        raise ValidationFailed(
            field="created_month" if created_month is None else "recent_device", reason="missing"
        )
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
        if read_state(found, now) not in OPEN:
            return answer(found, now)  # nothing left to prove: nothing is checked or counted
        if not tx.recovery_requests.reserve_answer(found.id, max_wrong=MAX_WRONG_ANSWERS):
            raise limited(found, now)
        account = tx.accounts.get(found.account_id) if found.account_id else None
    password_ok = False
    if password is not None:
        from sparekey.core.flows.sign_in import check_password  # sign_in imports this module

        password_ok = check_password(deps, account, normalise_password(password))  # one argon2 verify
    signer = deps.box.signer(SIGNER_PURPOSE)
    with deps.store.transaction() as tx:
        found = get(tx, request_id)  # again: another answer may have moved it meanwhile
        proved: dict[Proof, bool] = {}
        if email_token is not None:
            proved[Proof.EMAIL] = found.email_token_hash is not None and signer.verify(
                f"{found.id}|email|{email_token[:MAX_TOKEN]}", found.email_token_hash
            )
        if code is not None:
            digits = compact(code) or ""
            code_ends = (found.dispatched_at or now) + timedelta(seconds=deps.policy.sent_code_seconds)
            proved[Proof.PHONE] = (
                found.code_hash is not None
                and now < code_ends
                and signer.verify(f"{found.id}|code|{digits}", found.code_hash)
            )
        if password is not None:  # and it is still the account's: not changed while it was checked
            again = tx.accounts.get(found.account_id) if password_ok and found.account_id else None
            proved[Proof.PASSWORD] = (
                again is not None and account is not None and again.password_hash == account.password_hash
            )
        if created_month is not None and recent_device is not None:
            owner = tx.accounts.get(found.account_id) if found.account_id else None
            proved[Proof.FACTS] = recovery_facts.facts_match(
                tx, deps, owner, created_month=created_month, recent_device=recent_device
            )
        if all(proved.values()):
            tx.recovery_requests.release_answer(found.id)
        prove(tx, deps, found, {proof for proof, ok in proved.items() if ok})
    if proved.get(Proof.PASSWORD) is False or proved.get(Proof.FACTS) is False:
        raise InvalidCredentials()
    if not all(proved.values()):
        raise InvalidCode()
    return answer(found, now)


def prove(tx: Transaction, deps: Deps, found: RecoveryRequest, proofs: set[Proof]) -> bool:
    """Add ``proofs`` to an open request of a real account, inside the caller's transaction
    (the requester's answers, a recovery contact's confirmation, support's approval): the
    score, and at ``THRESHOLD`` the wait, which more proofs only shorten. ``found`` is
    updated; False when nothing new was added (closed, unknown account, already proved).

    Read again under the request's lock: two proofs arriving at once (a contact confirming
    while the requester gives the password) both count, whatever ``found`` said."""
    now = deps.clock.now()
    tx.locks.hold(f"recovery:{found.id}")
    fresh = tx.recovery_requests.get(found.id)
    if fresh is None:
        return False
    found.state, found.ready_at, found.evidence, found.score = (
        fresh.state,
        fresh.ready_at,
        fresh.evidence,
        fresh.score,
    )
    new = {proof for proof in proofs if proof.value not in found.evidence}
    if not new or found.account_id is None or read_state(found, now) not in OPEN:
        return False
    evidence = {**found.evidence, **{proof.value: now.isoformat() for proof in new}}
    kinds = {Proof(name) for name in evidence if name in Proof.__members__.values()}
    score = sum(WEIGHTS[kind] for kind in kinds)
    state, ready_at = found.state, found.ready_at
    if score >= THRESHOLD:
        candidate = now + wait_for(kinds, deps.policy)
        state = RecoveryState.WAITING
        ready_at = candidate if ready_at is None else min(ready_at, candidate)
    tx.recovery_requests.set_progress(
        found.id, state=state.value, evidence=evidence, score=score, ready_at=ready_at
    )
    found.state, found.ready_at, found.evidence, found.score = state, ready_at, evidence, score
    events.record(
        tx,
        deps.clock,
        found.account_id,
        EventType.RECOVERY_EVIDENCE_ADDED,
        proofs=sorted(proof.value for proof in new),
        state=state.value,
    )
    return True


def deny(tx: Transaction, deps: Deps, found: RecoveryRequest, *, by: str) -> bool:
    """An open request -> denied (support's decision), inside the caller's transaction."""
    if not tx.recovery_requests.deny(found.id):
        return False
    found.state = RecoveryState.DENIED
    if found.account_id is not None:
        events.record(tx, deps.clock, found.account_id, EventType.RECOVERY_DENIED, by=by)
    return True


def cancel(deps: Deps, token: str, *, client: Client | None = None) -> RecoveryState:
    """The one-click cancel link (by POST: never on a GET, which mail scanners follow)."""
    with deps.store.transaction() as tx:
        found = tx.recovery_requests.by_cancel_token_hash(token_hash(token)) if plausible_id(token) else None
        if found is None:
            raise NotFound()
        if tx.recovery_requests.cancel(found.id):
            found.state = RecoveryState.CANCELLED
            if found.account_id is not None:
                events.record(
                    tx, deps.clock, found.account_id, EventType.RECOVERY_CANCELLED, client, by="link"
                )
    return read_state(found, deps.clock.now())


def cancel_open_for_account(tx: Transaction, deps: Deps, account_id: str) -> int:
    """The owner signed in normally: they have not lost their way in. Inside the sign-in's
    transaction; how many requests were cancelled."""
    cancelled = tx.recovery_requests.cancel_open_for_account(account_id)
    if cancelled:
        events.record(
            tx, deps.clock, account_id, EventType.RECOVERY_CANCELLED, by="sign_in", requests=cancelled
        )
    return cancelled
