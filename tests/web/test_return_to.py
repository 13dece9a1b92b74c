"""After sign-in the browser goes back only where the operator allowed (``/login?rd=``); the
pages' form-action allows exactly those hosts; the session cookie is shared only on request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from sparekey.web.return_to import ReturnTargets
from tests.web.conftest import CLIENT_IP, app_settings
from tests.web.test_page_journeys import PASSWORD, csrf

ALLOWED = ("wiki.example.com", "app.example.com:8443", "127.0.0.1:9000")


@pytest.fixture
def http(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    settings = app_settings(tmp_path, public_url="http://testserver", allowed_return_hosts=",".join(ALLOWED))
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as client:
        yield client


@pytest.mark.parametrize(
    "target",
    [
        "/oauth/authorize?client_id=x&state=y",
        "https://wiki.example.com/page?x=1",
        "http://wiki.example.com:8080/",
        "https://WIKI.example.com/",
        "https://app.example.com:8443/dashboard",
        "http://127.0.0.1:9000/",
        "http://testserver/security",
    ],
)
def test_allowed_places_are_kept(target: str) -> None:
    targets = ReturnTargets("http://testserver", ALLOWED)
    assert targets.accept(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "https://wiki.example.com.evil.example/",
        "https://evil.example/?https://wiki.example.com/",
        "https://wiki.example.com@evil.example/",
        "https://user@wiki.example.com/",
        "https://app.example.com/",  # allowed only on port 8443
        "https://app.example.com:8444/",
        "http://127.0.0.1:9001/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "https://wiki.example.com/\r\nSet-Cookie: x=1",
        "http://testserver:8080/",  # sparekey's own host, another port
        "wiki.example.com/page",
        "",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_is_dropped(target: str) -> None:
    assert ReturnTargets("http://testserver", ALLOWED).accept(target) is None


def _register_with_totp(http: TestClient, clock: FrozenClock) -> str:
    page = http.get("/register").text
    http.post("/register", data={"csrf_token": csrf(page), "username": "alice", "password": PASSWORD})
    security = http.get("/security").text
    page = http.post("/security/totp", data={"csrf_token": csrf(security), "name": "p"}).text
    secret = re.search(r'<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>', page).group(1)  # type: ignore[union-attr]
    action = re.search(r'action="(/security/totp/\w+/confirm)"', page).group(1)  # type: ignore[union-attr]
    http.post(action, data={"csrf_token": csrf(page), "code": pyotp.TOTP(secret).at(clock.now())})
    clock.advance(30)
    http.post("/logout", data={"csrf_token": csrf(http.get("/security").text)})
    return secret


def test_a_sign_in_with_two_steps_ends_at_the_allowed_return_address(
    http: TestClient, clock: FrozenClock
) -> None:
    secret = _register_with_totp(http, clock)
    page = http.get("/login", params={"rd": "https://wiki.example.com/page?x=1"})
    assert "wiki.example.com:*" in page.headers["content-security-policy"]
    page = http.post(
        "/login",
        data={"csrf_token": csrf(page.text), "username": "alice", "password": PASSWORD},
    )
    assert 'action="/login/code"' in page.text
    done = http.post(
        "/login/code",
        data={"csrf_token": csrf(page.text), "code": pyotp.TOTP(secret).at(clock.now())},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "https://wiki.example.com/page?x=1"
    assert "sparekey_return" in done.headers.get("set-cookie", "")  # cleared


def test_a_refused_return_address_signs_in_to_the_security_page(http: TestClient, clock: FrozenClock) -> None:
    _register_with_totp(http, clock)
    http.cookies.clear()
    page = http.get("/login", params={"rd": "https://evil.example/"})
    assert "sparekey_return" not in http.cookies
    assert "evil.example" not in page.headers["content-security-policy"]
    done = http.post(
        "/login",
        data={"csrf_token": csrf(page.text), "username": "alice", "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login/code"


def test_a_later_plain_sign_in_forgets_an_old_return_address(http: TestClient) -> None:
    http.get("/login", params={"rd": "https://wiki.example.com/"})
    assert "sparekey_return" in http.cookies
    http.get("/login")
    assert "sparekey_return" not in http.cookies


def test_only_pages_widen_form_action(http: TestClient) -> None:
    api = http.get("/healthz")
    assert "form-action 'self';" in api.headers["content-security-policy"]
    page = http.get("/login")
    policy = page.headers["content-security-policy"]
    assert "form-action 'self' wiki.example.com:* app.example.com:8443 127.0.0.1:9000;" in policy


def test_without_allowed_hosts_form_action_stays_self(client: TestClient) -> None:
    assert "form-action 'self';" in client.get("/login").headers["content-security-policy"]


def test_the_session_cookie_is_shared_only_with_a_cookie_domain(tmp_path: Path, clock: FrozenClock) -> None:
    settings = app_settings(tmp_path, public_url="https://auth.example.com", cookie_domain="example.com")
    app = create_app(settings, clock=clock, migrate=True)
    with TestClient(app, base_url="https://auth.example.com", client=(CLIENT_IP, 50000)) as https:
        page = https.get("/register").text
        done = https.post(
            "/register",
            data={"csrf_token": csrf(page), "username": "alice", "password": PASSWORD},
            follow_redirects=False,
        )
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if "sparekey_session=" in c)
    assert session.startswith("__Secure-sparekey_session=")
    assert "Domain=example.com" in session and "Secure" in session and "HttpOnly" in session
    csrf_cookie = [c for c in cookies if "sparekey_csrf=" in c]
    assert all(c.startswith("__Host-") and "Domain" not in c for c in csrf_cookie)


@pytest.mark.parametrize("bad", ["localhost", "example com", "-.", "ex_ample.com"])
def test_a_bad_cookie_domain_is_a_configuration_error(tmp_path: Path, bad: str) -> None:
    from sparekey.settings import ConfigError

    with pytest.raises((ConfigError, ValueError)):
        app_settings(tmp_path, cookie_domain=bad)


@pytest.mark.parametrize("bad", ["https://wiki.example.com", "wiki.example.com/path", "host:99999"])
def test_a_bad_return_host_is_a_configuration_error(tmp_path: Path, bad: str) -> None:
    from sparekey.settings import ConfigError

    with pytest.raises((ConfigError, ValueError)):
        app_settings(tmp_path, allowed_return_hosts=bad)
