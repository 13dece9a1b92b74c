"""The support console in Debian's chromium, in English and in Japanese: someone asks to
recover alice's account and, unable to prove enough, asks support; sam, granted the role
with ``sparekey admin grant-role``, signs in with his password and authenticator app,
opens the queue, reads the request and approves it with a reason; the request's page then
shows the approval and the audit trail, and the requester's wait has started."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sparekey.core.crypto import new_key_string
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_journey_in_chromium import fresh_totp

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"
STATEMENT = "I lost my phone on a trip. I opened the account in spring 2024 to sign in at work."
TEXT = {
    "en": {"queue": "Support: account recoveries", "review": "Review", "approve": "Approve",
           "done": "Approved. The waiting period still runs", "trail": "Audit trail",
           "approved": "Approved", "wrote": "The requester wrote to support",
           "waiting": "Waiting period running",
           "reason": "Video call: she showed the contract with her signature."},
    "ja": {"queue": "サポート: アカウントの復旧", "review": "確認する", "approve": "承認する",
           "done": "承認しました。待機期間は続きます", "trail": "監査記録",
           "approved": "承認", "wrote": "申請者がサポートに連絡", "waiting": "待機期間中",
           "reason": "ビデオ通話で署名入りの契約書を確認しました。"},
}  # fmt: skip


def grant_role(data_dir: Path, username: str) -> None:
    """The operator's command, on the server's own database."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    environment.update(SPAREKEY_DATA_DIR=str(data_dir), SPAREKEY_ENCRYPTION_KEYS=new_key_string())
    done = subprocess.run(
        [sys.executable, "-m", "sparekey", "admin", "grant-role", username, "support"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"username": username, "roles": ["support"]}


def call(server: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """The JSON API by urllib: a POST with ``body``, else a GET."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if data else "GET"
    request = urllib.request.Request(f"{server}{path}", data, headers, method=method)  # noqa: S310 - our own server
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own server
        return json.loads(answer.read() or b"{}")


def staff_with_an_app(server: str, used: list[int]) -> str:
    """sam, registered, with an authenticator app confirmed: his secret."""
    call(server, "/api/v1/accounts", {"username": "sam", "password": PASSWORD})
    token = call(server, "/api/v1/login", {"username": "sam", "password": PASSWORD})["session_token"]
    added = call(server, "/api/v1/me/totp", {"name": "Phone"}, token)
    code = fresh_totp(added["secret"], used)
    call(server, f"/api/v1/me/totp/{added['authenticator_id']}/confirm", {"code": code}, token)
    return str(added["secret"])


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_the_support_console_approves_a_request(
    start_server: Any, chromium: Any, tmp_path: Path, lang: str
) -> None:
    server = start_server()
    words = TEXT[lang]
    used: list[int] = []
    call(server, "/api/v1/accounts", {"username": "alice", "password": PASSWORD})
    secret = staff_with_an_app(server, used)
    grant_role(tmp_path / "server-0" / "data", "sam")
    # The requester: a recovery, then a review asked of support.
    request_id = call(server, "/api/v1/recovery", {"username": "alice"})["request_id"]
    asked = call(server, f"/api/v1/recovery/{request_id}/support", {"statement": STATEMENT})
    assert asked == {"state": "collecting"}

    context = chromium.new_context(
        locale=lang, extra_http_headers={"Accept-Language": lang}, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login/code"))
    page.fill("#code", fresh_totp(secret, used))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/security"))

    page.goto(f"{server}/support")
    assert page.locator("h1").inner_text() == words["queue"]
    case = page.locator(f"#support-queue li[data-request='{request_id}']")
    assert "alice" in case.inner_text()
    case.get_by_role("link", name=words["review"]).click()
    page.wait_for_url(re.compile(rf"/support/requests/{request_id}$"))
    assert STATEMENT in page.inner_text("#request-statement")
    page.screenshot(path=str(ARTIFACTS / f"support-request-{lang}.png"), full_page=True)

    page.fill("#approve-reason", words["reason"])
    page.click("#approve-form button[type=submit]")
    page.wait_for_url(re.compile(r"done=approved"))
    assert words["done"] in page.inner_text("#done")
    assert words["waiting"] in page.inner_text("#request-state")
    assert page.locator("#approve-form").count() == 0
    trail = page.locator("#trail-entries li")
    assert trail.count() == 2
    assert words["wrote"] in trail.nth(0).inner_text() and STATEMENT in trail.nth(0).inner_text()
    approval = trail.nth(1).inner_text()
    assert words["approved"] in approval and "sam" in approval and words["reason"] in approval
    assert page.locator("#trail-entries li").nth(1).locator("time").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"support-approved-{lang}.png"), full_page=True)

    assert call(server, f"/api/v1/recovery/{request_id}")["state"] == "waiting"
    context.close()
