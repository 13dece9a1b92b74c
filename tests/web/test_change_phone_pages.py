"""Changing phones on the pages (no JavaScript): the guide at /security/change-phone moves an
authenticator app (add the new phone's, check it with a code, remove the old one, with the
sudo detours coming back to the guide), a phone number and a passkey, and ends with a
summary of what the account has now. In English and in Japanese."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.soft_authenticator import SoftAuthenticator
from tests.web.test_contact_points_api import last_code
from tests.web.test_key_pages import ORIGIN, add_key
from tests.web.test_page_journeys import PASSWORD, Browser, csrf

GUIDE = "/security/change-phone"

TEXT = {
    "en": {"title": "<h1>Changing phones</h1>", "keep": "Keep the old phone at hand.",
           "sudo": "Confirm it&#39;s you", "wrong": "That code did not work",
           "works": "It works: the code you typed came from iPhone 16.",
           "removed": "The old phone&#39;s authenticator app was removed.",
           "left": "Only iPhone 16 is left", "done": "Done: what your account has now",
           "sheet": "Sheet #1", "security": "<h1>Security</h1>", "same": "Keeping the same number?",
           "phone_added": "We sent a code to the new number.",
           "phone_removed": "The phone number was removed.",
           "key_removed": "The old passkey was removed.", "nothing": "there is nothing to move"},
    "ja": {"title": "<h1>機種変更</h1>", "keep": "古いスマートフォンを手元に置いておきます。",
           "sudo": "ご本人の確認", "wrong": "コードが一致しません",
           "works": "使えます: 入力したコードは iPhone 16 のものでした。",
           "removed": "古いスマートフォンの認証アプリを削除しました。",
           "left": "残っているのは iPhone 16 だけです", "done": "完了: アカウントに今あるもの",
           "sheet": "シート #1", "security": "<h1>セキュリティ</h1>",
           "same": "同じ電話番号を使い続けますか？",
           "phone_added": "新しい番号にコードを送りました。", "phone_removed": "電話番号を削除しました。",
           "key_removed": "古いパスキーを削除しました。", "nothing": "移すものはありません"},
}  # fmt: skip


@pytest.fixture
def browser(client: TestClient, clock: FrozenClock) -> Browser:
    client.headers.pop("Accept-Language", None)
    return Browser(client, clock)


def speak(browser: Browser, lang: str) -> dict[str, str]:
    browser.http.headers["Accept-Language"] = lang
    return TEXT[lang]


def action(page: str, pattern: str) -> str:
    found = re.search(rf'action="({pattern})"', page)
    assert found, f"no form posting to {pattern}"
    return unescape(found.group(1))


def sudo_next(page: str) -> str:
    assert 'action="/security/sudo"' in page
    found = re.search(r'name="next" value="([^"]*)"', page)
    assert found
    return unescape(found.group(1))


def secret_on(page: str) -> str:
    found = re.search(r'<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>', page)
    assert found, "no key on the enrolment page"
    return found.group(1)


def section(page: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert found, f"no #{section_id} on the page"
    return found.group(1)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_move_the_authenticator_app_to_a_new_phone(browser: Browser, clock: FrozenClock, lang: str) -> None:
    words = speak(browser, lang)
    browser.register()
    browser.enable_totp()  # the old phone's app: "Pixel"
    old_secret = browser.secret

    # The guide reads the account: an app on the old phone, so the four steps.
    page = browser.get(GUIDE)
    assert words["title"] in page and words["keep"] in page
    assert 'id="sudo-first"' in page  # adding a way in asks who it is first
    assert 'action="/security/change-phone/totp"' in page and 'id="old-apps"' in page
    assert "/security/change-phone/totp/" not in page  # nothing to remove before the new app works
    assert 'id="phones"' not in page and 'id="passkeys"' not in page

    # Step 2: add the new phone's app; the sudo detour comes back to the guide.
    browser.post(f"{GUIDE}/totp", name="iPhone 16")
    assert words["sudo"] in browser.page and sudo_next(browser.page) == GUIDE
    browser.post("/security/sudo", password=PASSWORD, code=browser.totp(), next=GUIDE)
    assert words["title"] in browser.page and 'id="sudo-first"' not in browser.page
    browser.post(f"{GUIDE}/totp", name="iPhone 16")
    assert "<svg" in browser.page and "otpauth://totp/" in browser.page
    new_secret = secret_on(browser.page)
    assert new_secret != old_secret
    confirm = action(browser.page, r"/security/change-phone/totp/\w+/confirm")

    # Step 3: a wrong code says so and asks again; the new phone's code proves it works.
    browser.post(confirm, expect=400, code="000000")
    assert words["wrong"] in browser.page and action(browser.page, re.escape(confirm)) == confirm
    clock.advance(30)
    new_code = pyotp.TOTP(new_secret).at(clock.now())
    form = {"csrf_token": csrf(browser.page), "code": new_code}
    response = browser.http.post(confirm, data=form, follow_redirects=False)
    assert response.status_code == 303
    target = response.headers["location"]
    assert target.startswith(f"{GUIDE}?app=") and target.endswith("#old-apps")
    new_id = parse_qs(urlsplit(target).query)["app"][0]
    page = browser.get(target)
    assert words["works"] in page
    old_apps = page.split('id="old-apps"')[1].split("</li>\n  </ol>")[0]
    assert "<strong>Pixel</strong>" in old_apps and "iPhone 16</strong>" not in old_apps
    remove = action(page, r"/security/change-phone/totp/\w+/delete")
    assert new_id not in remove

    # Step 4, more than 10 minutes later: sudo again, back to the guide that still knows the new app.
    clock.advance(11 * 60)
    browser.post(remove, app=new_id)
    assert sudo_next(browser.page) == f"{GUIDE}?app={new_id}"
    browser.post(
        "/security/sudo",
        password=PASSWORD,
        code=pyotp.TOTP(new_secret).at(clock.now()),
        next=f"{GUIDE}?app={new_id}",
    )
    assert words["works"] in browser.page and action(browser.page, re.escape(remove)) == remove
    browser.post(remove, app=new_id)
    assert words["removed"] in browser.page and words["left"] in browser.page
    assert "/security/change-phone/totp/" not in browser.page

    # The summary lists what the account has now: the new app only, and the same sheet.
    summary = browser.get(f"{GUIDE}/done")
    assert words["done"] in summary and words["sheet"] in summary
    assert "<strong>iPhone 16</strong>" in summary and "Pixel" not in summary
    security = browser.get("/security")
    assert "<strong>iPhone 16</strong>" in security and "<strong>Pixel</strong>" not in security

    # The old phone no longer signs in; the new one does.
    browser.sign_out()
    clock.advance(30)
    browser.sign_in(code=pyotp.TOTP(old_secret).at(clock.now()), expect=401)
    browser.post("/login/code", code=pyotp.TOTP(new_secret).at(clock.now()))
    assert words["security"] in browser.page


def test_a_new_number_is_added_and_verified_before_the_old_one_goes(
    browser: Browser, clock: FrozenClock
) -> None:
    words = speak(browser, "en")
    browser.register()
    browser.get("/security")
    browser.post("/security/contacts", kind="phone", address="090-1234-5678", region="JP")
    browser.post(
        action(browser.page, r"/security/contacts/\w+/verify"), code=last_code(browser.http, "+819012345678")
    )
    codes = re.findall(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>", browser.page)
    assert len(codes) == 10  # the phone turned two-step verification on

    # One verified number: keeping it needs nothing, and it cannot be removed from here.
    page = browser.get(GUIDE)
    phones = section(page, "phones")
    assert words["same"] in phones and "+819012345678" in phones
    assert "/delete" not in phones and 'id="apps"' not in page

    browser.post(f"{GUIDE}/phones", address="080-9876-5432", region="JP")
    assert sudo_next(browser.page) == GUIDE
    browser.post("/security/sudo", password=PASSWORD, code=codes[0], next=GUIDE)
    browser.post(f"{GUIDE}/phones", address="080-9876-5432", region="JP")
    assert words["phone_added"] in browser.page
    verify = action(browser.page, r"/security/change-phone/phones/\w+/verify")
    browser.post(verify, expect=400, code="12345")
    assert 'id="error"' in browser.page
    browser.post(verify, code=last_code(browser.http, "+818098765432"))

    # Both verified: now the old one can go.
    old = re.search(
        r"\+819012345678</strong>.*?action=\"(/security/change-phone/phones/\w+/delete)\"", browser.page, re.S
    )
    assert old
    browser.post(old.group(1))
    assert words["phone_removed"] in browser.page
    summary = browser.get(f"{GUIDE}/done")
    assert "+818098765432" in summary and "+819012345678" not in summary


def test_a_passkey_on_the_new_phone_replaces_the_old_one(browser: Browser) -> None:
    words = speak(browser, "en")
    browser.register()
    add_key(browser, SoftAuthenticator(origin=ORIGIN), passkey=True, name="Old phone")
    codes = re.findall(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>", browser.page)

    # Adding goes through the security page's own form, after confirming it's you here.
    page = browser.get(GUIDE)
    passkeys = section(page, "passkeys")
    assert "<strong>Old phone</strong>" in passkeys and "/delete" not in passkeys
    assert 'id="add-passkey"' not in passkeys and f"/security/sudo?next={GUIDE}" in passkeys
    browser.get(f"/security/sudo?next={GUIDE}")
    browser.post("/security/sudo", password=PASSWORD, code=codes[0], next=GUIDE)
    assert 'action="/security/keys"' in section(browser.page, "passkeys")
    add_key(browser, SoftAuthenticator(origin=ORIGIN), passkey=True, name="New phone")

    page = browser.get(GUIDE)
    old = re.search(r"Old phone</strong>.*?action=\"(/security/change-phone/keys/\w+/delete)\"", page, re.S)
    assert old
    browser.post(old.group(1))
    assert words["key_removed"] in browser.page
    summary = browser.get(f"{GUIDE}/done")
    assert "<strong>New phone</strong>" in summary and "Old phone" not in summary


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_nothing_to_move_and_signed_out(browser: Browser, lang: str) -> None:
    words = speak(browser, lang)
    response = browser.http.get(GUIDE, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    browser.register()
    page = browser.get(f"{GUIDE}?app=%2F%2Fevil.example")  # an unknown app is ignored
    assert words["nothing"] in page and 'id="sudo-first"' not in page and "evil" not in page
    assert words["done"] in browser.get(f"{GUIDE}/done")


def test_switching_language_on_the_enrolment_page_goes_back_to_the_guide(browser: Browser) -> None:
    speak(browser, "en")
    browser.register()
    browser.enable_totp()
    browser.get("/security/sudo")
    browser.post("/security/sudo", password=PASSWORD, code=browser.totp(), next=GUIDE)
    browser.post(f"{GUIDE}/totp", name="iPhone 16")
    switch = re.search(r'href="([^"]+)" hreflang="ja"', browser.page)
    assert switch and unescape(switch.group(1)) == f"{GUIDE}/totp?lang=ja"
    assert TEXT["ja"]["title"] in browser.get(unescape(switch.group(1)))
