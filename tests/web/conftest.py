"""An application on a real SQLite database with a frozen clock, driven through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.settings import Settings
from sparekey.web.app import create_app
from tests.conftest import test_settings


def app_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return test_settings(tmp_path, **overrides)


CLIENT_IP = "203.0.113.50"  # the TCP peer of every request the test client sends


@pytest.fixture
def client(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(app_settings(tmp_path), clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as http:
        yield http


class ApiUser:
    """One account driven through the JSON API, remembering what its owner knows."""

    def __init__(self, http: TestClient, clock: FrozenClock, username: str = "alice") -> None:
        self.http = http
        self.clock = clock
        self.username = username
        self.password = "correct horse battery staple"
        self.token: str | None = None
        self.secret: str | None = None
        self.authenticator_id: str | None = None
        self.codes: list[str] = []

    @property
    def auth(self) -> dict[str, str]:
        assert self.token
        return {"Authorization": f"Bearer {self.token}"}

    def register(self) -> ApiUser:
        response = self.http.post(
            "/api/v1/accounts", json={"username": self.username, "password": self.password}
        )
        assert response.status_code == 201, response.text
        return self

    def login(self) -> dict[str, Any]:
        response = self.http.post(
            "/api/v1/login", json={"username": self.username, "password": self.password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == "authenticated":
            self.token = body["session_token"]
        return body

    def totp(self, offset: int = 0) -> str:
        assert self.secret
        return pyotp.TOTP(self.secret).at(self.clock.now().timestamp() + offset)

    def enable_totp(self) -> ApiUser:
        if self.token is None:
            self.login()
        response = self.http.post("/api/v1/me/totp", json={"name": "iPhone"}, headers=self.auth)
        assert response.status_code == 201, response.text
        self.secret = response.json()["secret"]
        self.authenticator_id = response.json()["authenticator_id"]
        response = self.http.post(
            f"/api/v1/me/totp/{self.authenticator_id}/confirm", json={"code": self.totp()}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        self.codes = response.json()["backup_codes"]["codes"]
        self.clock.advance(30)
        return self

    def flow(self) -> str:
        body = self.login()
        assert body["status"] == "second_factor_required"
        return str(body["flow_id"])

    def sudo(self) -> None:
        self.clock.advance(30)
        body = (
            {"password": self.password, "code": self.totp()} if self.secret else {"password": self.password}
        )
        response = self.http.post("/api/v1/me/sudo", json=body, headers=self.auth)
        assert response.status_code == 200, response.text


@pytest.fixture
def user(client: TestClient, clock: FrozenClock) -> ApiUser:
    return ApiUser(client, clock).register()


@pytest.fixture
def user_2fa(user: ApiUser) -> ApiUser:
    return user.enable_totp()
