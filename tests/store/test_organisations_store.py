"""The organisations repository and the sessions' restriction, on SQLite and PostgreSQL: the
statements that keep an owner, a single answer per invitation, a single membership per account,
each raced where it matters."""

from __future__ import annotations

from datetime import timedelta

from sparekey.core.crypto import new_id
from sparekey.core.models import (
    Account,
    Organisation,
    OrganisationInvitation,
    OrganisationMember,
    OrganisationRole,
    Session,
    SessionRestriction,
)
from sparekey.store.sql import SqlStore
from tests.store.test_repositories import NOW, add_account, race, store  # noqa: F401 - the fixture

OWNER, ADMIN, MEMBER = OrganisationRole.OWNER, OrganisationRole.ADMIN, OrganisationRole.MEMBER


def add_org(store: SqlStore, *owners: Account, name: str = "Acme") -> Organisation:  # noqa: F811
    organisation = Organisation(id=new_id(), name=name, created_at=NOW)
    with store.transaction() as tx:
        tx.organisations.add(organisation)
        for owner in owners:
            assert tx.organisations.add_member(OrganisationMember(organisation.id, owner.id, OWNER, NOW))
    return organisation


def invitation(organisation: Organisation, account: Account, *, days: int = 7) -> OrganisationInvitation:
    return OrganisationInvitation(
        id=new_id(),
        organisation_id=organisation.id,
        account_id=account.id,
        role=ADMIN,
        created_at=NOW,
        expires_at=NOW + timedelta(days=days),
    )


def test_organisations_and_members_round_trip(store: SqlStore) -> None:  # noqa: F811
    alice, bob, carol = add_account(store, "alice"), add_account(store, "bob"), add_account(store, "carol")
    acme = add_org(store, bob)
    other = add_org(store, alice, name="Zeta")
    with store.transaction() as tx:
        assert tx.organisations.get(acme.id) == acme
        assert tx.organisations.get("nope") is None
        assert tx.organisations.add_member(OrganisationMember(acme.id, alice.id, MEMBER, NOW))
        assert not tx.organisations.add_member(OrganisationMember(acme.id, alice.id, ADMIN, NOW))  # once
        assert tx.organisations.add_member(OrganisationMember(acme.id, carol.id, ADMIN, NOW))
        members = tx.organisations.members(acme.id)
        assert [(a.username, m.role) for m, a in members] == [
            ("bob", OWNER),
            ("carol", ADMIN),
            ("alice", MEMBER),
        ]
        assert tx.organisations.member(acme.id, alice.id) == OrganisationMember(
            acme.id, alice.id, MEMBER, NOW
        )
        assert [(o.name, m.role) for o, m in tx.organisations.memberships(alice.id)] == [
            ("Acme", MEMBER),
            ("Zeta", OWNER),
        ]
        assert tx.organisations.requiring_two_factor(alice.id) == []
        tx.organisations.set_policy(acme.id, require_two_factor=True, grace_days=3, required_since=NOW)
        [(required, membership)] = tx.organisations.requiring_two_factor(alice.id)
    assert (required.id, required.grace_days, required.required_since) == (acme.id, 3, NOW)
    assert membership.joined_at == NOW and other.id != acme.id


def test_the_last_owner_is_neither_demoted_nor_removed(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    acme = add_org(store, alice)
    with store.transaction() as tx:
        tx.organisations.add_member(OrganisationMember(acme.id, bob.id, MEMBER, NOW))
        assert not tx.organisations.set_role(acme.id, alice.id, ADMIN.value)
        assert not tx.organisations.remove_member(acme.id, alice.id)
        assert tx.organisations.set_role(acme.id, alice.id, OWNER.value)  # no change is fine
        assert tx.organisations.set_role(acme.id, bob.id, OWNER.value)
        assert tx.organisations.set_role(acme.id, alice.id, MEMBER.value)  # bob is an owner now
        assert not tx.organisations.remove_member(acme.id, bob.id)
        assert tx.organisations.remove_member(acme.id, alice.id)
        assert not tx.organisations.remove_member(acme.id, alice.id)  # gone already
        assert [(a.username, m.role) for m, a in tx.organisations.members(acme.id)] == [("bob", OWNER)]


def test_two_owners_demoting_each_other_at_once_leave_one_owner(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    acme = add_org(store, alice, bob)
    targets = iter([alice.id, bob.id])

    def demote() -> bool:
        target = next(targets)
        with store.transaction() as tx:
            tx.locks.hold(f"organisation:{acme.id}")  # as core/flows/organisations.py does
            return tx.organisations.set_role(acme.id, target, MEMBER.value)

    assert race(2, demote) == [False, True]
    with store.transaction() as tx:
        roles = sorted(m.role.value for m, _a in tx.organisations.members(acme.id))
    assert roles == ["member", "owner"]


def test_two_owners_leaving_at_once_leave_one_owner(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    acme = add_org(store, alice, bob)
    targets = iter([alice.id, bob.id])

    def leave() -> bool:
        target = next(targets)
        with store.transaction() as tx:
            tx.locks.hold(f"organisation:{acme.id}")
            return tx.organisations.remove_member(acme.id, target)

    assert race(2, leave) == [False, True]
    with store.transaction() as tx:
        assert [m.role for m, _a in tx.organisations.members(acme.id)] == [OWNER]


def test_an_invitation_is_answered_once_by_its_invitee_before_it_expires(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    acme = add_org(store, alice)
    open_one, short = invitation(acme, bob), invitation(acme, bob, days=1)
    with store.transaction() as tx:
        tx.organisations.add_invitation(open_one)
        tx.organisations.add_invitation(short)
        later = NOW + timedelta(days=2)
        assert [i.id for i, _o in tx.organisations.invitations_for(bob.id, later)] == [open_one.id]
        assert tx.organisations.open_invitation(acme.id, bob.id, later) == open_one
        assert tx.organisations.get_invitation(open_one.id) == open_one
        assert not tx.organisations.answer_invitation(short.id, bob.id, accepted=True, at=later)  # expired
        assert not tx.organisations.answer_invitation(
            open_one.id, alice.id, accepted=True, at=later
        )  # not hers
    outcomes = iter([True, False])

    def answer() -> bool:
        accepted = next(outcomes)
        with store.transaction() as tx:
            return tx.organisations.answer_invitation(open_one.id, bob.id, accepted=accepted, at=later)

    assert race(2, answer) == [False, True]
    with store.transaction() as tx:
        answered = tx.organisations.get_invitation(open_one.id)
        assert tx.organisations.invitations_for(bob.id, later) == []
        assert tx.organisations.open_invitation(acme.id, bob.id, later) is None
    assert answered is not None and answered.answered_at == later and answered.accepted in (True, False)


def test_one_membership_however_many_accept_at_once(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    acme = add_org(store, alice)

    def join() -> bool:
        with store.transaction() as tx:
            return tx.organisations.add_member(OrganisationMember(acme.id, bob.id, MEMBER, NOW))

    assert race(3, join) == [False, False, True]


def session_of(account: Account) -> Session:
    return Session(
        id=new_id(),
        account_id=account.id,
        token_hash=new_id() * 2,
        created_at=NOW,
        last_seen_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )


def test_a_session_restriction_is_set_and_lifted_for_the_account(store: SqlStore) -> None:  # noqa: F811
    alice, bob = add_account(store, "alice"), add_account(store, "bob")
    first, second, others = session_of(alice), session_of(alice), session_of(bob)
    restricted = SessionRestriction.ENROL_SECOND_FACTOR.value
    with store.transaction() as tx:
        for session in (first, second, others):
            tx.sessions.add(session)
            tx.sessions.set_restriction(session.id, restricted)
        assert tx.sessions.lift_restrictions(alice.id) == 2
        assert tx.sessions.lift_restrictions(alice.id) == 0
        assert [s.restriction for s in tx.sessions.for_account(alice.id)] == [None, None]
        assert [s.restriction for s in tx.sessions.for_account(bob.id)] == [restricted]
