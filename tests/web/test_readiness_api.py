"""Recovery readiness in ``GET /api/v1/me``: the six stable ids in their order, each item false
then true once its fix is done through the API, ``ready`` only when every item holds, and
every ``action`` a page that a signed-in browser can open. Codes sent to phones and e-mail
addresses are read from the embedded outbox; time moves only with the frozen clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.web.conftest import CLIENT_IP, ApiUser, app_settings
from tests.web.test_trusted_devices_api import JP_PHONE, sent_code

IDS = [
    "two_ways_in",
    "backup_codes_present",
    "backup_codes_confirmed",
    "backup_codes_enough",
    "backup_codes_fresh",
    "recovery_email_verified",
]
WITHOUT_2FA_ACTIONS = {
    "two_ways_in": "/security#two-step",
    "backup_codes_present": "/security#two-step",
    "backup_codes_confirmed": "/security#two-step",
    "backup_codes_enough": "/security#two-step",
    "backup_codes_fresh": "/security#two-step",
    "recovery_email_verified": "/security#contacts",
}
WITH_SHEET_ACTIONS = {
    "two_ways_in": "/security#two-step",
    "backup_codes_present": "/security#backup-codes",
    "backup_codes_confirmed": "/security/backup-codes/confirm",
    "backup_codes_enough": "/security#backup-codes",
    "backup_codes_fresh": "/security#backup-codes",
    "recovery_email_verified": "/security#contacts",
}
EMAIL = "alice@example.org"
DAY = 86400


def readiness_of(user: ApiUser) -> dict[str, Any]:
    response = user.http.get("/api/v1/me", headers=user.auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["readiness"]
    assert set(found) == {"ready", "items", "last_drill_at"}
    assert [item["id"] for item in found["items"]] == IDS
    for item in found["items"]:
        assert set(item) == {"id", "ok", "action"}
        assert isinstance(item["ok"], bool) and item["action"].startswith("/")
    assert found["ready"] is all(item["ok"] for item in found["items"])
    return found


def failing(user: ApiUser) -> set[str]:
    return {item["id"] for item in readiness_of(user)["items"] if not item["ok"]}


def actions(found: dict[str, Any]) -> dict[str, str]:
    return {item["id"]: item["action"] for item in found["items"]}


def assert_pages_open(user: ApiUser, found: dict[str, Any]) -> None:
    """Every action, fetched as a signed-in browser: a page (with the anchor the path names)
    or a redirect that does not send the browser to the sign-in page."""
    browser = user.http
    assert user.token
    browser.cookies.set("sparekey_session", user.token)
    try:
        for path in sorted(set(actions(found).values())):
            page, _, anchor = path.partition("#")
            assert page.startswith("/security")
            response = browser.get(page, follow_redirects=False)
            assert response.status_code == 200 or response.is_redirect, (path, response.status_code)
            if response.is_redirect:
                assert not response.headers["location"].split("?")[0].endswith("/login"), path
            elif anchor:
                assert f'id="{anchor}"' in response.text, path
    finally:
        browser.cookies.delete("sparekey_session")


def use_backup_codes(user: ApiUser, count: int) -> None:
    """Sign in ``count`` times with the next unused code of the sheet."""
    for _ in range(count):
        flow_id = user.flow()
        response = user.http.post(f"/api/v1/login/{flow_id}/code", json={"code": user.codes.pop(0)})
        assert response.status_code == 200, response.text
        assert response.json()["method_used"] == "backup_code"
        user.token = response.json()["session_token"]


def confirm_sheet(user: ApiUser) -> None:
    total = user.http.get("/api/v1/me/backup-codes", headers=user.auth).json()["total"]
    response = user.http.post(
        "/api/v1/me/backup-codes/confirm",
        json={"position": total, "code": user.codes[-1]},  # these tests use codes from the first on
        headers=user.auth,
    )
    assert response.status_code == 200, response.text


def regenerate(user: ApiUser) -> None:
    user.sudo()
    response = user.http.post("/api/v1/me/backup-codes/regenerate", headers=user.auth)
    assert response.status_code == 201, response.text
    user.codes = response.json()["codes"]


def add_contact(user: ApiUser, body: dict[str, Any], to: str) -> None:
    added = user.http.post("/api/v1/me/contacts", json=body, headers=user.auth)
    assert added.status_code == 201, added.text
    verified = user.http.post(
        f"/api/v1/me/contacts/{added.json()['id']}/verify",
        json={"code": sent_code(user.http, to)},
        headers=user.auth,
    )
    assert verified.status_code == 200, verified.text


def sign_in_again(user: ApiUser) -> None:
    """A fresh session (a long time passed): password, then the app in a new time step."""
    flow_id = user.flow()
    user.clock.advance(30)
    response = user.http.post(f"/api/v1/login/{flow_id}/code", json={"code": user.totp()})
    assert response.status_code == 200, response.text
    user.token = response.json()["session_token"]


# -- without two-step verification -----------------------------------------------------------------


def test_without_two_step_verification_only_the_email_can_be_ready(user: ApiUser) -> None:
    user.login()
    found = readiness_of(user)
    assert found["ready"] is False
    assert failing(user) == set(IDS)
    assert actions(found) == WITHOUT_2FA_ACTIONS
    assert_pages_open(user, found)

    add_contact(user, {"kind": "email", "address": EMAIL}, EMAIL)  # no sudo: 2FA is off
    found = readiness_of(user)
    assert failing(user) == set(IDS) - {"recovery_email_verified"}
    assert found["ready"] is False and actions(found) == WITHOUT_2FA_ACTIONS


# -- the journey to ready ----------------------------------------------------------------------------


def test_the_journey_from_the_first_app_to_ready(user_2fa: ApiUser) -> None:
    found = readiness_of(user_2fa)
    # the app and the sheet are two ways in; the sheet is not confirmed, no e-mail address
    assert failing(user_2fa) == {"backup_codes_confirmed", "recovery_email_verified"}
    assert actions(found) == WITH_SHEET_ACTIONS
    assert_pages_open(user_2fa, found)

    confirm_sheet(user_2fa)
    assert failing(user_2fa) == {"recovery_email_verified"}
    assert readiness_of(user_2fa)["ready"] is False

    user_2fa.sudo()
    add_contact(user_2fa, {"kind": "email", "address": EMAIL}, EMAIL)
    found = readiness_of(user_2fa)
    assert found["ready"] is True and failing(user_2fa) == set()
    assert actions(found) == WITH_SHEET_ACTIONS
    assert_pages_open(user_2fa, found)


def test_few_codes_left_until_a_new_sheet(user_2fa: ApiUser) -> None:
    confirm_sheet(user_2fa)
    use_backup_codes(user_2fa, 6)  # 4 left: enough
    assert failing(user_2fa) == {"recovery_email_verified"}
    use_backup_codes(user_2fa, 1)  # 3 left
    found = readiness_of(user_2fa)
    assert failing(user_2fa) == {"backup_codes_enough", "recovery_email_verified"}
    assert actions(found)["backup_codes_enough"] == "/security#backup-codes"
    assert_pages_open(user_2fa, found)

    regenerate(user_2fa)
    assert failing(user_2fa) == {"backup_codes_confirmed", "recovery_email_verified"}  # a new sheet
    confirm_sheet(user_2fa)
    assert failing(user_2fa) == {"recovery_email_verified"}


def test_an_empty_sheet_leaves_one_way_in_until_a_phone(user_2fa: ApiUser) -> None:
    use_backup_codes(user_2fa, 10)
    found = readiness_of(user_2fa)
    assert failing(user_2fa) == {
        "two_ways_in",
        "backup_codes_present",
        "backup_codes_confirmed",
        "backup_codes_enough",
        "recovery_email_verified",
    }
    assert actions(found) == WITH_SHEET_ACTIONS  # the used-up sheet is still the current one
    assert_pages_open(user_2fa, found)

    user_2fa.sudo()
    add_contact(user_2fa, {"kind": "email", "address": EMAIL}, EMAIL)
    assert "two_ways_in" in failing(user_2fa)  # an e-mail address is no way in
    add_contact(user_2fa, JP_PHONE, "+819012345678")
    assert failing(user_2fa) == {"backup_codes_present", "backup_codes_confirmed", "backup_codes_enough"}

    regenerate(user_2fa)
    confirm_sheet(user_2fa)
    assert readiness_of(user_2fa)["ready"] is True


def test_a_second_app_is_a_second_way_in(user_2fa: ApiUser) -> None:
    use_backup_codes(user_2fa, 10)
    assert "two_ways_in" in failing(user_2fa)
    user_2fa.sudo()
    begun = user_2fa.http.post("/api/v1/me/totp", json={"name": "iPad"}, headers=user_2fa.auth)
    assert begun.status_code == 201, begun.text
    code = pyotp.TOTP(begun.json()["secret"]).at(user_2fa.clock.now())
    confirmed = user_2fa.http.post(
        f"/api/v1/me/totp/{begun.json()['authenticator_id']}/confirm",
        json={"code": code},
        headers=user_2fa.auth,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert "two_ways_in" not in failing(user_2fa)


# -- the sheet's age, as configured ------------------------------------------------------------------


@pytest.fixture
def month_client(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    """An operator who wants a new sheet every 30 days (``SPAREKEY_BACKUP_CODES_MAX_AGE_DAYS``)."""
    app = create_app(app_settings(tmp_path, backup_codes_max_age_days=30), clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as http:
        yield http


def test_the_sheet_ages_past_the_configured_age(month_client: TestClient, clock: FrozenClock) -> None:
    user = ApiUser(month_client, clock).register().enable_totp()
    confirm_sheet(user)
    user.sudo()
    add_contact(user, {"kind": "email", "address": EMAIL}, EMAIL)
    made = user.http.get("/api/v1/me/backup-codes", headers=user.auth).json()["created_at"]
    assert readiness_of(user)["ready"] is True

    clock.advance(
        30 * DAY - 60 - (clock.now() - datetime.fromisoformat(made)).total_seconds()
    )  # a minute before
    sign_in_again(user)  # 30 s of it
    assert readiness_of(user)["ready"] is True
    clock.advance(30)
    found = readiness_of(user)
    assert failing(user) == {"backup_codes_fresh"} and found["ready"] is False
    assert actions(found)["backup_codes_fresh"] == "/security#backup-codes"
    assert_pages_open(user, found)

    regenerate(user)
    confirm_sheet(user)
    assert readiness_of(user)["ready"] is True
