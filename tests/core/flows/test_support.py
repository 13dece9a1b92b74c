"""The support console through the use cases, on SQLite and PostgreSQL with a frozen clock:
who is staff, the requester's statement and its limit (also under parallel requests), the
queue and its risk signals, approval (the wait still runs, shortened) and denial with the
audit trail, questions and answers, internal notes, and what staff never see."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from sparekey.core import events
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, RateLimited, RequestClosed, StaffOnly, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, history, recovery, sign_in, support, totp_enrolment
from sparekey.core.flows.sessions import Current
from sparekey.core.flows.support import Risk
from sparekey.core.models import Client, RecoveryState
from sparekey.core.policy import Policy
from tests.conftest import Person, build_deps, current_for, totp_now

ASKER = Client(
    ip="198.51.100.20", user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
OWNERS = Client(
    ip="192.0.2.7",
    user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
)
WAIT = timedelta(seconds=Policy().recovery_wait_seconds)
STATEMENT = "I lost my phone in the sea. I made the account in March; my last sign-in was Monday."


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    """This module runs on SQLite and on PostgreSQL (the store's queue and risk queries)."""
    return build_deps(database_url, clock)


def register(deps: Deps, username: str) -> Person:
    someone = Person(username=username, password="correct horse battery staple")
    someone.id = accounts.register(deps, username=username, password=someone.password).id
    return someone


def with_totp(deps: Deps, someone: Person) -> Person:
    current = current_for(deps, someone)
    enrolment = totp_enrolment.begin(deps, current, name="Phone")  # type: ignore[arg-type]
    someone.totp_secret = enrolment.secret
    totp_enrolment.confirm(
        deps,
        current,  # type: ignore[arg-type]
        enrolment.authenticator.id,
        code=totp_now(deps, someone),
        client=OWNERS,
    )
    deps.clock.advance(30)  # type: ignore[attr-defined]
    return someone


@pytest.fixture
def owner(deps: Deps) -> Person:
    someone = register(deps, "alice")
    done = sign_in.start(deps, username="alice", password=someone.password, client=OWNERS)
    assert isinstance(done, sign_in.Authenticated)
    return someone


@pytest.fixture
def staff(deps: Deps) -> Current:
    """sam: role support, signed in with password and app."""
    sam = with_totp(deps, register(deps, "sam"))
    support.grant_role(deps, "sam", "support")
    current = current_for(deps, sam)
    assert isinstance(current, Current)
    return current


def ask(deps: Deps, username: str = "alice", client: Client = ASKER) -> str:
    request_id = recovery.request(deps, username=username, client=client, language="en")
    recovery.dispatch(deps, request_id)
    return request_id


def trail(deps: Deps, staff: Current, request_id: str) -> list[tuple[str, str | None, str | None]]:
    case = support.detail(deps, staff, request_id)
    assert case.actions is not None
    return [(entry.action, entry.actor, entry.text) for entry in case.actions]


def test_roles_are_granted_and_revoked_once_each_with_events(deps: Deps, owner: Person) -> None:
    account, roles = support.grant_role(deps, "ALICE", "support")  # the canonical name is found
    assert (account.username, roles) == ("alice", ["support"])
    assert support.grant_role(deps, "alice", "support")[1] == ["support"]
    assert support.revoke_role(deps, "alice", "support")[1] == []
    assert support.revoke_role(deps, "alice", "support")[1] == []
    kinds = [e.type for e in history.recent_events(deps, owner.id, types=["role_granted", "role_revoked"])]
    assert kinds == ["role_revoked", "role_granted"]  # newest first, one each
    with pytest.raises(ValidationFailed) as unknown_role:
        support.grant_role(deps, "alice", "admin")
    assert unknown_role.value.details == {"field": "role", "reason": "unknown", "known": ["support"]}
    with pytest.raises(NotFound):
        support.grant_role(deps, "nobody", "support")


def test_only_staff_signed_in_with_two_factors_may_look(deps: Deps, owner: Person, staff: Current) -> None:
    request_id = ask(deps)
    support.ask_support(deps, request_id, statement=STATEMENT)
    not_staff = with_totp(deps, register(deps, "mallory"))
    two_factor_stranger = current_for(deps, not_staff)
    one_factor_staff = register(deps, "pat")  # no second factor: a password-only session
    support.grant_role(deps, "pat", "support")
    one_factor = current_for(deps, one_factor_staff)
    for current in (two_factor_stranger, one_factor):
        assert not support.is_staff(deps, current)  # type: ignore[arg-type]
        for attempt in (
            lambda c: support.queue(deps, c),
            lambda c: support.detail(deps, c, request_id),
            lambda c: support.detail(deps, c, "x" * 32),  # an unknown id: the same refusal
            lambda c: support.approve(deps, c, request_id, reason="ok"),
            lambda c: support.deny(deps, c, request_id, reason="no"),
            lambda c: support.ask(deps, c, request_id, question="?"),
            lambda c: support.note(deps, c, request_id, text="n"),
        ):
            with pytest.raises(StaffOnly):
                attempt(current)
    assert support.is_staff(deps, staff)
    # A revoked role takes effect at once, on the session already open.
    support.revoke_role(deps, "sam", "support")
    with pytest.raises(StaffOnly):
        support.queue(deps, staff)
    assert recovery.status(deps, request_id)[0] is RecoveryState.COLLECTING


def test_the_requester_asks_support_at_most_three_times(deps: Deps, owner: Person, staff: Current) -> None:
    request_id = ask(deps)
    assert support.queue(deps, staff) == []  # only requests that asked support are queued
    assert recovery.requester_view(deps, request_id).support_requested_at is None
    asked_at = deps.clock.now()
    assert support.ask_support(deps, request_id, statement=f"  {STATEMENT}\r\n\x00") == (
        RecoveryState.COLLECTING,
        None,
    )
    [case] = support.queue(deps, staff)
    assert case.request.id == request_id and case.username == "alice" and case.actions_count == 1
    assert case.request.support_statement == STATEMENT and case.request.support_requested_at == asked_at
    deps.clock.advance(60)  # type: ignore[attr-defined]
    support.ask_support(deps, request_id, statement="Second thought.")
    support.ask_support(deps, request_id, statement="Third.")
    with pytest.raises(RateLimited) as limited:
        support.ask_support(deps, request_id, statement="Fourth.")
    assert limited.value.details["retry_after"] > 0
    view = recovery.requester_view(deps, request_id)
    assert view.support_requested_at == asked_at  # the first request keeps its place in the queue
    assert [text for _a, _b, text in trail(deps, staff, request_id)] == [
        STATEMENT,
        "Second thought.",
        "Third.",
    ]
    for bad, reason in (("", "missing"), (" \n\t ", "missing"), ("x" * 2001, "too_long")):
        with pytest.raises(ValidationFailed) as invalid:
            support.ask_support(deps, ask(deps), statement=bad)
        assert invalid.value.details["field"] == "statement" and invalid.value.details["reason"] == reason
    with pytest.raises(NotFound):
        support.ask_support(deps, "y" * 32, statement=STATEMENT)


def test_parallel_statements_pass_the_limit_no_more_than_three_times(deps: Deps, owner: Person) -> None:
    request_id = ask(deps)
    results: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(number: int) -> None:
        barrier.wait()
        try:
            support.ask_support(deps, request_id, statement=f"statement {number}")
            results.append("ok")
        except RateLimited:
            results.append("limited")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["limited"] * 3 + ["ok"] * 3


def test_approval_starts_the_shortened_wait_and_is_audited(
    deps: Deps, owner: Person, staff: Current, clock: FrozenClock
) -> None:
    request_id = ask(deps)
    support.ask_support(deps, request_id, statement=STATEMENT)
    clock.advance(600)
    approved_at = clock.now()
    case = support.approve(deps, staff, request_id, reason="  Called her on the number from the contract.  ")
    assert case.state is RecoveryState.WAITING
    assert case.request.ready_at == approved_at + WAIT / 2  # support shortens the wait, never to zero
    assert case.request.evidence == {"support": approved_at.isoformat()}
    assert trail(deps, staff, request_id)[-1] == (
        "approved",
        "sam",
        "Called her on the number from the contract.",
    )
    assert case.actions is not None and case.actions[-1].at == approved_at
    # Approving again adds nothing: no second proof, entry or event.
    again = support.approve(deps, staff, request_id, reason="again")
    assert again.actions_count == case.actions_count and again.request.ready_at == case.request.ready_at
    # The owner's history says that support approved, never who.
    [approval] = history.recent_events(deps, owner.id, types=["recovery_approved"])
    assert approval.data == {"by": "support"}
    assert "sam" not in repr(history.recent_events(deps, owner.id))
    # The wait runs; then the request is ready, and closed to decisions.
    clock.advance((WAIT / 2).total_seconds())
    assert recovery.status(deps, request_id) == (RecoveryState.READY, approved_at + WAIT / 2)
    with pytest.raises(RequestClosed):
        support.deny(deps, staff, request_id, reason="too late")


def test_denial_closes_the_request_and_is_audited(deps: Deps, owner: Person, staff: Current) -> None:
    request_id = ask(deps)
    support.ask_support(deps, request_id, statement=STATEMENT)
    case = support.deny(deps, staff, request_id, reason="The caller did not know the sign-up month.")
    assert case.state is RecoveryState.DENIED
    assert recovery.status(deps, request_id) == (RecoveryState.DENIED, None)
    assert trail(deps, staff, request_id)[-1] == (
        "denied",
        "sam",
        "The caller did not know the sign-up month.",
    )
    [denial] = history.recent_events(deps, owner.id, types=["recovery_denied"])
    assert denial.data == {"by": "support"}
    for decide in (
        lambda: support.deny(deps, staff, request_id, reason="again"),
        lambda: support.approve(deps, staff, request_id, reason="changed my mind"),
        lambda: support.ask(deps, staff, request_id, question="?"),
        lambda: support.ask_support(deps, request_id, statement="please"),
    ):
        with pytest.raises(RequestClosed):
            decide()
    assert support.queue(deps, staff) == []  # the open queue
    assert [c.request.id for c in support.queue(deps, staff, open_only=False)] == [request_id]
    # A note is still possible after the decision.
    support.note(deps, staff, request_id, text="Closed after a phone call.")
    assert trail(deps, staff, request_id)[-1] == ("note", "sam", "Closed after a phone call.")
    with pytest.raises(ValidationFailed):
        support.deny(deps, staff, ask(deps), reason="   ")


def test_a_question_the_requester_answers(deps: Deps, owner: Person, staff: Current) -> None:
    request_id = ask(deps)
    support.ask_support(deps, request_id, statement=STATEMENT)
    support.ask(deps, staff, request_id, question="Which city did you sign up from?")
    assert recovery.requester_view(deps, request_id).support_question == "Which city did you sign up from?"
    support.note(deps, staff, request_id, text="Internal: she sounded unsure.")
    support.ask_support(deps, request_id, statement="Osaka.")
    view = recovery.requester_view(deps, request_id)
    assert view.support_question is None and view.support_requested_at is not None
    assert "Internal" not in repr(view)  # a note is for staff only
    assert [(a, actor) for a, actor, _t in trail(deps, staff, request_id)] == [
        ("support_requested", None),
        ("asked", "sam"),
        ("note", "sam"),
        ("support_requested", None),
    ]
    assert support.detail(deps, staff, request_id).request.support_statement == "Osaka."


def test_an_unknown_usernames_request_reads_as_unknown_and_can_only_be_denied(
    deps: Deps, owner: Person, staff: Current
) -> None:
    request_id = ask(deps, "nobody-by-this-name")
    support.ask_support(deps, request_id, statement=STATEMENT)
    [case] = support.queue(deps, staff)
    assert case.username is None and case.risk == [Risk.UNKNOWN_ACCOUNT]
    with pytest.raises(RequestClosed) as never:
        support.approve(deps, staff, request_id, reason="looks fine")
    assert never.value.details == {"reason": "unknown_account"}
    assert support.deny(deps, staff, request_id, reason="No such account.").state is RecoveryState.DENIED


def test_risk_signals(deps: Deps, owner: Person, staff: Current, clock: FrozenClock) -> None:
    from_the_owners_computer = ask(deps, client=OWNERS)
    support.ask_support(deps, from_the_owners_computer, statement=STATEMENT)
    assert support.detail(deps, staff, from_the_owners_computer).risk == []
    clock.advance(timedelta(days=40).total_seconds())  # that request no longer counts as recent
    with deps.store.transaction() as tx:
        events.record(tx, deps.clock, owner.id, EventType.PASSWORD_CHANGED, OWNERS)
    clock.advance(timedelta(days=13).total_seconds())
    first = ask(deps)
    assert support.detail(deps, staff, first).risk == [
        Risk.NEW_ADDRESS,
        Risk.NEW_DEVICE,
        Risk.RECENT_PASSWORD_CHANGE,
    ]
    ask(deps)
    clock.advance(timedelta(days=2).total_seconds())  # the password change is 15 days old
    third = ask(deps, client=Client(ip=OWNERS.ip, user_agent=ASKER.user_agent))
    assert support.detail(deps, staff, third).risk == [Risk.NEW_DEVICE, Risk.MANY_REQUESTS]


def test_staff_never_see_a_secret(deps: Deps, owner: Person, staff: Current) -> None:
    request_id = ask(deps)
    support.ask_support(deps, request_id, statement=STATEMENT)
    with deps.store.transaction() as tx:
        stored = tx.recovery_requests.get(request_id)
    assert stored is not None and stored.email_token_hash and stored.code_hash and stored.cancel_token_hash
    case = support.detail(deps, staff, request_id)
    assert case.actions is not None
    shown = repr([case.username, case.state, case.risk, case.actions, case.request.evidence])
    for secret in (stored.email_token_hash, stored.code_hash, stored.cancel_token_hash, owner.password):
        assert secret not in shown
