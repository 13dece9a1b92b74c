"""Caddy (Debian's package) in front of sparekey and a small application, with
``docs/examples/Caddyfile`` as written (only its addresses changed; the test puts its own global
options in front: ports, and certificates from this run's authority), driven by chromium.

Not signed in: sent to sign in and brought back; signed in: the application sees who, never
what the browser claims; the two-factor host refuses a one-factor account; signed out: sent to
sign in again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.proxies import (
    DOMAIN,
    EchoApp,
    free_port,
    make_certificates,
    sparekey_settings,
    start_caddy,
    stop,
)
from tests.e2e.test_nginx_in_chromium import PASSWORD, RULES, api, browser_for, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def behind_caddy(
    tmp_path: Path, start_server: Callable[..., str], chromium: Any
) -> Iterator[tuple[str, str, EchoApp, Any]]:
    certificates = make_certificates(tmp_path / "tls")
    app = EchoApp()
    port = free_port()
    base = start_server(**sparekey_settings(port, RULES))
    caddy = start_caddy(
        tmp_path / "caddy", port, urlsplit(base).port or 0, app.address, app.address, certificates
    )
    browser = browser_for(chromium, certificates)
    try:
        yield base, f":{port}", app, browser
    finally:
        browser.close()
        stop(caddy)
        app.close()


def test_caddy_forward_auth_in_chromium(behind_caddy: tuple[str, str, EchoApp, Any]) -> None:
    base, port, app, browser = behind_caddy
    auth, wiki, admin = (f"https://{name}.{DOMAIN}{port}" for name in ("auth", "wiki", "admin"))
    api(base, "/api/v1/accounts", {"username": "alice", "password": PASSWORD})
    context = browser.new_context(locale="en", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()

    page.goto(f"{wiki}/notes?tab=2")
    assert page.url.startswith(f"{auth}/login?rd=")
    assert parse_qs(urlsplit(page.url).query)["rd"] == [f"{wiki}/notes?tab=2"]
    assert app.last("/notes?tab=2") is None
    sign_in(page)
    page.wait_for_url(f"{wiki}/notes?tab=2")
    assert page.inner_text("#remote-user") == "alice"

    forged = {"Remote-User": "mallory", "Remote-Groups": "admins", "Remote-Email": "m@evil.example.org"}
    context.set_extra_http_headers({"Accept-Language": "en", **forged})
    page.goto(f"{wiki}/forged")
    context.set_extra_http_headers({"Accept-Language": "en"})
    seen = app.last("/forged")
    assert seen is not None and seen["Remote-User"] == "alice"
    assert seen["Remote-Groups"] in ("", "(none)") and seen["Remote-Email"] in ("", "(none)")

    refused = page.goto(f"{admin}/users")
    assert refused is not None and refused.status == 403
    assert json.loads(page.inner_text("body"))["error"]["code"] == "two_factor_needed"
    assert app.last("/users") is None

    page.goto(f"{auth}/security")
    page.click("form[action='/logout'] button[type=submit]")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{wiki}/after")
    assert page.url.startswith(f"{auth}/login?rd=")
    assert app.last("/after") is None
    context.close()
