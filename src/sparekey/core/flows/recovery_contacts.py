"""Recovery contacts (NIST SP 800-63B rev. 4 lists them among recovery methods): people with
their own accounts whom the owner names, asked during a recovery whether the requester is
the owner.

A contact's life, and an ask's::

    contact:  name ──> pending ──(the contact accepts)──> accepted
                          │                                  │
                          └─(declines; the owner removes)────┴─(stops; the owner removes)──> gone

    ask (one per accepted contact and recovery request; gone with its contact):
              asked ──(the contact answers, once)──┬─> confirmed (proves Proof.CONTACT while open)
                                                   └─> declined  (proves nothing)

Rules, in order:

* ``name``: by username, sudo while two-step verification is on (a new way back in), at
  most ``MAX_CONTACTS``, never oneself (422). The answer is the same whether or not the
  username exists, and the name is looked up either way: an unknown name is like a contact
  that never accepts, never asked (it cannot be stored: ``contact_account_id`` names an
  account, so the owner's own list shows real accounts only). Naming someone twice adds
  no second contact.
* Only the named person sees the naming (``named_me``) and accepts it, or declines (which
  deletes it). The owner removes a contact; a contact stops being one. Each change is an
  event on the OWNER's account (``recovery_contact_added`` / ``_accepted`` / ``_removed``),
  never with the contact's address or device.
* ``ask_all`` (called by ``recovery.dispatch`` for a real account's request): an ask per
  accepted contact, an e-mail to each contact's verified addresses in the contact's
  language (who is recovering, and the page where to answer: no link that acts, no code),
  and ``recovery_contact_asked`` on the owner's account (the notifier tells the owner).
* ``answer``: only the asked contact's own asks exist for them (anything else is 404, the
  same as a made-up id); answered once (a conditional UPDATE); the same answer whatever
  was answered and whether the request is still open. Confirmed proves ``Proof.CONTACT``
  on an open request (weight 2: the threshold, and half the wait). Either answer is
  ``recovery_contact_answered`` on the owner's account (the owner is told).
* A contact sees nothing of the owner's account but the username: not the request's state,
  its evidence, nor anything of the requester.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sparekey.core import events, usernames
from sparekey.core.crypto import new_id, plausible_id
from sparekey.core.delivery import Channel, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, TooManyContacts, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.factors.contact_points import ContactKind
from sparekey.core.flows import delivery, notify
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Account, Client, RecoveryContact, RecoveryContactAsk, RecoveryRequest
from sparekey.core.ports import Transaction

MAX_CONTACTS = 2
PAGE = "/security/recovery-contacts"


class Answer(enum.StrEnum):
    CONFIRMED = "confirmed"  # the requester is the owner: they asked me themselves
    DECLINED = "declined"  # no, or I do not know


@dataclass(frozen=True)
class Entry:
    """One side of a naming as the signed-in person sees it: the OTHER person's username."""

    id: str
    username: str
    accepted: bool


@dataclass(frozen=True)
class OpenAsk:
    """An ask to the signed-in contact: whose account, and when. Nothing else."""

    id: str
    username: str  # the owner's
    asked_at: datetime


# The owner's side -------------------------------------------------------------------------


def my_contacts(deps: Deps, current: Current) -> list[Entry]:
    with deps.store.transaction() as tx:
        found = tx.recovery_contacts.for_owner(current.account.id)
    return [Entry(contact.id, name, contact.accepted_at is not None) for contact, name in found]


def name(deps: Deps, current: Current, *, username: str, client: Client) -> None:
    """Name ``username`` as a recovery contact of the signed-in owner. The same answer
    whether or not the name is an account's."""
    if current.account.two_factor_enabled:
        require_sudo(deps, current)
    wanted = usernames.canonical(username)
    if not wanted:
        raise ValidationFailed(field="username")
    if wanted == current.account.username:
        raise ValidationFailed(field="username", reason="self")
    with deps.store.transaction() as tx:
        owner = tx.accounts.get_for_update(current.account.id)  # one naming at a time per owner
        if owner is None:
            raise NotFound()
        if len(tx.recovery_contacts.for_owner(owner.id)) >= MAX_CONTACTS:
            raise TooManyContacts(maximum=MAX_CONTACTS)
        named = tx.accounts.by_username(wanted)  # looked up either way
        if named is not None and named.id != owner.id:
            contact = RecoveryContact(
                id=new_id(), account_id=owner.id, contact_account_id=named.id, created_at=deps.clock.now()
            )
            tx.recovery_contacts.add(contact)  # named before: the one row stays as it is
        events.record(tx, deps.clock, owner.id, EventType.RECOVERY_CONTACT_ADDED, client, contact=wanted)


def remove(deps: Deps, current: Current, contact_id: str, *, client: Client) -> None:
    """The owner removes one of their contacts (pending or accepted)."""
    with deps.store.transaction() as tx:
        contact = _get(tx, contact_id)
        if contact is None or contact.account_id != current.account.id:
            raise NotFound()
        if tx.recovery_contacts.delete(contact.id):
            other = tx.accounts.get(contact.contact_account_id)
            events.record(
                tx,
                deps.clock,
                current.account.id,
                EventType.RECOVERY_CONTACT_REMOVED,
                client,
                contact=other.username if other else "",
                by="owner",
            )


# The contact's side -----------------------------------------------------------------------


def named_me(deps: Deps, current: Current) -> list[Entry]:
    """Who named the signed-in person, pending or accepted: the owner's username only."""
    with deps.store.transaction() as tx:
        found = tx.recovery_contacts.naming(current.account.id)
    return [Entry(contact.id, owner, contact.accepted_at is not None) for contact, owner in found]


def accept(deps: Deps, current: Current, contact_id: str) -> Entry:
    """The named person accepts: from now on they are asked during a recovery."""
    with deps.store.transaction() as tx:
        contact = _naming_me(tx, current, contact_id)
        owner = tx.accounts.get(contact.account_id)
        if owner is None:
            raise NotFound()
        if tx.recovery_contacts.accept(contact.id, deps.clock.now()):
            # On the owner's account, without the contact's address or device.
            events.record(
                tx,
                deps.clock,
                owner.id,
                EventType.RECOVERY_CONTACT_ACCEPTED,
                contact=current.account.username,
            )
    return Entry(contact.id, owner.username, True)


def stop(deps: Deps, current: Current, contact_id: str) -> None:
    """The named person declines, or stops being a contact: the naming is deleted."""
    with deps.store.transaction() as tx:
        contact = _naming_me(tx, current, contact_id)
        if tx.recovery_contacts.delete(contact.id):
            events.record(
                tx,
                deps.clock,
                contact.account_id,
                EventType.RECOVERY_CONTACT_REMOVED,
                contact=current.account.username,
                by="contact",
            )


def _get(tx: Transaction, contact_id: str) -> RecoveryContact | None:
    return tx.recovery_contacts.get(contact_id) if plausible_id(contact_id) else None


def _naming_me(tx: Transaction, current: Current, contact_id: str) -> RecoveryContact:
    contact = _get(tx, contact_id)
    if contact is None or contact.contact_account_id != current.account.id:
        raise NotFound()  # the same for another's naming and a made-up id
    return contact


# Asking, during a recovery ----------------------------------------------------------------


def ask_all(tx: Transaction, deps: Deps, request: RecoveryRequest, account: Account) -> list[str | None]:
    """Ask every accepted contact of ``account`` about ``request`` (called by
    ``recovery.dispatch`` inside its transaction); the ids of the messages to deliver."""
    now = deps.clock.now()
    message_ids: list[str | None] = []
    for contact, contact_name in tx.recovery_contacts.for_owner(account.id):
        person = tx.accounts.get(contact.contact_account_id) if contact.accepted_at else None
        if person is None:
            continue  # pending: never asked
        tx.recovery_contacts.add_ask(
            RecoveryContactAsk(
                id=new_id(),
                request_id=request.id,
                recovery_contact_id=contact.id,
                contact_account_id=person.id,
                asked_at=now,
            )
        )
        lang = notify.language_of(deps, person)
        for address in tx.contacts.for_account(person.id, verified_only=True):
            if address.kind != ContactKind.EMAIL:
                continue
            message_ids.append(
                delivery.queue(
                    tx,
                    deps,
                    MessageKind.RECOVERY_CONTACT_ASK,
                    channel=Channel.EMAIL,
                    to=address.address,
                    language=lang,
                    account_id=person.id,
                    username=account.username,
                    page_url=deps.policy.url(PAGE),
                )
            )
        # The owner is told (the notifier), with the requester's address and device.
        events.record(
            tx,
            deps.clock,
            account.id,
            EventType.RECOVERY_CONTACT_ASKED,
            request.requester,
            contact=contact_name,
        )
    return message_ids


def open_asks(deps: Deps, current: Current) -> list[OpenAsk]:
    """The asks to the signed-in contact that can still be answered usefully: unanswered,
    about a request that is still collecting or waiting."""
    from sparekey.core.flows import recovery  # recovery imports this module

    now = deps.clock.now()
    found: list[OpenAsk] = []
    with deps.store.transaction() as tx:
        for ask in tx.recovery_contacts.unanswered_asks(current.account.id):
            request = tx.recovery_requests.get(ask.request_id)
            if request is None or request.account_id is None:
                continue
            if recovery.read_state(request, now) not in recovery.OPEN:
                continue
            owner = tx.accounts.get(request.account_id)
            if owner is not None:
                found.append(OpenAsk(id=ask.id, username=owner.username, asked_at=ask.asked_at))
    return found


def answer(deps: Deps, current: Current, ask_id: str, *, answer: Answer) -> None:
    """The contact's answer to one of their asks: recorded once, the same outcome for the
    caller whatever it was and whatever it changed. 404 for anything not asked of them."""
    from sparekey.core.flows import recovery  # recovery imports this module

    now = deps.clock.now()
    with deps.store.transaction() as tx:
        ask = tx.recovery_contacts.get_ask(ask_id) if plausible_id(ask_id) else None
        if ask is None or ask.contact_account_id != current.account.id:
            raise NotFound()
        if not tx.recovery_contacts.answer(
            ask.id, contact_account_id=current.account.id, answer=answer.value, at=now
        ):
            return  # answered before (or a moment ago): the first answer stands
        request = tx.recovery_requests.get(ask.request_id)
        if request is None or request.account_id is None:
            return
        if answer is Answer.CONFIRMED:
            recovery.prove(tx, deps, request, {recovery.Proof.CONTACT})  # nothing once it is closed
        events.record(
            tx,
            deps.clock,
            request.account_id,
            EventType.RECOVERY_CONTACT_ANSWERED,
            request.requester,
            contact=current.account.username,
            answer=answer.value,
        )
