"""What a use case finds when its account changed while it derived with no transaction open.

Every use case that runs argon2 derives between two transactions; the second one reads what
it relies on again and refuses, or tries once more, when it changed. Two kinds of tests, on
SQLite and PostgreSQL:

* Races: real threads released at once on one code, one app, one account; exactly one wins
  what can be won once, and the account is left with one valid backup-code set.
* Interleavings: the code hasher runs another request's whole use case just before its next
  derivation (``Meanwhile``), so "changed meanwhile" happens every time, not by luck. The
  other request runs in the same thread, which holds no transaction at that point (checked:
  a derivation inside one fails at once rather than waiting on its own lock).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeAlreadyUsed,
    CodeFromReplacedSet,
    InvalidCredentials,
    SparekeyError,
    TwoFactorDisabled,
    WrongConfirmationCode,
)
from sparekey.core.flows import (
    accounts,
    backup_codes,
    contacts,
    sign_in,
    sudo,
    totp_enrolment,
    two_factor,
)
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from tests.conftest import Person, build_deps, current_for, totp_now
from tests.core.flows.test_hashing_outside_transactions import WatchedStore
from tests.core.flows.test_sent_codes import E164, PHONE, last_code_to

HOME = Client(ip="198.51.100.7", user_agent="pytest")


class Meanwhile:
    """A real hasher; ``then`` (another request's work) runs once, just before its next call
    of ``slow``, with the transactions this thread holds checked to be none."""

    def __init__(self, real: object, store: WatchedStore, slow: str) -> None:
        self.real = real
        self.store = store
        self.slow = slow
        self.then: Callable[[], object] | None = None

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.real, name)
        if name != self.slow:
            return value

        def slow(*args: Any, **kwargs: Any) -> Any:
            work, self.then = self.then, None
            if work is not None:
                assert self.store.open_here() == 0, f"{self.slow} inside a transaction"
                work()
            return value(*args, **kwargs)

        return slow


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    """On SQLite and PostgreSQL; the fixtures of tests/conftest.py build on it."""
    plain = build_deps(database_url, clock)
    store = WatchedStore(plain.store)
    return dataclasses.replace(
        plain,
        store=store,
        passwords=Meanwhile(plain.passwords, store, "verify"),
        code_hasher=Meanwhile(plain.code_hasher, store, "derive"),
    )


def meanwhile(deps: Deps, work: Callable[[], object], *, during: str = "derive") -> None:
    """Run ``work`` just before the next backup-code derivation (or password verification)."""
    hasher = deps.code_hasher if during == "derive" else deps.passwords
    assert isinstance(hasher, Meanwhile) and hasher.slow == during
    hasher.then = work


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def flow_for(deps: Deps, person: Person) -> str:
    started = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(started, sign_in.SecondFactorRequired)
    return started.flow.id


def in_sudo(deps: Deps, person: Person, clock: FrozenClock) -> Current:
    """Signed in, then in sudo mode with the password and the app's next code."""
    current = signed_in(deps, person)
    clock.advance(30)
    code = totp_now(deps, person)
    sudo.enter(deps, current, password=person.password, code=code, client=HOME, rotate_token=False)
    return current


def sets_of(deps: Deps, person: Person) -> tuple[int, list[int]]:
    """(how many sets are current, the numbers of every set) of ``person``'s account."""
    with deps.store.transaction() as tx:
        current = tx.backup_codes.current_set(person.id)
        replaced = tx.backup_codes.recent_replaced_sets(person.id, limit=100)
    numbers = sorted([s.set_number for s in replaced] + ([current.set_number] if current else []))
    return (1 if current else 0), numbers


def signs_in_with(deps: Deps, person: Person, code: str) -> bool:
    done = sign_in.submit_code(deps, flow_id=flow_for(deps, person), code=code, client=HOME)
    return done.method_used == "backup_code"


def race(count: int, attempt: Callable[[int], object]) -> Counter[str]:
    """Run ``attempt(i)`` in ``count`` threads released at once: "ok" or the error code of each."""
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
    assert sum(outcomes.values()) == count, outcomes  # no thread died of anything else
    return outcomes


# -- races ----------------------------------------------------------------------------------------


def test_one_backup_code_submitted_at_once_in_many_sign_ins_works_once(
    deps: Deps, person_with_totp: Person
) -> None:
    assert person_with_totp.backup_codes
    code = person_with_totp.backup_codes[0]
    flows = [flow_for(deps, person_with_totp) for _ in range(8)]
    outcomes = race(8, lambda i: sign_in.submit_code(deps, flow_id=flows[i], code=code, client=HOME))
    assert outcomes == {"ok": 1, "code_already_used": 7}, outcomes
    assert backup_codes.require_status(deps, person_with_totp.id).remaining == 9


def test_one_app_confirmed_at_once_is_confirmed_once_with_one_set(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    sheets: list[list[str]] = []

    def confirm(_: int) -> None:
        confirmed = totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)
        assert confirmed.backup_codes is not None
        sheets.append(confirmed.backup_codes.codes)

    outcomes = race(4, confirm)
    assert outcomes == {"ok": 1, "not_found": 3}, outcomes
    assert sets_of(deps, person) == (1, [1])
    assert signs_in_with(deps, person, sheets[0][0])


def test_two_first_factors_confirmed_at_once_issue_one_set(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    app_code = pyotp.TOTP(enrolment.secret).at(clock.now())
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    phone_code = last_code_to(deps, E164)
    sheets: list[list[str]] = []

    def confirm(index: int) -> None:
        if index == 0:
            issued = totp_enrolment.confirm(
                deps, current, enrolment.authenticator.id, code=app_code, client=HOME
            ).backup_codes
        else:
            issued = contacts.verify(
                deps, current, added.contact.id, code=phone_code, client=HOME
            ).backup_codes
        if issued is not None:
            sheets.append(issued.codes)

    assert race(2, confirm) == {"ok": 2}
    assert len(sheets) == 1  # one of them turned 2FA on and brought the sheet, the other found it on
    assert sets_of(deps, person) == (1, [1])
    assert signs_in_with(deps, person, sheets[0][0])


def test_regenerations_at_once_leave_one_current_set_the_last_one(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    current = in_sudo(deps, person_with_totp, clock)
    sheets: dict[int, list[str]] = {}

    def regenerate(_: int) -> None:
        issued = backup_codes.regenerate(deps, current, HOME)
        sheets[issued.set_number] = issued.codes

    assert race(4, regenerate) == {"ok": 4}
    assert sorted(sheets) == [2, 3, 4, 5]  # one after the other, each under the account's lock
    assert sets_of(deps, person_with_totp) == (1, [1, 2, 3, 4, 5])
    assert backup_codes.require_status(deps, person_with_totp.id).set_number == 5
    assert signs_in_with(deps, person_with_totp, sheets[5][0])
    with pytest.raises(CodeFromReplacedSet):
        signs_in_with(deps, person_with_totp, sheets[4][0])


# -- interleavings ----------------------------------------------------------------------------------


def test_a_code_used_while_it_was_derived_is_refused(deps: Deps, person_with_totp: Person) -> None:
    assert person_with_totp.backup_codes
    code = person_with_totp.backup_codes[0]
    first, second = flow_for(deps, person_with_totp), flow_for(deps, person_with_totp)
    meanwhile(deps, lambda: sign_in.submit_code(deps, flow_id=second, code=code, client=HOME))
    with pytest.raises(CodeAlreadyUsed):
        sign_in.submit_code(deps, flow_id=first, code=code, client=HOME)
    assert backup_codes.require_status(deps, person_with_totp.id).remaining == 9


def test_a_code_whose_set_was_replaced_while_it_was_derived_is_refused_and_not_used(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    assert person_with_totp.backup_codes
    current = in_sudo(deps, person_with_totp, clock)
    flow_id = flow_for(deps, person_with_totp)
    meanwhile(deps, lambda: backup_codes.regenerate(deps, current, HOME))
    with pytest.raises(CodeFromReplacedSet):
        sign_in.submit_code(deps, flow_id=flow_id, code=person_with_totp.backup_codes[0], client=HOME)
    with deps.store.transaction() as tx:
        replaced = tx.backup_codes.recent_replaced_sets(person_with_totp.id, limit=1)
        assert [c.used_at for c in tx.backup_codes.codes([replaced[0].id])] == [None] * 10
    assert sets_of(deps, person_with_totp) == (1, [1, 2])


def test_a_regeneration_finding_two_step_verification_turned_off_meanwhile_issues_nothing(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    current = in_sudo(deps, person_with_totp, clock)
    meanwhile(deps, lambda: two_factor.disable(deps, current, HOME))
    with pytest.raises(TwoFactorDisabled):
        backup_codes.regenerate(deps, current, HOME)
    assert sets_of(deps, person_with_totp) == (0, [1])


def test_an_app_confirmed_after_another_first_factor_turned_two_step_verification_on_issues_nothing(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    phone_code = last_code_to(deps, E164)
    by_phone: list[list[str]] = []

    def phone_verified() -> None:
        issued = contacts.verify(deps, current, added.contact.id, code=phone_code, client=HOME).backup_codes
        assert issued is not None
        by_phone.append(issued.codes)

    meanwhile(deps, phone_verified)
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    confirmed = totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)
    assert confirmed.authenticator.confirmed and confirmed.backup_codes is None
    assert sets_of(deps, person) == (1, [1])
    assert signs_in_with(deps, person, by_phone[0][0])


def test_a_set_derived_under_a_salt_another_request_replaced_is_derived_again(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    """The app's sheet is derived under a new salt (the account has none); meanwhile a phone
    turns 2FA on under its own salt and is removed again. The app's transaction finds 2FA
    off under another salt, rolls back, and runs once more with a sheet derived under the
    stored salt: that sheet is the one that works."""
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    phone_code = last_code_to(deps, E164)

    def phone_came_and_went() -> None:
        issued = contacts.verify(deps, current, added.contact.id, code=phone_code, client=HOME).backup_codes
        assert issued is not None
        sudo.enter(
            deps, current, password=person.password, code=issued.codes[0], client=HOME, rotate_token=False
        )
        contacts.remove(deps, current, added.contact.id, client=HOME)

    meanwhile(deps, phone_came_and_went)
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    confirmed = totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)
    assert confirmed.backup_codes is not None and confirmed.backup_codes.set_number == 2
    assert sets_of(deps, person) == (1, [1, 2])
    clock.advance(30)
    assert signs_in_with(deps, person, confirmed.backup_codes.codes[0])


def test_a_sheet_replaced_while_a_code_of_it_was_derived_is_not_confirmed(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    assert person_with_totp.backup_codes
    current = in_sudo(deps, person_with_totp, clock)
    meanwhile(deps, lambda: backup_codes.regenerate(deps, current, HOME))
    with pytest.raises(WrongConfirmationCode):
        backup_codes.confirm_saved(deps, current.account, position=1, code=person_with_totp.backup_codes[0])
    status = backup_codes.require_status(deps, person_with_totp.id)
    assert status.set_number == 2 and not status.confirmed


def test_a_password_changed_while_it_was_checked_no_longer_signs_in(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person)
    sudo.enter(deps, current, password=person.password, code=None, client=HOME, rotate_token=False)
    new_password = "an entirely new passphrase"

    def changed() -> None:
        accounts.change_password(deps, current, new_password=new_password, client=HOME)

    meanwhile(deps, changed, during="verify")
    with pytest.raises(InvalidCredentials):
        sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    done = sign_in.start(deps, username=person.username, password=new_password, client=HOME)
    assert isinstance(done, sign_in.Authenticated)


def test_two_step_verification_turned_on_while_the_password_was_checked_is_asked_for(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    code = pyotp.TOTP(enrolment.secret).at(clock.now())

    def turned_on() -> None:
        totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)

    meanwhile(deps, turned_on, during="verify")
    started = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(started, sign_in.SecondFactorRequired)
