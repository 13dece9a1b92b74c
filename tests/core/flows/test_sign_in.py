"""The sign-in use cases on a real SQLite store, with a frozen clock: no web framework."""

from __future__ import annotations

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    ClockDriftSuspected,
    CodeReplayed,
    FlowExpired,
    FlowNotFound,
    InvalidCode,
    InvalidCredentials,
    MalformedCode,
    RateLimited,
)
from sparekey.core.events import EventType
from sparekey.core.flows import history, sessions, sign_in
from sparekey.core.models import Client
from tests.conftest import Argon2Runs, Person, totp_now

HOME = Client(ip="198.51.100.7", user_agent="pytest")


def start_flow(deps: Deps, person: Person) -> str:
    result = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(result, sign_in.SecondFactorRequired)
    return result.flow.id


def test_password_only_account_is_signed_in_at_once(deps: Deps, person: Person) -> None:
    result = sign_in.start(deps, username="ALICE", password=person.password, client=HOME)
    assert isinstance(result, sign_in.Authenticated)
    assert len(result.session_token) >= 22  # >= 128 bits, URL-safe
    current = sessions.authenticate(deps, result.session_token)
    assert current.account.id == person.id
    latest = history.recent_events(deps, person.id)[0]
    assert (latest.type, latest.data["result"], latest.data["method"]) == (
        EventType.SIGN_IN,
        "success",
        "password",
    )


def test_unknown_user_and_wrong_password_fail_alike(deps: Deps, person: Person) -> None:
    with pytest.raises(InvalidCredentials) as wrong_password:
        sign_in.start(deps, username=person.username, password="not the password", client=HOME)
    with pytest.raises(InvalidCredentials) as unknown:
        sign_in.start(deps, username="nobody-here", password="not the password", client=HOME)
    assert wrong_password.value.details == unknown.value.details == {}


def test_argon2_runs_counts_the_c_binding(argon2_runs: Argon2Runs) -> None:
    """The counter behind the "one argon2 run per attempt" tests sees real computations."""
    import argon2
    from argon2.low_level import Type, hash_secret_raw

    assert argon2_runs.take() == {}
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    stored = hasher.hash("x")
    assert argon2_runs.take() == {"argon2_hash": 1}
    assert hasher.verify(stored, "x")
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        hasher.verify(stored, "y")
    assert argon2_runs.take() == {"argon2_verify": 2}
    hash_secret_raw(b"x", b"salt1234", time_cost=1, memory_cost=64, parallelism=1, hash_len=32, type=Type.ID)
    hash_secret_raw(b"y", b"salt1234", time_cost=1, memory_cost=64, parallelism=1, hash_len=32, type=Type.ID)
    assert argon2_runs.take() == {"argon2_hash": 2}
    assert hasher.check_needs_rehash(stored) is False  # parsing a hash is not a run
    assert argon2_runs.take() == {}


@pytest.mark.parametrize(
    ("username", "password", "signs_in"),
    [
        ("alice", "correct horse battery staple", True),
        ("alice", "not the password", False),
        ("nobody-here", "whatever-123", False),  # the dummy verification
        ("alice", "x" * 5000, False),  # longer than the sign-in input cap
        ("nobody-here", "x" * 5000, False),
    ],
    ids=["right-password", "wrong-password", "unknown-username", "long-password", "unknown-long"],
)
def test_each_password_attempt_is_one_argon2_verify(
    deps: Deps, person: Person, argon2_runs: Argon2Runs, username: str, password: str, signs_in: bool
) -> None:
    """A password attempt costs exactly one argon2 verification, whoever asks and whatever the
    answer: a right password, a wrong one and an unknown username take the same work (so the
    time does not tell whether the account exists), and no attempt costs more than one."""
    argon2_runs.reset()
    if signs_in:
        assert isinstance(
            sign_in.start(deps, username=username, password=password, client=HOME), sign_in.Authenticated
        )
    else:
        with pytest.raises(InvalidCredentials):
            sign_in.start(deps, username=username, password=password, client=HOME)
    assert argon2_runs.take() == {"argon2_verify": 1}


def test_first_step_of_a_2fa_account_is_one_argon2_verify(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs
) -> None:
    argon2_runs.reset()
    start_flow(deps, person_with_totp)
    assert argon2_runs.take() == {"argon2_verify": 1}


def test_second_factor_flow_with_totp(deps: Deps, person_with_totp: Person) -> None:
    result = sign_in.start(
        deps, username=person_with_totp.username, password=person_with_totp.password, client=HOME
    )
    assert isinstance(result, sign_in.SecondFactorRequired)
    assert [m["type"] for m in result.methods] == ["totp", "backup_code"]
    assert result.methods[1]["remaining"] == 10
    assert (result.flow.expires_at - deps.clock.now()).total_seconds() == 600
    done = sign_in.submit_code(
        deps, flow_id=result.flow.id, code=totp_now(deps, person_with_totp), client=HOME
    )
    assert done.method_used == "totp"
    with pytest.raises(FlowExpired):  # a completed flow cannot be used twice
        sign_in.submit_code(deps, flow_id=result.flow.id, code=totp_now(deps, person_with_totp), client=HOME)


def test_totp_replay_is_refused_and_recorded(deps: Deps, person_with_totp: Person) -> None:
    code = totp_now(deps, person_with_totp)
    sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
    with pytest.raises(CodeReplayed):
        sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
    types = [e.type for e in history.recent_events(deps, person_with_totp.id)]
    assert EventType.TOTP_REPLAY_REFUSED in types


@pytest.mark.parametrize("offset_seconds", [300, -300, 600, -240])
def test_clock_drift_is_diagnosed_not_accepted(
    deps: Deps, person_with_totp: Person, offset_seconds: int
) -> None:
    code = totp_now(deps, person_with_totp, offset_seconds=offset_seconds)
    with pytest.raises(ClockDriftSuspected) as caught:
        sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
    assert caught.value.details == {"offset_seconds": offset_seconds}


def test_small_consistent_drift_is_learned(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    for _ in range(2):  # two sign-ins from a phone 30 s fast
        code = totp_now(deps, person_with_totp, offset_seconds=30)
        sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
        clock.advance(30)
    # Now a phone 60 s fast is inside the (shifted) window.
    code = totp_now(deps, person_with_totp, offset_seconds=60)
    done = sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
    assert done.method_used == "totp"


@pytest.mark.parametrize("code", ["", "abcdef", "●●●●●●", "١٢٣٤٥٦", "12345", "x" * 300])
def test_malformed_codes_are_failures_that_count(deps: Deps, person_with_totp: Person, code: str) -> None:
    flow_id = start_flow(deps, person_with_totp)
    with pytest.raises(MalformedCode):
        sign_in.submit_code(deps, flow_id=flow_id, code=code, client=HOME)
    flow, _, _ = sign_in.live_flow(deps, flow_id)
    assert flow.attempts == 1


def test_full_width_totp_code_is_accepted(deps: Deps, person_with_totp: Person) -> None:
    code = totp_now(deps, person_with_totp)
    wide = "".join(chr(ord(c) + 0xFEE0) for c in code[:3]) + " " + code[3:]
    done = sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=wide, client=HOME)
    assert done.method_used == "totp"


def test_flow_dies_after_five_wrong_codes(deps: Deps, person_with_totp: Person) -> None:
    flow_id = start_flow(deps, person_with_totp)
    for _ in range(5):
        with pytest.raises(InvalidCode):
            sign_in.submit_code(deps, flow_id=flow_id, code="000000", client=HOME)
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)


def test_unknown_and_expired_flows(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    with pytest.raises(FlowNotFound):
        sign_in.submit_code(deps, flow_id="no-such-flow", code="123456", client=HOME)
    flow_id = start_flow(deps, person_with_totp)
    clock.advance(601)
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)


def test_failures_count_against_the_account_not_the_flow(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    for _ in range(2):
        flow_id = start_flow(deps, person_with_totp)
        for _ in range(5):
            with pytest.raises(InvalidCode):
                sign_in.submit_code(deps, flow_id=flow_id, code="000000", client=HOME)
    flow_id = start_flow(deps, person_with_totp)  # a new flow does not reset the count
    with pytest.raises(RateLimited) as limited:
        sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)
    assert limited.value.details["retry_after"] == 60
    assert EventType.RATE_LIMITED in [e.type for e in history.recent_events(deps, person_with_totp.id)]
    # The back-off is temporary: after it, the owner gets in and the count resets.
    clock.advance(61)
    done = sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)
    assert done.method_used == "totp"


def test_back_off_doubles_and_stops_at_an_hour(deps: Deps, person: Person, clock: FrozenClock) -> None:
    waits = []
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            sign_in.start(deps, username=person.username, password="wrong-password", client=HOME)
    for _ in range(8):
        with pytest.raises(RateLimited) as limited:
            sign_in.start(deps, username=person.username, password=person.password, client=HOME)
        waits.append(limited.value.details["retry_after"])
        clock.advance(limited.value.details["retry_after"])
        with pytest.raises(InvalidCredentials):
            sign_in.start(deps, username=person.username, password="wrong-password", client=HOME)
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_unknown_usernames_are_throttled_like_real_ones(deps: Deps) -> None:
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            sign_in.start(deps, username="ghost", password="wrong-password", client=HOME)
    with pytest.raises(RateLimited):
        sign_in.start(deps, username="ghost", password="wrong-password", client=HOME)


def test_client_address_limit(deps: Deps, person: Person) -> None:
    from dataclasses import replace

    from sparekey.store.address_limiter import DatabaseAddressLimiter

    deps.policy = replace(deps.policy, ip_failure_limit=3)
    deps.addresses = DatabaseAddressLimiter(deps.clock, limit=3, window_seconds=900)
    for name in ("a-user", "b-user", "c-user"):
        with pytest.raises(InvalidCredentials):
            sign_in.start(deps, username=name, password="wrong-password", client=HOME)
    with pytest.raises(RateLimited) as limited:
        sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert 1 <= limited.value.details["retry_after"] <= 900
    elsewhere = Client(ip="203.0.113.9")
    assert isinstance(
        sign_in.start(deps, username=person.username, password=person.password, client=elsewhere),
        sign_in.Authenticated,
    )


def test_failed_code_events_name_the_kind_recognised(deps: Deps, person_with_totp: Person) -> None:
    flow_id = start_flow(deps, person_with_totp)
    for code in ("000000", "●●●●●●"):
        with pytest.raises((InvalidCode, MalformedCode)):
            sign_in.submit_code(deps, flow_id=flow_id, code=code, client=HOME)
    failures = [
        e.data for e in history.recent_events(deps, person_with_totp.id) if e.type == EventType.SIGN_IN
    ][:2]
    assert [(f["method"], f["error_code"], f["result"]) for f in failures] == [
        ("unrecognised", "malformed_code", "failure"),
        ("totp", "invalid_code", "failure"),
    ]


def test_a_code_refused_as_drift_never_works_later(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    """A guess answered "your clock is off" is a guess at a future code: when that time comes,
    the same code is refused as replayed, and both answers count as failed attempts."""
    future = totp_now(deps, person_with_totp, offset_seconds=90)
    flow_id = start_flow(deps, person_with_totp)
    with pytest.raises(ClockDriftSuspected) as drift:
        sign_in.submit_code(deps, flow_id=flow_id, code=future, client=HOME)
    assert drift.value.details == {"offset_seconds": 90}
    clock.advance(90)
    with pytest.raises(CodeReplayed):
        sign_in.submit_code(deps, flow_id=flow_id, code=future, client=HOME)
    flow, _, _ = sign_in.live_flow(deps, flow_id)
    assert flow.attempts == 2
    with deps.store.transaction() as tx:
        counted = tx.throttles.get(f"code:{person_with_totp.id}")
    assert counted is not None and counted.failures == 2
    clock.advance(30)  # the next time step's code is a different code, and works
    done = sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)
    assert done.method_used == "totp"
