"""The session cookie: HttpOnly and SameSite=Lax always; Secure with the __Host- prefix over HTTPS;
a cookie session gets a new id on entering sudo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.web.conftest import app_settings
from tests.web.test_page_journeys import PASSWORD, Browser, csrf


@pytest.mark.parametrize(
    ("base_url", "cookie_name", "secure"),
    [
        ("http://testserver", "sparekey_session", False),
        ("https://testserver", "__Host-sparekey_session", True),
    ],
)
def test_sudo_rotates_the_cookie_session(
    tmp_path: Path, base_url: str, cookie_name: str, secure: bool
) -> None:
    app = create_app(app_settings(tmp_path), clock=FrozenClock(), migrate=True)
    with TestClient(app, base_url=base_url) as http:
        password = "correct horse battery staple"
        http.post("/api/v1/accounts", json={"username": "alice", "password": password})
        token = http.post("/api/v1/login", json={"username": "alice", "password": password}).json()[
            "session_token"
        ]
        http.cookies.set(cookie_name, token)
        response = http.post("/api/v1/me/sudo", json={"password": password})
        assert response.status_code == 200, response.text
        header = response.headers["set-cookie"]
        assert header.startswith(f"{cookie_name}=")
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"httponly", "path", "samesite"} <= attributes
        assert "samesite=lax" in header.lower()
        assert ("secure" in attributes) is secure
        assert "domain" not in attributes
        new_token = header.split(";")[0].split("=", 1)[1]
        assert new_token != token
        http.cookies.clear()
        old = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401
        fresh = http.get("/api/v1/me", headers={"Authorization": f"Bearer {new_token}"})
        assert fresh.status_code == 200


def test_page_sudo_rotates_the_cookie_session(tmp_path: Path) -> None:
    """Entering sudo mode through the pages (a browser without JavaScript posting the form)
    gives the browser a new session id, as the API does: a session id that leaked or was
    planted before the sudo step (session fixation) does not gain sudo powers."""
    app = create_app(app_settings(tmp_path), clock=FrozenClock(), migrate=True)
    with TestClient(app, base_url="http://testserver") as http:
        browser = Browser(http, FrozenClock())
        browser.register()
        token = http.cookies.get("sparekey_session")
        assert token
        browser.get("/security/sudo")
        response = http.post(
            "/security/sudo",
            data={"csrf_token": csrf(browser.page), "password": PASSWORD},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        session_cookies = [
            header
            for header in response.headers.get_list("set-cookie")
            if header.startswith("sparekey_session=")
        ]
        assert len(session_cookies) == 1, response.headers.get_list("set-cookie")
        assert "httponly" in session_cookies[0].lower() and "samesite=lax" in session_cookies[0].lower()
        new_token = session_cookies[0].split(";")[0].split("=", 1)[1]
        assert new_token and new_token != token
        assert http.cookies.get("sparekey_session") == new_token  # the browser keeps the new one
        http.cookies.clear()
        old = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401
        fresh = http.get("/api/v1/me", headers={"Authorization": f"Bearer {new_token}"})
        assert fresh.status_code == 200
