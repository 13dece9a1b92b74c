"""Passkeys and security keys (WebAuthn) as a second factor, and passkeys on their own.
Mechanics in ``core/factors/webauthn.py``; registration in ``core/flows/security_keys.py``.

A key answers a challenge rather than typing a code, so it takes no code shape: the code box
never tries it. A sign-in flow's ``methods`` carry its WebAuthn options (the challenge lives
in the flow, server-side, until the first answer spends it); ``check_answer`` is the one
place an answer is judged, for a sign-in's second step, a passkey sign-in and sudo mode.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparekey.core import events
from sparekey.core.assurance import of_key
from sparekey.core.deps import Deps
from sparekey.core.errors import ValidationFailed, WebAuthnFailed
from sparekey.core.events import EventType
from sparekey.core.factors import webauthn
from sparekey.core.factors.webauthn import Reason, Refused
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, LoginFlow, SecurityKey
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.base import CodeAttempt, Shape, TypedCode, Verified


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_challenge() -> bytes:
    return secrets.token_bytes(webauthn.CHALLENGE_BYTES)


def user_handle(account: Account) -> bytes:
    """WebAuthn's user.id: the account's random id, never its name."""
    return account.id.encode()


def refs(keys: list[SecurityKey]) -> list[webauthn.KeyRef]:
    return [webauthn.KeyRef(k.credential_id, k.transports) for k in keys]


@dataclass(frozen=True)
class KeyAnswer:
    """A key answer that worked: whose, which key, and the step it made."""

    account: Account
    key: SecurityKey
    verified: Verified


class SecurityKeys:
    kind = Method.WEBAUTHN
    shapes: frozenset[Shape] = frozenset()

    def method_entry(
        self, tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
    ) -> dict[str, Any] | None:
        keys = tx.security_keys.for_account(account.id)
        if not keys:
            return None
        if flow is None:
            return {
                "type": self.kind.value,
                "keys": [{"id": k.id, "name": k.name, "passkey": k.passkey} for k in keys],
            }
        return {"type": self.kind.value, "options": self.flow_options(tx, deps, flow, keys)}

    def flow_options(
        self, tx: Transaction, deps: Deps, flow: LoginFlow, keys: list[SecurityKey] | None
    ) -> dict[str, Any]:
        """The options for the flow's challenge, made now if the flow has none left. ``keys``
        None: a passkey flow (any discoverable key of this RP, user verification required)."""
        if flow.webauthn_challenge is None:
            flow.webauthn_challenge = encode(new_challenge())
            tx.flows.set_challenge(flow.id, flow.webauthn_challenge)
        return webauthn.authentication_options(
            deps.policy.relying_party,
            challenge=decode(flow.webauthn_challenge),
            allow=refs(keys) if keys is not None else None,
            require_user_verification=keys is None,
        )

    def prepare(self, deps: Deps, account: Account, code: TypedCode) -> TypedCode:
        return code

    def verify(
        self, tx: Transaction, deps: Deps, account: Account, code: TypedCode, attempt: CodeAttempt
    ) -> Verified | None:
        return None  # a key answers a challenge; it never takes a typed code

    def credentials(self, tx: Transaction, account_id: str) -> set[str]:
        return {k.id for k in tx.security_keys.for_account(account_id)}

    def remove_all(self, tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
        for key in tx.security_keys.for_account(account.id):
            tx.security_keys.delete(key.id)
            events.record(
                tx,
                deps.clock,
                account.id,
                EventType.FACTOR_REMOVED,
                client,
                factor=self.kind.value,
                name=key.name,
            )

    def check_answer(
        self,
        tx: Transaction,
        deps: Deps,
        *,
        credential: Mapping[str, Any],
        challenge: bytes,
        account: Account | None,
        client: Client,
        purpose: str,
    ) -> KeyAnswer:
        """Judge a key's answer to ``challenge``. ``account`` None: a passkey sign-in, where
        the answer says whose it is (only a key registered as a passkey may answer, with user
        verification). Raises ``WebAuthnFailed`` with the reason; a sign count that does not
        grow is recorded as ``key_clone_suspected`` first (the caller commits failures)."""
        passkey_alone = account is None
        method = Method.PASSKEY if passkey_alone else Method.WEBAUTHN
        try:
            claimed = webauthn.read_assertion(credential)
        except webauthn.Unreadable:
            raise ValidationFailed(field="credential") from None
        key = tx.security_keys.by_credential_id(claimed.credential_id)
        owner = tx.accounts.get(key.account_id) if key is not None else None
        try:
            if key is None or owner is None or (account is not None and key.account_id != account.id):
                raise Refused(Reason.UNKNOWN_CREDENTIAL)
            if passkey_alone and (not key.passkey or claimed.user_handle not in (None, user_handle(owner))):
                raise Refused(Reason.UNKNOWN_CREDENTIAL)
            asserted = webauthn.verify_assertion(
                claimed=claimed,
                challenge=challenge,
                rp=deps.policy.relying_party,
                public_key=key.public_key,
                require_user_verification=passkey_alone,
            )
            now = deps.clock.now()
            grew = webauthn.sign_count_grew(key.sign_count, asserted.new_sign_count)
            if not grew or not tx.security_keys.record_use(
                key.id, sign_count=asserted.new_sign_count, backed_up=asserted.backed_up, at=now
            ):
                events.record(
                    tx,
                    deps.clock,
                    key.account_id,
                    EventType.KEY_CLONE_SUSPECTED,
                    client,
                    name=key.name,
                    key_id=key.id,
                    stored_sign_count=key.sign_count,
                    sign_count=asserted.new_sign_count,
                )
                raise Refused(Reason.SIGN_COUNT)
        except Refused as refused:
            failure = WebAuthnFailed(reason=refused.reason.value)
            failure.method = method.value
            raise failure from None
        assert owner is not None
        events.record(
            tx,
            deps.clock,
            owner.id,
            EventType.KEY_USED,
            client,
            name=key.name,
            key_id=key.id,
            purpose=purpose,
        )
        two_alone = passkey_alone and asserted.user_verified
        verified = Verified(
            method=method, amr=of_key(backup_eligible=key.backup_eligible), factors=2 if two_alone else 1
        )
        return KeyAnswer(account=owner, key=key, verified=verified)
