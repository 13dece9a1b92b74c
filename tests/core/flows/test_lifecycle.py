"""When credentials change, sign-ins that were started under the old ones end."""

from __future__ import annotations

import pytest

from sparekey.core.deps import Deps
from sparekey.core.errors import FlowExpired
from sparekey.core.flows import accounts, sign_in, sudo, totp_enrolment, two_factor
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from tests.conftest import Person, current_for, totp_now
from tests.core.flows.test_sign_in import start_flow  # a half-finished sign-in, at the code step

HOME = Client(ip="198.51.100.7", user_agent="pytest")


def in_sudo(deps: Deps, person: Person) -> Current:
    current: Current = current_for(deps, person)  # type: ignore[assignment]
    deps.clock.advance(30)  # type: ignore[attr-defined]
    sudo.enter(
        deps, current, password=person.password, code=totp_now(deps, person), client=HOME, rotate_token=False
    )
    return current


def test_an_open_sign_in_dies_with_a_password_change(deps: Deps, person_with_totp: Person) -> None:
    current = in_sudo(deps, person_with_totp)
    flow_id = start_flow(deps, person_with_totp)
    accounts.change_password(deps, current, new_password="a brand new passphrase", client=HOME)
    deps.clock.advance(30)  # type: ignore[attr-defined]
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, person_with_totp), client=HOME)
    # A sign-in with the new password works as usual.
    person_with_totp.password = "a brand new passphrase"
    done = sign_in.submit_code(
        deps,
        flow_id=start_flow(deps, person_with_totp),
        code=totp_now(deps, person_with_totp),
        client=HOME,
    )
    assert done.method_used == "totp"


def test_an_open_sign_in_dies_when_a_factor_is_removed(deps: Deps, person_with_totp: Person) -> None:
    current = in_sudo(deps, person_with_totp)
    # A second authenticator, so that removing the first leaves 2FA on.
    enrolment = totp_enrolment.begin(deps, current, name="tablet")
    second = Person(username=person_with_totp.username, password=person_with_totp.password)
    second.totp_secret = enrolment.secret
    totp_enrolment.confirm(
        deps, current, enrolment.authenticator.id, code=totp_now(deps, second), client=HOME
    )
    flow_id = start_flow(deps, person_with_totp)
    assert person_with_totp.authenticator_id
    totp_enrolment.remove(deps, current, person_with_totp.authenticator_id, client=HOME)
    deps.clock.advance(30)  # type: ignore[attr-defined]
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_id, code=totp_now(deps, second), client=HOME)


def test_an_open_sign_in_dies_when_two_factor_is_turned_off(deps: Deps, person_with_totp: Person) -> None:
    current = in_sudo(deps, person_with_totp)
    flow_id = start_flow(deps, person_with_totp)
    assert person_with_totp.backup_codes
    two_factor.disable(deps, current, HOME)
    with pytest.raises(FlowExpired):
        sign_in.submit_code(deps, flow_id=flow_id, code=person_with_totp.backup_codes[0], client=HOME)
