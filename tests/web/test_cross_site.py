"""What a page on another origin, a sibling subdomain included, cannot make a signed-in
browser do: no state change with its cookie, no form with a planted CSRF cookie, no session
cookie planted beside the ``__Host-`` one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.web.conftest import CLIENT_IP, app_settings

PASSWORD = "correct horse battery staple"
ORIGIN = "http://testserver"


def csrf_field(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_up_in_the_pages(http: TestClient, username: str = "alice") -> str:
    """Register through the form; the browser now holds the session and CSRF cookies."""
    page = http.get("/register").text
    response = http.post(
        "/register", data={"username": username, "password": PASSWORD, "csrf_token": csrf_field(page)}
    )
    assert response.status_code == 200 and "/logout" in response.text, response.text
    return csrf_field(response.text)


def session_still_alive(http: TestClient) -> bool:
    return http.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize(
    "provenance",
    [
        {"Sec-Fetch-Site": "same-site", "Origin": "http://evil.testserver"},  # a sibling subdomain
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
        {"Origin": "http://evil.testserver"},  # an older browser: Origin only
        {"Origin": "null"},  # a sandboxed frame or a redirect chain
    ],
)
def test_a_cookie_call_from_elsewhere_changes_nothing(client: TestClient, provenance: dict[str, str]) -> None:
    sign_up_in_the_pages(client)
    attempts = [
        ("POST", "/api/v1/logout", None),
        ("POST", "/api/v1/me/totp", {"name": "planted by someone else"}),
        ("DELETE", "/api/v1/me/two-factor", None),
    ]
    for method, url, body in attempts:
        response = client.request(method, url, json=body, headers=provenance)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"]["code"] == "csrf_failed"
        assert response.headers["cache-control"] == "no-store"
        assert "content-security-policy" in response.headers
    assert session_still_alive(client)
    me = client.get("/api/v1/me").json()
    assert me["two_factor_enabled"] is False
    # Reading is not a change: a same-site GET still answers.
    assert client.get("/api/v1/me", headers=provenance).status_code == 200


@pytest.mark.parametrize(
    "provenance",
    [
        {},  # not a browser
        {"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN},
        {"Sec-Fetch-Site": "none"},  # the user's own navigation
        {"Origin": f"{ORIGIN}:80"},  # the default port written out
    ],
)
def test_same_origin_calls_pass(client: TestClient, provenance: dict[str, str]) -> None:
    sign_up_in_the_pages(client)
    response = client.post("/api/v1/me/totp", json={"name": "mine"}, headers=provenance)
    assert response.status_code == 201, response.text


def test_a_planted_csrf_cookie_is_refused(client: TestClient) -> None:
    """A sibling subdomain can set a cookie named like ours (no ``__Host-`` over plain HTTP) to
    a nonce of its choosing, and fill the form with a token it got for its own session; the
    form is still refused, because that token is not signed for the victim's session."""
    victim_token = sign_up_in_the_pages(client)
    with TestClient(client.app) as attacker:  # the attacker's own browser, on the same service
        attacker_token = sign_up_in_the_pages(attacker, "mallory")
        attacker_nonce = attacker.cookies["sparekey_csrf"]
    # Planted from a sibling subdomain, replacing the victim's own.
    client.cookies.set("sparekey_csrf", attacker_nonce, domain="testserver.local")
    for token in (attacker_token, victim_token, attacker_nonce, f"{attacker_nonce}.", ""):
        response = client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 403, token
    assert session_still_alive(client)


def test_the_csrf_token_belongs_to_its_session(client: TestClient) -> None:
    """The token of a page seen before signing in does not work after: a new session, a new token."""
    before = csrf_field(client.get("/login").text)
    sign_up_in_the_pages(client)
    assert client.post("/logout", data={"csrf_token": before}).status_code == 403
    assert session_still_alive(client)
    current = csrf_field(client.get("/security").text)
    assert client.post("/logout", data={"csrf_token": current}).status_code == 200
    assert not session_still_alive(client)


@pytest.fixture
def https(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(app_settings(tmp_path), clock=clock, migrate=True)
    with TestClient(app, base_url="https://testserver", client=(CLIENT_IP, 50000)) as http:
        yield http


def test_over_https_every_cookie_has_the_host_prefix(https: TestClient) -> None:
    page = https.get("/register")
    assert "__Host-sparekey_csrf" in page.cookies
    response = https.post(
        "/register",
        data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_field(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    set_cookies = response.headers.get_list("set-cookie")
    names = sorted(header.split("=", 1)[0] for header in set_cookies)
    assert names == ["__Host-sparekey_clients", "__Host-sparekey_session"], set_cookies
    for header in set_cookies:
        attributes = {part.strip().lower() for part in header.split(";")[1:]}
        assert {"secure", "httponly", "path=/"} <= attributes, header
        assert not any(a.startswith("domain") for a in attributes), header
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_over_https_a_plain_session_cookie_is_not_accepted(https: TestClient) -> None:
    https.post("/api/v1/accounts", json={"username": "alice", "password": PASSWORD})
    token = https.post("/api/v1/login", json={"username": "alice", "password": PASSWORD}).json()[
        "session_token"
    ]
    https.cookies.set("sparekey_session", token)  # what a sibling subdomain could plant
    assert https.get("/api/v1/me").status_code == 401
    https.cookies.clear()
    https.cookies.set("__Host-sparekey_session", token)
    assert https.get("/api/v1/me").status_code == 200
