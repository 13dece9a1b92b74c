"""Secure my account: all of it at once, on SQLite and PostgreSQL, or nothing at all.

Each test runs twice (``database_url``): the ``deps`` below replaces the SQLite-only one of
tests/conftest.py, so ``person`` and ``person_with_totp`` are made on both databases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sparekey.core import events
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeFromReplacedSet,
    FlowExpired,
    InvalidCredentials,
    NotAuthenticated,
    PasswordTooWeak,
    SudoRequired,
)
from sparekey.core.events import EventType
from sparekey.core.flows import history, sessions, sign_in, sudo
from sparekey.core.flows.secure import Check, secure_account
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from sparekey.store import sql
from tests.conftest import Person, build_deps, totp_now

HOME = Client(ip="198.51.100.7", user_agent="the owner's laptop")
PHONE = Client(ip="198.51.100.8", user_agent="the owner's lost phone")
THIEF = Client(ip="203.0.113.9", user_agent="someone else")
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    return build_deps(database_url, clock)


@dataclass
class SignedIn:
    token: str
    current: Current
    device_token: str | None = None


def sign_in_as(deps: Deps, person: Person, client: Client, *, trust: bool = False) -> SignedIn:
    """A whole sign-in (a fresh TOTP step each time: a code is accepted once)."""
    result = sign_in.start(deps, username=person.username, password=person.password, client=client)
    if isinstance(result, sign_in.SecondFactorRequired):
        deps.clock.advance(30)  # type: ignore[attr-defined]
        result = sign_in.submit_code(
            deps, flow_id=result.flow.id, code=totp_now(deps, person), client=client, trust_device=trust
        )
    return SignedIn(
        result.session_token, sessions.authenticate(deps, result.session_token), result.device_token
    )


def in_sudo(deps: Deps, person: Person) -> SignedIn:
    signed = sign_in_as(deps, person, HOME)
    deps.clock.advance(30)  # type: ignore[attr-defined]
    code = totp_now(deps, person) if person.totp_secret else None
    sudo.enter(deps, signed.current, password=person.password, code=code, client=HOME, rotate_token=False)
    return signed


def start_flow(deps: Deps, person: Person, client: Client = THIEF) -> str:
    """A sign-in left at the second step (the thief knows the password, not the code)."""
    result = sign_in.start(deps, username=person.username, password=person.password, client=client)
    assert isinstance(result, sign_in.SecondFactorRequired)
    return result.flow.id


@dataclass
class Scene:
    """The owner in sudo mode at home; the lost phone signed in and trusted; a stranger's
    sign-in waiting at the second step."""

    home: SignedIn
    phone: SignedIn
    flow_id: str


@pytest.fixture
def scene(deps: Deps, person_with_totp: Person) -> Scene:
    phone = sign_in_as(deps, person_with_totp, PHONE, trust=True)
    assert phone.device_token is not None
    home = in_sudo(deps, person_with_totp)
    return Scene(home=home, phone=phone, flow_id=start_flow(deps, person_with_totp))


def snapshot(deps: Deps, account_id: str, flow_id: str | None = None) -> dict[str, Any]:
    """What the action would change, as stored."""
    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
        current = tx.backup_codes.current_set(account_id)
        flow = tx.flows.get(flow_id) if flow_id else None
        return {
            "password_hash": account.password_hash if account else None,
            "set": (current.id, current.set_number, current.replaced_at) if current else None,
            "sessions": sorted(s.id for s in tx.sessions.for_account(account_id)),
            "devices": sorted(d.id for d in tx.trusted_devices.for_account(account_id)),
            "events": [(e.type, e.data) for e in tx.events.for_account(account_id, limit=1000)],
            "flow": flow.state if flow else None,
        }


# The happy path -------------------------------------------------------------------------


def test_everything_at_once(deps: Deps, person_with_totp: Person, scene: Scene) -> None:
    person = person_with_totp
    assert person.backup_codes is not None
    old_codes = person.backup_codes

    secured = secure_account(deps, scene.home.current, new_password=NEW_PASSWORD, client=HOME)

    assert secured.backup_codes is not None and secured.backup_codes.set_number == 2
    assert len(secured.backup_codes.codes) == deps.policy.backup_code_count
    assert not set(secured.backup_codes.codes) & set(old_codes)
    assert secured.sessions_ended == 2  # the lost phone and the one that added the app; not this one
    assert secured.devices_revoked == 1  # the lost phone was trusted
    assert secured.checklist == [Check.STORE_SHEET, "review_activity", "review_ways_in", "check_email"]
    assert all(type(check) is str for check in secured.checklist)

    # This session stays, the phone's is gone.
    assert sessions.authenticate(deps, scene.home.token).session.id == scene.home.current.session.id
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, scene.phone.token)
    # The stranger's half-done sign-in is over.
    deps.clock.advance(30)  # type: ignore[attr-defined]
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=scene.flow_id, code=totp_now(deps, person), client=THIEF)
    # The old password is refused, the new one accepted.
    with pytest.raises(InvalidCredentials):
        sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    person.password = NEW_PASSWORD
    # The phone's device token no longer skips the second step.
    assert scene.phone.device_token is not None
    again = sign_in.start(
        deps,
        username=person.username,
        password=NEW_PASSWORD,
        client=PHONE,
        device_tokens=[scene.phone.device_token],
    )
    assert isinstance(again, sign_in.SecondFactorRequired)
    with deps.store.transaction() as tx:
        assert tx.trusted_devices.for_account(person.id) == []
    # The old sheet is refused (as a replaced sheet), the new one works.
    with pytest.raises(CodeFromReplacedSet):
        sign_in.submit_code(deps, flow_id=again.flow.id, code=old_codes[0], client=PHONE)
    done = sign_in.submit_code(
        deps, flow_id=start_flow(deps, person, HOME), code=secured.backup_codes.codes[0], client=HOME
    )
    assert done.method_used == "backup_code"

    [event] = history.recent_events(deps, person.id, types=[EventType.ACCOUNT_SECURED])
    assert event.data["sessions_ended"] == 2
    assert event.data["devices_revoked"] == 1
    assert event.data["set_number"] == 2
    assert event.data["ip"] == HOME.ip
    [changed] = history.recent_events(deps, person.id, types=[EventType.PASSWORD_CHANGED])
    assert changed.data["via"] == "secured"  # told to the owner like any password change
    revoked = history.recent_events(deps, person.id, types=[EventType.DEVICE_REVOKED])
    assert [e.data["reason"] for e in revoked] == ["secured"]


def test_every_other_session_is_counted(deps: Deps, person_with_totp: Person, scene: Scene) -> None:
    sign_in_as(deps, person_with_totp, THIEF)
    sign_in_as(deps, person_with_totp, THIEF)
    secured = secure_account(deps, scene.home.current, new_password=NEW_PASSWORD, client=HOME)
    assert secured.sessions_ended == 4
    assert snapshot(deps, person_with_totp.id)["sessions"] == [scene.home.current.session.id]


def test_without_two_step_verification_there_is_no_sheet(deps: Deps, person: Person) -> None:
    other = sign_in_as(deps, person, PHONE)
    home = in_sudo(deps, person)

    secured = secure_account(deps, home.current, new_password=NEW_PASSWORD, client=HOME)

    assert secured.backup_codes is None
    assert (secured.sessions_ended, secured.devices_revoked) == (1, 0)
    assert Check.STORE_SHEET not in secured.checklist
    assert secured.checklist == ["review_activity", "review_ways_in", "check_email"]
    assert snapshot(deps, person.id)["set"] is None
    with pytest.raises(NotAuthenticated):
        sessions.authenticate(deps, other.token)
    sessions.authenticate(deps, home.token)
    with pytest.raises(InvalidCredentials):
        sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(
        sign_in.start(deps, username=person.username, password=NEW_PASSWORD, client=HOME),
        sign_in.Authenticated,
    )
    [event] = history.recent_events(deps, person.id, types=[EventType.ACCOUNT_SECURED])
    data = event.data
    assert (data["sessions_ended"], data["devices_revoked"], data["set_number"]) == (1, 0, None)
    assert history.recent_events(deps, person.id, types=[EventType.BACKUP_CODES_GENERATED]) == []
    assert len(history.recent_events(deps, person.id, types=[EventType.PASSWORD_CHANGED])) == 1


# Refusals: nothing changes ------------------------------------------------------------------


def test_sudo_is_required(deps: Deps, person_with_totp: Person, scene: Scene) -> None:
    not_sudo = sign_in_as(deps, person_with_totp, HOME)
    before = snapshot(deps, person_with_totp.id, scene.flow_id)
    with pytest.raises(SudoRequired):
        secure_account(deps, not_sudo.current, new_password=NEW_PASSWORD, client=HOME)
    assert snapshot(deps, person_with_totp.id, scene.flow_id) == before
    # Sudo mode ends with time too.
    deps.clock.advance(deps.policy.sudo_seconds)  # type: ignore[attr-defined]
    with pytest.raises(SudoRequired):
        secure_account(deps, scene.home.current, new_password=NEW_PASSWORD, client=HOME)
    assert snapshot(deps, person_with_totp.id, scene.flow_id) == before


@pytest.mark.parametrize(
    ("password", "reason"), [("short", "too_short"), ("alice-and-more-text", "contains_username")]
)
def test_a_weak_password_changes_nothing(
    deps: Deps, person_with_totp: Person, scene: Scene, password: str, reason: str
) -> None:
    before = snapshot(deps, person_with_totp.id, scene.flow_id)
    with pytest.raises(PasswordTooWeak) as refused:
        secure_account(deps, scene.home.current, new_password=password, client=HOME)
    assert refused.value.details["reason"] == reason
    assert snapshot(deps, person_with_totp.id, scene.flow_id) == before
    still_works_as_before(deps, person_with_totp, scene)


# Atomicity: a failure at any step leaves everything as it was -------------------------------


def _fail(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


def _fail_on_the_secured_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the last write fails: the other events (new sheet, devices revoked) are written."""
    record = events.record

    def failing(tx: Any, clock: Any, account_id: str, type_: EventType, *args: Any, **data: Any) -> None:
        if type_ == EventType.ACCOUNT_SECURED:
            raise RuntimeError("injected failure")
        record(tx, clock, account_id, type_, *args, **data)

    monkeypatch.setattr(events, "record", failing)


STEPS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "new set": lambda mp: mp.setattr(sql.SqlBackupCodes, "add_set", _fail),
    "old set ended": lambda mp: mp.setattr(sql.SqlBackupCodes, "end_current_set", _fail),
    "flows ended": lambda mp: mp.setattr(sql.SqlLoginFlows, "end_for_account", _fail),
    "devices revoked": lambda mp: mp.setattr(sql.SqlTrustedDevices, "delete_for_account", _fail),
    "sessions ended": lambda mp: mp.setattr(sql.SqlSessions, "delete_for_account", _fail),
    "password replaced": lambda mp: mp.setattr(sql.SqlAccounts, "set_password_hash", _fail),
    "event": _fail_on_the_secured_event,
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_failure_at_any_step_changes_nothing(
    deps: Deps, person_with_totp: Person, scene: Scene, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    before = snapshot(deps, person_with_totp.id, scene.flow_id)
    assert before["flow"] == "awaiting_second_factor" and len(before["sessions"]) == 3
    assert len(before["devices"]) == 1 and before["set"][1] == 1
    with monkeypatch.context() as patched:
        STEPS[step](patched)
        with pytest.raises(RuntimeError, match="injected failure"):
            secure_account(deps, scene.home.current, new_password=NEW_PASSWORD, client=HOME)
    assert snapshot(deps, person_with_totp.id, scene.flow_id) == before
    still_works_as_before(deps, person_with_totp, scene)


def still_works_as_before(deps: Deps, person: Person, scene: Scene) -> None:
    """The phone's session and trust, the waiting sign-in, the old password and the old sheet."""
    assert person.backup_codes is not None
    sessions.authenticate(deps, scene.phone.token)
    sessions.authenticate(deps, scene.home.token)
    with deps.store.transaction() as tx:
        current = tx.backup_codes.current_set(person.id)
        assert current is not None and current.set_number == 1
    assert scene.phone.device_token is not None
    trusted = sign_in.start(
        deps,
        username=person.username,
        password=person.password,
        client=PHONE,
        device_tokens=[scene.phone.device_token],
    )
    assert isinstance(trusted, sign_in.Authenticated) and trusted.method_used == "trusted_device"
    done = sign_in.submit_code(deps, flow_id=scene.flow_id, code=person.backup_codes[0], client=THIEF)
    assert done.method_used == "backup_code"
