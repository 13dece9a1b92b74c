"""Sessions: timeouts, rotation, revocation, sudo mode."""

from __future__ import annotations

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import InvalidCode, InvalidCredentials, NotAuthenticated, NotFound, SudoRequired
from sparekey.core.events import EventType
from sparekey.core.flows import accounts, history, sessions, sign_in, sudo
from sparekey.core.models import Client
from tests.conftest import Person, totp_now

HOME = Client(ip="198.51.100.7", user_agent="pytest")


def token_for(deps: Deps, person: Person) -> str:
    result = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(result, sign_in.Authenticated)
    return result.session_token


def test_idle_timeout(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = token_for(deps, person)
    clock.advance(deps.policy.session_idle_seconds - 1)
    sessions.authenticate(deps, token)  # seen: the idle timer starts again
    clock.advance(deps.policy.session_idle_seconds - 1)
    sessions.authenticate(deps, token)
    clock.advance(deps.policy.session_idle_seconds)
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, token)


def test_absolute_timeout(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = token_for(deps, person)
    for _ in range(deps.policy.session_absolute_seconds // 3600):
        sessions.authenticate(deps, token)
        clock.advance(3600)
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, token)


def test_garbage_tokens_are_not_authenticated(deps: Deps) -> None:
    for token in (None, "", "x", "y" * 5000):
        with pytest.raises(NotAuthenticated):
            sessions.authenticate(deps, token)


def test_each_sign_in_gets_a_new_session(deps: Deps, person: Person) -> None:
    first, second = token_for(deps, person), token_for(deps, person)
    assert first != second
    a, b = sessions.authenticate(deps, first), sessions.authenticate(deps, second)
    assert a.session.id != b.session.id


def test_sudo_with_password_only_account_and_rotation(deps: Deps, person: Person) -> None:
    token = token_for(deps, person)
    current = sessions.authenticate(deps, token)
    with pytest.raises(SudoRequired):
        sessions.require_sudo(deps, current)
    until, new_token = sudo.enter(
        deps, current, password=person.password, code=None, client=HOME, rotate_token=True
    )
    assert (until - deps.clock.now()).total_seconds() == 600
    assert new_token and new_token != token
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, token)
    rotated = sessions.authenticate(deps, new_token)
    sessions.require_sudo(deps, rotated)
    assert history.recent_events(deps, person.id)[0].type == EventType.SUDO


def test_sudo_expires_after_ten_minutes(deps: Deps, person: Person, clock: FrozenClock) -> None:
    token = token_for(deps, person)
    sudo.enter(
        deps,
        sessions.authenticate(deps, token),
        password=person.password,
        code=None,
        client=HOME,
        rotate_token=False,
    )
    clock.advance(599)
    sessions.require_sudo(deps, sessions.authenticate(deps, token))
    clock.advance(2)
    with pytest.raises(SudoRequired):
        sessions.require_sudo(deps, sessions.authenticate(deps, token))


def test_sudo_needs_a_second_factor_once_2fa_is_on(deps: Deps, person_with_totp: Person) -> None:
    from tests.conftest import current_for

    current = current_for(deps, person_with_totp)
    with pytest.raises(InvalidCredentials):
        sudo.enter(deps, current, password="wrong", code=None, client=HOME, rotate_token=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidCode):
        sudo.enter(
            deps, current, password=person_with_totp.password, code=None, client=HOME, rotate_token=False
        )  # type: ignore[arg-type]
    deps.clock.advance(30)  # type: ignore[attr-defined]
    sudo.enter(
        deps,
        current,
        password=person_with_totp.password,  # type: ignore[arg-type]
        code=totp_now(deps, person_with_totp),
        client=HOME,
        rotate_token=False,
    )
    # A backup code works too, and its use is recorded.
    assert person_with_totp.backup_codes
    sudo.enter(
        deps,
        current,
        password=person_with_totp.password,  # type: ignore[arg-type]
        code=person_with_totp.backup_codes[0],
        client=HOME,
        rotate_token=False,
    )
    used = [
        e for e in history.recent_events(deps, person_with_totp.id) if e.type == EventType.BACKUP_CODE_USED
    ]
    assert used and used[0].data["position"] == 1 and used[0].data["set_number"] == 1


def test_revoke_other_session(deps: Deps, person: Person) -> None:
    mine, other = token_for(deps, person), token_for(deps, person)
    current = sessions.authenticate(deps, mine)
    other_id = sessions.authenticate(deps, other).session.id
    listed = sessions.list_sessions(deps, current)
    assert sorted(is_current for _, is_current in listed) == [False, True]
    sessions.revoke(deps, current, other_id, HOME)
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, other)
    with pytest.raises(NotFound):
        sessions.revoke(deps, current, other_id, HOME)


def test_change_password_needs_sudo_and_ends_other_sessions(deps: Deps, person: Person) -> None:
    mine, other = token_for(deps, person), token_for(deps, person)
    current = sessions.authenticate(deps, mine)
    with pytest.raises(SudoRequired):
        accounts.change_password(deps, current, new_password="a whole new passphrase", client=HOME)
    sudo.enter(deps, current, password=person.password, code=None, client=HOME, rotate_token=False)
    accounts.change_password(deps, current, new_password="a whole new passphrase", client=HOME)
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, other)
    sessions.authenticate(deps, mine)
    person.password = "a whole new passphrase"
    token_for(deps, person)
