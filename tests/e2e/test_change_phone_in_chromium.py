"""Changing phones in Debian's chromium, in English and in Japanese: register, add the "old
phone's" authenticator app from the security page, then follow /security/change-phone from
start to end: confirm it's you, add the new phone's app from the key on the page, check it
with its code, remove the old app, and read the summary. The security page then lists the new
app only, and the old phone's codes no longer sign in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_journey_in_chromium import fresh_totp

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"

TEXT = {
    "en": {"security": "Security", "guide": "Changing phones", "confirm": "Confirm it's you",
           "works": "It works: the code you typed came from Galaxy S25.",
           "removed": "The old phone's authenticator app was removed.",
           "moved": "Only Galaxy S25 is left", "done": "Done: what your account has now",
           "wrong": "That code did not work"},
    "ja": {"security": "セキュリティ", "guide": "機種変更", "confirm": "ご本人の確認",
           "works": "使えます: 入力したコードは Galaxy S25 のものでした。",
           "removed": "古いスマートフォンの認証アプリを削除しました。",
           "moved": "残っているのは Galaxy S25 だけです", "done": "完了: アカウントに今あるもの",
           "wrong": "コードが一致しません"},
}  # fmt: skip


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_move_the_authenticator_app_to_a_new_phone(server: str, chromium: Any, lang: str) -> None:
    words = TEXT[lang]
    context = chromium.new_context(
        locale=lang, extra_http_headers={"Accept-Language": lang}, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(f"{server}/register")
    page.fill("input[name=username]", "hanako")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]

    # The old phone: an authenticator app added from the security page.
    page.fill("form[action='/security/totp'] input[name=name]", "iPhone 12")
    page.click("form[action='/security/totp'] button[type=submit]")
    old_secret = page.text_content("#totp-secret").strip()
    old_steps: list[int] = []
    page.fill("input[name=code]", fresh_totp(old_secret, old_steps))
    page.click("button[type=submit]")
    assert page.locator("ol.codes code").count() == 10

    # The guide: four steps for the app; adding asks who it is first, then comes back.
    page.goto(f"{server}/security/change-phone")
    assert page.inner_text("h1") == words["guide"]
    assert page.locator("#apps ol.steps > li").count() == 4
    shot(page, f"change-phone-start-{lang}")
    page.fill("#add-app input[name=name]", "Galaxy S25")
    page.click("#add-app button[type=submit]")
    page.wait_for_url(re.compile(r"/security/sudo"))
    assert page.inner_text("h1") == words["confirm"]
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", fresh_totp(old_secret, old_steps))  # the old phone still works
    page.click("form[action='/security/sudo'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security/change-phone$"))
    assert page.locator("#sudo-first").count() == 0

    # Step 2: the new phone's app, from the key shown on the page.
    page.fill("#add-app input[name=name]", "Galaxy S25")
    page.click("#add-app button[type=submit]")
    page.wait_for_url(re.compile(r"/security/change-phone/totp$"))
    assert page.locator(".qr svg").count() == 1
    new_secret = page.text_content("#totp-secret").strip()
    assert new_secret != old_secret
    shot(page, f"change-phone-new-app-{lang}")
    page.fill("#code", "000000")
    page.click("#confirm-app button[type=submit]")
    assert words["wrong"] in page.inner_text("#error")
    new_steps: list[int] = []
    page.fill("#code", fresh_totp(new_secret, new_steps))
    page.click("#confirm-app button[type=submit]")

    # Step 3: it works; step 4: the old app, by name, with a button to remove it.
    page.wait_for_url(re.compile(r"/security/change-phone\?app=\w+#old-apps$"))
    assert words["works"] in page.inner_text("#it-works")
    old_apps = page.locator("#old-apps li")
    assert old_apps.count() == 1 and "iPhone 12" in old_apps.inner_text()
    shot(page, f"change-phone-remove-old-{lang}")
    old_apps.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"done=app_removed"))
    assert words["removed"] in page.inner_text("#done")
    assert words["moved"] in page.inner_text("#apps-moved")

    # The end: what the account has now.
    page.click("#finish-link")
    page.wait_for_url(re.compile(r"/security/change-phone/done$"))
    assert page.inner_text("h1") == words["done"]
    apps_now = page.inner_text("#now-apps")
    assert "Galaxy S25" in apps_now and "iPhone 12" not in apps_now
    shot(page, f"change-phone-done-{lang}")

    # The security page lists the new app only.
    page.goto(f"{server}/security")
    removals = page.locator("form[action^='/security/totp/'][action$='/delete']")
    assert removals.count() == 1
    names = page.locator("main strong").all_inner_texts()
    assert "Galaxy S25" in names and "iPhone 12" not in names

    # The old phone no longer signs in; the new one does.
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=username]", "hanako")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/code"))
    page.fill("#code", fresh_totp(old_secret, old_steps))
    page.click("form[action='/login/code'] button[type=submit]")
    assert page.locator("#error").count() == 1
    page.fill("#code", fresh_totp(new_secret, new_steps))
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert page.inner_text("h1") == words["security"]
    context.close()
