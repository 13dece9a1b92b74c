"""Another way in, in Debian's chromium, in English and in Japanese: add a phone number on the
security page, verify it with the SMS that arrives (at a local server that speaks Twilio's
API), keep the backup codes it brings, sign out, and sign in again with "try another way":
a code by SMS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.delivery.conftest import Provider, StartProvider
from tests.delivery.test_twilio import FROM, SID, TOKEN, FakeTwilio
from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"

TEXT = {
    "en": {"security": "Security", "sent": "We sent a code to +81 ** **** 5678", "weaker": "weaker than",
           "send": "Send a code by SMS to +81 ** **** 5678", "verified": "verified"},
    "ja": {"security": "セキュリティ", "sent": "+81 ** **** 5678 にコードを送りました",
           "weaker": "安全性が低い", "send": "+81 ** **** 5678 に SMS でコードを送る",
           "verified": "確認済み"},
}  # fmt: skip


@pytest.fixture
def twilio(start_provider: StartProvider) -> tuple[FakeTwilio, Provider]:
    fake = FakeTwilio()
    return fake, start_provider(fake)


def last_sms_code(fake: FakeTwilio) -> str:
    messages = [m for m in fake.accepted if m["resource"] == "Messages"]
    assert messages, "no SMS reached the provider"
    found = re.search(r"\b(\d{6})\b", messages[-1]["Body"])
    assert found, messages[-1]["Body"]
    return found.group(1)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_add_a_phone_and_sign_in_with_an_sms_code(
    start_server: Any, chromium: Any, twilio: tuple[FakeTwilio, Provider], lang: str
) -> None:
    fake, provider = twilio
    server = start_server(
        phone_sender="twilio",
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from=FROM,
        twilio_api_base=provider.url,
    )
    words = TEXT[lang]
    context = chromium.new_context(
        locale=lang, extra_http_headers={"Accept-Language": lang}, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(f"{server}/register")
    page.fill("input[name=username]", "hanako")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert page.inner_text("h1") == words["security"]

    # Add a phone number, written the way it is written in Japan.
    page.select_option("#contacts select[name=kind]", "phone")
    page.fill("#contacts input[name=address]", "090-1234-5678")
    page.select_option("#contacts select[name=region]", "JP")
    page.click("#contacts form[action='/security/contacts'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert fake.accepted[-1]["To"] == "+819012345678"
    page.fill("#contacts form[action$='/verify'] input[name=code]", last_sms_code(fake))
    page.click("#contacts form[action$='/verify'] button[type=submit]")
    codes = [c.strip() for c in page.locator("ol.codes code").all_inner_texts()]
    assert len(codes) == 10  # the first phone turned two-step verification on: set #1
    page.goto(f"{server}/security")
    assert words["verified"] in page.inner_text("#contacts")

    # Sign out, sign in: the second step offers the phone, and says SMS is the weaker way.
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=username]", "hanako")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/code"))
    assert words["weaker"] in page.inner_text("#other-ways")
    page.get_by_role("button", name=words["send"]).click()
    assert words["sent"] in page.inner_text("#sent")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"sms-code-{lang}.png"), full_page=True)
    page.fill("#code", last_sms_code(fake))
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert page.inner_text("h1") == words["security"]
    context.close()
