"""Recovery readiness through the use cases, on a real SQLite store: every item of the
checklist false, then true once its fix is done; ``ready`` only when all of them hold.

Codes sent to phones and e-mail addresses are read from the embedded outbox; time moves
only with the frozen clock."""

from __future__ import annotations

import re

import pyotp

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import backup_codes, contacts, delivery, readiness, sign_in, sudo, totp_enrolment
from sparekey.core.flows.readiness import Action, ItemId, Readiness
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from tests.conftest import Person, build_deps, current_for, totp_now

HOME = Client(ip="198.51.100.7", user_agent="pytest")
ORDER = [
    "two_ways_in",
    "backup_codes_present",
    "backup_codes_confirmed",
    "backup_codes_enough",
    "backup_codes_fresh",
    "recovery_email_verified",
]
EMAIL = "alice@example.org"
PHONE_E164 = "+819012345678"
DAY = 86400


def checked(deps: Deps, person: Person) -> Readiness:
    found = readiness.readiness(deps, person.id)
    assert [item.id for item in found.items] == ORDER
    assert found.ready == all(item.ok for item in found.items)
    for item in found.items:
        assert item.action.startswith("/")
    return found


def oks(found: Readiness) -> dict[str, bool]:
    return {item.id.value: item.ok for item in found.items}


def actions(found: Readiness) -> dict[str, str]:
    return {item.id.value: item.action.value for item in found.items}


def failing(deps: Deps, person: Person) -> set[str]:
    return {name for name, ok in oks(checked(deps, person)).items() if not ok}


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def in_sudo(deps: Deps, person: Person, clock: FrozenClock) -> Current:
    current = signed_in(deps, person)
    clock.advance(30)  # a new time step: the sign-in used the last one
    sudo.enter(
        deps, current, password=person.password, code=totp_now(deps, person), client=HOME, rotate_token=False
    )
    return current


def last_code_to(deps: Deps, address: str) -> str:
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=50) if m.to == address]
    assert kept, f"nothing was sent to {address}"
    message = delivery.opened(deps, kept[0])
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found, message.text
    return found.group(1)


def add_contact(deps: Deps, current: Current, kind: str, address: str) -> None:
    added = contacts.add(deps, current, kind=kind, address=address, region="JP", client=HOME, language="en")
    contacts.verify(
        deps, current, added.contact.id, code=last_code_to(deps, added.contact.address), client=HOME
    )


def use_backup_codes(deps: Deps, person: Person, count: int) -> None:
    """Sign in ``count`` times with the next unused code of the sheet."""
    assert person.backup_codes is not None
    for _ in range(count):
        started = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
        assert isinstance(started, sign_in.SecondFactorRequired)
        done = sign_in.submit_code(
            deps, flow_id=started.flow.id, code=person.backup_codes.pop(0), client=HOME
        )
        assert done.method_used == "backup_code"


def regenerate(deps: Deps, person: Person, clock: FrozenClock) -> None:
    issued = backup_codes.regenerate(deps, in_sudo(deps, person, clock), HOME)
    person.backup_codes = list(issued.codes)


def confirm_sheet(deps: Deps, person: Person) -> None:
    assert person.backup_codes is not None
    total = backup_codes.require_status(deps, person.id).total
    # the last code of the sheet: these tests use codes from the first one on
    backup_codes.confirm_saved(
        deps, signed_in(deps, person).account, position=total, code=person.backup_codes[-1]
    )


# -- without two-step verification -----------------------------------------------------------------


def test_an_account_without_two_step_verification_is_not_ready(deps: Deps, person: Person) -> None:
    found = checked(deps, person)
    assert not found.ready
    assert oks(found) == dict.fromkeys(ORDER, False)
    # No sheet to make or confirm yet: the first way in brings the first sheet.
    assert actions(found) == {
        "two_ways_in": "/security#two-step",
        "backup_codes_present": "/security#two-step",
        "backup_codes_confirmed": "/security#two-step",
        "backup_codes_enough": "/security#two-step",
        "backup_codes_fresh": "/security#two-step",
        "recovery_email_verified": "/security#contacts",
    }


def test_a_verified_email_counts_without_two_step_verification_and_is_not_a_way_in(
    deps: Deps, person: Person
) -> None:
    current = signed_in(deps, person)
    added = contacts.add(deps, current, kind="email", address=EMAIL, region=None, client=HOME, language="en")
    assert failing(deps, person) == set(ORDER)  # added, not yet verified

    contacts.verify(deps, current, added.contact.id, code=last_code_to(deps, EMAIL), client=HOME)
    found = checked(deps, person)
    assert oks(found) == {**dict.fromkeys(ORDER, False), "recovery_email_verified": True}
    assert not found.ready


def test_the_first_way_in_brings_a_sheet_and_so_two_ways_in(deps: Deps, person_with_totp: Person) -> None:
    found = checked(deps, person_with_totp)
    # one authenticator app + a sheet with codes left: two independent ways in
    assert oks(found) == {
        "two_ways_in": True,
        "backup_codes_present": True,
        "backup_codes_confirmed": False,
        "backup_codes_enough": True,
        "backup_codes_fresh": True,
        "recovery_email_verified": False,
    }
    assert actions(found) == {
        "two_ways_in": "/security#two-step",
        "backup_codes_present": "/security#backup-codes",
        "backup_codes_confirmed": "/security/backup-codes/confirm",
        "backup_codes_enough": "/security#backup-codes",
        "backup_codes_fresh": "/security#backup-codes",
        "recovery_email_verified": "/security#contacts",
    }
    assert not found.ready


# -- each item, then its fix -------------------------------------------------------------------------


def test_confirming_the_sheet(deps: Deps, person_with_totp: Person) -> None:
    assert "backup_codes_confirmed" in failing(deps, person_with_totp)
    confirm_sheet(deps, person_with_totp)
    assert "backup_codes_confirmed" not in failing(deps, person_with_totp)


def test_few_codes_left_until_a_new_sheet(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    enough_at = deps.policy.backup_codes_enough_at
    assert enough_at == 4
    confirm_sheet(deps, person_with_totp)
    use_backup_codes(deps, person_with_totp, 10 - enough_at)  # exactly enough left
    assert backup_codes.require_status(deps, person_with_totp.id).remaining == enough_at
    assert "backup_codes_enough" not in failing(deps, person_with_totp)

    use_backup_codes(deps, person_with_totp, 1)
    assert failing(deps, person_with_totp) == {"backup_codes_enough", "recovery_email_verified"}

    regenerate(deps, person_with_totp, clock)
    # a new sheet has every code, but nobody confirmed it was saved
    assert failing(deps, person_with_totp) == {"backup_codes_confirmed", "recovery_email_verified"}
    confirm_sheet(deps, person_with_totp)
    assert failing(deps, person_with_totp) == {"recovery_email_verified"}


def test_an_empty_sheet_leaves_one_way_in_until_a_second_factor(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    use_backup_codes(deps, person_with_totp, 10)
    found = checked(deps, person_with_totp)
    assert {name for name, ok in oks(found).items() if not ok} == {
        "two_ways_in",  # the app alone
        "backup_codes_present",
        "backup_codes_confirmed",
        "backup_codes_enough",
        "recovery_email_verified",
    }
    # the used-up sheet is still the current one: a new sheet is made there
    assert actions(found)["backup_codes_present"] == "/security#backup-codes"

    add_contact(deps, in_sudo(deps, person_with_totp, clock), "phone", "090-1234-5678")
    assert "two_ways_in" not in failing(deps, person_with_totp)  # app + phone

    regenerate(deps, person_with_totp, clock)
    assert failing(deps, person_with_totp) == {"backup_codes_confirmed", "recovery_email_verified"}


def test_an_email_address_is_no_way_in_but_a_phone_and_a_second_app_are(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    use_backup_codes(deps, person_with_totp, 10)
    current = in_sudo(deps, person_with_totp, clock)
    add_contact(deps, current, "email", EMAIL)
    assert "two_ways_in" in failing(deps, person_with_totp)  # the app alone, and an e-mail address
    assert "recovery_email_verified" not in failing(deps, person_with_totp)

    clock.advance(30)
    enrolment = totp_enrolment.begin(deps, current, name="iPad")
    code = pyotp.TOTP(enrolment.secret).at(clock.now())
    totp_enrolment.confirm(deps, current, enrolment.authenticator.id, code=code, client=HOME)
    assert "two_ways_in" not in failing(deps, person_with_totp)  # two apps

    totp_enrolment.remove(deps, current, enrolment.authenticator.id, client=HOME)
    assert "two_ways_in" in failing(deps, person_with_totp)
    add_contact(deps, current, "phone", "090-1234-5678")
    assert "two_ways_in" not in failing(deps, person_with_totp)  # app + phone


def test_the_sheet_ages_past_the_configured_age(sqlite_database: str, clock: FrozenClock) -> None:
    deps = build_deps(sqlite_database, clock, backup_codes_max_age_days=30)
    max_age = deps.policy.backup_codes_max_age_seconds
    assert max_age == 30 * DAY
    person = _with_totp(deps, clock)
    made = backup_codes.require_status(deps, person.id).created_at

    clock.advance((made - clock.now()).total_seconds() + max_age - 1)  # a second before the age
    assert "backup_codes_fresh" not in failing(deps, person)
    clock.advance(1)
    found = checked(deps, person)
    assert not oks(found)["backup_codes_fresh"]
    assert actions(found)["backup_codes_fresh"] == "/security#backup-codes"

    regenerate(deps, person, clock)
    assert "backup_codes_fresh" not in failing(deps, person)


def test_ready_only_when_every_item_holds(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    confirm_sheet(deps, person_with_totp)
    assert failing(deps, person_with_totp) == {"recovery_email_verified"}
    assert not checked(deps, person_with_totp).ready

    add_contact(deps, in_sudo(deps, person_with_totp, clock), "email", EMAIL)
    found = checked(deps, person_with_totp)
    assert found.ready and all(item.ok for item in found.items)

    use_backup_codes(deps, person_with_totp, 10 - deps.policy.backup_codes_enough_at + 1)
    assert failing(deps, person_with_totp) == {"backup_codes_enough"}
    assert not checked(deps, person_with_totp).ready


def test_check_reads_inside_the_callers_transaction(deps: Deps, person_with_totp: Person) -> None:
    with deps.store.transaction() as tx:
        account = tx.accounts.get(person_with_totp.id)
        assert account is not None
        inside = readiness.check(tx, deps, account)
    assert inside == readiness.readiness(deps, person_with_totp.id)
    assert [item.action for item in inside.items][:2] == [Action.ADD_WAY_IN, Action.NEW_SHEET]
    assert [item.id for item in inside.items] == list(ItemId)


def _with_totp(deps: Deps, clock: FrozenClock) -> Person:
    """``person_with_totp`` on these ``deps`` (the fixture is bound to the default ones)."""
    from sparekey.core.flows import accounts

    someone = Person(username="alice", password="correct horse battery staple")
    someone.id = accounts.register(deps, username=someone.username, password=someone.password).id
    current = signed_in(deps, someone)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    someone.totp_secret = enrolment.secret
    confirmed = totp_enrolment.confirm(
        deps, current, enrolment.authenticator.id, code=totp_now(deps, someone), client=HOME
    )
    assert confirmed.backup_codes is not None
    someone.backup_codes = list(confirmed.backup_codes.codes)
    clock.advance(30)
    return someone
