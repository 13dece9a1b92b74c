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


def test_the_jobs_send_what_a_lost_background_task_never_sent(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    """The server stopped between the answer and its background task: the jobs dispatch the
    request once it is a little old, once, and never an unknown username's."""
    from sparekey.core.flows import jobs

    lost = recovery.request(deps, username=person.username, client=ASKER, language="en")
    recovery.request(deps, username="nobody", client=ASKER, language="en")
    assert jobs.redispatch_recoveries(deps) == 0  # too fresh: its own task may still run
    clock.advance(seconds=jobs.DISPATCH_GRACE.total_seconds() + 1)
    assert jobs.redispatch_recoveries(deps) == 1
    assert stored(deps, lost).dispatched_at is not None  # type: ignore[attr-defined]
    assert jobs.redispatch_recoveries(deps) == 0
    with deps.store.transaction() as tx:
        requested = tx.events.for_account(person.id, types=[EventType.RECOVERY_REQUESTED])
    assert len(requested) == 1


def test_old_requests_are_forgotten_by_the_jobs(deps: Deps, person: Person, clock: FrozenClock) -> None:
    from sparekey.core.flows import jobs

    old = ask(deps, person.username)
    clock.advance(seconds=(jobs.KEEP_RECOVERY_REQUESTS - timedelta(days=1)).total_seconds())
    recent = ask(deps, person.username)
    jobs.forget_expired(deps)
    assert stored(deps, old) is not None
    clock.advance(seconds=timedelta(days=2).total_seconds())
    jobs.forget_expired(deps)
    assert stored(deps, old) is None and stored(deps, recent) is not None


PHONE_BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


def signed_in_from_a_phone(deps: Deps, person: Person) -> sign_in.Authenticated:
    result = sign_in.start(
        deps,
        username=person.username,
        password=person.password,
        client=Client("192.0.2.7", PHONE_BROWSER),
    )
    assert isinstance(result, sign_in.Authenticated)
    return result


def test_facts_about_the_account_prove_together(deps: Deps, person: Person, clock: FrozenClock) -> None:
    """The month it was made (one either way) and a browser and system it signed in from."""
    signed_in_from_a_phone(deps, person)
    made = clock.now()
    clock.advance(seconds=timedelta(days=40).total_seconds())
    request_id = ask(deps)
    wrong_month = f"{made.year - 1}-{made.month:02d}"
    with pytest.raises(InvalidCredentials):
        recovery.add_evidence(deps, request_id, created_month=wrong_month, recent_device="Chrome on Android")
    with pytest.raises(InvalidCredentials):  # the right month, a device it never used
        recovery.add_evidence(deps, request_id, created_month=f"{made:%Y-%m}", recent_device="Safari on iOS")
    assert stored(deps, request_id).evidence == {}  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed):  # one fact alone is not an answer
        recovery.add_evidence(deps, request_id, created_month=f"{made:%Y-%m}")
    state, _ = recovery.add_evidence(
        deps, request_id, created_month=f"{made:%Y-%m}", recent_device="chrome on my android phone"
    )
    assert state is RecoveryState.COLLECTING and "facts" in stored(deps, request_id).evidence  # type: ignore[attr-defined]
    state, ready_at = recovery.add_evidence(deps, request_id, password=person.password)
    assert state is RecoveryState.WAITING and ready_at == clock.now() + WAIT


def test_facts_for_an_unknown_username_are_simply_wrong(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    signed_in_from_a_phone(deps, person)
    request_id = ask(deps, "nobody")
    with pytest.raises(InvalidCredentials):
        recovery.add_evidence(
            deps, request_id, created_month=f"{clock.now():%Y-%m}", recent_device="Chrome on Android"
        )


def test_a_request_from_a_browser_that_signed_in_before_starts_with_that_proof(
    deps: Deps, person: Person
) -> None:
    from sparekey.core.flows import accounts

    client_token = signed_in_from_a_phone(deps, person).client_token
    known = recovery.request(
        deps, username=person.username, client=ASKER, language="en", client_tokens=[client_token]
    )
    assert set(stored(deps, known).evidence) == {"device"}  # type: ignore[attr-defined]
    assert stored(deps, known).state is RecoveryState.COLLECTING  # type: ignore[attr-defined]  # 1 < 2

    # The same token asks nothing of another account, nor does a forged one.
    accounts.register(deps, username="bob", password="another long passphrase")
    for username, tokens in (("bob", [client_token]), (person.username, ["forged.token"])):
        other = recovery.request(deps, username=username, client=ASKER, language="en", client_tokens=tokens)
        assert stored(deps, other).evidence == {}  # type: ignore[attr-defined]
    unknown = recovery.request(
        deps, username="nobody", client=ASKER, language="en", client_tokens=[client_token]
    )
    assert stored(deps, unknown).evidence == {}  # type: ignore[attr-defined]


def test_a_request_support_was_asked_about_stays_open_for_their_decision(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    asked, alone = ask(deps), ask(deps)
    with deps.store.transaction() as tx:
        tx.recovery_requests.set_support(asked, support_requested_at=clock.now(), support_statement="help")
    clock.advance(seconds=recovery.COLLECTING.total_seconds())
    assert recovery.status(deps, alone) == (RecoveryState.DENIED, None)
    assert recovery.status(deps, asked) == (RecoveryState.COLLECTING, None)
    clock.advance(seconds=recovery.SUPPORT_WINDOW.total_seconds())
    assert recovery.status(deps, asked) == (RecoveryState.DENIED, None)
