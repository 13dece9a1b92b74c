"""Sudo mode: password (and a second factor when the account has one) within the last
minutes; or, for an account with a passkey or security key, that key alone (``begin_with_key``
then ``finish_with_key``: the password is not always the first thing asked).

Attempts are limited per session (``throttle.sudo_key``), not per username: strangers failing
to sign in as the owner never keep the owner's own session out of sudo mode. Each attempt is
counted before the password is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sparekey.core import events, second_factors, throttle
from sparekey.core.crypto import new_token
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeError,
    FlowExpired,
    InvalidCode,
    InvalidCredentials,
    SparekeyError,
    ValidationFailed,
    WebAuthnFailed,
)
from sparekey.core.events import EventType
from sparekey.core.factors import webauthn
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows.security_keys import live_ceremony
from sparekey.core.flows.sessions import Current, rotate
from sparekey.core.flows.sign_in import check_password
from sparekey.core.models import CeremonyPurpose, Client, KeyCeremony
from sparekey.core.ports import Transaction
from sparekey.core.second_factors import SECURITY_KEYS
from sparekey.core.second_factors.security_key import new_challenge, refs


def enter(
    deps: Deps, current: Current, *, password: str, code: str | None, client: Client, rotate_token: bool
) -> tuple[datetime, str | None]:
    """Returns ``(sudo_until, new_token)``; the token is rotated for cookie sessions."""
    account_id = current.account.id
    with deps.store.transaction() as tx:
        attempt = throttle.reserve(
            tx,
            deps,
            throttle.sudo_key(current.session.id),
            client,
            account_id=account_id,
            address_limited=False,
        )
        fresh = tx.accounts.get(account_id)
    ok = check_password(deps, fresh, normalise_password(password))
    # A backup code's derivation, only after the right password, with no transaction open.
    typed = None
    if ok and fresh is not None and fresh.two_factor_enabled and code:
        typed = second_factors.prepare(deps, fresh, code)
    failure: SparekeyError | None = None
    new_token = None
    with deps.store.transaction() as tx:
        # Read again, row locked: the password may have changed, or 2FA come on, meanwhile.
        again = tx.accounts.get_for_update(account_id) if ok and fresh is not None else None
        if again is None or fresh is None or again.password_hash != fresh.password_hash:
            failure = InvalidCredentials()
        elif again.two_factor_enabled:
            try:
                if not code:
                    raise InvalidCode(missing=True)
                typed = typed or second_factors.read(code)  # 2FA came on meanwhile: nothing prepared
                second_factors.verify(tx, deps, again, typed, client, purpose="sudo")
            except CodeError as error:
                failure = error
        if failure is not None:
            throttle.failed(tx, deps, attempt, client)
        else:
            throttle.succeeded(tx, attempt)
            until, new_token = _entered(tx, deps, current, client, rotate_token=rotate_token)
    if failure is not None:
        raise failure
    return until, new_token


def _entered(
    tx: Transaction, deps: Deps, current: Current, client: Client, *, rotate_token: bool, **data: Any
) -> tuple[datetime, str | None]:
    until = deps.clock.now() + timedelta(seconds=deps.policy.sudo_seconds)
    tx.sessions.set_sudo_until(current.session.id, until)
    current.session.sudo_until = until
    token = rotate(tx, current.session) if rotate_token else None
    events.record(tx, deps.clock, current.account.id, EventType.SUDO, client, **data)
    return until, token


def begin_with_key(deps: Deps, current: Current) -> tuple[KeyCeremony, dict[str, Any]]:
    """A challenge for this session that any of the account's keys can answer."""
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        keys = tx.security_keys.for_account(current.account.id)
        if not keys:
            raise ValidationFailed(field="webauthn", reason="no_keys")
        ceremony = KeyCeremony(
            id=new_token(24),
            account_id=current.account.id,
            session_id=current.session.id,
            purpose=CeremonyPurpose.SUDO,
            challenge=new_challenge(),
            created_at=now,
            expires_at=now + timedelta(seconds=deps.policy.key_ceremony_seconds),
        )
        tx.key_ceremonies.add(ceremony)
    options = webauthn.authentication_options(
        deps.policy.relying_party,
        challenge=ceremony.challenge,
        allow=refs(keys),
        require_user_verification=False,
    )
    return ceremony, options


def finish_with_key(
    deps: Deps,
    current: Current,
    *,
    sudo_flow_id: str,
    credential: Mapping[str, Any],
    client: Client,
    rotate_token: bool,
) -> tuple[datetime, str | None]:
    """The key's answer; counted per session like a password, spent once, right or wrong."""
    ceremony = live_ceremony(deps, current, sudo_flow_id, CeremonyPurpose.SUDO, expired=FlowExpired())
    failure: SparekeyError | None = None
    with deps.store.transaction() as tx:
        attempt = throttle.reserve(
            tx,
            deps,
            throttle.sudo_key(current.session.id),
            client,
            account_id=current.account.id,
            address_limited=False,
        )
        try:
            if not tx.key_ceremonies.spend(ceremony.id, deps.clock.now()):
                raise WebAuthnFailed(reason=webauthn.Reason.CHALLENGE.value)
            answer = SECURITY_KEYS.check_answer(
                tx,
                deps,
                credential=credential,
                challenge=ceremony.challenge,
                account=current.account,
                client=client,
                purpose="sudo",
            )
        except CodeError as error:
            failure = error
            throttle.failed(tx, deps, attempt, client)
        else:
            throttle.succeeded(tx, attempt)
            until, new_token = _entered(
                tx, deps, current, client, rotate_token=rotate_token, method=answer.verified.method.value
            )
    if failure is not None:
        raise failure
    return until, new_token
