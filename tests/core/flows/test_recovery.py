"""Recovery requests through the use cases, on a real SQLite store with a frozen clock: the
waits, what is read rather than stored, the one argon2 verify per password, the event and
its critical notice, dispatch taken once, and the owner's sign-in cancelling."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import InvalidCode, InvalidCredentials, NotFound, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows import history, recovery, sign_in
from sparekey.core.flows.recovery import Proof
from sparekey.core.models import Client, RecoveryState
from sparekey.core.policy import Policy
from tests.conftest import Argon2Runs, Person

ASKER = Client(ip="198.51.100.20", user_agent="asking browser")
WAIT = timedelta(seconds=Policy().recovery_wait_seconds)


def ask(deps: Deps, username: str = "alice") -> str:
    request_id = recovery.request(deps, username=username, client=ASKER, language="en")
    recovery.dispatch(deps, request_id)
    return request_id


def stored(deps: Deps, request_id: str) -> object:
    with deps.store.transaction() as tx:
        return tx.recovery_requests.get(request_id)


def test_the_waits_follow_what_was_proved() -> None:
    policy = Policy(recovery_wait_seconds=4000)
    assert recovery.wait_for({Proof.PASSWORD}, policy) == timedelta(seconds=4000)
    assert recovery.wait_for({Proof.EMAIL, Proof.PHONE}, policy) == timedelta(seconds=2000)
    assert recovery.wait_for({Proof.PASSWORD, Proof.CONTACT}, policy) == timedelta(seconds=2000)
    assert recovery.wait_for({Proof.SUPPORT}, policy) == timedelta(seconds=2000)
    assert recovery.wait_for(set(Proof), policy) == timedelta(seconds=1000)  # never under a quarter
    assert all(recovery.wait_for(set(p), policy) >= timedelta(seconds=1000) for p in ({Proof.EMAIL}, set()))


def test_the_default_wait_is_three_days() -> None:
    assert timedelta(days=3) == WAIT


def test_an_unknown_username_is_saved_without_an_account_and_never_written_to(deps: Deps) -> None:
    request_id = ask(deps, "nobody")
    found = stored(deps, request_id)
    assert found.account_id is None and found.state is RecoveryState.COLLECTING  # type: ignore[attr-defined]
    assert found.cancel_token_hash is None  # type: ignore[attr-defined]
    with deps.store.transaction() as tx:
        assert tx.messages.kept_by_outbox(limit=10) == []


def test_a_collecting_request_reads_as_denied_after_a_day(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    request_id = ask(deps)
    clock.advance(days=1)
    assert recovery.status(deps, request_id) == (RecoveryState.DENIED, None)
    assert recovery.add_evidence(deps, request_id, password=person.password) == (RecoveryState.DENIED, None)


def test_a_password_costs_one_argon2_verify_whatever_the_case(
    deps: Deps, person: Person, argon2_runs: Argon2Runs
) -> None:
    real, unknown = ask(deps), ask(deps, "nobody")
    cases = [(real, "wrong password"), (unknown, person.password), (real, person.password)]
    for request_id, password in cases:
        argon2_runs.reset()
        with contextlib.suppress(InvalidCredentials):
            recovery.add_evidence(deps, request_id, password=password)
        assert sum(argon2_runs.take().values()) == 1


def test_the_password_starts_the_full_wait_and_the_event_is_a_critical_notice(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    request_id = ask(deps)
    [requested] = history.recent_events(deps, person.id, types=[EventType.RECOVERY_REQUESTED])
    assert requested.notification == "recovery_requested" and requested.data["ip"] == ASKER.ip
    state, ready_at = recovery.add_evidence(deps, request_id, password=person.password)
    assert (state, ready_at) == (RecoveryState.WAITING, clock.now() + WAIT)
    found = stored(deps, request_id)
    assert found.score == 2 and set(found.evidence) == {"password"}  # type: ignore[attr-defined]


def test_wrong_answers_say_which_and_keep_the_right_ones(deps: Deps, person: Person) -> None:
    request_id = ask(deps)
    with pytest.raises(InvalidCode):
        recovery.add_evidence(deps, request_id, email_token="not-the-token", code="000000")
    with pytest.raises(InvalidCredentials):
        recovery.add_evidence(deps, request_id, password="wrong password")
    with pytest.raises(ValidationFailed):
        recovery.add_evidence(deps, request_id)
    assert stored(deps, request_id).wrong_answers == 2  # type: ignore[attr-defined]
    recovery.add_evidence(deps, request_id, password=person.password)
    assert stored(deps, request_id).wrong_answers == 2  # type: ignore[attr-defined]  # a right one is released


def test_dispatch_is_taken_once(deps: Deps, person: Person) -> None:
    request_id = ask(deps)
    recovery.dispatch(deps, request_id)
    assert len(history.recent_events(deps, person.id, types=[EventType.RECOVERY_REQUESTED])) == 1


def test_the_owner_signing_in_cancels_open_requests(deps: Deps, person: Person) -> None:
    collecting, waiting = ask(deps), ask(deps)
    recovery.add_evidence(deps, waiting, password=person.password)
    result = sign_in.start(
        deps, username=person.username, password=person.password, client=Client("127.0.0.1")
    )
    assert isinstance(result, sign_in.Authenticated)
    assert recovery.status(deps, collecting)[0] is RecoveryState.CANCELLED
    assert recovery.status(deps, waiting) == (RecoveryState.CANCELLED, None)
    [cancelled] = history.recent_events(deps, person.id, types=[EventType.RECOVERY_CANCELLED])
    assert cancelled.data["by"] == "sign_in" and cancelled.data["requests"] == 2
    sign_in.start(deps, username=person.username, password=person.password, client=Client("127.0.0.1"))
    assert len(history.recent_events(deps, person.id, types=[EventType.RECOVERY_CANCELLED])) == 1


def test_unknown_ids_and_tokens_are_not_found(deps: Deps) -> None:
    for bad in ("nope", "", "\x00" * 10, "x" * 500):
        with pytest.raises(NotFound):
            recovery.status(deps, bad)
        with pytest.raises(NotFound):
            recovery.cancel(deps, bad)
