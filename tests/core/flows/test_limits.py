"""Brute-force limits as an attacker meets them, and as the owner must not.

* Strangers who know the username cannot lock the owner's known clients (client tokens) or
  the owner's own session (sudo) out.
* Parallel attempts cannot get past a limit: each is counted before it is checked, so the
  number of real password checks (argon2 runs) stays at the limit, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import InvalidCode, InvalidCredentials, RateLimited, SparekeyError
from sparekey.core.events import EventType
from sparekey.core.flows import history, sign_in, sudo
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from tests.conftest import Argon2Runs, Person, build_deps, current_for, totp_now

OWNER = Client(ip="198.51.100.7", user_agent="owner's laptop")
LIMIT = 10  # the default: consecutive failures before a key is limited


def stranger(n: int) -> Client:
    return Client(ip=f"203.0.113.{n % 250 + 1}", user_agent="curl")


def known_token(deps: Deps, person: Person) -> str:
    """The owner signs in once from their laptop and keeps the client token."""
    result = sign_in.start(deps, username=person.username, password=person.password, client=OWNER)
    if isinstance(result, sign_in.SecondFactorRequired):
        result = sign_in.submit_code(deps, flow_id=result.flow.id, code=totp_now(deps, person), client=OWNER)
    assert result.client_token
    return result.client_token


def fail_password(
    deps: Deps, person: Person, client: Client, times: int, tokens: list[str] | None = None
) -> None:
    for _ in range(times):
        with pytest.raises((InvalidCredentials, RateLimited)):
            sign_in.start(
                deps,
                username=person.username,
                password="not the password",
                client=client,
                client_tokens=tokens or [],
            )


def test_strangers_cannot_keep_the_owner_out(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = known_token(deps, person)
    # Strangers keep failing from many addresses, and keep re-locking the username.
    for hour in range(3):
        fail_password(deps, person, stranger(hour), LIMIT + 2)
        with pytest.raises(RateLimited):
            sign_in.start(deps, username=person.username, password=person.password, client=stranger(99))
        # The owner's laptop presents its token: its own count, untouched by all of that.
        fail_password(deps, person, OWNER, 1, [token])  # a typo of the owner's own
        result = sign_in.start(
            deps, username=person.username, password=person.password, client=OWNER, client_tokens=[token]
        )
        assert isinstance(result, sign_in.Authenticated)
        assert result.client_token == token  # the same client, still known
        clock.advance(3600)
    # The owner's success does not clear the strangers' count: they are still limited.
    fail_password(deps, person, stranger(7), 1)
    with pytest.raises(RateLimited):
        sign_in.start(deps, username=person.username, password=person.password, client=stranger(8))


def test_a_known_client_that_fails_too_often_is_limited_itself(deps: Deps, person: Person) -> None:
    token = known_token(deps, person)
    fail_password(deps, person, OWNER, LIMIT, [token])
    with pytest.raises(RateLimited) as limited:
        sign_in.start(
            deps, username=person.username, password=person.password, client=OWNER, client_tokens=[token]
        )
    assert limited.value.details["retry_after"] == 60
    # ... and only itself: a new client of the owner's is not limited by it.
    result = sign_in.start(deps, username=person.username, password=person.password, client=stranger(1))
    assert isinstance(result, sign_in.Authenticated) and result.client_token != token
    kinds = [e.type for e in history.recent_events(deps, person.id)]
    assert EventType.RATE_LIMITED in kinds


def test_tokens_of_other_accounts_and_forged_tokens_are_strangers(deps: Deps, person: Person) -> None:
    from sparekey.core.flows import accounts

    accounts.register(deps, username="mallory", password="a different passphrase")
    mallory = Person(username="mallory", password="a different passphrase")
    mallorys_token = known_token(deps, mallory)
    real = known_token(deps, person)
    client_id, _, tag = real.partition(".")
    forged = [mallorys_token, f"{client_id}.{'A' * len(tag)}", f"{'0' * 24}.{tag}", "x" * 5000, ""]
    fail_password(deps, person, stranger(3), LIMIT)
    with pytest.raises(RateLimited):
        sign_in.start(
            deps, username=person.username, password=person.password, client=stranger(4), client_tokens=forged
        )
    result = sign_in.start(
        deps,
        username=person.username,
        password=person.password,
        client=OWNER,
        client_tokens=[*forged[:4], real],
    )
    assert isinstance(result, sign_in.Authenticated)


def test_a_stale_known_client_is_a_stranger_again(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = known_token(deps, person)
    clock.advance(deps.policy.known_client_seconds + 1)
    fail_password(deps, person, stranger(5), LIMIT)
    with pytest.raises(RateLimited):
        sign_in.start(
            deps, username=person.username, password=person.password, client=OWNER, client_tokens=[token]
        )


def test_a_known_client_in_use_stays_known(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = known_token(deps, person)
    for _ in range(3):  # 900 days in all, but never 400 without a sign-in
        clock.advance(300 * 86400)
        result = sign_in.start(
            deps, username=person.username, password=person.password, client=OWNER, client_tokens=[token]
        )
        assert isinstance(result, sign_in.Authenticated) and result.client_token == token


def test_strangers_failing_codes_cannot_limit_the_owners_code_step(
    deps: Deps, person_with_totp: Person
) -> None:
    """Someone with the password (phished) fails codes; the owner's laptop still gets in."""
    owner = person_with_totp
    token = known_token(deps, owner)
    deps.clock.advance(30)  # type: ignore[attr-defined]
    for _ in range(3):
        flow = sign_in.start(deps, username=owner.username, password=owner.password, client=stranger(9))
        assert isinstance(flow, sign_in.SecondFactorRequired)
        for _ in range(5):
            with pytest.raises((InvalidCode, RateLimited)):
                sign_in.submit_code(deps, flow_id=flow.flow.id, code="000000", client=stranger(9))
    stranger_flow = sign_in.start(deps, username=owner.username, password=owner.password, client=stranger(9))
    assert isinstance(stranger_flow, sign_in.SecondFactorRequired)
    with pytest.raises(RateLimited):
        sign_in.submit_code(
            deps, flow_id=stranger_flow.flow.id, code=totp_now(deps, owner), client=stranger(9)
        )
    mine = sign_in.start(
        deps, username=owner.username, password=owner.password, client=OWNER, client_tokens=[token]
    )
    assert isinstance(mine, sign_in.SecondFactorRequired)
    done = sign_in.submit_code(deps, flow_id=mine.flow.id, code=totp_now(deps, owner), client=OWNER)
    assert done.method_used == "totp" and done.client_token == token


def test_strangers_cannot_keep_the_owner_out_of_sudo(deps: Deps, person: Person) -> None:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    fail_password(deps, person, stranger(2), 3 * LIMIT)
    until, _ = sudo.enter(
        deps, current, password=person.password, code=None, client=OWNER, rotate_token=False
    )
    assert until > deps.clock.now()


def test_sudo_attempts_are_limited_per_session(deps: Deps, person: Person) -> None:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    for _ in range(LIMIT):
        with pytest.raises(InvalidCredentials):
            sudo.enter(deps, current, password="wrong", code=None, client=OWNER, rotate_token=False)
    with pytest.raises(RateLimited):
        sudo.enter(deps, current, password=person.password, code=None, client=OWNER, rotate_token=False)
    # The session's own limit; signing in (and another session's sudo) are not affected.
    other: Current = current_for(deps, person)  # type: ignore[assignment]
    sudo.enter(deps, other, password=person.password, code=None, client=OWNER, rotate_token=False)


# -- parallel attempts, on SQLite and PostgreSQL --------------------------------------------------


def in_parallel(count: int, attempt: Callable[[int], object]) -> Counter[str]:
    """Run ``attempt(i)`` in ``count`` threads released at once; the error codes they raised."""
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            attempt(index)
            outcome = "ok"
        except SparekeyError as error:
            outcome = error.code
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def shared_deps(database_url: str, clock: FrozenClock) -> Deps:
    """Use cases on SQLite and on PostgreSQL, for attempts that really run at the same time."""
    return build_deps(database_url, clock)


def test_parallel_wrong_passwords_make_at_most_the_limits_checks(
    shared_deps: Deps, argon2_runs: Argon2Runs
) -> None:
    from sparekey.core.flows import accounts

    deps = shared_deps
    accounts.register(deps, username="alice", password="correct horse battery staple")
    argon2_runs.reset()

    def wrong(i: int) -> None:
        sign_in.start(deps, username="alice", password=f"guess number {i}", client=stranger(i))

    outcomes = in_parallel(80, wrong)

    assert outcomes == {"invalid_credentials": LIMIT, "rate_limited": 80 - LIMIT}, outcomes
    assert argon2_runs.take() == {"argon2_verify": LIMIT}
    # One burst is one lockout: the first back-off, not a jump to the longest.
    with pytest.raises(RateLimited) as limited:
        sign_in.start(deps, username="alice", password="correct horse battery staple", client=OWNER)
    assert limited.value.details["retry_after"] == deps.policy.backoff_initial_seconds


def test_parallel_wrong_sudo_codes_make_at_most_the_limits_checks(
    shared_deps: Deps, argon2_runs: Argon2Runs
) -> None:
    from sparekey.core.flows import accounts, totp_enrolment

    deps = shared_deps
    person = Person(username="alice", password="correct horse battery staple")
    person.id = accounts.register(deps, username=person.username, password=person.password).id
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    enrolment = totp_enrolment.begin(deps, current, name="phone")
    person.totp_secret = enrolment.secret
    totp_enrolment.confirm(
        deps, current, enrolment.authenticator.id, code=totp_now(deps, person), client=OWNER
    )
    near = {totp_now(deps, person, offset_seconds=30 * step) for step in range(-25, 26)}
    wrong_codes = [code for code in (f"{i:06d}" for i in range(100)) if code not in near][:60]
    argon2_runs.reset()

    def wrong(i: int) -> None:
        sudo.enter(
            deps, current, password=person.password, code=wrong_codes[i], client=OWNER, rotate_token=False
        )

    outcomes = in_parallel(60, wrong)

    assert outcomes == {"invalid_code": LIMIT, "rate_limited": 60 - LIMIT}, outcomes
    assert argon2_runs.take() == {"argon2_verify": LIMIT}


@pytest.mark.parametrize("name", ["x" * 300, "Ａ" * 300, "a b" * 100, "\ufb01" * 250])
def test_names_no_account_can_have_are_counted_too(shared_deps: Deps, name: str) -> None:
    """However long or odd the typed name, its failures are counted (and answered) like any."""
    for _ in range(LIMIT):
        with pytest.raises(InvalidCredentials):
            sign_in.start(shared_deps, username=name, password="whatever it is", client=stranger(1))
    with pytest.raises(RateLimited):
        sign_in.start(shared_deps, username=name, password="whatever it is", client=stranger(2))
