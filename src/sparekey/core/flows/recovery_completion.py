"""Completing a recovery (core/flows/recovery.py) once its wait is over: the owner enrols a
new authenticator app, may choose a new password, and gets a new backup-code sheet; every
old way in, session and trusted device is revoked, and the owner is told on every channel.

Two calls, both by whoever holds the request's id (the one who proved it):

* ``start``, while the request reads ``ready`` (within ``WINDOW`` after ``ready_at``): a new
  single-use completion token (only its keyed hash is stored; a new start replaces it, so a
  lost page is never a dead end) and the key of the new authenticator app, which is derived
  from the token (HMAC), so nothing secret waits on the server.
* ``finish`` with the token, a code from the new app and, if wanted, a new password: counted
  as an answer first (``recovery.MAX_WRONG_ANSWERS``), then, in one transaction: the request
  is completed once (conditional UPDATE), the owner is told on every channel before the
  phones go, every factor is removed, the sessions, devices and sign-ins in progress end
  (``lifecycle.replace_every_factor``), the new app is confirmed, which issues the new
  sheet, and a session is opened for the owner. Argon2 runs before that transaction: the
  new password's hash and the new sheet's derivations.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from datetime import datetime

from sparekey.core import events
from sparekey.core.assurance import Amr
from sparekey.core.assurance import context as auth_context
from sparekey.core.crypto import new_id, new_token
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    InvalidCode,
    MalformedCode,
    RateLimited,
    RecoveryNotReady,
    WrongConfirmationCode,
)
from sparekey.core.events import EventType
from sparekey.core.factors import totp
from sparekey.core.factors.password import check_new_password
from sparekey.core.flows import delivery, lifecycle, notify
from sparekey.core.flows.backup_codes import IssuedSet, PreparedSet, with_prepared_set
from sparekey.core.flows.recovery import COMPLETION_WINDOW as WINDOW
from sparekey.core.flows.recovery import MAX_TOKEN, MAX_WRONG_ANSWERS, SIGNER_PURPOSE, get, read_state
from sparekey.core.flows.sessions import open_session
from sparekey.core.methods import Method
from sparekey.core.models import Account, Authenticator, Client, RecoveryRequest, RecoveryState, Session
from sparekey.core.notifications import NotificationType
from sparekey.core.ports import Transaction

APP_NAME = "Authenticator (recovery)"


@dataclass(frozen=True)
class Started:
    token: str
    secret: str
    otpauth_uri: str
    qr_svg: str
    complete_by: datetime


@dataclass(frozen=True)
class Completed:
    session_token: str
    session: Session
    account: Account
    backup_codes: IssuedSet
    sessions_ended: int
    devices_revoked: int


def _ready(found: RecoveryRequest, now: datetime) -> None:
    state = read_state(found, now)
    if state is not RecoveryState.READY or found.account_id is None:
        raise RecoveryNotReady(state=state.value)


def _secret(deps: Deps, request_id: str, token: str) -> str:
    """The new app's key, from the token: 160 bits of an HMAC under the server's keys."""
    tag = deps.box.signer(SIGNER_PURPOSE).sign(f"{request_id}|app|{token}")
    raw = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4))
    return base64.b32encode(raw[:20]).decode()


def resume(deps: Deps, request_id: str, token: str) -> Started | None:
    """The page of a started completion again (after a wrong code): None unless ``token``
    is the request's current completion token and it is still ready."""
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
        account = tx.accounts.get(found.account_id or "")
    signer = deps.box.signer(SIGNER_PURPOSE)
    token = token[:MAX_TOKEN]
    if (
        account is None
        or read_state(found, now) is not RecoveryState.READY
        or found.completion_token_hash is None
        or not signer.verify(f"{found.id}|completion|{token}", found.completion_token_hash)
    ):
        return None
    return _started(deps, found, account, token)


def _started(deps: Deps, found: RecoveryRequest, account: Account, token: str) -> Started:
    secret = _secret(deps, found.id, token)
    uri = totp.provisioning_uri(secret, account_name=account.username, issuer=deps.policy.issuer)
    assert found.ready_at is not None
    return Started(
        token=token,
        secret=secret,
        otpauth_uri=uri,
        qr_svg=totp.qr_svg(uri),
        complete_by=found.ready_at + WINDOW,
    )


def start(deps: Deps, request_id: str) -> Started:
    now = deps.clock.now()
    token = new_token()
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
        _ready(found, now)
        account = tx.accounts.get(found.account_id or "")
        if account is None:
            raise RecoveryNotReady(state=RecoveryState.DENIED.value)
        signer = deps.box.signer(SIGNER_PURPOSE)
        tx.recovery_requests.set_completion_token(
            found.id, signer.sign(f"{found.id}|completion|{token}"), now
        )
    return _started(deps, found, account, token)


def finish(
    deps: Deps,
    request_id: str,
    *,
    token: str,
    code: str,
    new_password: str | None,
    client: Client,
) -> Completed:
    now = deps.clock.now()
    normalised = totp.normalise_code(code) if isinstance(code, str) else None
    if normalised is None:
        raise MalformedCode()
    with deps.store.transaction() as tx:
        found = get(tx, request_id)
        _ready(found, now)
        account = tx.accounts.get(found.account_id or "")
        assert account is not None
        # A weak new password is refused before the answer is counted (raising rolls it back).
        clean = (
            check_new_password(new_password, deps.policy.password, username=account.username)
            if new_password
            else None
        )
        if not tx.recovery_requests.reserve_answer(found.id, max_wrong=MAX_WRONG_ANSWERS):
            assert found.ready_at is not None
            until = found.ready_at + WINDOW
            raise RateLimited(retry_after=max(1, math.ceil((until - now).total_seconds())))
    signer = deps.box.signer(SIGNER_PURPOSE)
    token = token[:MAX_TOKEN]
    if found.completion_token_hash is None or not signer.verify(
        f"{found.id}|completion|{token}", found.completion_token_hash
    ):
        raise InvalidCode()
    secret = _secret(deps, found.id, token)
    outcome = totp.verify(secret=secret, code=normalised, at=now, last_used_step=None)
    if isinstance(outcome, totp.DriftSuspected):
        raise WrongConfirmationCode(offset_seconds=outcome.offset_seconds)
    if not isinstance(outcome, totp.Accepted):
        raise WrongConfirmationCode()
    # Hashed and derived before the transaction: no write lock is held during argon2.
    password_hash = deps.passwords.hash(clean) if clean is not None else None

    def attempt(prepared: PreparedSet | None) -> tuple[Completed, list[str | None]]:
        with deps.store.transaction() as tx:
            found = get(tx, request_id)
            _ready(found, now)
            if not tx.recovery_requests.complete(found.id, now):
                raise RecoveryNotReady(state=read_state(found, now).value)  # lost a race to another finish
            tx.recovery_requests.release_answer(found.id)
            current = tx.accounts.get_for_update(account.id)
            assert current is not None
            return _replace_ways_in(
                tx,
                deps,
                current,
                found,
                client,
                secret=secret,
                step=outcome.step,
                password_hash=password_hash,
                prepared=prepared,
            )

    # Every factor goes first, so the new app always issues a new sheet.
    completed, message_ids = with_prepared_set(deps, account, attempt, expected=True)
    delivery.deliver(deps, message_ids)
    return completed


def _replace_ways_in(
    tx: Transaction,
    deps: Deps,
    account: Account,
    found: RecoveryRequest,
    client: Client,
    *,
    secret: str,
    step: int,
    password_hash: str | None,
    prepared: PreparedSet | None,
) -> tuple[Completed, list[str | None]]:
    now = deps.clock.now()
    # Told first, on every channel: the phones about to be removed still hear of it.
    message_ids = notify.tell_everywhere(tx, deps, account, NotificationType.RECOVERY_COMPLETED, client)
    ended = lifecycle.replace_every_factor(tx, deps, account, client, reason="recovered")
    if password_hash is not None:
        tx.accounts.set_password_hash(account.id, password_hash)
        events.record(tx, deps.clock, account.id, EventType.PASSWORD_CHANGED, client, by="recovery")
    authenticator_id = new_id()
    tx.authenticators.add(
        Authenticator(
            id=authenticator_id,
            account_id=account.id,
            name=APP_NAME,
            secret_enc=deps.box.encrypt(secret.encode(), aad=authenticator_id.encode()),
            created_at=now,
        )
    )
    tx.authenticators.confirm(authenticator_id, at=now, step=step)  # the code given counts as used
    issued = lifecycle.factor_confirmed(
        tx, deps, account, client, factor=Method.TOTP, name=APP_NAME, prepared=prepared
    )
    assert issued is not None  # every factor was removed: this one turns 2FA on with a new sheet
    tx.recovery_requests.cancel_open_for_account(account.id)  # any other request is moot now
    events.record(
        tx,
        deps.clock,
        account.id,
        EventType.RECOVERY_COMPLETED,
        client,
        request_created_at=found.created_at.isoformat(),
        password_changed=password_hash is not None,
        sessions_ended=ended.sessions_ended,
        devices_revoked=ended.devices_revoked,
    )
    # The new app just answered; a password the requester may not know: one factor.
    session_token, session = open_session(tx, deps, account, client, auth_context([Amr.OTP], now, factors=1))
    completed = Completed(
        session_token=session_token,
        session=session,
        account=account,
        backup_codes=issued,
        sessions_ended=ended.sessions_ended,
        devices_revoked=ended.devices_revoked,
    )
    return completed, message_ids
