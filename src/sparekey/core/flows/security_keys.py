"""Passkeys and security keys: register (a challenge handed to this session, answered once),
list, rename, remove. Mechanics in ``core/factors/webauthn.py``; the factor in
``core/second_factors/security_key.py``.

* Registering needs sudo mode once 2FA is on (like adding any factor). The first key turns
  2FA on and brings backup-code set #1 (``lifecycle.factor_confirmed``).
* A passkey (``passkey=True``) must be discoverable and verify its user; a security key is
  asked for neither.
* The registration's challenge is single use: the first answer spends it, right or wrong.
* Removing a key needs sudo mode; it is a change of credentials (``lifecycle.factor_removed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sparekey.core import events
from sparekey.core.crypto import new_id, new_token, plausible_id
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    KeyExists,
    KeyRegistrationFailed,
    NotFound,
    RegistrationExpired,
    SparekeyError,
    ValidationFailed,
)
from sparekey.core.events import EventType
from sparekey.core.factors import webauthn
from sparekey.core.flows import backup_codes, lifecycle
from sparekey.core.flows.backup_codes import IssuedSet
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.methods import Method
from sparekey.core.models import CeremonyPurpose, Client, KeyCeremony, SecurityKey
from sparekey.core.names import clean_name, required_name
from sparekey.core.second_factors.security_key import new_challenge, refs, user_handle

MAX_KEYS = 20
FACTOR = Method.WEBAUTHN.value


@dataclass(frozen=True)
class Registration:
    ceremony: KeyCeremony
    options: dict[str, Any]


@dataclass(frozen=True)
class Registered:
    key: SecurityKey
    backup_codes: IssuedSet | None


def begin(deps: Deps, current: Current, *, name: str | None, passkey: bool) -> Registration:
    if current.account.two_factor_enabled:
        require_sudo(deps, current)
    account = current.account
    chosen = clean_name(name, "") or None
    challenge = new_challenge()
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        keys = tx.security_keys.for_account(account.id)
        if len(keys) >= MAX_KEYS:
            raise ValidationFailed(field="name", reason="too_many_keys", maximum=MAX_KEYS)
        ceremony = KeyCeremony(
            id=new_token(24),
            account_id=account.id,
            session_id=current.session.id,
            purpose=CeremonyPurpose.REGISTER,
            challenge=challenge,
            created_at=now,
            expires_at=now + timedelta(seconds=deps.policy.key_ceremony_seconds),
            name=chosen,
            passkey=passkey,
        )
        tx.key_ceremonies.add(ceremony)
    options = webauthn.registration_options(
        deps.policy.relying_party,
        user_id=user_handle(account),
        user_name=account.username,
        challenge=challenge,
        exclude=refs(keys),
        passkey=passkey,
    )
    return Registration(ceremony=ceremony, options=options)


def live_ceremony(
    deps: Deps, current: Current, ceremony_id: str, purpose: CeremonyPurpose, *, expired: SparekeyError
) -> KeyCeremony:
    """The session's own ceremony, or NotFound; ``expired`` when its time is up."""
    with deps.store.transaction() as tx:
        ceremony = tx.key_ceremonies.get(ceremony_id) if plausible_id(ceremony_id) else None
    if (
        ceremony is None
        or ceremony.purpose is not purpose
        or ceremony.account_id != current.account.id
        or ceremony.session_id != current.session.id
    ):
        raise NotFound()
    if deps.clock.now() >= ceremony.expires_at:
        raise expired
    return ceremony


def finish(
    deps: Deps, current: Current, registration_id: str, *, credential: Mapping[str, Any], client: Client
) -> Registered:
    ceremony = live_ceremony(
        deps, current, registration_id, CeremonyPurpose.REGISTER, expired=RegistrationExpired()
    )
    try:
        parsed = webauthn.read_registration(credential)
    except webauthn.Unreadable:
        raise ValidationFailed(field="credential") from None
    try:  # pure: checked before the transaction that spends the challenge, right or wrong
        answer: webauthn.NewKey | webauthn.Refused = webauthn.verify_registration(
            credential=parsed,
            challenge=ceremony.challenge,
            rp=deps.policy.relying_party,
            require_user_verification=ceremony.passkey,
        )
    except webauthn.Refused as refused:
        answer = refused

    def attempt(prepared: backup_codes.PreparedSet | None) -> Registered:
        return _register(deps, current, ceremony, answer, client, prepared)

    # The first factor's set is derived only once the key is known to be one (no transaction
    # open); the transaction that finds so rolls back, and runs once more with it.
    return backup_codes.with_prepared_set(deps, current.account, attempt, expected=False)


def _register(
    deps: Deps,
    current: Current,
    ceremony: KeyCeremony,
    answer: webauthn.NewKey | webauthn.Refused,
    client: Client,
    prepared: backup_codes.PreparedSet | None,
) -> Registered:
    failure: SparekeyError | None = None
    with deps.store.transaction() as tx:
        if not tx.key_ceremonies.spend(ceremony.id, deps.clock.now()):
            raise KeyRegistrationFailed(reason=webauthn.Reason.CHALLENGE.value)
        if isinstance(answer, webauthn.Refused):
            failure = KeyRegistrationFailed(reason=answer.reason.value)
        elif tx.security_keys.by_credential_id(answer.credential_id) is not None:
            failure = KeyExists()
        else:
            account = tx.accounts.get_for_update(current.account.id)
            assert account is not None
            existing = tx.security_keys.for_account(account.id)
            key = SecurityKey(
                id=new_id(),
                account_id=account.id,
                name=ceremony.name or _default_name(ceremony.passkey, existing),
                credential_id=answer.credential_id,
                public_key=answer.public_key,
                created_at=deps.clock.now(),
                sign_count=answer.sign_count,
                passkey=ceremony.passkey,
                backup_eligible=answer.backup_eligible,
                backed_up=answer.backed_up,
                transports=answer.transports,
                aaguid=answer.aaguid,
            )
            tx.security_keys.add(key)
            issued = lifecycle.factor_confirmed(
                tx, deps, account, client, factor=FACTOR, name=key.name, prepared=prepared
            )
    if failure is not None:
        raise failure  # the spent challenge stays spent
    return Registered(key=key, backup_codes=issued)


def _default_name(passkey: bool, existing: list[SecurityKey]) -> str:
    base = "Passkey" if passkey else "Security key"
    taken = {k.name for k in existing}
    number = 1
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


def list_keys(deps: Deps, account_id: str) -> list[SecurityKey]:
    with deps.store.transaction() as tx:
        return tx.security_keys.for_account(account_id)


def rename(deps: Deps, current: Current, key_id: str, *, name: str, client: Client) -> SecurityKey:
    new_name = required_name(name)
    with deps.store.transaction() as tx:
        key = tx.security_keys.get(current.account.id, key_id) if plausible_id(key_id) else None
        if key is None:
            raise NotFound()
        tx.security_keys.rename(key.id, new_name)
        events.record(
            tx,
            deps.clock,
            current.account.id,
            EventType.FACTOR_RENAMED,
            client,
            factor=FACTOR,
            name=new_name,
            old_name=key.name,
        )
        key.name = new_name
        return key


def remove(deps: Deps, current: Current, key_id: str, *, client: Client) -> None:
    require_sudo(deps, current)
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(current.account.id)
        key = tx.security_keys.get(current.account.id, key_id) if plausible_id(key_id) else None
        if key is None or account is None:
            raise NotFound()
        tx.security_keys.delete(key.id)
        lifecycle.factor_removed(tx, deps, account, client, factor=FACTOR, name=key.name)
