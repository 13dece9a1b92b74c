"""nginx (Debian's package) in front of sparekey and a small application, with
``docs/examples/nginx.conf`` as written (only its addresses and certificate paths changed), over
HTTPS, driven by Debian's chromium.

The browser knows the example's host names (``auth.``, ``wiki.``, ``admin.example.com``) as
127.0.0.1 and trusts this run's certificate authority. wiki.example.com needs any signed-in
account, admin.example.com two factors. The journey: sent to sign in and brought back; the
application told who came in, whatever the browser claims; the two-factor host refused while
the account has one factor, then after a stronger sign-in let in; an attempt to be sent to
another site after sign-in ends on sparekey; after signing out, sent to sign in again.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.e2e.proxies import (
    DOMAIN,
    Certificates,
    EchoApp,
    free_port,
    make_certificates,
    sparekey_settings,
    start_nginx,
    stop,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"
RULES = json.dumps([{"host": f"wiki.{DOMAIN}"}, {"host": f"admin.{DOMAIN}", "require": "two_factors"}])


def api(base: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """A JSON call straight to sparekey (setting up the account as its owner would)."""
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - our own server
        raw = answer.read()
    return json.loads(raw) if raw else {}


def enable_totp(base: str) -> list[str]:
    """Turn on an authenticator app for alice from a session of her own; her backup codes."""
    token = api(base, "/api/v1/login", {"username": "alice", "password": PASSWORD})["session_token"]
    enrolment = api(base, "/api/v1/me/totp", {"name": "phone"}, token)
    code = pyotp.TOTP(enrolment["secret"]).now()
    confirmed = api(base, f"/api/v1/me/totp/{enrolment['authenticator_id']}/confirm", {"code": code}, token)
    return list(confirmed["backup_codes"]["codes"])


def browser_for(chromium: Any, certificates: Certificates) -> Any:
    """Another chromium of the same Playwright, which resolves the example's names to this
    machine and trusts this run's certificate authority."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    return chromium.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[
            *CHROMIUM_ARGS,
            f"--host-resolver-rules=MAP {DOMAIN} 127.0.0.1, MAP *.{DOMAIN} 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={certificates.ca_spki}",
        ],
    )


@pytest.fixture
def behind_nginx(
    tmp_path: Path, start_server: Callable[..., str], chromium: Any
) -> Iterator[tuple[str, str, EchoApp, Any]]:
    """(sparekey's own address, the proxy's https port suffix, the application, a browser)."""
    certificates = make_certificates(tmp_path / "tls")
    app = EchoApp()
    port = free_port()
    base = start_server(**sparekey_settings(port, RULES))
    nginx = start_nginx(
        tmp_path / "nginx", port, urlsplit(base).port or 0, app.address, app.address, certificates
    )
    browser = browser_for(chromium, certificates)
    try:
        yield base, f":{port}", app, browser
    finally:
        browser.close()
        stop(nginx)
        app.close()
        errors = (tmp_path / "nginx" / "error.log").read_text(errors="replace")
        assert "[emerg]" not in errors and "[crit]" not in errors, errors


def sign_in(page: Any, *, code: str | None = None) -> None:
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    if code is not None:
        page.wait_for_url(re.compile(r"/login/code"))
        page.fill("input[name=code]", code)
        page.click("button[type=submit]")


def test_nginx_forward_auth_in_chromium(behind_nginx: tuple[str, str, EchoApp, Any]) -> None:
    base, port, app, browser = behind_nginx
    auth, wiki, admin = (f"https://{name}.{DOMAIN}{port}" for name in ("auth", "wiki", "admin"))
    api(base, "/api/v1/accounts", {"username": "alice", "password": PASSWORD})
    context = browser.new_context(locale="en", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()

    # Not signed in: to the sign-in page, which brings the browser back where it was going.
    page.goto(f"{wiki}/notes/today?tab=2")
    assert page.url.startswith(f"{auth}/login?rd=")
    assert parse_qs(urlsplit(page.url).query)["rd"] == [f"{wiki}/notes/today?tab=2"]
    sign_in(page)
    page.wait_for_url(f"{wiki}/notes/today?tab=2")
    assert page.inner_text("#remote-user") == "alice"
    assert page.inner_text("#remote-groups") == "(none)"  # nginx sends no empty header
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "forward-auth-nginx.png"))
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["__Secure-sparekey_session"]["domain"] == f".{DOMAIN}"
    assert cookies["__Secure-sparekey_session"]["secure"] is True

    # What the browser claims under the identity headers never reaches the application.
    forged = {"Remote-User": "mallory", "Remote-Groups": "admins", "Remote-Email": "m@evil.example.org"}
    context.set_extra_http_headers({"Accept-Language": "en", **forged})
    page.goto(f"{wiki}/forged")
    context.set_extra_http_headers({"Accept-Language": "en"})
    assert page.inner_text("#remote-user") == "alice"
    assert app.last("/forged") == {
        "host": f"wiki.{DOMAIN}{port}",
        "path": "/forged",
        "Remote-User": "alice",
        "Remote-Email": "(none)",
        "Remote-Groups": "(none)",
    }
    # A form posted to the application is checked too (nginx asks with GET).
    post = (
        """async () => (await fetch("/save", {method: "POST", body: new URLSearchParams({a: "b"})})).status"""
    )
    assert page.evaluate(post) == 200 and app.last("/save")["Remote-User"] == "alice"

    # A host name that no server names never reaches an application.
    other = page.goto(f"https://intranet.{DOMAIN}{port}/secret")
    assert other is not None and other.status == 421 and app.last("/secret") is None

    # The two-factor host: this account has one factor, so signing in again would not help.
    refused = page.goto(f"{admin}/users")
    assert refused is not None and refused.status == 403
    assert app.last("/users") is None
    # With an app set up, the browser's one-factor session is sent to sign in again, more strongly.
    codes = enable_totp(base)
    page.goto(f"{admin}/users")
    assert page.url.startswith(f"{auth}/login?rd=")
    sign_in(page, code=codes[0])
    page.wait_for_url(f"{admin}/users")
    assert page.inner_text("h1") == f"admin.{DOMAIN}{port}" and page.inner_text("#remote-user") == "alice"
    page.goto(f"{wiki}/")
    assert page.inner_text("#remote-user") == "alice"

    # An attempt to be sent to another site after signing in ends on sparekey.
    page.goto(f"{auth}/login?rd=https://evil.example.org/")
    sign_in(page, code=codes[1])
    page.wait_for_url(re.compile(r"/security"))
    assert urlsplit(page.url).netloc == f"auth.{DOMAIN}{port}"
    direct = page.goto(f"{auth}/api/v1/forward-auth?rd=https://evil.example.org/")
    assert direct is not None and direct.status == 403  # no rule for that host: no redirect
    assert urlsplit(page.url).netloc == f"auth.{DOMAIN}{port}"

    # Signed out: the application is out of reach again.
    page.goto(f"{auth}/security")
    page.click("form[action='/logout'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{wiki}/after")
    assert page.url.startswith(f"{auth}/login?rd=")
    assert app.last("/after") is None
    context.close()
