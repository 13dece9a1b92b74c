"""The pages, driven as a browser without JavaScript would: forms, cookies, redirects."""

from __future__ import annotations

import re
from html import unescape

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock

PASSWORD = "correct horse battery staple"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    def __init__(self, http: TestClient, clock: FrozenClock) -> None:
        self.http = http
        self.clock = clock
        self.page = ""
        self.secret = ""
        self.codes: list[str] = []

    def get(self, url: str) -> str:
        response = self.http.get(url)
        assert response.status_code == 200, response.text
        self.page = response.text
        return self.page

    def post(self, url: str, expect: int = 200, **fields: object) -> str:
        response = self.http.post(url, data={"csrf_token": csrf(self.page), **fields})
        assert response.status_code == expect, response.text
        self.page = response.text
        return self.page

    def register(self, username: str = "alice") -> None:
        self.get("/register")
        self.post("/register", username=username, password=PASSWORD)
        assert "<h1>Security</h1>" in self.page or "<h1>セキュリティ</h1>" in self.page

    def totp(self) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now())

    def enable_totp(self) -> None:
        self.post("/security/totp", name="Pixel")
        self.secret = unescape(
            re.search(r'<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>', self.page).group(1)
        )  # type: ignore[union-attr]
        assert "<svg" in self.page and "otpauth://totp/" in self.page
        self.post(re.search(r'action="(/security/totp/\w+/confirm)"', self.page).group(1), code=self.totp())  # type: ignore[union-attr]
        self.codes = re.findall(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>", self.page)
        assert len(self.codes) == 10
        self.clock.advance(30)

    def sign_out(self) -> None:
        self.post("/logout")
        assert 'action="/login"' in self.page

    def sign_in(self, code: str | None = None, expect: int = 200) -> None:
        self.get("/login")
        self.post("/login", username="alice", password=PASSWORD)
        if code is not None:
            assert 'action="/login/code"' in self.page
            self.post("/login/code", expect=expect, code=code)


@pytest.fixture
def browser(client: TestClient, clock: FrozenClock) -> Browser:
    client.headers.pop("Accept-Language", None)
    return Browser(client, clock)


def test_not_signed_in_goes_to_sign_in(client: TestClient) -> None:
    response = client.get("/security", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_register_enrol_and_see_codes(browser: Browser) -> None:
    browser.register()
    assert "Off." in browser.page
    browser.enable_totp()
    status = browser.get("/security")
    assert "Sheet #1" in status and "10 of 10 codes left" in status
    assert "You have not confirmed that you saved this sheet." in status
    assert "Pixel" in status
    assert browser.codes[0] not in status  # the codes are shown once, never again


def test_backup_code_sheet_as_text_and_print(browser: Browser) -> None:
    browser.register()
    browser.enable_totp()
    codes_page = browser.page
    form = {"csrf_token": csrf(codes_page), "codes": browser.codes}
    text = browser.http.post("/security/backup-codes/sheet.txt", data=form)
    assert text.status_code == 200
    assert text.headers["content-disposition"] == 'attachment; filename="sparekey-backup-codes-set-1.txt"'
    assert text.headers["content-type"].startswith("text/plain; charset=utf-8")
    body = text.text
    assert "sparekey backup codes" in body and "Account: alice" in body and "Set #1, made" in body
    assert all(f"{i:2d}. {code}" in body for i, code in enumerate(browser.codes, start=1))
    assert "Each code works once" in body
    printed = browser.http.post("/security/backup-codes/print", data=form)
    assert printed.status_code == 200 and all(code in printed.text for code in browser.codes)
    assert 'id="print-now"' in printed.text
    # Codes that are not the current sheet's are not turned into a sheet.
    forged = browser.http.post(
        "/security/backup-codes/sheet.txt",
        data={**form, "codes": ["AAAAA-AAAAA"] * 10},
        follow_redirects=False,
    )
    assert forged.status_code == 303


def test_confirm_saved_sheet(browser: Browser) -> None:
    browser.register()
    browser.enable_totp()
    position = int(re.search(r'name="position" value="(\d+)"', browser.page).group(1))  # type: ignore[union-attr]
    wrong = browser.codes[position % 10]
    browser.post("/security/backup-codes/confirm", expect=400, position=position, code=wrong)
    assert "That code did not work" in browser.page
    browser.post(
        "/security/backup-codes/confirm", position=position, code=browser.codes[position - 1].lower()
    )
    assert "your backup code sheet is confirmed" in browser.page
    assert "You have not confirmed" not in browser.page


def test_sign_in_with_backup_code_then_old_sheet_explains(browser: Browser) -> None:
    browser.register()
    browser.enable_totp()
    browser.sign_out()
    wide = "".join(chr(ord(c) + 0xFEE0) if c != "-" else "－" for c in browser.codes[0].lower())
    browser.sign_in(code=wide)
    assert "9 codes are left on this sheet" in browser.page
    # Regenerate: sudo first.
    browser.post("/security/backup-codes/regenerate")
    assert "Confirm it&#39;s you" in browser.page or "Confirm it's you" in browser.page
    browser.clock.advance(30)
    browser.post("/security/sudo", password=PASSWORD, code=browser.totp(), next="/security")
    browser.post("/security/backup-codes/regenerate")
    assert "Set #2" in browser.page
    browser.sign_out()
    browser.sign_in(code=browser.codes[1], expect=401)
    assert "set #1" in browser.page and "Use the newest sheet" in browser.page


def test_code_page_errors_explain(browser: Browser) -> None:
    browser.register()
    browser.enable_totp()
    browser.sign_out()
    browser.sign_in()
    assert (
        "Try another way" in browser.page
        and "Pixel" in browser.page
        and "10 left on sheet #1" in browser.page
    )
    browser.post("/login/code", expect=400, code="●●●●●●")
    assert "does not look like a code" in browser.page
    browser.post(
        "/login/code", expect=401, code=pyotp.TOTP(browser.secret).at(browser.clock.now().timestamp() + 300)
    )
    assert "5 minutes fast" in browser.page
    browser.post("/login/code", code=browser.totp())
    assert "<h1>Security</h1>" in browser.page


def test_csrf_mismatch_is_refused(browser: Browser) -> None:
    browser.get("/login")
    response = browser.http.post("/login", data={"csrf_token": "forged", "username": "a", "password": "b"})
    assert response.status_code == 403 and "The form expired" in response.text


def test_japanese_pages(browser: Browser) -> None:
    browser.http.headers["Accept-Language"] = "ja"
    page = browser.get("/login")
    assert "<h1>サインイン</h1>" in page and 'lang="ja"' in page
    browser.register()
    assert "2段階認証" in browser.page
    switched = browser.get("/security?lang=en")
    assert "<h1>Security</h1>" in switched
    assert browser.http.cookies.get("lang") == "en"
    assert "<h1>Security</h1>" in browser.get("/security")


def test_japanese_activity_names_methods_and_reasons_in_japanese(browser: Browser) -> None:
    """The history speaks the page's language: no "password" or "invalid_code" in a Japanese list."""
    browser.http.headers["Accept-Language"] = "ja"
    browser.register()
    browser.enable_totp()
    browser.sign_out()
    browser.sign_in(code="000000", expect=401)
    browser.post("/login/code", code=browser.totp())
    history = browser.get("/security").split('id="history"')[1]
    assert "失敗 (コードの誤り)" in history and "· 認証アプリ" in history and "· パスワード" in history
    assert not re.search(r"· (password|totp|backup_code)\b|invalid_code", history), history


def test_a_username_that_looks_like_another_is_refused_in_both_languages(browser: Browser) -> None:
    browser.register("alice")
    browser.sign_out()
    for lang, text in (("en", "looks too much like an existing one"), ("ja", "よく似ています")):
        browser.http.headers["Accept-Language"] = lang
        browser.get("/register")
        browser.post("/register", expect=422, username="\u0430lice", password=PASSWORD)
        assert text in browser.page


def test_remove_authenticator_needs_sudo(browser: Browser) -> None:
    browser.register()
    browser.enable_totp()
    browser.get("/security")
    action = re.search(r'action="(/security/totp/\w+/delete)"', browser.page).group(1)  # type: ignore[union-attr]
    browser.post(action)
    assert 'action="/security/sudo"' in browser.page
    browser.post("/security/sudo", password=PASSWORD, code=browser.codes[3], next="/security")
    browser.post(action)
    assert "The authenticator app was removed." in browser.page and "Off." in browser.page


def test_sessions_and_password_change(browser: Browser, client: TestClient) -> None:
    browser.register()
    other = client.post("/api/v1/login", json={"username": "alice", "password": PASSWORD}).json()
    page = browser.get("/security")
    assert "this device" in page
    browser.post("/security/password", new_password="an entirely new passphrase")
    browser.post("/security/sudo", password=PASSWORD, next="/security")
    browser.post("/security/password", new_password="an entirely new passphrase")
    assert "Your password was changed" in browser.page
    gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {other['session_token']}"})
    assert gone.status_code == 401


def outbox_code(client: TestClient, to: str) -> str:
    from sparekey.core.flows import delivery

    deps = client.app.state.deps  # type: ignore[attr-defined]
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=20) if m.to == to]
    message = delivery.opened(deps, kept[0])
    assert message is not None
    return re.search(r"\b\d{6}\b", message.text).group(0)  # type: ignore[union-attr]


def test_a_phone_number_on_the_pages_and_a_sign_in_by_sms(browser: Browser, client: TestClient) -> None:
    """Without JavaScript: add a phone, verify it (2FA turns on, the sheet is shown), sign out,
    and sign in with "try another way": a code by SMS."""
    browser.register()
    browser.get("/security")
    assert "outbox" in browser.page  # the pages say where messages go on this server
    browser.post("/security/contacts", kind="phone", address="090-1234-5678", region="JP")
    assert "+819012345678" in browser.page
    action = re.search(r'action="(/security/contacts/\w+/verify)"', browser.page).group(1)  # type: ignore[union-attr]
    browser.post(action, code=outbox_code(client, "+819012345678"))
    assert len(re.findall(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>", browser.page)) == 10
    browser.clock.advance(61)
    browser.get("/security")
    browser.sign_out()
    browser.sign_in()
    assert "+81 ** **** 5678" in browser.page and 'action="/login/code/send"' in browser.page
    contact = re.search(r'name="destination_id" value="(\w+)"', browser.page).group(1)  # type: ignore[union-attr]
    browser.post("/login/code/send", method="sms", destination_id=contact)
    assert 'id="sent"' in browser.page
    again = browser.http.post(
        "/login/code/send",
        data={"csrf_token": csrf(browser.page), "method": "sms", "destination_id": contact},
    )
    assert again.status_code == 429 and "Too many attempts" in again.text  # the cool-down, explained
    browser.page = again.text
    browser.post("/login/code", code=outbox_code(client, "+819012345678"))
    assert "<h1>Security</h1>" in browser.page
