"""Contact points and the codes sent to them, on a real database, read from the real outbox.

The outbox sender keeps every message in the database; tests read the code from there, as
the person would from their phone or mailbox.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeExpired,
    ContactExists,
    FlowExpired,
    InvalidCode,
    InvalidEmail,
    InvalidPhoneNumber,
    RateLimited,
    SparekeyError,
    SudoRequired,
    ValidationFailed,
)
from sparekey.core.events import EventType
from sparekey.core.flows import contacts, delivery, history, sent_codes, sign_in, sudo, two_factor
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from tests.conftest import Person, build_deps, current_for, totp_now

HOME = Client(ip="198.51.100.7", user_agent="pytest")
PHONE = "090-1234-5678"  # national form, region JP
E164 = "+819012345678"


def last_code_to(deps: Deps, address: str) -> str:
    """The code in the newest message the outbox kept for ``address``."""
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=50) if m.to == address]
    assert kept, f"nothing was sent to {address}"
    message = delivery.opened(deps, kept[0])
    assert message is not None
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found, message.text
    return found.group(1)


def messages_to(deps: Deps, address: str) -> int:
    with deps.store.transaction() as tx:
        return sum(m.to == address for m in tx.messages.kept_by_outbox(limit=1000))


def add_phone(deps: Deps, current: Current, phone: str = PHONE) -> contacts.Verified:
    added = contacts.add(deps, current, kind="phone", address=phone, region="JP", client=HOME, language="en")
    assert added.sent.sent_to.endswith("5678") and "*" in added.sent.sent_to
    return contacts.verify(
        deps, current, added.contact.id, code=last_code_to(deps, added.contact.address), client=HOME
    )


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def enter_sudo(deps: Deps, current: Current, person: Person, code: str | None = None) -> None:
    sudo.enter(deps, current, password=person.password, code=code, client=HOME, rotate_token=False)


# -- contact points ------------------------------------------------------------------------------


def test_the_first_phone_turns_two_step_verification_on(deps: Deps, person: Person) -> None:
    current = signed_in(deps, person)
    verified = add_phone(deps, current)
    assert verified.contact.address == E164 and verified.contact.verified
    assert verified.backup_codes is not None and verified.backup_codes.set_number == 1
    assert two_factor.overview(deps, person.id).account.two_factor_enabled
    kinds = [e.type for e in reversed(history.recent_events(deps, person.id))]
    for expected in (
        EventType.CONTACT_ADDED,
        EventType.CODE_SENT,
        EventType.CONTACT_VERIFIED,
        EventType.FACTOR_ADDED,
    ):
        assert expected in kinds
    sent = next(e for e in history.recent_events(deps, person.id) if e.type == EventType.CODE_SENT)
    assert sent.data["destination"] == "+81 ** **** 5678" and sent.data["channel"] == "sms"
    assert "code" not in sent.data and E164 not in str(sent.data)


def test_an_email_address_never_turns_two_step_verification_on(deps: Deps, person: Person) -> None:
    current = signed_in(deps, person)
    added = contacts.add(
        deps, current, kind="email", address="Taro@Example.COM", region=None, client=HOME, language="ja"
    )
    assert added.contact.address == "Taro@example.com" and added.sent.sent_to == "T***@example.com"
    code = last_code_to(deps, "Taro@example.com")
    verified = contacts.verify(deps, current, added.contact.id, code=code, client=HOME)
    assert verified.contact.verified and verified.backup_codes is None
    assert not two_factor.overview(deps, person.id).account.two_factor_enabled


@pytest.mark.parametrize(
    ("kind", "address", "region", "error"),
    [
        ("phone", "090-1234-5678", None, InvalidPhoneNumber),  # national form needs a region
        ("phone", "12345", "JP", InvalidPhoneNumber),
        ("phone", "+81 90 1234 5678 9999", None, InvalidPhoneNumber),
        ("phone", "not a number", "JP", InvalidPhoneNumber),
        ("phone", "+819012345678", "ZZZ", InvalidPhoneNumber),
        ("email", "not-an-address", None, InvalidEmail),
        ("email", "a@b", None, InvalidEmail),
        ("email", "x" * 400 + "@example.com", None, InvalidEmail),
        ("fax", "+819012345678", None, ValidationFailed),
    ],
)
def test_bad_contact_points_are_refused_clearly(
    deps: Deps, person: Person, kind: str, address: str, region: str | None, error: type[SparekeyError]
) -> None:
    current = signed_in(deps, person)
    with pytest.raises(error):
        contacts.add(deps, current, kind=kind, address=address, region=region, client=HOME, language="en")
    assert contacts.list_contacts(deps, person.id) == []


def test_a_contact_point_once(deps: Deps, person: Person) -> None:
    current = signed_in(deps, person)
    contacts.add(deps, current, kind="phone", address=E164, region=None, client=HOME, language="en")
    with pytest.raises(ContactExists):
        contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")


def test_with_two_step_verification_on_adding_and_removing_need_sudo(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person_with_totp)
    with pytest.raises(SudoRequired):
        contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    clock.advance(30)
    enter_sudo(deps, current, person_with_totp, totp_now(deps, person_with_totp))
    verified = add_phone(deps, current)
    assert verified.backup_codes is None  # 2FA was on already: no new set
    clock.advance(deps.policy.sudo_seconds + 1)
    with pytest.raises(SudoRequired):
        contacts.remove(deps, current, verified.contact.id, client=HOME)


def test_removing_the_last_phone_turns_two_step_verification_off(deps: Deps, person: Person) -> None:
    current = signed_in(deps, person)
    verified = add_phone(deps, current)
    enter_sudo(deps, current, person, verified.backup_codes.codes[0])  # type: ignore[union-attr]
    contacts.remove(deps, current, verified.contact.id, client=HOME)
    view = two_factor.overview(deps, person.id)
    assert not view.account.two_factor_enabled and view.backup_codes is None


def test_turning_two_step_verification_off_removes_phones_and_keeps_email(deps: Deps, person: Person) -> None:
    current = signed_in(deps, person)
    mail = contacts.add(
        deps, current, kind="email", address="taro@example.com", region=None, client=HOME, language="en"
    )
    contacts.verify(deps, current, mail.contact.id, code=last_code_to(deps, "taro@example.com"), client=HOME)
    phone = add_phone(deps, current)
    enter_sudo(deps, current, person, phone.backup_codes.codes[0])  # type: ignore[union-attr]
    two_factor.disable(deps, current, HOME)
    assert [c.kind for c in contacts.list_contacts(deps, person.id)] == ["email"]


def test_verification_codes_expire_and_are_single_use(deps: Deps, person: Person, clock: FrozenClock) -> None:
    current = signed_in(deps, person)
    added = contacts.add(deps, current, kind="phone", address=PHONE, region="JP", client=HOME, language="en")
    code = last_code_to(deps, E164)
    clock.advance(deps.policy.sent_code_seconds)
    with pytest.raises(CodeExpired):
        contacts.verify(deps, current, added.contact.id, code=code, client=HOME)
    clock.advance(deps.policy.resend_seconds)
    contacts.resend(deps, current, added.contact.id, client=HOME, language="en")
    fresh = last_code_to(deps, E164)
    with pytest.raises(InvalidCode):  # the first code ended with the resend
        contacts.verify(deps, current, added.contact.id, code=code, client=HOME)
    contacts.verify(deps, current, added.contact.id, code=fresh, client=HOME)
    with pytest.raises(ValidationFailed):
        contacts.verify(deps, current, added.contact.id, code=fresh, client=HOME)


def test_a_password_change_ends_a_pending_verification_code(deps: Deps, person: Person) -> None:
    from sparekey.core.flows import accounts

    current = signed_in(deps, person)
    added = contacts.add(
        deps, current, kind="email", address="taro@example.com", region=None, client=HOME, language="en"
    )
    code = last_code_to(deps, "taro@example.com")
    enter_sudo(deps, current, person)
    accounts.change_password(deps, current, new_password="an entirely new passphrase", client=HOME)
    with pytest.raises(InvalidCode):
        contacts.verify(deps, current, added.contact.id, code=code, client=HOME)


# -- sign-in codes -------------------------------------------------------------------------------------


@pytest.fixture
def phone_person(deps: Deps, person: Person, clock: FrozenClock) -> Person:
    """``person`` with a verified phone number: 2FA on through SMS, and backup-code set #1."""
    verified = add_phone(deps, signed_in(deps, person))
    person.backup_codes = verified.backup_codes.codes  # type: ignore[union-attr]
    clock.advance(deps.policy.resend_seconds)
    return person


def start(deps: Deps, person: Person, client: Client = HOME) -> sign_in.SecondFactorRequired:
    started = sign_in.start(deps, username=person.username, password=person.password, client=client)
    assert isinstance(started, sign_in.SecondFactorRequired)
    return started


def phone_id(started: sign_in.SecondFactorRequired) -> str:
    sms = next(m for m in started.methods if m["type"] == "sms")
    return str(sms["destinations"][0]["id"])


def test_sign_in_with_an_sms_code(deps: Deps, phone_person: Person) -> None:
    started = start(deps, phone_person)
    assert [m["type"] for m in started.methods] == ["sms", "voice", "backup_code"]
    assert started.methods[0]["destinations"] == [{"id": phone_id(started), "masked": "+81 ** **** 5678"}]
    sent = sent_codes.send_for_flow(
        deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
    )
    assert (sent.sent_to, sent.resend_after) == ("+81 ** **** 5678", 60)
    done = sign_in.submit_code(deps, flow_id=started.flow.id, code=last_code_to(deps, E164), client=HOME)
    assert done.method_used == "sms"


def test_sign_in_with_a_voice_call_that_reads_the_code_twice(deps: Deps, phone_person: Person) -> None:
    started = start(deps, phone_person)
    sent_codes.send_for_flow(
        deps,
        flow_id=started.flow.id,
        method="voice",
        destination_id=phone_id(started),
        client=HOME,
        language="ja",
    )
    with deps.store.transaction() as tx:
        call = next(m for m in tx.messages.kept_by_outbox(limit=5) if m.channel == "voice")
    message = delivery.opened(deps, call)
    assert message is not None and message.speech is not None and message.language == "ja"
    code = re.search(r"\d{6}", message.text).group(0)  # type: ignore[union-attr]
    assert message.speech.count("、".join(code)) == 2  # digit by digit, twice
    done = sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=HOME)
    assert done.method_used == "voice"


def test_a_sent_code_works_only_in_its_flow_and_once(deps: Deps, phone_person: Person) -> None:
    flow_a, flow_b = start(deps, phone_person), start(deps, phone_person)
    sent_codes.send_for_flow(
        deps, flow_id=flow_a.flow.id, method="sms", destination_id=None, client=HOME, language="en"
    )
    code = last_code_to(deps, E164)
    with pytest.raises(InvalidCode):
        sign_in.submit_code(deps, flow_id=flow_b.flow.id, code=code, client=HOME)
    sign_in.submit_code(deps, flow_id=flow_a.flow.id, code=code, client=HOME)
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_a.flow.id, code=code, client=HOME)


def test_a_code_sent_late_gets_its_minutes(deps: Deps, phone_person: Person, clock: FrozenClock) -> None:
    started = start(deps, phone_person)
    clock.advance(deps.policy.login_flow_seconds - 30)  # asked for at the end of the sign-in
    sent_codes.send_for_flow(
        deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
    )
    clock.advance(deps.policy.sent_code_seconds - 1)
    done = sign_in.submit_code(deps, flow_id=started.flow.id, code=last_code_to(deps, E164), client=HOME)
    assert done.method_used == "sms"


def test_expiry_cool_down_and_resend(sqlite_database: str, clock: FrozenClock) -> None:
    from sparekey.core.flows import accounts

    deps = build_deps(sqlite_database, clock, sent_code_minutes=2)  # codes that end before the flow
    phone_person = Person(username="alice", password="correct horse battery staple")
    phone_person.id = accounts.register(
        deps, username=phone_person.username, password=phone_person.password
    ).id
    add_phone(deps, signed_in(deps, phone_person))
    clock.advance(60)
    started = start(deps, phone_person)

    def send() -> sent_codes.Sent:
        return sent_codes.send_for_flow(
            deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
        )

    send()
    first = last_code_to(deps, E164)
    clock.advance(59)
    with pytest.raises(RateLimited) as cooling:
        send()
    assert cooling.value.details["retry_after"] == 1
    clock.advance(deps.policy.sent_code_seconds - 59)
    with pytest.raises(CodeExpired):
        sign_in.submit_code(deps, flow_id=started.flow.id, code=first, client=HOME)
    send()  # a resend: the first code ends, the count of attempts does not restart
    with pytest.raises(InvalidCode):
        sign_in.submit_code(deps, flow_id=started.flow.id, code=first, client=HOME)
    flow, _, _ = sign_in.live_flow(deps, started.flow.id)
    assert flow.attempts == 2
    done = sign_in.submit_code(deps, flow_id=started.flow.id, code=last_code_to(deps, E164), client=HOME)
    assert done.method_used == "sms"


def test_a_number_is_not_flooded(deps: Deps, phone_person: Person, clock: FrozenClock) -> None:
    """Whatever the flows or client addresses asking, a destination gets at most 10 codes an
    hour and 20 a day (the verification code included)."""

    def try_sends(times: int) -> tuple[int, int]:
        sent = refused = 0
        for n in range(times):
            clock.advance(61)
            somewhere = Client(ip=f"203.0.113.{n + 1}")
            started = start(deps, phone_person, somewhere)
            try:
                sent_codes.send_for_flow(
                    deps,
                    flow_id=started.flow.id,
                    method="sms",
                    destination_id=None,
                    client=somewhere,
                    language="en",
                )
                sent += 1
            except RateLimited as limited:
                refused += 1
                assert 0 < limited.details["retry_after"] <= 86400
        return sent, refused

    assert try_sends(30) == (9, 21)  # the hour's cap, with the verification code
    clock.advance(3600)
    assert try_sends(30) == (10, 20)  # the next hour's
    clock.advance(3600)
    assert try_sends(5) == (0, 5)  # the day's cap: 20
    assert messages_to(deps, E164) == 20


def test_the_operator_can_switch_a_method_off(sqlite_database: str, clock: FrozenClock) -> None:
    from sparekey.core.flows import accounts

    deps = build_deps(sqlite_database, clock, sms_codes=False)
    person = Person(username="alice", password="correct horse battery staple")
    person.id = accounts.register(deps, username=person.username, password=person.password).id
    add_phone(deps, signed_in(deps, person))  # verifying still works: it is not a sign-in method
    started = start(deps, person)
    assert [m["type"] for m in started.methods] == ["voice", "backup_code"]
    with pytest.raises(ValidationFailed) as off:
        sent_codes.send_for_flow(
            deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
        )
    assert off.value.details == {"field": "method", "reason": "not_available"}


def test_a_six_digit_code_is_tried_on_the_sent_code_and_the_apps_as_one_attempt(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    current = signed_in(deps, person_with_totp)
    clock.advance(30)
    enter_sudo(deps, current, person_with_totp, totp_now(deps, person_with_totp))
    add_phone(deps, current)
    clock.advance(60)
    started = start(deps, person_with_totp)
    sent_codes.send_for_flow(
        deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
    )
    with pytest.raises(InvalidCode):
        sign_in.submit_code(deps, flow_id=started.flow.id, code="000000", client=HOME)
    flow, _, _ = sign_in.live_flow(deps, started.flow.id)
    assert flow.attempts == 1
    done = sign_in.submit_code(
        deps, flow_id=started.flow.id, code=totp_now(deps, person_with_totp), client=HOME
    )
    assert done.method_used == "totp"  # the app's code works while an SMS code is pending


@pytest.fixture
def shared(database_url: str, clock: FrozenClock) -> Deps:
    return build_deps(database_url, clock)


def test_a_sent_code_is_used_once_under_concurrent_submissions(shared: Deps, clock: FrozenClock) -> None:
    from sparekey.core.flows import accounts

    deps = shared
    person = Person(username="alice", password="correct horse battery staple")
    person.id = accounts.register(deps, username=person.username, password=person.password).id
    add_phone(deps, signed_in(deps, person))
    clock.advance(61)
    started = start(deps, person)
    sent_codes.send_for_flow(
        deps, flow_id=started.flow.id, method="sms", destination_id=None, client=HOME, language="en"
    )
    code = last_code_to(deps, E164)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        try:
            sign_in.submit_code(deps, flow_id=started.flow.id, code=code, client=HOME)
            outcome = "ok"
        except SparekeyError as error:
            outcome = error.code
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["ok"] == 1 and sum(outcomes.values()) == 8, outcomes
    assert set(outcomes) <= {"ok", "flow_expired", "invalid_code"}, outcomes


def test_caps_per_account_and_per_client_address(sqlite_database: str, clock: FrozenClock) -> None:
    from sparekey.core.flows import accounts

    deps = build_deps(sqlite_database, clock, sends_per_account_day=4, sends_per_address_day=3)
    person = Person(username="alice", password="correct horse battery staple")
    person.id = accounts.register(deps, username=person.username, password=person.password).id
    add_phone(deps, signed_in(deps, person))  # one send for this account, from HOME

    def send_from(client: Client) -> None:
        clock.advance(61)
        flow = start(deps, person, client).flow.id
        sent_codes.send_for_flow(
            deps, flow_id=flow, method="sms", destination_id=None, client=client, language="en"
        )

    send_from(HOME)
    send_from(HOME)  # HOME's third send today
    with pytest.raises(RateLimited):
        send_from(HOME)  # the client address's cap
    send_from(Client(ip="203.0.113.77"))  # the account's fourth
    with pytest.raises(RateLimited) as account_cap:
        send_from(Client(ip="203.0.113.78"))
    assert 0 < account_cap.value.details["retry_after"] <= 86400
    clock.advance(86400)
    send_from(Client(ip="203.0.113.78"))  # a day later
