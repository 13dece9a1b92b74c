"""The one code box: recognise a code by its shape and check it against the right factor.

Used by the sign-in flow and by sudo mode alike. Every failure raises the ``CodeError``
that explains it; counting the attempt is the caller's job (it knows the flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    ClockDriftSuspected,
    CodeReplayed,
    InvalidCode,
    MalformedCode,
    ValidationFailed,
)
from sparekey.core.factors import backup_codes as backup_mechanics
from sparekey.core.factors import totp
from sparekey.core.flows import backup_codes
from sparekey.core.models import Account, Authenticator, Client
from sparekey.core.ports import Transaction

TOTP = "totp"
BACKUP_CODE = "backup_code"
KNOWN_METHODS = frozenset({TOTP, BACKUP_CODE, "email", "sms", "voice", "webauthn"})
MAX_CODE_INPUT = 200


@dataclass(frozen=True)
class Verified:
    method: str
    notices: list[dict[str, Any]] = field(default_factory=list)


def methods_of(tx: Transaction, deps: Deps, account: Account) -> list[dict[str, Any]]:
    """The ways this account can finish signing in ("try another way")."""
    methods: list[dict[str, Any]] = []
    authenticators = tx.authenticators.for_account(account.id, confirmed_only=True)
    if authenticators:
        methods.append(
            {"type": TOTP, "authenticators": [{"id": a.id, "name": a.name} for a in authenticators]}
        )
    current = tx.backup_codes.current_set(account.id)
    if current is not None:
        _total, remaining = tx.backup_codes.counts(current.id)
        methods.append({"type": BACKUP_CODE, "remaining": remaining, "set_number": current.set_number})
    return methods


def verify(
    tx: Transaction,
    deps: Deps,
    account: Account,
    raw_code: str,
    client: Client,
    *,
    method: str | None = None,
    purpose: str = "sign_in",
) -> Verified:
    if method is not None and method not in KNOWN_METHODS:
        raise ValidationFailed(field="method")
    if not isinstance(raw_code, str) or len(raw_code) > MAX_CODE_INPUT:
        raise MalformedCode()
    kind = method or _kind_by_shape(raw_code)
    if kind == TOTP:
        if totp.normalise_code(raw_code) is None:
            raise MalformedCode()
        return _verify_totp(tx, deps, account, raw_code, client)
    if kind == BACKUP_CODE:
        consumed = backup_codes.consume(tx, deps, account, raw_code, client, purpose=purpose)
        notices: list[dict[str, Any]] = [{"code": "backup_code_used", "remaining": consumed.remaining}]
        if consumed.remaining <= deps.policy.backup_codes_low_at:
            notices.append({"code": "backup_codes_low", "remaining": consumed.remaining})
        return Verified(method=BACKUP_CODE, notices=notices)
    if kind is None:
        raise MalformedCode()
    raise InvalidCode()  # a method this account cannot use (yet)


def kind_of(raw_code: str, method: str | None = None) -> str | None:
    """What the code box would take ``raw_code`` for: the named method, else by its shape."""
    if method in KNOWN_METHODS:
        return method
    return _kind_by_shape(raw_code) if isinstance(raw_code, str) and len(raw_code) <= MAX_CODE_INPUT else None


def _kind_by_shape(raw_code: str) -> str | None:
    if totp.normalise_code(raw_code) is not None:
        return TOTP
    if backup_mechanics.looks_like_backup_code(raw_code):
        return BACKUP_CODE
    return None


def _verify_totp(tx: Transaction, deps: Deps, account: Account, raw_code: str, client: Client) -> Verified:
    code = totp.normalise_code(raw_code)
    assert code is not None
    at = deps.clock.now()
    replayed = False
    drift: list[int] = []
    for authenticator in tx.authenticators.for_account(account.id, confirmed_only=True):
        outcome = totp.verify(
            secret=secret_of(deps, authenticator),
            code=code,
            at=at,
            last_used_step=authenticator.last_used_step,
            drift_steps=authenticator.drift_steps,
            last_offset_steps=authenticator.last_offset_steps,
        )
        if isinstance(outcome, totp.Accepted):
            claimed = tx.authenticators.claim_step(
                authenticator.id,
                step=outcome.step,
                at=at,
                drift_steps=outcome.drift_steps,
                offset_steps=outcome.offset_steps,
            )
            if claimed:
                return Verified(method=TOTP)
            replayed = True  # another request took this time step a moment ago
        elif isinstance(outcome, totp.Replayed):
            replayed = True
        elif isinstance(outcome, totp.DriftSuspected):
            drift.append(outcome.offset_seconds)
            oldest_acceptable = totp.step_at(at) - totp.DRIFT_DIAGNOSIS_STEPS
            for step in outcome.steps:
                tx.authenticators.refuse_step(authenticator.id, step, at=at, keep_after=oldest_acceptable)
    if replayed:
        events.record(tx, deps.clock, account.id, events.TOTP_REPLAY_REFUSED, client)
        raise CodeReplayed()
    if drift:
        raise ClockDriftSuspected(offset_seconds=min(drift, key=abs))
    raise InvalidCode()


def secret_of(deps: Deps, authenticator: Authenticator) -> str:
    return deps.box.decrypt(authenticator.secret_enc, aad=authenticator.id.encode()).decode()
