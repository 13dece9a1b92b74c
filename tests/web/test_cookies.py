"""The session cookie: HttpOnly and SameSite=Lax always; Secure with the __Host- prefix over HTTPS;
a cookie session gets a new id on entering sudo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.web.app import create_app
from tests.web.conftest import app_settings


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
