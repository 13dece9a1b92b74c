"""Passkeys and security keys in Debian's chromium, in English and in Japanese, with Chrome's
virtual authenticators (DevTools' WebAuthn domain) standing in for the device and the key:
sign in with a passkey alone (the button, and the username field's autofill); a security key
as the second step, trusting the device; and, without JavaScript, the code page that says keys
need it and still takes a backup code; the passkey button pressed before the autofill request
has its options; no key button without JavaScript."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"

# This device, unlocked with its screen lock: it keeps passkeys.
PLATFORM = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}  # fmt: skip
# A security key without a PIN, touched when the browser asks.
USB_KEY = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
           "hasUserVerification": False, "automaticPresenceSimulation": True}  # fmt: skip

TEXT = {
    "en": {"security": "Security", "codes": "Your backup codes", "passkey": "passkey",
           "security_key": "security key", "with_passkey": "Sign in with a passkey",
           "use_key": "Use your security key or passkey", "code_title": "Two-step verification",
           "needs_js": "Passkeys and security keys need JavaScript, which is off in this browser.",
           "signed_in_by": "Sign-in — succeeded · {method}", "this_device": "this device",
           "no_devices": "No trusted devices", "by_backup_code": "You signed in with a backup code"},
    "ja": {"security": "セキュリティ", "codes": "バックアップコード", "passkey": "パスキー",
           "security_key": "セキュリティキー", "with_passkey": "パスキーでサインイン",
           "use_key": "セキュリティキーまたはパスキーを使う", "code_title": "2段階認証",
           "needs_js": "パスキーとセキュリティキーには JavaScript が必要ですが、このブラウザでは無効",
           "signed_in_by": "サインイン — 成功 · {method}", "this_device": "この端末",
           "no_devices": "信頼済みの端末はありません",
           "by_backup_code": "バックアップコードでサインインしました"},
}  # fmt: skip


def squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def new_context(chromium: Any, lang: str, **options: Any) -> Any:
    return chromium.new_context(
        locale=lang,
        extra_http_headers={"Accept-Language": lang},
        viewport={"width": 390, "height": 844},
        **options,
    )


def with_authenticator(context: Any, options: dict[str, Any]) -> tuple[Any, Any, str]:
    """A page whose browser has one virtual authenticator; returns (page, cdp, authenticator id)."""
    page = context.new_page()
    page.on("console", lambda message: print(f"console {message.type}: {message.text}"))  # noqa: T201
    page.on("pageerror", lambda error: print(f"page error: {error}"))  # noqa: T201
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return page, cdp, added["authenticatorId"]


def credentials(cdp: Any, authenticator_id: str) -> list[dict[str, Any]]:
    return list(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"])


def presence(cdp: Any, authenticator_id: str, *, on: bool) -> None:
    """Whether the authenticator answers at once, as if touched (or picked from autofill)."""
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator_id, "enabled": on})


def register(page: Any, server: str, username: str, words: dict[str, str]) -> None:
    page.goto(f"{server}/register")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]


def add_key(page: Any, name: str, *, passkey: bool, words: dict[str, str]) -> list[str]:
    """Adds the account's first key from the security page; returns the backup codes it brings."""
    page.fill("#add-key input[name=name]", name)
    page.click(f"#add-key button[value='{'1' if passkey else ''}']")
    page.wait_for_url(re.compile(r"/security/keys/finish$"))  # key_register.html asked the key by itself
    assert page.inner_text("h1") == words["codes"]
    codes = [c.strip() for c in page.locator("ol.codes code").all_inner_texts()]
    assert len(codes) == 10  # the first key turned two-step verification on
    return codes


def listed_key(page: Any, server: str, name: str) -> str:
    """The kind the security page shows next to the key's name ("passkey", "security key")."""
    page.goto(f"{server}/security")
    items = page.locator("#two-step ul.items li", has_text=name)
    assert items.count() == 1, page.inner_text("#two-step")
    return squeezed(items.locator("small").first.inner_text()).split("·")[0].strip()


def sign_out(page: Any) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/login$"))


def sign_in_with_password(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/login")
    page.fill("form[action='/login'] input[name=username]", username)
    page.fill("form[action='/login'] input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")


def history(page: Any) -> list[str]:
    return [squeezed(t) for t in page.locator("#history li").all_inner_texts()]


def current_session(page: Any, server: str) -> dict[str, Any]:
    answer = page.request.get(f"{server}/api/v1/me/sessions")
    assert answer.ok, answer.text()
    (current,) = [s for s in answer.json() if s["current"]]
    return dict(current)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_add_a_passkey_and_sign_in_with_it_alone(start_server: Any, chromium: Any, lang: str) -> None:
    server = start_server(localhost=True)
    words = TEXT[lang]
    context = new_context(chromium, lang)
    page, cdp, authenticator = with_authenticator(context, PLATFORM)
    register(page, server, "hanako", words)
    add_key(page, "Laptop", passkey=True, words=words)
    (held,) = credentials(cdp, authenticator)
    assert held["isResidentCredential"] is True  # a passkey: the device knows the account by itself
    assert listed_key(page, server, "Laptop") == words["passkey"]

    # Sign out. The sign-in page starts a conditional (autofill) request by itself; with the
    # person not touching anything yet, it waits, and the button signs in with the passkey
    # alone: no username, no password, no code.
    presence(cdp, authenticator, on=False)
    sign_out(page)
    button = page.get_by_role("button", name=words["with_passkey"])
    button.wait_for(state="visible")  # keys.js unhid the form
    page.wait_for_load_state("networkidle")  # the conditional request is waiting for autofill
    page.wait_for_timeout(300)
    assert page.url.endswith("/login")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"passkey-sign-in-{lang}.png"), full_page=True)
    presence(cdp, authenticator, on=True)
    button.click()
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]
    assert "hanako" in page.inner_text("main > p")
    assert words["signed_in_by"].format(method=words["passkey"]) in history(page)[0]
    session = current_session(page, server)
    assert "mfa" in session["amr"]
    assert session["level"] == "phishing_resistant"
    assert "pwd" not in session["amr"]
    (held,) = credentials(cdp, authenticator)
    assert held["signCount"] >= 2  # made, then used once

    # Picking the passkey from the username field's autofill (the virtual authenticator picks
    # it as soon as the conditional request asks) signs in too.
    with page.expect_response(lambda r: r.url.endswith("/login/passkey") and r.request.method == "POST"):
        page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]
    assert current_session(page, server)["level"] == "phishing_resistant"
    context.close()


# Stands in for the person: they do not pick the passkey from the username field's autofill
# (the conditional request just waits), and they take a moment to touch the key after the
# browser asks. Chrome's virtual authenticator would otherwise answer both at once.
SLOW_PERSON = """
(() => {
  const real = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = async (options) => {
    if (options && options.mediation === "conditional") {
      return new Promise((_resolve, reject) => options.signal && options.signal.addEventListener(
        "abort", () => reject(new DOMException("The request was aborted.", "AbortError"))));
    }
    const answer = await real(options);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return answer;
  };
})();
"""


def passkey_options(response: Any) -> bool:
    return bool(response.url.endswith("/api/v1/login/passkey"))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_passkey_button_pressed_before_the_autofill_request_is_ready(
    start_server: Any, chromium: Any, lang: str
) -> None:
    server = start_server(localhost=True)
    words = TEXT[lang]
    context = new_context(chromium, lang)
    page, _cdp, _authenticator = with_authenticator(context, PLATFORM)
    register(page, server, "hanako", words)
    add_key(page, "Laptop", passkey=True, words=words)
    page.add_init_script(SLOW_PERSON)

    # On a quick network the conditional request has its options before anyone clicks: fine.
    page.goto(f"{server}/security")
    sign_out(page)
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name=words["with_passkey"]).click()
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]

    # On a slow one the button is there (keys.js unhides it at once) before the conditional
    # request's options arrive; the person clicks it, and those options arrive while the
    # browser waits for the key.
    held: list[Any] = []
    page.route("**/api/v1/login/passkey", lambda route: held.append(route) if not held else route.continue_())
    sign_out(page)
    button = page.get_by_role("button", name=words["with_passkey"])
    button.wait_for(state="visible")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1  # the conditional request's options, still on their way
    with page.expect_response(passkey_options):
        button.click()
    held[0].continue_()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"passkey-race-{lang}.png"), full_page=True)
    assert page.url.endswith("/security"), page.inner_text("main")
    assert page.inner_text("h1") == words["security"]
    context.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_a_security_key_as_the_second_step_and_a_trusted_device(
    start_server: Any, chromium: Any, lang: str
) -> None:
    server = start_server(localhost=True)
    words = TEXT[lang]
    context = new_context(chromium, lang)
    page, cdp, authenticator = with_authenticator(context, USB_KEY)
    register(page, server, "taro", words)
    add_key(page, "Blue key", passkey=False, words=words)
    (held,) = credentials(cdp, authenticator)
    assert held["isResidentCredential"] is False  # the server keeps the key's id, not the key
    assert listed_key(page, server, "Blue key") == words["security_key"]
    assert words["no_devices"] in page.inner_text("#devices")

    # Password, then the key; this device is trusted on the way.
    sign_out(page)
    sign_in_with_password(page, server, "taro")
    page.wait_for_url(re.compile(r"/login/code$"))
    assert page.inner_text("h1") == words["code_title"]
    button = page.locator("#key-form button[type=submit]")
    button.wait_for(state="visible")
    assert button.inner_text() == words["use_key"]
    assert page.locator("#key-form [data-webauthn-status]").is_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"key-code-page-{lang}.png"), full_page=True)
    page.check("#trust-device")
    button.click()
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]
    assert words["signed_in_by"].format(method=words["security_key"]) in history(page)[0]
    session = current_session(page, server)
    assert {"pwd", "hwk", "mfa"} <= set(session["amr"])
    assert session["level"] == "phishing_resistant"

    # Next time the password alone is enough on this device, and the page lists the device.
    sign_out(page)
    sign_in_with_password(page, server, "taro")
    page.wait_for_url(re.compile(r"/security$"))
    assert page.inner_text("h1") == words["security"]
    devices = page.locator("#devices ul.items li")
    assert devices.count() == 1, page.inner_text("#devices")
    assert f"({words['this_device']})" in devices.first.inner_text()
    assert words["no_devices"] not in page.inner_text("#devices")
    context.close()


def key_account_without_javascript(chromium: Any, server: str, lang: str) -> tuple[Any, list[str]]:
    """An account whose first key was added in a browser with JavaScript; returns a context
    without JavaScript and the account's backup codes."""
    words = TEXT[lang]
    with_js = new_context(chromium, lang)
    page, _cdp, _authenticator = with_authenticator(with_js, PLATFORM)
    register(page, server, "jiro", words)
    codes = add_key(page, "Laptop", passkey=True, words=words)
    with_js.close()
    return new_context(chromium, lang, java_script_enabled=False), codes


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_without_javascript_the_code_page_says_keys_need_it_and_takes_a_backup_code(
    start_server: Any, chromium: Any, lang: str
) -> None:
    server = start_server(localhost=True)
    words = TEXT[lang]
    without_js, codes = key_account_without_javascript(chromium, server, lang)
    page = without_js.new_page()
    sign_in_with_password(page, server, "jiro")
    page.wait_for_url(re.compile(r"/login/code$"))
    assert page.inner_text("h1") == words["code_title"]
    assert words["needs_js"] in page.inner_text("main")  # the <noscript> note
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"key-code-page-no-js-{lang}.png"), full_page=True)
    page.fill("#code", codes[0])
    page.click("form[action='/login/code'] button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert page.inner_text("h1") == words["security"]
    assert words["by_backup_code"] in page.inner_text("#notice")
    without_js.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_without_javascript_no_key_button_is_offered(start_server: Any, chromium: Any, lang: str) -> None:
    server = start_server(localhost=True)
    words = TEXT[lang]
    without_js, _codes = key_account_without_javascript(chromium, server, lang)
    page = without_js.new_page()
    page.goto(f"{server}/login")
    assert words["needs_js"] in page.inner_text("#passkey")
    login_button_shown = page.get_by_role("button", name=words["with_passkey"]).is_visible()
    sign_in_with_password(page, server, "jiro")
    page.wait_for_url(re.compile(r"/login/code$"))
    assert words["needs_js"] in page.inner_text("main")
    code_button_shown = page.get_by_role("button", name=words["use_key"]).is_visible()
    assert (login_button_shown, code_button_shown) == (False, False)
    without_js.close()
