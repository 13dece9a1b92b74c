"""A person's whole journey in Debian's chromium, in English and in Japanese.

Register, add an authenticator from the key on the page, keep the backup codes (.txt,
print view, confirm one), sign out, sign in with a backup code typed in full-width lower
case, see what is left, sign in with the app, make a new sheet, and see an old code
explained.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"

TEXT = {
    "en": {"security": "Security", "left": "9 codes are left on this sheet", "old": "set #1",
           "confirmed": "your backup code sheet is confirmed", "sheet": "backup codes"},
    "ja": {"security": "セキュリティ", "left": "このシートの残りは 9 個", "old": "セット #1",
           "confirmed": "シートを確認しました", "sheet": "バックアップコード"},
}  # fmt: skip


def fresh_totp(secret: str, used: list[int]) -> str:
    """A code for a time step not used yet (a step is accepted once): wait only when needed."""
    totp = pyotp.TOTP(secret)
    while used and totp.timecode(time.time()) <= used[-1]:
        time.sleep(0.2)
    step = totp.timecode(time.time())
    code = totp.generate_otp(step)
    if shutil.which("oathtool"):  # an independent client must agree
        made = subprocess.run(
            ["oathtool", "--totp", "-b", "-N", f"@{step * 30}", secret],
            capture_output=True,
            text=True,
            check=True,
        )
        assert made.stdout.strip() == code
    used.append(step)
    return code


def full_width_lower(code: str) -> str:
    return "".join("－" if c == "-" else chr(ord(c.lower()) + 0xFEE0) for c in code)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_whole_journey(server: str, chromium: Any, lang: str) -> None:
    words = TEXT[lang]
    context = chromium.new_context(locale=lang, extra_http_headers={"Accept-Language": lang},
                                   viewport={"width": 390, "height": 844}, accept_downloads=True)  # fmt: skip
    page = context.new_page()
    page.goto(f"{server}/register")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert page.inner_text("h1") == words["security"]

    # Add an authenticator from the key shown on the page.
    page.fill("input[name=name]", "Pixel 9")
    page.click("section#two-step form.stack button[type=submit]")
    secret = page.text_content("#totp-secret").strip()
    used: list[int] = []
    assert page.locator(".qr svg").count() == 1
    page.fill("input[name=code]", fresh_totp(secret, used))
    page.click("button[type=submit]")
    codes = [c.strip() for c in page.locator("ol.codes code").all_inner_texts()]
    assert len(codes) == 10
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"codes-{lang}.png"), full_page=True)

    # Download the .txt sheet.
    with page.expect_download() as download_info:
        page.click("#download-codes")
    sheet = open(download_info.value.path(), encoding="utf-8").read()  # noqa: SIM115 - read once
    assert download_info.value.suggested_filename == "sparekey-backup-codes-set-1.txt"
    assert words["sheet"] in sheet and all(code in sheet for code in codes)

    # The print view opens in a new tab with the sheet only.
    with context.expect_page() as printed_info:
        page.click("#print-codes")
    printed = printed_info.value
    printed.wait_for_load_state()
    assert printed.locator("ol.codes code").count() == 10
    assert printed.locator("#print-now").is_visible()
    printed.close()

    # Confirm the sheet by typing the code it asks for.
    position = int(page.get_attribute("#confirm-saved input[name=position]", "value"))
    page.fill("#confirm-code", codes[position - 1])
    page.click("#confirm-saved button[type=submit]")
    assert words["confirmed"] in page.inner_text("main")

    # Sign out; sign in with a backup code typed in full-width lower case.
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/code"))
    page.fill("#code", full_width_lower(codes[0]))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    assert words["left"] in page.inner_text("#notice")
    page.screenshot(path=str(ARTIFACTS / f"security-{lang}.png"), full_page=True)

    # Sign out; sign in again with the authenticator app.
    page.click("form[action='/logout'] button")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#code", fresh_totp(secret, used))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))

    # Make a new sheet: confirm it's you first.
    page.click("section#backup-codes button[type=submit]")
    page.wait_for_url(re.compile(r"/security/sudo"))
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=code]", codes[2])  # any second factor will do: a backup code here
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))
    page.click("section#backup-codes button[type=submit]")
    new_codes = [c.strip() for c in page.locator("ol.codes code").all_inner_texts()]
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)

    # An old code is refused, and the page says which sheet it came from.
    page.goto(f"{server}/security")
    page.click("form[action='/logout'] button")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#code", codes[5])
    page.click("button[type=submit]")
    assert words["old"] in page.inner_text("#error")
    context.close()
