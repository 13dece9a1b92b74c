"""No argon2 computation runs while its use case holds a transaction.

On SQLite every transaction holds the database's one write lock (``BEGIN IMMEDIATE``), and
on PostgreSQL an account row may be locked: a derivation inside one would make every other
sign-in wait for it. Each use case that hashes reads what it needs in a short transaction,
hashes with none open, then writes in another short one that checks nothing changed.

Instrumentation, not a stand-in: the real store, wrapped to count the transactions each
thread has open, and argon2-cffi's real C binding, wrapped to note that count at each run
(``tests/conftest.py``: ``Argon2Runs``). Each test also checks that argon2 did run, so it
cannot pass by measuring nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import InvalidCode, InvalidCredentials
from sparekey.core.flows import (
    accounts,
    backup_codes,
    contacts,
    recovery,
    recovery_completion,
    secure,
    security_keys,
    sent_codes,
    sign_in,
    sudo,
    totp_enrolment,
)
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from sparekey.core.policy import Policy
from sparekey.core.ports import Store, Transaction
from tests.conftest import Argon2Runs, Person, _CountingLib, build_deps, current_for, totp_now
from tests.core.flows.test_sent_codes import E164, PHONE, last_code_to
from tests.soft_authenticator import SoftAuthenticator

HOME = Client(ip="198.51.100.7", user_agent="pytest")
NEW_PASSWORD = "an entirely new passphrase"


class WatchedStore:
    """The real store, counting the transactions each thread has open."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._store.transaction() as tx:
            self._local.open = self.open_here() + 1
            try:
                yield tx
            finally:
                self._local.open -= 1

    def __getattr__(self, name: str) -> Any:  # the rest of the store, as it is
        return getattr(self._store, name)

    def open_here(self) -> int:
        return int(getattr(self._local, "open", 0))


class Argon2Watch(Argon2Runs):
    """Every argon2 run, and the ones that ran while their thread held a transaction."""

    def __init__(self, store: WatchedStore) -> None:
        super().__init__()
        self.store = store
        self.inside: list[str] = []

    def count(self, name: str) -> None:
        super().count(name)
        if self.store.open_here():
            self.inside.append(name)

    def reset(self) -> None:
        super().reset()
        self.inside.clear()

    def check(self) -> dict[str, int]:
        """The runs since ``reset``, after checking that argon2 ran and never in a transaction."""
        runs = self.take()
        assert runs, "argon2 never ran: the step measured nothing"
        assert self.inside == [], f"argon2 ran inside a transaction: {self.inside} of {runs}"
        self.inside.clear()
        return runs


@pytest.fixture
def deps(sqlite_database: str, clock: FrozenClock) -> Deps:
    """The core's usual dependencies, with the store watched (the fixtures below build on it)."""
    plain = build_deps(sqlite_database, clock)
    return dataclasses.replace(plain, store=WatchedStore(plain.store))


@pytest.fixture
def watch(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Argon2Watch:
    import argon2.low_level

    assert isinstance(deps.store, WatchedStore)
    runs = Argon2Watch(deps.store)
    monkeypatch.setattr(argon2.low_level, "lib", _CountingLib(argon2.low_level.lib, runs))
    return runs


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def in_sudo(deps: Deps, person: Person) -> Current:
    current = signed_in(deps, person)
    code = totp_now(deps, person, offset_seconds=30) if person.totp_secret else None
    if code is not None:
        deps.clock.advance(30)  # type: ignore[attr-defined]
    sudo.enter(deps, current, password=person.password, code=code, client=HOME, rotate_token=False)
    return current


def flow_for(deps: Deps, person: Person) -> str:
    started = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(started, sign_in.SecondFactorRequired)
    return started.flow.id


# -- passwords ------------------------------------------------------------------------------------


def test_registering(deps: Deps, watch: Argon2Watch) -> None:
    watch.reset()
    accounts.register(deps, username="bob", password="correct horse battery staple")
    assert watch.check() == {"argon2_hash": 1}


@pytest.mark.parametrize("password", ["correct horse battery staple", "wrong password"])
def test_the_password_step(deps: Deps, person: Person, watch: Argon2Watch, password: str) -> None:
    watch.reset()
    with contextlib.suppress(InvalidCredentials):  # a refused password is measured the same way
        sign_in.start(deps, username=person.username, password=password, client=HOME)
    assert watch.check() == {"argon2_verify": 1}


def test_the_password_step_that_rehashes(
    sqlite_database: str, deps: Deps, person: Person, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parameters raised since the password was set: the new hash is made outside too."""
    import argon2.low_level

    raised = build_deps(sqlite_database, clock, argon2_time_cost=2)
    raised = dataclasses.replace(raised, store=WatchedStore(raised.store))
    assert isinstance(raised.store, WatchedStore)
    runs = Argon2Watch(raised.store)
    monkeypatch.setattr(argon2.low_level, "lib", _CountingLib(argon2.low_level.lib, runs))
    sign_in.start(raised, username=person.username, password=person.password, client=HOME)
    assert runs.check() == {"argon2_verify": 1, "argon2_hash": 1}
    with raised.store.transaction() as tx:
        account = tx.accounts.get(person.id)
    assert account is not None and not raised.passwords.needs_rehash(account.password_hash)


def test_changing_the_password(deps: Deps, person: Person, watch: Argon2Watch) -> None:
    current = in_sudo(deps, person)
    watch.reset()
    accounts.change_password(deps, current, new_password=NEW_PASSWORD, client=HOME)
    assert watch.check() == {"argon2_hash": 1}


def test_entering_sudo_with_password_and_backup_code(
    deps: Deps, person_with_totp: Person, watch: Argon2Watch
) -> None:
    current = signed_in(deps, person_with_totp)
    assert person_with_totp.backup_codes
    watch.reset()
    sudo.enter(
        deps,
        current,
        password=person_with_totp.password,
        code=person_with_totp.backup_codes[0],
        client=HOME,
        rotate_token=False,
    )
    assert watch.check() == {"argon2_verify": 1, "argon2_hash": 1}


# -- first factors: backup-code set #1 -------------------------------------------------------------


def test_confirming_the_first_authenticator_app(deps: Deps, person: Person, watch: Argon2Watch) -> None:
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    code = pyotp.TOTP(enrolment.secret).at(deps.clock.now())
    watch.reset()
    confirmed = totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)
    assert confirmed.backup_codes is not None
    assert watch.check() == {"argon2_hash": deps.policy.backup_code_count}


def test_verifying_the_first_phone(deps: Deps, person: Person, watch: Argon2Watch) -> None:
    current = signed_in(deps, person)
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    code = last_code_to(deps, E164)
    watch.reset()
    verified = contacts.verify(deps, current, added.contact.id, code=code, client=HOME)
    assert verified.backup_codes is not None
    assert watch.check() == {"argon2_hash": deps.policy.backup_code_count}


def test_registering_the_first_security_key(deps: Deps, person: Person, watch: Argon2Watch) -> None:
    current = signed_in(deps, person)
    device = SoftAuthenticator(origin=deps.policy.relying_party.origins[0])
    registration = security_keys.begin(deps, current, name=None, passkey=False)
    credential = device.create(registration.options)
    watch.reset()
    registered = security_keys.finish(
        deps, current, registration.ceremony.id, credential=credential, client=HOME
    )
    assert registered.backup_codes is not None
    assert watch.check() == {"argon2_hash": deps.policy.backup_code_count}


# -- backup codes -----------------------------------------------------------------------------------


def test_regenerating_backup_codes(deps: Deps, person_with_totp: Person, watch: Argon2Watch) -> None:
    current = in_sudo(deps, person_with_totp)
    watch.reset()
    backup_codes.regenerate(deps, current, HOME)
    assert watch.check() == {"argon2_hash": deps.policy.backup_code_count}


def test_confirming_the_saved_sheet(deps: Deps, person_with_totp: Person, watch: Argon2Watch) -> None:
    assert person_with_totp.backup_codes
    current = signed_in(deps, person_with_totp)
    watch.reset()
    backup_codes.confirm_saved(deps, current.account, position=3, code=person_with_totp.backup_codes[2])
    assert watch.check() == {"argon2_hash": 1}
    assert backup_codes.require_status(deps, person_with_totp.id).confirmed


@pytest.mark.parametrize("which", ["unused", "wrong"])
def test_signing_in_with_a_backup_code(
    deps: Deps, person_with_totp: Person, watch: Argon2Watch, which: str
) -> None:
    assert person_with_totp.backup_codes
    flow_id = flow_for(deps, person_with_totp)
    code = person_with_totp.backup_codes[0] if which == "unused" else "K7QX2-M9PRH"
    watch.reset()
    with contextlib.suppress(InvalidCode):  # a refused code is measured the same way
        sign_in.submit_code(deps, flow_id=flow_id, code=code, client=HOME)
    assert watch.check() == {"argon2_hash": 1}


def test_securing_the_account(deps: Deps, person_with_totp: Person, watch: Argon2Watch) -> None:
    current = in_sudo(deps, person_with_totp)
    watch.reset()
    secured = secure.secure_account(deps, current, new_password=NEW_PASSWORD, client=HOME)
    assert secured.backup_codes is not None
    assert watch.check() == {"argon2_hash": 1 + deps.policy.backup_code_count}


# -- sent codes and recovery ------------------------------------------------------------------------


def test_a_sign_in_with_a_sent_code(deps: Deps, person: Person, watch: Argon2Watch) -> None:
    """The code is a keyed hash (HMAC), not argon2: only the password step runs argon2."""
    current = signed_in(deps, person)
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    contacts.verify(deps, current, added.contact.id, code=last_code_to(deps, E164), client=HOME)
    deps.clock.advance(deps.policy.resend_seconds)  # type: ignore[attr-defined]
    watch.reset()
    flow_id = flow_for(deps, person)
    sent_codes.send_for_flow(
        deps, flow_id=flow_id, method="sms", destination_id=None, client=HOME, language="en"
    )
    done = sign_in.submit_code(deps, flow_id=flow_id, code=last_code_to(deps, E164), client=HOME)
    assert done.method_used == "sms"
    assert watch.check() == {"argon2_verify": 1}


def test_a_recovery_with_the_password_then_a_new_password(
    deps: Deps, person: Person, watch: Argon2Watch, clock: FrozenClock
) -> None:
    request_id = recovery.request(deps, username=person.username, client=HOME, language="en")
    recovery.dispatch(deps, request_id)
    watch.reset()
    recovery.add_evidence(deps, request_id, password=person.password)
    assert watch.check() == {"argon2_verify": 1}
    clock.advance(timedelta(seconds=Policy().recovery_wait_seconds).total_seconds())
    started = recovery_completion.start(deps, request_id)
    watch.reset()
    completed = recovery_completion.finish(
        deps,
        request_id,
        token=started.token,
        code=pyotp.TOTP(started.secret).at(clock.now()),
        new_password=NEW_PASSWORD,
        client=HOME,
    )
    assert completed.backup_codes.codes
    assert watch.check() == {"argon2_hash": 1 + deps.policy.backup_code_count}
