"""Recovery contacts through the use cases, on a real SQLite store with a frozen clock:
naming, accepting, declining and removing; who is asked during a recovery (accepted
contacts only, each once, by e-mail in their language); what a contact's answer proves
(a confirmation halves the wait, a refusal nothing, a closed request nothing); answered
once; another person's ask is not found; and the owner's account hears of every step."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, SudoRequired, TooManyContacts, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, delivery, history, preferences, recovery, recovery_contacts
from sparekey.core.flows.recovery_contacts import Answer, Entry
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client, Contact, RecoveryState
from sparekey.core.policy import Policy
from tests.conftest import Person, build_deps, current_for
from tests.store.test_repositories import race

ASKER = Client(ip="198.51.100.20", user_agent="asking browser")
OWNER_BROWSER = Client(ip="192.0.2.7", user_agent="owner browser")
WAIT = timedelta(seconds=Policy().recovery_wait_seconds)


def someone(deps: Deps, username: str, *, email: str | None = None, language: str | None = None) -> Current:
    """Another account (signed in), with a verified e-mail address when given."""
    made = Person(username=username, password="another long passphrase 42")
    account = accounts.register(deps, username=made.username, password=made.password)
    with deps.store.transaction() as tx:
        if email:
            contact = Contact(
                id=new_id(), account_id=account.id, kind="email", address=email, created_at=deps.clock.now()
            )
            tx.contacts.add(contact)
            tx.contacts.mark_verified(contact.id, deps.clock.now())
    if language:
        preferences.choose_language(deps, account.id, language)
    current = current_for(deps, made)
    assert isinstance(current, Current)
    return current


def owner_of(deps: Deps, person: Person) -> Current:
    current = current_for(deps, person)
    assert isinstance(current, Current)
    return current


def accepted_contact(deps: Deps, owner: Current, username: str, **details: str) -> Current:
    contact = someone(deps, username, **details)
    recovery_contacts.name(deps, owner, username=username, client=OWNER_BROWSER)
    [naming] = [e for e in recovery_contacts.named_me(deps, contact) if e.username == owner.account.username]
    recovery_contacts.accept(deps, contact, naming.id)
    return contact


def request(deps: Deps, username: str = "alice") -> str:
    request_id = recovery.request(deps, username=username, client=ASKER, language="en")
    recovery.dispatch(deps, request_id)
    return request_id


def the_ask(deps: Deps, contact: Current) -> str:
    [ask] = recovery_contacts.open_asks(deps, contact)
    return ask.id


def events_of(deps: Deps, account_id: str, kind: EventType) -> list[dict[str, object]]:
    return [e.data for e in history.recent_events(deps, account_id, types=[kind])]


def mails(deps: Deps) -> list[tuple[str, str, str, str]]:
    """(to, kind, subject, text) of what the outbox kept, oldest first."""
    with deps.store.transaction() as tx:
        kept = tx.messages.kept_by_outbox(limit=200)
    opened = [(m, delivery.opened(deps, m)) for m in reversed(kept)]
    return [(m.to, m.kind, body.subject, body.text) for m, body in opened]


def test_naming_accepting_and_what_each_side_sees(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = someone(deps, "bob")
    recovery_contacts.name(deps, owner, username="Bob", client=OWNER_BROWSER)  # case-mapped
    [mine] = recovery_contacts.my_contacts(deps, owner)
    assert (mine.username, mine.accepted) == ("bob", False)
    [named] = recovery_contacts.named_me(deps, bob)
    assert named == Entry(id=mine.id, username="alice", accepted=False)
    assert recovery_contacts.accept(deps, bob, named.id) == Entry(mine.id, "alice", True)
    assert recovery_contacts.accept(deps, bob, named.id) == Entry(mine.id, "alice", True)  # once is enough
    assert recovery_contacts.my_contacts(deps, owner) == [Entry(mine.id, "bob", True)]
    [added] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ADDED)
    assert added["contact"] == "bob" and added["ip"] == OWNER_BROWSER.ip
    [accepted] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ACCEPTED)
    assert accepted == {"contact": "bob"}  # never the contact's address or device
    assert history.recent_events(deps, bob.account.id, types=[EventType.RECOVERY_CONTACT_ACCEPTED]) == []


def test_an_unknown_name_answers_the_same_and_is_never_anyone(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    assert recovery_contacts.name(deps, owner, username="nobody-by-this-name", client=OWNER_BROWSER) is None
    assert recovery_contacts.my_contacts(deps, owner) == []
    [added] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ADDED)
    assert added["contact"] == "nobody-by-this-name"
    nobody = someone(deps, "nobody-by-this-name")  # registered later: not named by that
    assert recovery_contacts.named_me(deps, nobody) == []


def test_at_most_two_never_oneself_and_naming_twice_adds_nothing(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    for name in ("bob", "carol", "dave"):
        someone(deps, name)
    with pytest.raises(ValidationFailed) as refused:
        recovery_contacts.name(deps, owner, username="ALICE", client=OWNER_BROWSER)
    assert refused.value.details == {"field": "username", "reason": "self"}
    with pytest.raises(ValidationFailed):
        recovery_contacts.name(deps, owner, username="", client=OWNER_BROWSER)
    recovery_contacts.name(deps, owner, username="bob", client=OWNER_BROWSER)
    recovery_contacts.name(deps, owner, username="bob", client=OWNER_BROWSER)
    assert [e.username for e in recovery_contacts.my_contacts(deps, owner)] == ["bob"]
    recovery_contacts.name(deps, owner, username="carol", client=OWNER_BROWSER)
    with pytest.raises(TooManyContacts) as full:
        recovery_contacts.name(deps, owner, username="dave", client=OWNER_BROWSER)
    assert full.value.details == {"maximum": 2} and full.value.status == 409
    assert [e.username for e in recovery_contacts.my_contacts(deps, owner)] == ["bob", "carol"]


def test_naming_needs_sudo_while_two_step_verification_is_on(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    owner = owner_of(deps, person_with_totp)
    someone(deps, "bob")
    with pytest.raises(SudoRequired):
        recovery_contacts.name(deps, owner, username="bob", client=OWNER_BROWSER)
    with pytest.raises(SudoRequired):  # the same for a name that is nobody's
        recovery_contacts.name(deps, owner, username="nobody", client=OWNER_BROWSER)
    assert recovery_contacts.my_contacts(deps, owner) == []


def test_only_accepted_contacts_are_asked_by_mail_in_their_language(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob", email="bob@example.org", language="ja")
    carol = someone(deps, "carol", email="carol@example.org")
    recovery_contacts.name(deps, owner, username="carol", client=OWNER_BROWSER)  # never accepts
    request_id = request(deps)
    [ask] = recovery_contacts.open_asks(deps, bob)
    assert (ask.username, ask.asked_at) == ("alice", deps.clock.now())
    assert recovery_contacts.open_asks(deps, carol) == []
    [(to, kind, subject, text)] = [m for m in mails(deps) if m[1] == "recovery_contact_ask"]
    assert (to, kind) == ("bob@example.org", "recovery_contact_ask")
    assert subject == "sparekey: alice さんがアカウントの復旧を試みています"
    assert "http://localhost:8000/security/recovery-contacts" in text
    assert "/recovery/" not in text and request_id not in text  # no link that acts
    assert not any(m[0] == "carol@example.org" for m in mails(deps) if m[1] != "contact_code")
    [asked] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ASKED)
    assert asked == {"contact": "bob", "ip": ASKER.ip, "user_agent": ASKER.user_agent}  # the requester's
    [event] = history.recent_events(deps, person.id, types=[EventType.RECOVERY_CONTACT_ASKED])
    assert event.notification == "recovery_contact_asked"


def test_a_request_for_a_stranger_asks_nobody(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob", email="bob@example.org")
    request(deps, "nobody-by-this-name")
    assert recovery_contacts.open_asks(deps, bob) == []
    assert not [m for m in mails(deps) if m[1] == "recovery_contact_ask"]


def test_a_confirmation_with_the_password_halves_the_wait(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    request_id = request(deps)
    assert recovery.add_evidence(deps, request_id, password=person.password) == (
        RecoveryState.WAITING,
        clock.now() + WAIT,
    )
    clock.advance(60)
    recovery_contacts.answer(deps, bob, the_ask(deps, bob), answer=Answer.CONFIRMED)
    assert recovery.status(deps, request_id) == (RecoveryState.WAITING, clock.now() + WAIT / 2)
    assert recovery.wait_for({recovery.Proof.PASSWORD, recovery.Proof.CONTACT}, deps.policy) == WAIT / 2
    [answered] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ANSWERED)
    assert answered["contact"] == "bob" and answered["answer"] == "confirmed"
    assert answered["ip"] == ASKER.ip  # the requester's, never the contact's


def test_a_confirmation_alone_reaches_waiting(deps: Deps, person: Person, clock: FrozenClock) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    request_id = request(deps)
    recovery_contacts.answer(deps, bob, the_ask(deps, bob), answer=Answer.CONFIRMED)
    assert recovery.status(deps, request_id) == (RecoveryState.WAITING, clock.now() + WAIT / 2)
    [proved] = events_of(deps, person.id, EventType.RECOVERY_EVIDENCE_ADDED)
    assert proved["proofs"] == ["contact"]


def test_declining_proves_nothing(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    request_id = request(deps)
    recovery_contacts.answer(deps, bob, the_ask(deps, bob), answer=Answer.DECLINED)
    assert recovery.status(deps, request_id) == (RecoveryState.COLLECTING, None)
    assert events_of(deps, person.id, EventType.RECOVERY_EVIDENCE_ADDED) == []
    [answered] = events_of(deps, person.id, EventType.RECOVERY_CONTACT_ANSWERED)
    assert answered["answer"] == "declined"
    assert recovery_contacts.open_asks(deps, bob) == []


def test_an_ask_is_answered_once(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    request_id = request(deps)
    ask_id = the_ask(deps, bob)
    recovery_contacts.answer(deps, bob, ask_id, answer=Answer.DECLINED)
    recovery_contacts.answer(deps, bob, ask_id, answer=Answer.CONFIRMED)  # too late: no error, no effect
    assert recovery.status(deps, request_id) == (RecoveryState.COLLECTING, None)
    assert len(events_of(deps, person.id, EventType.RECOVERY_CONTACT_ANSWERED)) == 1
    with deps.store.transaction() as tx:
        [stored] = tx.recovery_contacts.asks_for_request(request_id)
    assert stored.answer == "declined"


def test_a_closed_request_can_be_answered_and_proves_nothing(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    request_id = request(deps)
    ask_id = the_ask(deps, bob)
    current_for(deps, person)  # the owner signs in normally: the request is cancelled
    assert recovery.status(deps, request_id)[0] is RecoveryState.CANCELLED
    assert recovery_contacts.open_asks(deps, bob) == []  # nothing left to answer usefully
    recovery_contacts.answer(deps, bob, ask_id, answer=Answer.CONFIRMED)
    assert recovery.status(deps, request_id) == (RecoveryState.CANCELLED, None)
    assert events_of(deps, person.id, EventType.RECOVERY_EVIDENCE_ADDED) == []


def test_another_persons_ask_or_naming_is_not_found_and_nothing_changes(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    carol = someone(deps, "carol")
    request_id = request(deps)
    ask_id = the_ask(deps, bob)
    [naming] = recovery_contacts.named_me(deps, bob)
    for bad in (ask_id, "0" * 24, "", "x" * 500, "\x00"):
        with pytest.raises(NotFound):
            recovery_contacts.answer(deps, carol, bad, answer=Answer.CONFIRMED)
    with pytest.raises(NotFound):
        recovery_contacts.answer(deps, owner, ask_id, answer=Answer.CONFIRMED)  # not even the owner
    for act in (recovery_contacts.accept, recovery_contacts.stop):
        with pytest.raises(NotFound):
            act(deps, carol, naming.id)
        with pytest.raises(NotFound):
            act(deps, owner, naming.id)  # the owner removes, never accepts for the contact
    with pytest.raises(NotFound):
        recovery_contacts.remove(deps, carol, naming.id, client=OWNER_BROWSER)
    with pytest.raises(NotFound):
        recovery_contacts.remove(deps, bob, naming.id, client=OWNER_BROWSER)  # the contact stops instead
    assert recovery.status(deps, request_id) == (RecoveryState.COLLECTING, None)
    assert [a.id for a in recovery_contacts.open_asks(deps, bob)] == [ask_id]
    assert recovery_contacts.my_contacts(deps, owner) == [Entry(naming.id, "bob", True)]


def test_removing_declining_and_stopping(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    carol = someone(deps, "carol")
    recovery_contacts.name(deps, owner, username="carol", client=OWNER_BROWSER)
    [pending] = recovery_contacts.named_me(deps, carol)
    recovery_contacts.stop(deps, carol, pending.id)  # declines
    assert recovery_contacts.named_me(deps, carol) == []
    request(deps)
    ask_id = the_ask(deps, bob)
    [mine] = recovery_contacts.my_contacts(deps, owner)
    recovery_contacts.remove(deps, owner, mine.id, client=OWNER_BROWSER)
    assert recovery_contacts.my_contacts(deps, owner) == recovery_contacts.named_me(deps, bob) == []
    with pytest.raises(NotFound):  # the asks went with it
        recovery_contacts.answer(deps, bob, ask_id, answer=Answer.CONFIRMED)
    removed = events_of(deps, person.id, EventType.RECOVERY_CONTACT_REMOVED)
    assert [(e["contact"], e["by"]) for e in removed] == [("bob", "owner"), ("carol", "contact")]


def test_a_contact_stops_being_one(deps: Deps, person: Person) -> None:
    owner = owner_of(deps, person)
    bob = accepted_contact(deps, owner, "bob")
    [naming] = recovery_contacts.named_me(deps, bob)
    recovery_contacts.stop(deps, bob, naming.id)
    assert recovery_contacts.my_contacts(deps, owner) == []
    request(deps)
    assert recovery_contacts.open_asks(deps, bob) == []


def test_parallel_namings_stop_at_two(database_url: str, clock: FrozenClock) -> None:
    """Four names at once, on SQLite and PostgreSQL: two are named, the others are refused."""
    deps = build_deps(database_url, clock)
    alice = Person(username="alice", password="correct horse battery staple")
    accounts.register(deps, username=alice.username, password=alice.password)
    owner = owner_of(deps, alice)
    names = ["bob", "carol", "dave", "erin"]
    for username in names:
        accounts.register(deps, username=username, password="another long passphrase 42")

    def attempt() -> bool:
        try:
            recovery_contacts.name(deps, owner, username=names.pop(), client=OWNER_BROWSER)
        except TooManyContacts:
            return False
        return True

    assert race(4, attempt) == [False, False, True, True]
    assert len(recovery_contacts.my_contacts(deps, owner)) == 2
