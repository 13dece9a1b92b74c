"""The recovery drill through HTTP: ``POST``/``GET /api/v1/me/drill``, ``readiness.last_drill_at``
in ``GET /api/v1/me``, and the page ``/security/drill`` in English and Japanese.

The "private window" is a sign-in through the JSON API without a ``client_token`` (and, for
the pages, a second browser with no cookies); time moves only with the frozen clock."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.conftest import ApiUser

STEPS = ["open_private_window", "sign_in_with_password", "use_backup_code_or_other_way", "come_back_here"]
STATUS_KEYS = {"open", "started_at", "expires_at", "last_passed_at", "last_method"}
PRIVATE_IP = "198.51.100.20"


@pytest.fixture
def private_window(client: TestClient) -> Iterator[TestClient]:
    """Another browser on the same server: no session, client token or device cookie of ours."""
    with TestClient(client.app, headers={"Accept-Language": "en"}, client=(PRIVATE_IP, 50001)) as http:
        yield http


def status(user: ApiUser) -> dict[str, Any]:
    response = user.http.get("/api/v1/me/drill", headers=user.auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert set(found) == STATUS_KEYS
    return found


def start(user: ApiUser) -> dict[str, Any]:
    response = user.http.post("/api/v1/me/drill", headers=user.auth)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def sign_in(http: TestClient, user: ApiUser, code: str, client_token: str | None = None) -> dict[str, Any]:
    """Password, then ``code`` as the second step, as the JSON API's client would."""
    body = {"username": user.username, "password": user.password}
    if client_token is not None:
        body["client_token"] = client_token
    response = http.post("/api/v1/login", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "second_factor_required"
    flow_id = response.json()["flow_id"]
    response = http.post(f"/api/v1/login/{flow_id}/code", json={"code": code})
    assert response.status_code == 200, response.text
    done: dict[str, Any] = response.json()
    return done


def last_drill_at(user: ApiUser) -> str | None:
    response = user.http.get("/api/v1/me", headers=user.auth)
    assert response.status_code == 200, response.text
    found: str | None = response.json()["readiness"]["last_drill_at"]
    return found


def test_a_drill_passes_with_a_backup_code_from_a_private_window(
    user_2fa: ApiUser, private_window: TestClient, clock: FrozenClock
) -> None:
    before = status(user_2fa)
    assert before == dict.fromkeys(STATUS_KEYS) | {"open": False}
    assert last_drill_at(user_2fa) is None

    started = start(user_2fa)

    assert set(started) == {"started_at", "expires_at", "steps"}
    assert started["steps"] == STEPS
    started_at = datetime.fromisoformat(started["started_at"])
    assert started_at == clock.now()
    assert datetime.fromisoformat(started["expires_at"]) - started_at == timedelta(hours=1)
    waiting = status(user_2fa)
    assert waiting["open"] is True
    assert (waiting["started_at"], waiting["expires_at"]) == (started["started_at"], started["expires_at"])
    assert waiting["last_passed_at"] is None

    clock.advance(10 * 60)
    done = sign_in(private_window, user_2fa, user_2fa.codes[0])
    assert done["method_used"] == "backup_code"

    passed = status(user_2fa)
    assert passed["open"] is False and passed["started_at"] is None
    assert datetime.fromisoformat(passed["last_passed_at"]) == clock.now()
    assert passed["last_method"] == "backup_code"
    assert last_drill_at(user_2fa) == passed["last_passed_at"]
    response = user_2fa.http.get(
        "/api/v1/me/events", params={"type": "drill_started,recovery_drill_passed"}, headers=user_2fa.auth
    )
    assert [(e["type"], e.get("method")) for e in response.json()] == [
        ("recovery_drill_passed", "backup_code"),
        ("drill_started", None),
    ]


def test_the_authenticator_app_does_not_pass(
    user_2fa: ApiUser, private_window: TestClient, clock: FrozenClock
) -> None:
    start(user_2fa)
    clock.advance(30)

    done = sign_in(private_window, user_2fa, user_2fa.totp())

    assert done["method_used"] == "totp"
    assert status(user_2fa)["open"] is True
    assert status(user_2fa)["last_passed_at"] is None


def test_a_known_client_does_not_pass(user_2fa: ApiUser, private_window: TestClient) -> None:
    everyday = sign_in(private_window, user_2fa, user_2fa.codes[0])["client_token"]
    start(user_2fa)

    sign_in(private_window, user_2fa, user_2fa.codes[1], client_token=everyday)

    assert status(user_2fa)["open"] is True
    assert last_drill_at(user_2fa) is None


def test_the_drill_runs_out_after_an_hour(
    user_2fa: ApiUser, private_window: TestClient, clock: FrozenClock
) -> None:
    started = start(user_2fa)
    clock.advance(3600)

    sign_in(private_window, user_2fa, user_2fa.codes[0])

    found = status(user_2fa)
    assert found["open"] is False and found["last_passed_at"] is None
    assert found["expires_at"] == started["expires_at"]  # the drill that ran out


def test_the_drill_needs_a_signed_in_account(client: TestClient) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, "/api/v1/me/drill")
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "not_authenticated"


# The page ------------------------------------------------------------------------------------


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:p|ol|li)>', html, re.S)
    assert found, f"no #{element_id} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1))


def page(user: ApiUser, lang: str = "en") -> str:
    response = user.http.get("/security/drill", headers={"Accept-Language": lang})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Language"] == lang
    return response.text


def test_the_page_guides_the_drill_and_shows_it_passed(user_2fa: ApiUser, private_window: TestClient) -> None:
    assert user_2fa.token
    user_2fa.http.cookies.set("sparekey_session", user_2fa.token)
    html = page(user_2fa)
    assert "Recovery drill" in html
    assert 'id="drill-never"' in html and 'id="drill-waiting"' not in html
    assert [f"step-{step}" for step in STEPS] == re.findall(r'<li id="(step-[a-z_]+)"', html)
    assert "http://localhost:8000/login" in text_of(html, "step-sign_in_with_password")
    assert "Try another way" in text_of(html, "step-use_backup_code_or_other_way")

    refused = user_2fa.http.post("/security/drill", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert status(user_2fa)["open"] is False
    response = user_2fa.http.post("/security/drill", data={"csrf_token": csrf(html)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/security/drill"

    html = page(user_2fa)
    assert "Waiting for your sign-in from a private window" in text_of(html, "drill-waiting")
    assert 'id="drill-start"' not in html and 'id="drill-restart"' in html

    sign_in(private_window, user_2fa, user_2fa.codes[0])

    html = page(user_2fa)
    assert 'id="drill-waiting"' not in html
    assert re.fullmatch(r"Passed on .+ with backup code\.", text_of(html, "drill-passed").strip())
    assert 'id="drill-start"' in html


def test_the_page_in_japanese(user_2fa: ApiUser, private_window: TestClient) -> None:
    assert user_2fa.token
    user_2fa.http.cookies.set("sparekey_session", user_2fa.token)
    start(user_2fa)

    html = page(user_2fa, "ja")
    assert "復旧のリハーサル" in html
    assert "プライベートウィンドウからのサインインを待っています" in text_of(html, "drill-waiting")
    assert "http://localhost:8000/login" in text_of(html, "step-sign_in_with_password")
    assert "別の方法を試す" in text_of(html, "step-use_backup_code_or_other_way")

    sign_in(private_window, user_2fa, user_2fa.codes[0])

    passed = text_of(page(user_2fa, "ja"), "drill-passed")
    assert "バックアップコードで成功しました" in passed


def test_without_two_step_verification_the_page_says_to_turn_it_on(user: ApiUser) -> None:
    user.login()
    assert user.token
    user.http.cookies.set("sparekey_session", user.token)

    html = page(user)

    assert 'id="drill-needs-two-step"' in html and 'id="drill-start"' not in html
    assert 'href="/security#two-step"' in html


def test_the_page_sends_a_stranger_to_sign_in(client: TestClient) -> None:
    response = client.get("/security/drill", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
