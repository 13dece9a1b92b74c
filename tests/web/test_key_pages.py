"""The pages' forms for keys and trusted devices, answered by the software authenticator in
place of static/keys.js (which the chromium tests drive): what a key's answer posted by a
form does, sudo by key offered first to a passkey-only owner, the trust checkbox, and the
security page's lists. Errors read in both languages."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.soft_authenticator import SoftAuthenticator
from tests.web.test_page_journeys import PASSWORD, Browser, csrf

ORIGIN = "http://localhost:8000"


@pytest.fixture
def pages(client: TestClient, clock: FrozenClock) -> Browser:
    client.headers.pop("Accept-Language", None)
    return Browser(client, clock)


def options_in(page: str, form_id: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{form_id}-options">(.*?)</script>', page, re.S)
    assert found, f"no options for #{form_id} on the page"
    options: dict[str, Any] = json.loads(unescape(found.group(1)))
    return options


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return unescape(found.group(1))


def add_key(pages: Browser, key: SoftAuthenticator, *, passkey: bool, name: str = "Laptop") -> None:
    pages.get("/security")
    pages.post("/security/keys", name=name, passkey="1" if passkey else "")
    assert 'data-webauthn="create"' in pages.page
    credential = key.create(options_in(pages.page, "register-key-form"))
    pages.post(
        "/security/keys/finish",
        registration_id=hidden(pages.page, "registration_id"),
        credential=json.dumps(credential),
    )


def test_a_passkey_added_on_the_pages_brings_the_codes_and_signs_in_alone(pages: Browser) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=True)
    assert "Your backup codes" in pages.page  # the first key turned 2FA on
    pages.get("/security")
    assert "<strong>Laptop</strong> <small>passkey" in pages.page
    pages.sign_out()

    pages.get("/login")
    assert 'autocomplete="username webauthn"' in pages.page and 'id="passkey-form"' in pages.page
    started = pages.http.post("/api/v1/login/passkey").json()  # what keys.js fetches
    pages.post(
        "/login/passkey", flow_id=started["flow_id"], credential=json.dumps(key.get(started["options"]))
    )
    assert "<h1>Security</h1>" in pages.page


def test_a_broken_answer_on_the_sign_in_page_says_why(pages: Browser) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=True)
    pages.sign_out()
    pages.get("/login")
    started = pages.http.post("/api/v1/login/passkey").json()
    answer = key.get(started["options"], origin="https://login.example.net")
    pages.post("/login/passkey", 401, flow_id=started["flow_id"], credential=json.dumps(answer))
    assert "The key was used on a page of another site" in pages.page
    pages.post("/login/passkey", 422, flow_id=started["flow_id"], credential="{not json")
    assert 'role="alert"' in pages.page


def test_a_security_key_as_the_second_step_and_trusting_the_device(
    pages: Browser, client: TestClient
) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=False, name="Blue key")
    pages.sign_out()
    pages.get("/login")
    pages.post("/login", username="alice", password=PASSWORD)
    assert 'id="key-form"' in pages.page and 'id="trust-device"' in pages.page
    assert "Use your security key or passkey" in pages.page
    answer = key.get(options_in(pages.page, "key-form"))
    pages.post("/login/code/webauthn", credential=json.dumps(answer), trust_device="1")
    assert "<h1>Security</h1>" in pages.page
    assert 'id="devices"' in pages.page and "this device" in pages.page.split('id="devices"')[1]
    assert client.cookies.get("sparekey_devices")

    pages.sign_out()
    pages.get("/login")
    pages.post("/login", username="alice", password=PASSWORD)  # the device is trusted now
    assert "<h1>Security</h1>" in pages.page

    device_id = re.search(r'action="/security/devices/(\w+)/revoke"', pages.page).group(1)  # type: ignore[union-attr]
    pages.post(f"/security/devices/{device_id}/revoke")
    assert "This device is no longer trusted" in pages.page
    pages.sign_out()
    pages.get("/login")
    pages.post("/login", username="alice", password=PASSWORD)
    assert 'id="key-form"' in pages.page  # the second step again


def test_a_passkey_only_owner_is_offered_the_key_first_for_sudo(pages: Browser) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=True)
    pages.sign_out()
    started = pages.http.post("/api/v1/login/passkey").json()
    pages.get("/login")
    pages.post(
        "/login/passkey", flow_id=started["flow_id"], credential=json.dumps(key.get(started["options"]))
    )
    pages.post("/security/backup-codes/regenerate")  # needs sudo: the sudo page
    page = pages.page
    assert page.index('id="sudo-key-form"') < page.index('action="/security/sudo"')
    pages.post(
        "/security/sudo/key",
        sudo_flow_id=hidden(page, "sudo_flow_id"),
        next=hidden(page, "next"),
        credential=json.dumps(key.get(options_in(page, "sudo-key-form"))),
    )
    pages.post("/security/backup-codes/regenerate")
    assert "Your backup codes" in pages.page


def test_a_password_session_is_asked_the_password_first_and_a_wrong_key_answer_explains(
    pages: Browser,
) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=False)
    pages.get("/security/sudo")
    page = pages.page
    assert page.index('action="/security/sudo"') < page.index('id="sudo-key-form"')
    answer = key.get(options_in(page, "sudo-key-form"), user_present=False)
    pages.post(
        "/security/sudo/key", 401, sudo_flow_id=hidden(page, "sudo_flow_id"), credential=json.dumps(answer)
    )
    assert "Touch your key when it blinks" in pages.page


def test_keys_are_renamed_and_removed_on_the_security_page(pages: Browser, clock: FrozenClock) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    add_key(pages, key, passkey=False, name="Old name")
    pages.get("/security")
    key_id = re.search(r'action="/security/keys/(\w+)/rename"', pages.page).group(1)  # type: ignore[union-attr]
    pages.post(f"/security/keys/{key_id}/rename", name="Desk key")
    assert "<strong>Desk key</strong>" in pages.page
    pages.post(f"/security/keys/{key_id}/delete")  # sudo first
    assert 'id="sudo-key-form"' in pages.page
    page = pages.page
    pages.post(
        "/security/sudo/key",
        sudo_flow_id=hidden(page, "sudo_flow_id"),
        next=hidden(page, "next"),
        credential=json.dumps(key.get(options_in(page, "sudo-key-form"))),
    )
    pages.get("/security")
    pages.post(f"/security/keys/{key_id}/delete")
    assert "The key was removed" in pages.page and "Desk key" not in pages.page.split('id="keys"')[1]


def test_the_key_pages_speak_japanese(pages: Browser) -> None:
    pages.http.headers["Accept-Language"] = "ja"
    key = SoftAuthenticator(origin=ORIGIN)
    pages.register()
    pages.get("/security")
    assert "パスキーとセキュリティキー" in pages.page and "パスキーを追加" in pages.page
    add_key(pages, key, passkey=False)
    pages.sign_out()
    pages.get("/login")
    assert "パスキーでサインイン" in pages.page
    pages.post("/login", username="alice", password=PASSWORD)
    assert "セキュリティキーまたはパスキーを使う" in pages.page and "日間信頼する" in pages.page
    answer = key.get(options_in(pages.page, "key-form"), bad_signature=True)
    pages.post("/login/code/webauthn", 401, credential=json.dumps(answer))
    assert "キーの応答を確認できませんでした" in pages.page
    assert csrf(pages.page)
