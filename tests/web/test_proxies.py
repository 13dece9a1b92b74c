"""Forwarded headers: believed from the configured proxies only, and only when they are sound.

A client that reaches the server directly must not choose the address its failures count
against (and are recorded with), nor make plain HTTP look like HTTPS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from sparekey.core.clock import FrozenClock
from sparekey.store.tables import address_failures
from sparekey.web.app import create_app
from tests.web.conftest import app_settings

PASSWORD = "correct horse battery staple"
PEER = "127.0.0.1"  # where the requests come from: a proxy on the same host, or an attacker there
Connect = Callable[..., TestClient]


@pytest.fixture
def connect(tmp_path: Path, clock: FrozenClock) -> Iterator[Connect]:
    """An application with the given settings, reached from ``PEER``."""
    opened: list[Any] = []

    def open_client(**settings: Any) -> TestClient:
        app = create_app(app_settings(tmp_path, ip_failure_limit=3, **settings), clock=clock, migrate=True)
        http = TestClient(app, client=(PEER, 40000))
        opened.append(http.__enter__())
        return http

    yield open_client
    for http in opened:
        http.__exit__(None, None, None)


def fail_sign_in(http: TestClient, forwarded_for: str | None = None, username: str = "nobody") -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    response = http.post(
        "/api/v1/login", json={"username": username, "password": "not it at all"}, headers=headers
    )
    return response.status_code


def last_sign_in_ip(http: TestClient) -> str | None:
    token = http.post("/api/v1/login", json={"username": "alice", "password": PASSWORD}).json()[
        "session_token"
    ]
    events = http.get("/api/v1/me/events", headers={"Authorization": f"Bearer {token}"}).json()
    failures = [e for e in events if e["type"] == "sign_in" and e["result"] == "failure"]
    return failures[0]["ip"] if failures else None


def test_forged_forwarded_for_from_a_stranger_changes_nothing(connect: Connect) -> None:
    http = connect()  # no SPAREKEY_TRUSTED_PROXIES: the default
    http.post("/api/v1/accounts", json={"username": "alice", "password": PASSWORD})
    statuses = [fail_sign_in(http, f"9.9.9.{n}", "alice") for n in range(10, 14)]
    assert statuses == [401, 401, 401, 429]  # a new forged address each time: still one client
    with http.app.state.deps.store.transaction() as tx:  # type: ignore[attr-defined]
        tx.conn.execute(delete(address_failures))  # the limit forgotten, to read the history
    assert last_sign_in_ip(http) == PEER  # the history shows the real peer, not 9.9.9.13


def test_forged_forwarded_proto_does_not_make_http_https(connect: Connect) -> None:
    http = connect()
    response = http.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in response.headers
    assert [c.name for c in http.cookies.jar] == ["sparekey_csrf"]


def test_a_configured_proxy_is_believed(connect: Connect) -> None:
    http = connect(trusted_proxies="10.0.0.0/8, 127.0.0.1")
    http.post("/api/v1/accounts", json={"username": "alice", "password": PASSWORD})
    assert [fail_sign_in(http, "9.9.9.10", "alice") for _ in range(3)] == [401] * 3
    assert fail_sign_in(http, "9.9.9.10") == 429  # the limit counts the forwarded client...
    assert fail_sign_in(http, "9.9.9.11", "alice") == 401  # ...not the proxy that everyone comes through
    assert last_sign_in_ip(http) == "9.9.9.11"
    response = http.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "__Host-sparekey_csrf" in response.cookies


@pytest.mark.parametrize(
    ("forwarded_for", "recorded"),
    [
        ("9.9.9.10, 10.1.2.3", "9.9.9.10"),  # the right-most entry that is not one of our proxies
        ("6.6.6.6, 9.9.9.10", "9.9.9.10"),  # the left part is the client's own to invent
        ("2001:db8::7", "2001:db8::7"),
        ("::ffff:9.9.9.12", "9.9.9.12"),
        ("'; DROP TABLE events; --", PEER),  # not an address: the header is ignored
        ("9.9.9.10, unknown", PEER),
        ("", PEER),
    ],
)
def test_what_a_configured_proxy_forwards_is_checked(
    connect: Connect, forwarded_for: str, recorded: str
) -> None:
    http = connect(trusted_proxies="10.0.0.0/8,127.0.0.1")
    http.post("/api/v1/accounts", json={"username": "alice", "password": PASSWORD})
    assert fail_sign_in(http, forwarded_for, "alice") == 401
    assert last_sign_in_ip(http) == recorded
