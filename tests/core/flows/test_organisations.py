"""Organisations in the core, on SQLite and PostgreSQL: when the two-step requirement starts to
bite (to the second), the restriction of the session made at sign-in and what lifts it, and the
reset of a member's second factors by an admin or by the operator, all of it or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, OrgRoleRequired, SudoRequired, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, history, organisations, sign_in, sudo, totp_enrolment
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client, Contact, OrganisationRole, SessionRestriction
from tests.conftest import Person, build_deps, current_for, totp_now

HOME = Client(ip="198.51.100.7", user_agent="the admin's laptop")
DAY = timedelta(days=1)


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    return build_deps(database_url, clock)


def register(deps: Deps, name: str) -> Person:
    someone = Person(username=name, password="correct horse battery staple")
    someone.id = accounts.register(deps, username=name, password=someone.password).id
    return someone


def signed(deps: Deps, person: Person) -> Current:
    current = current_for(deps, person)
    assert isinstance(current, Current)
    return current


def member_of(deps: Deps, owner: Current, org_id: str, person: Person, role: str = "member") -> Current:
    organisations.invite(deps, owner, org_id, username=person.username, role=role, client=HOME)
    current = signed(deps, person)
    [pending] = organisations.invitations_for(deps, person.id)
    assert organisations.answer(deps, current, pending.invitation.id, accept=True, client=HOME) is not None
    return current


def test_the_requirement_bites_at_the_later_of_turning_on_and_joining_plus_grace(
    deps: Deps, clock: FrozenClock
) -> None:
    alice, bob = register(deps, "alice"), register(deps, "bob")
    owner = signed(deps, alice)
    org = organisations.create(deps, owner, name="Acme", client=HOME).organisation
    turned_on = clock.now()
    organisations.set_policy(deps, owner, org.id, require_two_factor=True, grace_days=2)
    clock.advance(DAY.total_seconds())
    member = member_of(deps, owner, org.id, bob)
    joined = clock.now()
    [requirement] = organisations.requirements(deps, member.account)
    assert requirement.enforced_from == max(turned_on, joined) + 2 * DAY == joined + 2 * DAY
    clock.advance((2 * DAY).total_seconds() - 1)
    assert signed(deps, bob).session.restriction is None  # one second before
    clock.advance(1)
    restricted = signed(deps, bob)
    assert restricted.session.restriction == SessionRestriction.ENROL_SECOND_FACTOR
    with deps.store.transaction() as tx:  # stored, not only on the object
        stored = tx.sessions.get(bob.id, restricted.session.id)
    assert stored is not None and stored.restriction == SessionRestriction.ENROL_SECOND_FACTOR
    assert [r.organisation.name for r in organisations.enforced_requirements(deps, restricted)] == ["Acme"]


def test_the_first_factor_lifts_the_restriction_of_every_session(deps: Deps, clock: FrozenClock) -> None:
    alice, bob = register(deps, "alice"), register(deps, "bob")
    owner = signed(deps, alice)
    org = organisations.create(deps, owner, name="Acme", client=HOME).organisation
    member_of(deps, owner, org.id, bob)
    organisations.set_policy(deps, owner, org.id, require_two_factor=True, grace_days=0)
    first, second = signed(deps, bob), signed(deps, bob)
    assert first.session.restriction and second.session.restriction
    enrolment = totp_enrolment.begin(deps, first, name="phone")
    bob.totp_secret = enrolment.secret
    totp_enrolment.confirm(deps, first, enrolment.authenticator.id, code=totp_now(deps, bob), client=HOME)
    with deps.store.transaction() as tx:
        assert {s.restriction for s in tx.sessions.for_account(bob.id)} == {None}
    assert organisations.requirements(deps, signed(deps, bob).account) == []


def test_a_requirement_that_goes_away_lifts_the_restriction(deps: Deps) -> None:
    alice, bob = register(deps, "alice"), register(deps, "bob")
    owner = signed(deps, alice)
    org = organisations.create(deps, owner, name="Acme", client=HOME).organisation
    member_of(deps, owner, org.id, bob)
    organisations.set_policy(deps, owner, org.id, require_two_factor=True, grace_days=0)
    restricted = signed(deps, bob)
    organisations.remove_member(deps, owner, org.id, "bob", client=HOME)
    assert organisations.enforced_requirements(deps, restricted) == []
    assert restricted.session.restriction is None
    with deps.store.transaction() as tx:
        stored = tx.sessions.get(bob.id, restricted.session.id)
    assert stored is not None and stored.restriction is None


def test_roles_are_checked_and_strangers_see_nothing(deps: Deps) -> None:
    alice, bob, eve = register(deps, "alice"), register(deps, "bob"), register(deps, "eve")
    owner = signed(deps, alice)
    org = organisations.create(deps, owner, name="Acme", client=HOME).organisation
    member = member_of(deps, owner, org.id, bob)
    stranger = signed(deps, eve)
    with pytest.raises(NotFound):
        organisations.view(deps, stranger, org.id)
    with pytest.raises(NotFound):
        organisations.invite(deps, stranger, org.id, username="eve", role="owner", client=HOME)
    with pytest.raises(OrgRoleRequired):
        organisations.set_policy(deps, member, org.id, require_two_factor=True, grace_days=1)
    with pytest.raises(OrgRoleRequired):
        organisations.change_role(deps, member, org.id, "bob", role="owner")
    with pytest.raises(ValidationFailed):
        organisations.invite(deps, owner, org.id, username="eve", role="superuser", client=HOME)
    seen = organisations.view(deps, member, org.id)
    assert [(m.username, m.role) for m in seen.members] == [
        ("alice", OrganisationRole.OWNER),
        ("bob", OrganisationRole.MEMBER),
    ]


@pytest.fixture
def reset_scene(deps: Deps, clock: FrozenClock) -> tuple[Current, str, Person]:
    """alice owns Acme; bob, a member, has an app, a verified phone and e-mail address, and two
    sessions; alice is in sudo mode."""
    alice, bob = register(deps, "alice"), register(deps, "bob")
    owner = signed(deps, alice)
    org = organisations.create(deps, owner, name="Acme", client=HOME).organisation
    member = member_of(deps, owner, org.id, bob)
    enrolment = totp_enrolment.begin(deps, member, name="phone")
    bob.totp_secret = enrolment.secret
    totp_enrolment.confirm(deps, member, enrolment.authenticator.id, code=totp_now(deps, bob), client=HOME)
    with deps.store.transaction() as tx:
        for kind, address in (("email", "bob@example.org"), ("phone", "+819012345678")):
            tx.contacts.add(
                Contact(id=kind, account_id=bob.id, kind=kind, address=address, created_at=clock.now())
            )
            tx.contacts.mark_verified(kind, clock.now())
    signed(deps, bob)
    sudo.enter(deps, owner, password=alice.password, code=None, client=HOME, rotate_token=False)
    return signed_owner_in_sudo(deps, owner), org.id, bob


def signed_owner_in_sudo(deps: Deps, owner: Current) -> Current:
    with deps.store.transaction() as tx:
        session = tx.sessions.get(owner.account.id, owner.session.id)
    assert session is not None and session.sudo_until is not None
    return Current(account=owner.account, session=session)


def messages_to(deps: Deps, account_id: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from sparekey.store import tables

    with deps.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(tables.messages.c.channel, tables.messages.c.to).where(
                tables.messages.c.account_id == account_id, tables.messages.c.kind == "notice"
            )
        ).all()
    return sorted((row.channel, row.to) for row in rows)


def test_an_admin_reset_tells_first_then_removes_every_factor_and_session(
    deps: Deps, reset_scene: tuple[Current, str, Person]
) -> None:
    owner, org_id, bob = reset_scene
    organisations.reset_member(deps, owner, org_id, "bob", reason="Lost phone", client=HOME)
    with deps.store.transaction() as tx:
        account = tx.accounts.get(bob.id)
        assert account is not None and not account.two_factor_enabled
        assert tx.authenticators.for_account(bob.id) == []
        assert tx.sessions.for_account(bob.id) == []
        assert tx.backup_codes.current_set(bob.id) is None
    # Told on both channels, the phone included although it was removed in the same transaction.
    assert messages_to(deps, bob.id) == [("email", "bob@example.org"), ("sms", "+819012345678")]
    [event] = history.recent_events(deps, bob.id, types=[EventType.TWO_FACTOR_RESET])
    assert event.data["by"] == "alice" and event.data["organisation"] == "Acme"
    assert event.data["reason"] == "Lost phone" and event.data["ip"] == HOME.ip
    assert isinstance(
        sign_in.start(deps, username="bob", password=bob.password, client=HOME), sign_in.Authenticated
    )


def test_a_reset_needs_sudo_and_changes_nothing_without_it(
    deps: Deps, reset_scene: tuple[Current, str, Person]
) -> None:
    owner, org_id, bob = reset_scene
    with deps.store.transaction() as tx:
        tx.sessions.set_sudo_until(owner.session.id, None)
    owner.session.sudo_until = None
    with pytest.raises(SudoRequired):
        organisations.reset_member(deps, owner, org_id, "bob", reason="Lost phone", client=HOME)
    with deps.store.transaction() as tx:
        account = tx.accounts.get(bob.id)
        assert account is not None and account.two_factor_enabled
        assert len(tx.sessions.for_account(bob.id)) == 2
    assert messages_to(deps, bob.id) == []


def test_the_operator_resets_by_username(deps: Deps, reset_scene: tuple[Current, str, Person]) -> None:
    _owner, _org_id, bob = reset_scene
    assert organisations.operator_reset(deps, "nobody", reason="x") is False
    with pytest.raises(ValidationFailed):
        organisations.operator_reset(deps, "bob", reason="  ")
    assert organisations.operator_reset(deps, "BOB", reason="asked by phone, identity checked") is True
    [event] = history.recent_events(deps, bob.id, types=[EventType.TWO_FACTOR_RESET])
    assert event.data["by"] == "operator" and event.data["organisation"] == deps.policy.issuer
    with deps.store.transaction() as tx:
        account = tx.accounts.get(bob.id)
    assert account is not None and not account.two_factor_enabled
