"""What a session records about how it was made (``core/assurance.py``): the RFC 8176 ``amr``
values, ``auth_time`` and the level of assurance, for every way of signing in. Core use cases
on a real SQLite store with a frozen clock; each session is read back from the store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sparekey.core import assurance
from sparekey.core.assurance import Amr, Level
from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import token_hash
from sparekey.core.deps import Deps
from sparekey.core.flows import contacts, delivery, security_keys, sent_codes, sign_in, totp_enrolment
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client, Session
from tests.conftest import Person, current_for, totp_now
from tests.soft_authenticator import SoftAuthenticator

HOME = Client(ip="198.51.100.7", user_agent="pytest")
ORIGIN = "http://localhost:8000"  # SPAREKEY_PUBLIC_URL's default: RP ID "localhost"
PHONE = "+819012345678"
EMAIL = "taro@example.com"


def stored_session(deps: Deps, result: sign_in.Authenticated) -> Session:
    """The session as the store keeps it, found by its token."""
    with deps.store.transaction() as tx:
        session = tx.sessions.by_token_hash(token_hash(result.session_token))
    assert session is not None
    return session


def recorded(session: Session) -> tuple[str, Level]:
    context = session.context
    return " ".join(context.amr), context.level


def second_step(deps: Deps, person: Person) -> sign_in.SecondFactorRequired:
    started = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(started, sign_in.SecondFactorRequired)
    return started


def signed_in(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    return current


def last_code_to(deps: Deps, address: str) -> str:
    """The code in the newest message the outbox kept for ``address``."""
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=50) if m.to == address]
    assert kept, f"nothing was sent to {address}"
    message = delivery.opened(deps, kept[0])
    assert message is not None
    found = re.search(r"\d{6}", message.text)
    assert found, message.text
    return found.group(0)


# -- the pure rules --------------------------------------------------------------------------------

NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("methods", "factors", "amr", "level"),
    [
        ((Amr.PWD,), 1, ["pwd"], Level.ONE_FACTOR),
        ((Amr.PWD, Amr.OTP), 2, ["pwd", "otp", "mfa"], Level.TWO_FACTORS),
        ((Amr.PWD, Amr.SMS), 2, ["pwd", "sms", "mfa"], Level.TWO_FACTORS),
        ((Amr.PWD, Amr.TEL), 2, ["pwd", "tel", "mfa"], Level.TWO_FACTORS),
        ((Amr.PWD,), 2, ["pwd", "mfa"], Level.TWO_FACTORS),  # a trusted device stands for the second
        ((Amr.PWD, Amr.HWK), 2, ["pwd", "hwk", "mfa"], Level.PHISHING_RESISTANT),
        ((Amr.PWD, Amr.SWK), 2, ["pwd", "swk", "mfa"], Level.PHISHING_RESISTANT),
        ((Amr.HWK,), 2, ["hwk", "mfa"], Level.PHISHING_RESISTANT),  # a passkey with user verification
        ((Amr.OTP,), 1, ["otp"], Level.ONE_FACTOR),
        ((), 1, [], Level.ONE_FACTOR),
    ],
)
def test_the_level_follows_the_methods_and_the_number_of_factors(
    methods: tuple[Amr, ...], factors: int, amr: list[str], level: Level
) -> None:
    context = assurance.context(methods, NOON, factors=factors)
    assert context.amr == amr and context.level is level and context.auth_time == NOON


def test_mfa_is_added_only_for_two_factors_and_never_twice() -> None:
    assert assurance.context((Amr.PWD, Amr.MFA), NOON, factors=1).amr == ["pwd"]
    assert assurance.context((Amr.MFA, Amr.PWD, Amr.MFA), NOON, factors=2).amr == ["pwd", "mfa"]
    assert assurance.context((Amr.PWD, Amr.OTP), NOON, factors=3).amr == ["pwd", "otp", "mfa"]


def test_methods_are_recorded_once_in_the_order_they_were_used() -> None:
    context = assurance.context((Amr.PWD, Amr.OTP, Amr.PWD, Amr.OTP, Amr.SMS), NOON, factors=2)
    assert context.methods == (Amr.PWD, Amr.OTP, Amr.SMS, Amr.MFA)


def test_levels_are_ordered() -> None:
    assert Level.PHISHING_RESISTANT.at_least(Level.TWO_FACTORS)
    assert Level.TWO_FACTORS.at_least(Level.TWO_FACTORS) and Level.TWO_FACTORS.at_least(Level.ONE_FACTOR)
    assert not Level.ONE_FACTOR.at_least(Level.TWO_FACTORS)
    assert not Level.TWO_FACTORS.at_least(Level.PHISHING_RESISTANT)


def test_the_stored_form_round_trips_and_drops_unknown_words() -> None:
    every = tuple(Amr)
    assert assurance.parse_methods(assurance.store_methods(every)) == every
    assert assurance.store_methods((Amr.PWD, Amr.OTP, Amr.MFA)) == "pwd otp mfa"
    assert assurance.parse_methods("pwd  face otp\tMFA mfa retina") == (Amr.PWD, Amr.OTP, Amr.MFA)
    assert assurance.parse_methods("") == () and assurance.store_methods(()) == ""


# -- every way of signing in -----------------------------------------------------------------------


def test_a_password_alone_is_one_factor(deps: Deps, person: Person, clock: FrozenClock) -> None:
    result = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(result, sign_in.Authenticated)
    session = stored_session(deps, result)
    assert recorded(session) == ("pwd", Level.ONE_FACTOR)
    assert session.context.methods == (Amr.PWD,)
    assert session.auth_time == clock.now() and session.trusted_device_id is None


def test_password_and_authenticator_app(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    started = second_step(deps, person_with_totp)
    clock.advance(5)
    result = sign_in.submit_code(
        deps, flow_id=started.flow.id, code=totp_now(deps, person_with_totp), client=HOME
    )
    assert result.method_used == "totp"
    session = stored_session(deps, result)
    assert recorded(session) == ("pwd otp mfa", Level.TWO_FACTORS)
    assert session.auth_time == clock.now()  # when the sign-in finished, not when it began


def test_password_and_backup_code(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    assert person_with_totp.backup_codes
    started = second_step(deps, person_with_totp)
    result = sign_in.submit_code(
        deps, flow_id=started.flow.id, code=person_with_totp.backup_codes[0], client=HOME
    )
    assert result.method_used == "backup_code"
    session = stored_session(deps, result)
    assert recorded(session) == ("pwd otp mfa", Level.TWO_FACTORS) and session.auth_time == clock.now()


@pytest.fixture
def reachable_person(deps: Deps, person: Person, clock: FrozenClock) -> Person:
    """``person`` with a verified e-mail address and a verified phone (which turned 2FA on)."""
    current = signed_in(deps, person)
    for kind, address, region in (("email", EMAIL, None), ("phone", PHONE, None)):
        added = contacts.add(
            deps, current, kind=kind, address=address, region=region, client=HOME, language="en"
        )
        contacts.verify(deps, current, added.contact.id, code=last_code_to(deps, address), client=HOME)
    clock.advance(deps.policy.resend_seconds)
    return person


@pytest.mark.parametrize(
    ("method", "address", "amr"),
    [("sms", PHONE, "pwd sms mfa"), ("voice", PHONE, "pwd tel mfa"), ("email", EMAIL, "pwd otp mfa")],
)
def test_password_and_a_sent_code(
    deps: Deps, reachable_person: Person, clock: FrozenClock, method: str, address: str, amr: str
) -> None:
    started = second_step(deps, reachable_person)
    assert method in [m["type"] for m in started.methods]
    sent_codes.send_for_flow(
        deps, flow_id=started.flow.id, method=method, destination_id=None, client=HOME, language="en"
    )
    clock.advance(20)
    result = sign_in.submit_code(deps, flow_id=started.flow.id, code=last_code_to(deps, address), client=HOME)
    assert result.method_used == method
    session = stored_session(deps, result)
    assert recorded(session) == (amr, Level.TWO_FACTORS) and session.auth_time == clock.now()


def register_key(deps: Deps, person: Person, device: SoftAuthenticator, *, passkey: bool) -> None:
    """The person's first key (2FA was off: no sudo needed), which turns 2FA on."""
    current = signed_in(deps, person)
    registration = security_keys.begin(deps, current, name=None, passkey=passkey)
    registered = security_keys.finish(
        deps,
        current,
        registration.ceremony.id,
        credential=device.create(registration.options),
        client=HOME,
    )
    assert registered.key.passkey is passkey
    assert registered.key.backup_eligible is device.backup_eligible


KEYS = pytest.mark.parametrize(
    ("backup_eligible", "kind"), [(False, "hwk"), (True, "swk")], ids=["device-bound", "synced"]
)


@KEYS
def test_password_and_security_key(
    deps: Deps, person: Person, clock: FrozenClock, backup_eligible: bool, kind: str
) -> None:
    device = SoftAuthenticator(origin=ORIGIN, backup_eligible=backup_eligible, backed_up=backup_eligible)
    register_key(deps, person, device, passkey=False)
    started = second_step(deps, person)
    options = next(m for m in started.methods if m["type"] == "webauthn")["options"]
    clock.advance(7)
    result = sign_in.submit_key(deps, flow_id=started.flow.id, credential=device.get(options), client=HOME)
    assert result.method_used == "webauthn"
    session = stored_session(deps, result)
    assert recorded(session) == (f"pwd {kind} mfa", Level.PHISHING_RESISTANT)
    assert session.auth_time == clock.now()


@KEYS
def test_a_passkey_alone(
    deps: Deps, person: Person, clock: FrozenClock, backup_eligible: bool, kind: str
) -> None:
    device = SoftAuthenticator(origin=ORIGIN, backup_eligible=backup_eligible, backed_up=backup_eligible)
    register_key(deps, person, device, passkey=True)
    flow, options = sign_in.start_passkey(deps, client=HOME)
    clock.advance(7)
    result = sign_in.submit_key(deps, flow_id=flow.id, credential=device.get(options), client=HOME)
    assert result.method_used == "passkey" and result.account.id == person.id
    session = stored_session(deps, result)
    assert recorded(session) == (f"{kind} mfa", Level.PHISHING_RESISTANT)
    assert session.auth_time == clock.now()


def test_a_trusted_device(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    started = second_step(deps, person_with_totp)
    trusting = sign_in.submit_code(
        deps,
        flow_id=started.flow.id,
        code=totp_now(deps, person_with_totp),
        client=HOME,
        trust_device=True,
    )
    assert trusting.device_token is not None
    made_trusted = stored_session(deps, trusting)
    assert recorded(made_trusted) == ("pwd otp mfa", Level.TWO_FACTORS)
    assert made_trusted.trusted_device_id is not None  # the session that made the device trusted

    clock.advance(3600)
    result = sign_in.start(
        deps,
        username=person_with_totp.username,
        password=person_with_totp.password,
        client=HOME,
        device_tokens=[trusting.device_token],
    )
    assert isinstance(result, sign_in.Authenticated) and result.method_used == "trusted_device"
    session = stored_session(deps, result)
    assert recorded(session) == ("pwd mfa", Level.TWO_FACTORS)
    assert session.auth_time == clock.now()
    assert session.trusted_device_id == made_trusted.trusted_device_id


def test_a_code_sign_in_without_trust_is_tied_to_no_device(deps: Deps, person_with_totp: Person) -> None:
    started = second_step(deps, person_with_totp)
    result = sign_in.submit_code(
        deps, flow_id=started.flow.id, code=totp_now(deps, person_with_totp), client=HOME
    )
    assert result.device_token is None and stored_session(deps, result).trusted_device_id is None


def test_turning_2fa_on_does_not_raise_a_session_made_before(
    deps: Deps, person: Person, clock: FrozenClock
) -> None:
    """What a session proves is fixed when it is made: adding a factor later proves nothing
    about the person holding that session."""
    before = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(before, sign_in.Authenticated)
    current = signed_in(deps, person)
    enrolment = totp_enrolment.begin(deps, current, name="iPhone")
    person.totp_secret = enrolment.secret
    totp_enrolment.confirm(
        deps, current, enrolment.authenticator.id, code=totp_now(deps, person), client=HOME
    )
    clock.advance(60)
    session = stored_session(deps, before)
    assert recorded(session) == ("pwd", Level.ONE_FACTOR)
    assert session.auth_time == clock.now() - timedelta(seconds=60)
