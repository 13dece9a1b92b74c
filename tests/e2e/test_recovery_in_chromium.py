"""Recovery in Debian's chromium, in English and in Japanese, against a real server with the
shortest wait it allows (60 s): from "I can't use any of these" on the code page, through
the request, the password as proof and the wait, to a new authenticator app, a new
password and the new sheet of backup codes; then the security page, signed in.

Both languages run side by side on one server (two accounts, two browsers), so the one
wait is shared."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new long passphrase"
WAIT_SECONDS = 60  # the least SPAREKEY_RECOVERY_WAIT_SECONDS allows; the password alone waits it all
USERS = {"en": "alice", "ja": "taro"}
TEXT = {
    "en": {"waiting": "For your safety the recovery waits until", "done": "Your account is recovered"},
    "ja": {"waiting": "安全のため", "done": "アカウントが復旧されました"},
}


def api(server: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - our own server
        f"{server}{path}", json.dumps(body).encode(), headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own server
        result: dict[str, Any] = json.loads(answer.read() or b"{}")
        return result


def owner_with_an_app(server: str, username: str) -> None:
    """An account whose only second factor is an authenticator app on the phone now lost."""
    api(server, "/api/v1/accounts", {"username": username, "password": PASSWORD})
    token = api(server, "/api/v1/login", {"username": username, "password": PASSWORD})["session_token"]
    enrolment = api(server, "/api/v1/me/totp", {"name": "lost phone"}, token)
    code = pyotp.TOTP(enrolment["secret"]).now()
    api(server, f"/api/v1/me/totp/{enrolment['authenticator_id']}/confirm", {"code": code}, token)


def ask_for_recovery(page: Any, server: str, username: str, lang: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.locator("#lost-every-way").click()  # on the code page: "I can't use any of these"
    page.wait_for_url(re.compile(r"/recovery$"))
    page.fill("input[name=username]", username)
    page.click("#recovery-start-form button[type=submit]")
    page.wait_for_url(re.compile(r"/recovery/[A-Za-z0-9_-]+$"))
    assert page.get_attribute("#recovery-state", "data-state") == "collecting"
    page.fill("#password", PASSWORD)
    page.click("#recovery-evidence-form button[type=submit]")
    assert page.get_attribute("#recovery-state", "data-state") == "waiting"
    assert TEXT[lang]["waiting"] in page.inner_text("#recovery-state")
    page.screenshot(path=str(ARTIFACTS / f"recovery-waiting-{lang}.png"), full_page=True)


def complete(page: Any, lang: str) -> None:
    page.reload()
    assert page.get_attribute("#recovery-state", "data-state") == "ready"
    page.click("#recovery-continue")
    secret = page.inner_text("#totp-secret").strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.fill("#new-password", NEW_PASSWORD)
    page.screenshot(path=str(ARTIFACTS / f"recovery-new-app-{lang}.png"), full_page=True)
    page.click("#recovery-complete")
    assert TEXT[lang]["done"] in page.inner_text("h1")
    codes = page.input_value("#codes-text").split()
    assert len(codes) == 10 and len(set(codes)) == 10
    page.screenshot(path=str(ARTIFACTS / f"recovery-new-sheet-{lang}.png"), full_page=True)
    page.click("#to-security")
    page.wait_for_url(re.compile(r"/security$"))  # signed in by the completion


def test_from_i_cant_use_any_of_these_to_the_new_sheet(start_server: Any, chromium: Any) -> None:
    server = start_server(recovery_wait_seconds=str(WAIT_SECONDS))
    pages = {}
    for lang, username in USERS.items():
        owner_with_an_app(server, username)
        context = chromium.new_context(
            locale=lang, extra_http_headers={"Accept-Language": lang}, viewport={"width": 390, "height": 844}
        )
        pages[lang] = context.new_page()
        ask_for_recovery(pages[lang], server, username, lang)
    time.sleep(WAIT_SECONDS + 1)
    for lang, page in pages.items():
        complete(page, lang)
        page.context.close()

    # The old password is gone; the new one and the new app are the way in.
    for username in USERS.values():
        refused = urllib.request.Request(  # noqa: S310 - our own server
            f"{server}/api/v1/login",
            json.dumps({"username": username, "password": PASSWORD}).encode(),
            {"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(refused, timeout=10)  # noqa: S310 - our own server
        assert error.value.code == 401
        started = api(server, "/api/v1/login", {"username": username, "password": NEW_PASSWORD})
        assert [m["type"] for m in started["methods"]] == ["totp", "backup_code"]
