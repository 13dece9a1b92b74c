"""Codes sent by SMS, by voice call or by e-mail, as second factors: one class, three kinds.

A sign-in flow asks for a code (``core/flows/sent_codes.py`` sends it); the code box then
tries a six-digit code on the flow's newest live code of each kind, beside the
authenticator apps, as one attempt. A verified phone number keeps two-step verification
on (it gives SMS and calls); an e-mail address never does: it is offered as a way in only
while another factor keeps two-step verification on, and only if the operator allows it.
"""

from __future__ import annotations

from typing import Any

from sparekey.core import events
from sparekey.core.delivery import Channel
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeExpired, InvalidCode
from sparekey.core.events import EventType
from sparekey.core.factors import sent_codes
from sparekey.core.factors.contact_points import ContactKind, mask
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, Contact, LoginFlow, SentCode
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.base import CodeAttempt, Shape, TypedCode, Verified

SIGNER_PURPOSE = "sent-code"


def use(tx: Transaction, deps: Deps, live: SentCode | None, digits: str) -> None:
    """Use up the live code ``live`` if ``digits`` are its code and it has not expired, atomically;
    else raise what explains the failure (``invalid_code``, ``code_expired``)."""
    if live is None or not sent_codes.matches(
        deps.box.signer(SIGNER_PURPOSE), live.id, digits, live.code_hash
    ):
        raise InvalidCode()
    now = deps.clock.now()
    if now >= live.expires_at:
        raise CodeExpired()
    if not tx.sent_codes.consume(live.id, now):
        raise InvalidCode()  # used or ended a moment ago by another request


class SentCodes:
    shapes = frozenset({Shape.SIX_DIGITS})

    def __init__(
        self, kind: Method, channel: Channel, contact_kind: ContactKind, *, keeps_2fa_on: bool
    ) -> None:
        self.kind = kind
        self.channel = channel
        self.contact_kind = contact_kind
        self.keeps_2fa_on = keeps_2fa_on

    def allowed(self, deps: Deps) -> bool:
        return self.kind.value in deps.policy.code_methods

    def destinations(self, tx: Transaction, account_id: str, *, verified_only: bool = True) -> list[Contact]:
        """The account's contact points this kind sends to (the verified ones, by default)."""
        found = tx.contacts.for_account(account_id, verified_only=verified_only)
        return [c for c in found if c.kind == self.contact_kind]

    def method_entry(
        self, tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
    ) -> dict[str, Any] | None:
        if not self.allowed(deps):
            return None
        contacts = self.destinations(tx, account.id)
        if not contacts:
            return None
        return {
            "type": self.kind.value,
            "destinations": [{"id": c.id, "masked": mask(c.kind, c.address)} for c in contacts],
        }

    def prepare(self, deps: Deps, account: Account, code: TypedCode) -> TypedCode:
        return code  # nothing slow: checked in the transaction

    def verify(
        self, tx: Transaction, deps: Deps, account: Account, code: TypedCode, attempt: CodeAttempt
    ) -> Verified | None:
        if attempt.flow is None:
            return None
        live = tx.sent_codes.live_for_flow(attempt.flow.id)
        if live is None or live.channel != self.channel:
            return None
        use(tx, deps, live, code.value)
        return Verified(method=self.kind)

    def credentials(self, tx: Transaction, account_id: str) -> set[str]:
        if not self.keeps_2fa_on:
            return set()
        return {c.id for c in self.destinations(tx, account_id)}

    def remove_all(self, tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
        """Phones go with two-step verification (they are second factors); e-mail addresses
        stay (they receive notifications and recovery links)."""
        if not self.keeps_2fa_on:
            return
        for contact in self.destinations(tx, account.id, verified_only=False):
            tx.contacts.delete(contact.id)
            if contact.verified:
                events.record(
                    tx,
                    deps.clock,
                    account.id,
                    EventType.FACTOR_REMOVED,
                    client,
                    factor=contact.kind,
                    name=mask(contact.kind, contact.address),
                )
