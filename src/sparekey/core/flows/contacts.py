"""Contact points: add an e-mail address or a phone number, verify it with a code sent
there, list them, remove one.

* Adding needs sudo mode while two-step verification is on (a new way in), and sends a
  code at once. Removing a verified contact point needs sudo mode too.
* A verified phone number is a second factor (SMS and voice codes): verifying the first
  factor of an account turns two-step verification on and returns backup-code set #1, as
  confirming an authenticator app does; removing it is removing a factor.
* A verified e-mail address receives notifications and recovery links, and sign-in codes
  while another factor keeps two-step verification on; it never turns it on by itself.
* Wrong verification codes are limited per contact point (``throttle``), counted before
  they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sparekey.core import events, second_factors, throttle
from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    ContactExists,
    MalformedCode,
    NotFound,
    SparekeyError,
    ValidationFailed,
)
from sparekey.core.events import EventType
from sparekey.core.factors.contact_points import ContactKind, mask, parse
from sparekey.core.flows import backup_codes, delivery, lifecycle, sent_codes
from sparekey.core.flows.backup_codes import IssuedSet
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Client, Contact
from sparekey.core.ports import Transaction
from sparekey.core.second_factors import sent_code
from sparekey.core.second_factors.base import Shape

MAX_CONTACTS = 10


@dataclass(frozen=True)
class Added:
    contact: Contact
    sent: sent_codes.Sent


@dataclass(frozen=True)
class Verified:
    contact: Contact
    backup_codes: IssuedSet | None


def list_contacts(deps: Deps, account_id: str) -> list[Contact]:
    with deps.store.transaction() as tx:
        return tx.contacts.for_account(account_id)


def add(
    deps: Deps,
    current: Current,
    *,
    kind: str,
    address: str,
    region: str | None,
    client: Client,
    language: str,
) -> Added:
    if current.account.two_factor_enabled:
        require_sudo(deps, current)
    contact_kind, clean = parse(kind, address, region)
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(current.account.id)
        if account is None:
            raise NotFound()
        if tx.contacts.find(account.id, contact_kind, clean) is not None:
            raise ContactExists()
        if len(tx.contacts.for_account(account.id)) >= MAX_CONTACTS:
            raise ValidationFailed(field="address", reason="too_many_contacts", maximum=MAX_CONTACTS)
        contact = Contact(
            id=new_id(), account_id=account.id, kind=contact_kind, address=clean, created_at=deps.clock.now()
        )
        tx.contacts.add(contact)
        events.record(
            tx,
            deps.clock,
            account.id,
            EventType.CONTACT_ADDED,
            client,
            kind=contact.kind,
            destination=mask(contact.kind, contact.address),
        )
        message_id = sent_codes.send_for_contact(tx, deps, contact, client, language)
    delivery.deliver(deps, [message_id])
    return Added(contact=contact, sent=_sent(deps, contact))


def resend(
    deps: Deps, current: Current, contact_id: str, *, client: Client, language: str
) -> sent_codes.Sent:
    with deps.store.transaction() as tx:
        tx.accounts.get_for_update(current.account.id)  # one send at a time per account
        contact = _unverified(tx.contacts.get(current.account.id, contact_id))
        message_id = sent_codes.send_for_contact(tx, deps, contact, client, language)
    delivery.deliver(deps, [message_id])
    return _sent(deps, contact)


def verify(deps: Deps, current: Current, contact_id: str, *, code: str, client: Client) -> Verified:
    """The code sent to the contact point verifies it, once. A phone that is the account's
    first factor issues backup-code set #1: the transaction that finds so rolls back, the set
    is derived with no transaction open, and the verification runs once more with it (no
    set is derived for a wrong code)."""

    def attempt(prepared: backup_codes.PreparedSet | None) -> Verified:
        return _verify(deps, current, contact_id, code=code, client=client, prepared=prepared)

    return backup_codes.with_prepared_set(deps, current.account, attempt, expected=False)


def _verify(
    deps: Deps,
    current: Current,
    contact_id: str,
    *,
    code: str,
    client: Client,
    prepared: backup_codes.PreparedSet | None,
) -> Verified:
    failure: SparekeyError | None = None
    issued = None
    with deps.store.transaction() as tx:
        contact = _unverified(tx.contacts.get(current.account.id, contact_id))
        attempt = throttle.reserve(
            tx, deps, f"contact:{contact.id}", client, account_id=current.account.id, address_limited=False
        )
        try:
            _check_code(tx, deps, contact, code)
        except SparekeyError as error:
            failure = error
            throttle.failed(tx, deps, attempt, client)
        else:
            throttle.succeeded(tx, attempt)
            now = deps.clock.now()
            if not tx.contacts.mark_verified(contact.id, now):
                raise NotFound()  # verified or removed a moment ago
            contact = replace(contact, verified_at=now)
            masked = mask(contact.kind, contact.address)
            events.record(
                tx,
                deps.clock,
                contact.account_id,
                EventType.CONTACT_VERIFIED,
                client,
                kind=contact.kind,
                destination=masked,
            )
            if contact.kind == ContactKind.PHONE:
                account = tx.accounts.get_for_update(contact.account_id)
                assert account is not None
                issued = lifecycle.factor_confirmed(
                    tx, deps, account, client, factor=contact.kind, name=masked, prepared=prepared
                )
    if failure is not None:
        raise failure
    return Verified(contact=contact, backup_codes=issued)


def remove(deps: Deps, current: Current, contact_id: str, *, client: Client) -> None:
    with deps.store.transaction() as tx:
        contact = tx.contacts.get(current.account.id, contact_id)
        if contact is None:
            raise NotFound()
        if contact.verified or current.account.two_factor_enabled:
            require_sudo(deps, current)
        tx.contacts.delete(contact.id)
        masked = mask(contact.kind, contact.address)
        events.record(
            tx,
            deps.clock,
            contact.account_id,
            EventType.CONTACT_REMOVED,
            client,
            kind=contact.kind,
            destination=masked,
        )
        if contact.verified and contact.kind == ContactKind.PHONE:
            account = tx.accounts.get_for_update(contact.account_id)
            assert account is not None
            lifecycle.factor_removed(tx, deps, account, client, factor=contact.kind, name=masked)
        elif contact.verified and current.account.two_factor_enabled:
            # An e-mail address that could receive sign-in codes: a way in went away.
            lifecycle.credentials_changed(
                tx, deps, contact.account_id, reason="factor_removed", client=client
            )


def _unverified(contact: Contact | None) -> Contact:
    if contact is None:
        raise NotFound()
    if contact.verified:
        raise ValidationFailed(field="id", reason="already_verified")
    return contact


def _check_code(tx: Transaction, deps: Deps, contact: Contact, raw: str) -> None:
    typed = second_factors.read(raw)
    if typed.shape is not Shape.SIX_DIGITS:
        raise MalformedCode()
    sent_code.use(tx, deps, tx.sent_codes.live_for_contact(contact.id), typed.value)


def _sent(deps: Deps, contact: Contact) -> sent_codes.Sent:
    return sent_codes.Sent(
        sent_to=mask(contact.kind, contact.address), resend_after=deps.policy.resend_seconds
    )
