"""The groups repository and the forward-auth snapshot, on SQLite and PostgreSQL: one group once
per account (raced), the facts statement, and the snapshot read at the driver level giving the
very session and account the SQLAlchemy repositories give (aware datetimes, booleans, bytes)."""

from __future__ import annotations

from datetime import timedelta

from sparekey.core.crypto import new_id, token_hash
from sparekey.core.models import Account, Contact, Organisation, OrganisationMember, OrganisationRole, Session
from sparekey.core.ports import GroupFacts
from sparekey.store.sql import SqlStore
from tests.store.test_repositories import NOW, add_account, race, store  # noqa: F401 - the fixture


def test_groups_round_trip_and_each_is_added_once(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    with store.transaction() as tx:
        assert tx.groups.add(alice.id, "ops", NOW)
        assert not tx.groups.add(alice.id, "ops", NOW)
        assert tx.groups.add(alice.id, "admins", NOW)
        assert tx.groups.add(bob.id, "ops", NOW)
        assert tx.groups.for_account(alice.id) == ["admins", "ops"]
        assert tx.groups.remove(alice.id, "ops")
        assert not tx.groups.remove(alice.id, "ops")
        assert tx.groups.for_account(alice.id) == ["admins"]
        assert tx.groups.for_account(bob.id) == ["ops"]

    def add() -> bool:
        with store.transaction() as tx:
            return tx.groups.add(bob.id, "oncall", NOW)

    assert race(6, add) == [False] * 5 + [True]


def test_facts_read_organisations_groups_and_verified_addresses(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    with store.transaction() as tx:
        assert tx.groups.facts(alice.id) == GroupFacts((), (), ())
        tx.groups.add(alice.id, "ops", NOW)
        tx.groups.add(alice.id, "dev", NOW)
        tx.groups.add(bob.id, "bobs", NOW)
        for address, minutes in (
            ("late@example.com", 9),
            ("early@example.com", 1),
            ("never@example.com", None),
        ):
            verified = NOW + timedelta(minutes=minutes) if minutes is not None else None
            tx.contacts.add(Contact(new_id(), alice.id, "email", address, NOW, verified_at=verified))
        tx.contacts.add(Contact(new_id(), alice.id, "phone", "+819012345678", NOW, verified_at=NOW))
        organisations = [Organisation(id=new_id(), name=name, created_at=NOW) for name in ("Zeta", "Acme")]
        for organisation in organisations:
            tx.organisations.add(organisation)
            tx.organisations.add_member(
                OrganisationMember(organisation.id, alice.id, OrganisationRole.MEMBER, NOW)
            )
        assert tx.groups.facts(alice.id) == GroupFacts(
            organisation_ids=tuple(sorted(o.id for o in organisations)),
            groups=("dev", "ops"),
            verified_emails=("early@example.com", "late@example.com"),
        )
        assert tx.groups.facts(bob.id) == GroupFacts((), ("bobs",), ())


def test_the_snapshot_is_what_the_repositories_read(store: SqlStore) -> None:  # noqa: F811
    account = Account(
        id=new_id(),
        username="alice",
        password_hash="$argon2id$x",
        created_at=NOW,
        email="alice@example.com",
        two_factor_enabled=True,
        backup_salt=b"\x00\x01salt" * 4,
        chosen_language="ja",
        last_reminded_at=NOW + timedelta(days=1),
    )
    session = Session(
        id=new_id(),
        account_id=account.id,
        token_hash=token_hash("the token"),
        created_at=NOW,
        last_seen_at=NOW + timedelta(minutes=5),
        expires_at=NOW + timedelta(hours=24),
        ip="203.0.113.9",
        auth_methods="pwd otp mfa",
        auth_level="two_factors",
        auth_time=NOW,
        restriction="enrol_second_factor",
    )
    with store.transaction() as tx:
        tx.accounts.add(account)
        tx.sessions.add(session)
        tx.groups.add(account.id, "ops", NOW)
    snapshot = store.session_snapshot(token_hash("the token"))
    assert snapshot is not None
    with store.transaction() as tx:
        assert snapshot.session == tx.sessions.by_token_hash(token_hash("the token")) == session
        assert snapshot.account == tx.accounts.get(account.id) == account
        assert snapshot.facts == tx.groups.facts(account.id) == GroupFacts((), ("ops",), ())
    assert snapshot.session.expires_at.utcoffset() == timedelta(0)
    assert store.session_snapshot(token_hash("another token")) is None
    with store.transaction() as tx:
        tx.sessions.delete(session.id)
    assert store.session_snapshot(token_hash("the token")) is None
