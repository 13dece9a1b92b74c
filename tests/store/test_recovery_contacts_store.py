"""The recovery contacts' storage contract, on SQLite and PostgreSQL (when reachable): a pair
named once however many times at once, accepted once, an ask answered once under a race,
only by the contact it was asked of, and the asks gone with their contact."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sparekey.core.crypto import new_id, new_token
from sparekey.core.models import Account, RecoveryContact, RecoveryContactAsk, RecoveryRequest, RecoveryState
from sparekey.store.database import make_engine
from sparekey.store.sql import SqlStore
from tests.store.test_repositories import NOW, add_account, race


@pytest.fixture
def store(database_url: str) -> SqlStore:
    return SqlStore(make_engine(database_url))


def a_contact(owner: Account, contact: Account) -> RecoveryContact:
    return RecoveryContact(id=new_id(), account_id=owner.id, contact_account_id=contact.id, created_at=NOW)


def asked(store: SqlStore) -> tuple[Account, Account, RecoveryContactAsk]:
    """alice named bob, who accepted; a recovery request for alice asked him."""
    alice, bob = add_account(store, f"alice-{new_id()[:6]}"), add_account(store, f"bob-{new_id()[:6]}")
    contact = a_contact(alice, bob)
    request = RecoveryRequest(
        id=new_token(24),
        account_id=alice.id,
        state=RecoveryState.COLLECTING,
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )
    ask = RecoveryContactAsk(
        id=new_id(),
        request_id=request.id,
        recovery_contact_id=contact.id,
        contact_account_id=bob.id,
        asked_at=NOW,
    )
    with store.transaction() as tx:
        assert tx.recovery_contacts.add(contact)
        assert tx.recovery_contacts.accept(contact.id, NOW)
        tx.recovery_requests.add(request)
        tx.recovery_contacts.add_ask(ask)
    return alice, bob, ask


def test_a_pair_is_named_once_even_at_once(store: SqlStore) -> None:
    alice, bob = add_account(store, "alice"), add_account(store, "bob")

    def name() -> bool:
        with store.transaction() as tx:
            return tx.recovery_contacts.add(a_contact(alice, bob))

    assert race(6, name) == [False] * 5 + [True]
    with store.transaction() as tx:
        [(contact, username)] = tx.recovery_contacts.for_owner(alice.id)
        [(same, owner)] = tx.recovery_contacts.naming(bob.id)
        assert tx.recovery_contacts.get(contact.id) == contact == same
    assert (username, owner, contact.accepted_at) == ("bob", "alice", None)


def test_accepted_once_and_read_back_aware(store: SqlStore) -> None:
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    contact = a_contact(alice, bob)
    with store.transaction() as tx:
        tx.recovery_contacts.add(contact)
        assert tx.recovery_contacts.accept(contact.id, NOW + timedelta(minutes=1))
        assert not tx.recovery_contacts.accept(contact.id, NOW + timedelta(minutes=2))
        loaded = tx.recovery_contacts.get(contact.id)
    assert loaded is not None and loaded.accepted_at == NOW + timedelta(minutes=1)


def test_an_ask_is_answered_once_under_a_race(store: SqlStore) -> None:
    _alice, bob, ask = asked(store)
    answers = ["confirmed", "declined"] * 4

    def answer() -> bool:
        with store.transaction() as tx:
            return tx.recovery_contacts.answer(
                ask.id, contact_account_id=bob.id, answer=answers.pop(), at=NOW + timedelta(minutes=1)
            )

    assert race(8, answer) == [False] * 7 + [True]
    with store.transaction() as tx:
        stored = tx.recovery_contacts.get_ask(ask.id)
        assert tx.recovery_contacts.unanswered_asks(bob.id) == []
    assert stored is not None and stored.answer in {"confirmed", "declined"}
    assert stored.answered_at == NOW + timedelta(minutes=1)


def test_only_the_asked_contact_answers(store: SqlStore) -> None:
    alice, bob, ask = asked(store)
    with store.transaction() as tx:
        assert not tx.recovery_contacts.answer(
            ask.id, contact_account_id=alice.id, answer="confirmed", at=NOW
        )
        assert tx.recovery_contacts.unanswered_asks(bob.id) == [ask]
        assert tx.recovery_contacts.unanswered_asks(alice.id) == []
        assert tx.recovery_contacts.asks_for_request(ask.request_id) == [ask]


def test_the_asks_go_with_their_contact(store: SqlStore) -> None:
    _alice, bob, ask = asked(store)
    with store.transaction() as tx:
        assert tx.recovery_contacts.delete(ask.recovery_contact_id)
        assert not tx.recovery_contacts.delete(ask.recovery_contact_id)
        assert tx.recovery_contacts.get_ask(ask.id) is None
        assert tx.recovery_contacts.unanswered_asks(bob.id) == []
