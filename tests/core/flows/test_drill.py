"""The recovery drill through the use cases, on a real SQLite store: an open drill passes once,
for a sign-in from a stranger client (a private window keeps no client or device token) whose
second step did not need the phone's authenticator app; never with the app, from a known
client or a trusted device, or after its hour (by the frozen clock); and the readiness shows
when it last passed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.events import EventType
from sparekey.core.flows import drill, history, readiness, sign_in
from sparekey.core.flows.sessions import Current
from sparekey.core.methods import Method
from sparekey.core.models import Client
from tests.conftest import Person, current_for, totp_now

HOME = Client(ip="198.51.100.7", user_agent="home browser")
PRIVATE = Client(ip="198.51.100.7", user_agent="private window")
HOUR = 3600


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def second_step(
    deps: Deps,
    person: Person,
    code: str,
    *,
    client_tokens: Sequence[str] = (),
    trust_device: bool = False,
) -> sign_in.Authenticated:
    started = sign_in.start(
        deps, username=person.username, password=person.password, client=PRIVATE, client_tokens=client_tokens
    )
    assert isinstance(started, sign_in.SecondFactorRequired)
    return sign_in.submit_code(
        deps, flow_id=started.flow.id, code=code, client=PRIVATE, trust_device=trust_device
    )


def with_backup_code(deps: Deps, person: Person, **options: object) -> sign_in.Authenticated:
    assert person.backup_codes
    done = second_step(deps, person, person.backup_codes.pop(0), **options)  # type: ignore[arg-type]
    assert done.method_used == Method.BACKUP_CODE
    return done


def passed_events(deps: Deps, person: Person) -> list[dict[str, object]]:
    found = history.recent_events(deps, person.id, types=[EventType.RECOVERY_DRILL_PASSED])
    return [event.data for event in found]


def test_the_steps_and_the_hour(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    before = drill.status(deps, person_with_totp.id)
    assert not before.open and not before.ran_out
    assert before.last_passed_at is None and before.last_method is None

    started = drill.start(deps, signed_in(deps, person_with_totp), HOME)

    assert started.started_at == clock.now()
    assert (
        started.expires_at - started.started_at
        == timedelta(hours=1)
        == timedelta(seconds=drill.DRILL_SECONDS)
    )
    assert [step.value for step in started.steps] == [
        "open_private_window",
        "sign_in_with_password",
        "use_backup_code_or_other_way",
        "come_back_here",
    ]
    found = drill.status(deps, person_with_totp.id)
    assert found.open and (found.started_at, found.expires_at) == (started.started_at, started.expires_at)
    [event] = history.recent_events(deps, person_with_totp.id, types=[EventType.DRILL_STARTED])
    assert event.data["user_agent"] == "home browser"


def test_the_second_steps_that_count_are_those_without_the_phone_app() -> None:
    expected = {"backup_code", "sms", "voice", "email", "webauthn", "passkey"}
    assert set(drill.WITHOUT_THE_APP) == expected
    assert Method.TOTP not in drill.WITHOUT_THE_APP
    assert Method.TRUSTED_DEVICE not in drill.WITHOUT_THE_APP
    assert Method.PASSWORD not in drill.WITHOUT_THE_APP


def test_a_private_window_with_a_backup_code_passes_the_open_drill(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    drill.start(deps, signed_in(deps, person_with_totp), HOME)
    clock.advance(20 * 60)
    assert readiness.readiness(deps, person_with_totp.id).last_drill_at is None

    with_backup_code(deps, person_with_totp)

    found = drill.status(deps, person_with_totp.id)
    assert not found.open and not found.ran_out
    assert found.last_passed_at == clock.now()
    assert found.last_method == "backup_code"
    [passed] = passed_events(deps, person_with_totp)
    assert passed["method"] == "backup_code" and passed["user_agent"] == "private window"
    assert readiness.readiness(deps, person_with_totp.id).last_drill_at == clock.now()


def test_the_authenticator_app_does_not_pass(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    drill.start(deps, signed_in(deps, person_with_totp), HOME)
    clock.advance(30)  # a new time step: the sign-in above used the last one

    done = second_step(deps, person_with_totp, totp_now(deps, person_with_totp))

    assert done.method_used == Method.TOTP
    found = drill.status(deps, person_with_totp.id)
    assert found.open and found.last_passed_at is None
    assert passed_events(deps, person_with_totp) == []


def test_a_known_client_does_not_pass(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    """The owner's everyday browser, which kept its client token: not a lost-phone situation."""
    everyday = with_backup_code(deps, person_with_totp).client_token
    drill.start(deps, signed_in(deps, person_with_totp), HOME)

    with_backup_code(deps, person_with_totp, client_tokens=[everyday])

    assert drill.status(deps, person_with_totp.id).open
    assert passed_events(deps, person_with_totp) == []
    with_backup_code(deps, person_with_totp)  # the private window, after all
    assert drill.status(deps, person_with_totp.id).last_method == "backup_code"


def test_a_trusted_device_does_not_pass(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    device_token = with_backup_code(deps, person_with_totp, trust_device=True).device_token
    assert device_token is not None
    drill.start(deps, signed_in(deps, person_with_totp), HOME)

    done = sign_in.start(
        deps,
        username=person_with_totp.username,
        password=person_with_totp.password,
        client=PRIVATE,
        device_tokens=[device_token],
    )

    assert isinstance(done, sign_in.Authenticated) and done.method_used == Method.TRUSTED_DEVICE
    assert drill.status(deps, person_with_totp.id).open
    assert passed_events(deps, person_with_totp) == []


def test_trusting_the_private_window_while_passing_still_counts(deps: Deps, person_with_totp: Person) -> None:
    """The device this very sign-in asks to trust was a stranger until its second step."""
    drill.start(deps, signed_in(deps, person_with_totp), HOME)

    done = with_backup_code(deps, person_with_totp, trust_device=True)

    assert done.device_token is not None
    assert drill.status(deps, person_with_totp.id).last_method == "backup_code"


def test_a_password_alone_does_not_pass(deps: Deps, person: Person) -> None:
    drill.start(deps, signed_in(deps, person), HOME)

    done = sign_in.start(deps, username=person.username, password=person.password, client=PRIVATE)

    assert isinstance(done, sign_in.Authenticated) and done.method_used == Method.PASSWORD
    assert drill.status(deps, person.id).open
    assert passed_events(deps, person) == []


def test_not_after_the_hour(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    started = drill.start(deps, signed_in(deps, person_with_totp), HOME)
    clock.advance(HOUR)

    found = drill.status(deps, person_with_totp.id)
    assert not found.open and found.ran_out and found.expires_at == started.expires_at
    with_backup_code(deps, person_with_totp)

    assert drill.status(deps, person_with_totp.id).last_passed_at is None
    assert passed_events(deps, person_with_totp) == []
    assert readiness.readiness(deps, person_with_totp.id).last_drill_at is None


def test_just_before_the_hour_still_passes(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    drill.start(deps, signed_in(deps, person_with_totp), HOME)
    clock.advance(HOUR - 1)

    with_backup_code(deps, person_with_totp)

    assert drill.status(deps, person_with_totp.id).last_passed_at == clock.now()


def test_starting_again_starts_the_hour_over(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person_with_totp)
    drill.start(deps, current, HOME)
    clock.advance(50 * 60)
    drill.start(deps, current, HOME)
    clock.advance(50 * 60)

    with_backup_code(deps, person_with_totp)

    assert drill.status(deps, person_with_totp.id).last_passed_at == clock.now()


def test_a_drill_passes_only_once(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    drill.start(deps, signed_in(deps, person_with_totp), HOME)
    with_backup_code(deps, person_with_totp)
    passed_at = clock.now()
    clock.advance(60)

    with_backup_code(deps, person_with_totp)

    found = drill.status(deps, person_with_totp.id)
    assert not found.open and found.last_passed_at == passed_at
    assert len(passed_events(deps, person_with_totp)) == 1


def test_the_store_lets_one_sign_in_pass_a_drill(deps: Deps, person: Person, clock: FrozenClock) -> None:
    """The conditional update: of two sign-ins that both saw the drill open, one passes it."""
    store = deps.store
    now = clock.now()
    with store.transaction() as tx:
        tx.accounts.start_drill(person.id, now)
    window = now + timedelta(minutes=5) - timedelta(seconds=drill.DRILL_SECONDS)
    with store.transaction() as tx:
        first = tx.accounts.pass_drill(person.id, at=now, method="backup_code", started_after=window)
        second = tx.accounts.pass_drill(person.id, at=now, method="webauthn", started_after=window)
    assert (first, second) == (True, False)
    with store.transaction() as tx:
        account = tx.accounts.get(person.id)
        assert account is not None
        assert (account.drill_started_at, account.last_drill_at, account.last_drill_method) == (
            None,
            now,
            "backup_code",
        )
        tx.accounts.start_drill(person.id, now)
        # A drill that started before ``started_after`` has run out.
        assert not tx.accounts.pass_drill(person.id, at=now, method="sms", started_after=now)


@pytest.mark.parametrize("seconds", [0, HOUR - 1])
def test_status_is_open_inside_the_hour(deps: Deps, person: Person, clock: FrozenClock, seconds: int) -> None:
    drill.start(deps, signed_in(deps, person), HOME)
    clock.advance(seconds)
    assert drill.status(deps, person.id).open
