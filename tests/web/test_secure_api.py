"""Secure my account over HTTP: ``POST /api/v1/me/secure`` and the pages ``/security/secure``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.i18n import translate
from sparekey.web.messages import ERROR_MESSAGES, PASSWORD_REASONS
from tests.web.conftest import ApiUser
from tests.web.test_api_contract import assert_error
from tests.web.test_page_journeys import PASSWORD, Browser, csrf

URL = "/api/v1/me/secure"
NEW_PASSWORD = "a brand new passphrase"
CHECKLIST = ["store_sheet", "review_activity", "review_ways_in", "check_email"]
CODE = re.compile(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>")


def trusted_phone(client: TestClient, user: ApiUser) -> dict[str, Any]:
    """Another session of the owner, on a device it trusts: ``{session_token, device_token}``."""
    flow = client.post("/api/v1/login", json={"username": user.username, "password": user.password}).json()
    user.clock.advance(30)
    response = client.post(
        f"/api/v1/login/{flow['flow_id']}/code", json={"code": user.totp(), "trust_device": True}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["device_token"]
    client.cookies.clear()  # the device is the token in hand, not this test client's cookie
    return body


def login(client: TestClient, user: ApiUser, password: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/login", json={"username": user.username, "password": password, **extra})
    body: dict[str, Any] = response.json()
    body["status_code"] = response.status_code
    return body


# The API ------------------------------------------------------------------------------------


def test_secure_over_the_api(client: TestClient, user_2fa: ApiUser) -> None:
    user = user_2fa
    phone = trusted_phone(client, user)
    waiting = user.flow()  # a sign-in left at the second step
    old_codes = user.codes

    assert_error(
        client.post(URL, json={"new_password": NEW_PASSWORD}, headers=user.auth), 403, "sudo_required"
    )
    user.sudo()
    weak = assert_error(
        client.post(URL, json={"new_password": "short"}, headers=user.auth), 422, "password_too_weak"
    )
    assert weak["reason"] == "too_short"
    assert_error(client.post(URL, json={}, headers=user.auth), 422, "validation_error")
    assert_error(
        client.post(URL, json={"new_password": 12345678}, headers=user.auth), 422, "validation_error"
    )
    # The refusals changed nothing: the phone is still signed in.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {phone['session_token']}"}).is_success

    response = client.post(URL, json={"new_password": NEW_PASSWORD, "ignored": True}, headers=user.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"backup_codes", "sessions_ended", "devices_revoked", "checklist"}
    assert set(body["backup_codes"]) == {"set_number", "created_at", "codes"}
    assert body["backup_codes"]["set_number"] == 2 and len(body["backup_codes"]["codes"]) == 10
    assert body["sessions_ended"] == 1 and body["devices_revoked"] == 1
    assert [item["id"] for item in body["checklist"]] == CHECKLIST
    for item in body["checklist"]:
        assert set(item) == {"id", "action"} and item["action"].startswith("/security")
    actions = {item["id"]: item["action"] for item in body["checklist"]}
    assert actions["review_activity"] == "/security#history"
    assert actions["review_ways_in"] == "/security#two-step"
    assert actions["check_email"] == "/security#contacts"

    # This session stays; the phone's is over, and its device token skips nothing any more.
    assert client.get("/api/v1/me", headers=user.auth).status_code == 200
    gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {phone['session_token']}"})
    assert_error(gone, 401, "not_authenticated")
    assert_error(
        client.post(f"/api/v1/login/{waiting}/code", json={"code": old_codes[0]}), 410, "flow_expired"
    )
    assert login(client, user, user.password)["status_code"] == 401
    again = login(client, user, NEW_PASSWORD, device_token=phone["device_token"])
    assert again["status"] == "second_factor_required"
    # The old sheet is refused, the new one works.
    assert_error(
        client.post(f"/api/v1/login/{again['flow_id']}/code", json={"code": old_codes[1]}),
        401,
        "code_from_replaced_set",
    )
    done = client.post(
        f"/api/v1/login/{again['flow_id']}/code", json={"code": body["backup_codes"]["codes"][0]}
    )
    assert done.status_code == 200, done.text
    events = client.get("/api/v1/me/events?type=account_secured", headers=user.auth).json()
    assert [(e["sessions_ended"], e["devices_revoked"], e["set_number"]) for e in events] == [(1, 1, 2)]


def test_without_two_step_verification_no_sheet(client: TestClient, user: ApiUser) -> None:
    user.login()
    other = login(client, user, user.password)["session_token"]
    user.sudo()
    response = client.post(URL, json={"new_password": NEW_PASSWORD}, headers=user.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backup_codes"] is None
    assert (body["sessions_ended"], body["devices_revoked"]) == (1, 0)
    assert [item["id"] for item in body["checklist"]] == CHECKLIST[1:]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_errors_in_japanese(client: TestClient, user: ApiUser) -> None:
    user.login()
    ja = {**user.auth, "Accept-Language": "ja"}
    error = assert_error(
        client.post(URL, json={"new_password": NEW_PASSWORD}, headers=ja), 403, "sudo_required"
    )
    assert error["message"] == translate("ja", ERROR_MESSAGES["sudo_required"])
    assert error["message"] != ERROR_MESSAGES["sudo_required"]
    user.sudo()
    weak = assert_error(
        client.post(URL, json={"new_password": "short"}, headers=ja), 422, "password_too_weak"
    )
    assert weak["message"] == translate("ja", PASSWORD_REASONS["too_short"], **weak)
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", weak["message"])


def test_not_signed_in(client: TestClient) -> None:
    assert_error(client.post(URL, json={"new_password": NEW_PASSWORD}), 401, "not_authenticated")


# The pages ----------------------------------------------------------------------------------


@pytest.fixture
def browser(client: TestClient, clock: FrozenClock) -> Browser:
    client.headers.pop("Accept-Language", None)
    return Browser(client, clock)


def secure_in_browser(browser: Browser, lang: str) -> str:
    """Register, turn 2FA on, leave another session open, then secure the account from the
    security page: the form, sudo on the way, the form again, the result. The other token."""
    browser.http.headers["Accept-Language"] = lang
    browser.register()
    other = browser.http.post("/api/v1/login", json={"username": "alice", "password": PASSWORD}).json()
    browser.enable_totp()
    security = browser.get("/security")
    assert '<section id="secure">' in security and 'href="/security/secure"' in security

    form = browser.get("/security/secure")
    assert 'action="/security/secure"' in form
    assert re.search(r'<input name="new_password" type="password" autocomplete="new-password"', form)
    assert re.search(r'name="username" value="alice" autocomplete="username"', form)
    browser.post("/security/secure", new_password=NEW_PASSWORD)  # not in sudo: to the sudo page
    assert 'action="/security/sudo"' in browser.page
    assert 'name="next" value="/security/secure"' in browser.page
    browser.clock.advance(30)
    browser.post("/security/sudo", password=PASSWORD, code=browser.totp(), next="/security/secure")
    assert 'action="/security/secure"' in browser.page  # back on the form
    browser.post("/security/secure", expect=422, new_password="short")
    assert 'id="error"' in browser.page and 'action="/security/secure"' in browser.page
    browser.post("/security/secure", new_password=NEW_PASSWORD)
    return str(other["session_token"])


def test_secure_from_the_pages(browser: Browser) -> None:
    other = secure_in_browser(browser, "en")
    page = browser.page
    assert "<h1>Your account is secured</h1>" in page
    assert "Other sessions signed out: 1" in page and "Trusted devices no longer trusted: 0" in page
    assert "Set #2" in page
    codes = CODE.findall(page)
    assert len(codes) == 10 and not set(codes) & set(browser.codes)
    for check, action in [
        ("store_sheet", "/security/backup-codes/confirm"),
        ("review_activity", "/security#history"),
        ("review_ways_in", "/security#two-step"),
        ("check_email", "/security#contacts"),
    ]:
        assert f'<li id="check-{check}"><a href="{action}">' in page
    assert "sign-ins you do not recognise" in page
    assert browser.http.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    # The sheet downloads as text like any new sheet.
    text = browser.http.post(
        "/security/backup-codes/sheet.txt", data={"csrf_token": csrf(page), "codes": codes}
    )
    assert text.status_code == 200 and "Set #2" in text.text and codes[0] in text.text
    # This browser is still signed in; only the new password and the new sheet sign in.
    assert "<h1>Security</h1>" in browser.get("/security")
    browser.sign_out()
    browser.get("/login")
    browser.post("/login", expect=401, username="alice", password=PASSWORD)
    browser.post("/login", username="alice", password=NEW_PASSWORD)
    browser.post("/login/code", expect=401, code=browser.codes[0])
    browser.post("/login/code", code=codes[0])
    assert "<h1>Security</h1>" in browser.page


def test_secure_from_the_pages_in_japanese(browser: Browser) -> None:
    secure_in_browser(browser, "ja")
    page = browser.page
    assert "<h1>アカウントを守りました</h1>" in page and 'lang="ja"' in page
    assert "サインアウトしたほかのセッション: 1" in page
    assert "次に確認すること" in page and "身に覚えのないサインイン" in page
    assert len(CODE.findall(page)) == 10
    form = browser.get("/security/secure")
    assert "<h1>アカウントを守る</h1>" in form


def test_the_form_needs_its_csrf_token(browser: Browser) -> None:
    browser.register()
    browser.get("/security/secure")
    refused = browser.http.post(
        "/security/secure", data={"csrf_token": "forged", "new_password": NEW_PASSWORD}
    )
    assert refused.status_code == 403


def test_signed_out_goes_to_sign_in(client: TestClient) -> None:
    response = client.get("/security/secure", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
