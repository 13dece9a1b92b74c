"""The security center in Debian's chromium, in English and in Japanese, on a phone-sized
screen: the overview (readiness first, with what fixes each item; times in the browser's
own zone), and signing out a session opened in another browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"

TEXT = {
    "en": {"question": "If you lost your phone today, could you get back in?", "not_yet": "Not yet.",
           "fix": "Fix this", "sign_out": "Sign out", "signed_out": "That session was signed out.",
           "others": "Sign out everywhere else", "all_out": "Every other session was signed out.",
           "email_item": "A verified e-mail address for recovery", "this_device": "this device"},
    "ja": {"question": "今日スマートフォンをなくしても、サインインできますか？", "not_yet": "まだです。",
           "fix": "対処する", "sign_out": "サインアウト",
           "signed_out": "そのセッションをサインアウトしました。",
           "others": "ほかのすべての場所でサインアウト",
           "all_out": "ほかのすべてのセッションをサインアウトしました。",
           "email_item": "復旧用の確認済みメールアドレス", "this_device": "この端末"},
}  # fmt: skip


def browser_in(chromium: Any, lang: str, *, zone: str, agent: str | None = None) -> Any:
    options: dict[str, Any] = {"user_agent": agent} if agent else {}
    context = chromium.new_context(
        locale=lang,
        timezone_id=zone,
        extra_http_headers={"Accept-Language": lang},
        viewport={"width": 390, "height": 844},
        **options,
    )
    return context.new_page()


def sign_in(page: Any, server: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_overview_and_signing_out_another_session(start_server: Any, chromium: Any, lang: str) -> None:
    server = start_server()
    words = TEXT[lang]
    phone = browser_in(chromium, lang, zone="Asia/Tokyo")
    phone.goto(f"{server}/register")
    phone.fill("input[name=username]", "alice")
    phone.fill("input[name=password]", PASSWORD)
    phone.click("form[action='/register'] button[type=submit]")
    phone.wait_for_url(re.compile(r"/security"))

    # The overview: the readiness question first, each missing item with its fix.
    main = phone.locator("main")
    assert main.locator("section").first.get_attribute("id") == "readiness"
    assert words["question"] in phone.inner_text("#readiness") and words["not_yet"] in phone.inner_text(
        "#readiness"
    )
    email_item = phone.locator("#ready-recovery_email_verified")
    assert words["email_item"] in email_item.inner_text()
    email_item.get_by_role("link", name=words["fix"]).click()
    phone.wait_for_url(re.compile(r"/security#contacts"))
    # Times in the browser's own zone (static/sparekey.js told the server), with their zone.
    phone.goto(f"{server}/security")
    stamp = phone.locator("#sessions time").first
    assert stamp.get_attribute("datetime").endswith("+00:00")
    assert "Asia/Tokyo" in stamp.inner_text()
    phone.screenshot(path=str(ARTIFACTS / f"security-overview-{lang}.png"), full_page=True)

    # A second browser signs in; the first one signs it out.
    laptop = browser_in(
        chromium,
        lang,
        zone="Europe/Berlin",
        agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    sign_in(laptop, server)
    phone.reload()
    rows = phone.locator("#sessions li")
    assert rows.count() == 2
    other = rows.filter(has_not_text=words["this_device"])
    assert "Firefox" in other.inner_text()
    other.get_by_role("button", name=words["sign_out"]).click()
    phone.wait_for_url(re.compile(r"/security"))
    assert words["signed_out"] in phone.inner_text("main")
    assert phone.locator("#sessions li").count() == 1
    laptop.goto(f"{server}/security")
    laptop.wait_for_url(re.compile(r"/login"))

    # Two more sessions, then "everywhere else" at once.
    sign_in(laptop, server)
    third = browser_in(chromium, lang, zone="UTC")
    sign_in(third, server)
    phone.reload()
    assert phone.locator("#sessions li").count() == 3
    phone.get_by_role("button", name=words["others"]).click()
    phone.wait_for_url(re.compile(r"/security"))
    assert words["all_out"] in phone.inner_text("main") and phone.locator("#sessions li").count() == 1
    for gone in (laptop, third):
        gone.goto(f"{server}/security")
        gone.wait_for_url(re.compile(r"/login"))
    phone.screenshot(path=str(ARTIFACTS / f"security-signed-out-others-{lang}.png"), full_page=True)
