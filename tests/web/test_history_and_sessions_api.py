"""The history filtered and exported as CSV, sessions with a readable device, and signing out
every other session at once."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.conftest import ApiUser

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_events_filter_by_type(user_2fa: ApiUser) -> None:
    user_2fa.sudo()
    everything = user_2fa.http.get("/api/v1/me/events", headers=user_2fa.auth).json()
    assert {"sign_in", "sudo", "factor_added"} <= {e["type"] for e in everything}
    only = user_2fa.http.get("/api/v1/me/events?type=sudo", headers=user_2fa.auth).json()
    assert only and {e["type"] for e in only} == {"sudo"}
    two = user_2fa.http.get("/api/v1/me/events?type=sudo,factor_added", headers=user_2fa.auth).json()
    assert {e["type"] for e in two} == {"sudo", "factor_added"}
    repeated = user_2fa.http.get("/api/v1/me/events?type=sudo&type=factor_added", headers=user_2fa.auth)
    assert repeated.json() == two
    unknown = user_2fa.http.get("/api/v1/me/events?type=nope", headers=user_2fa.auth)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "type"
    bad_format = user_2fa.http.get("/api/v1/me/events?format=xml", headers=user_2fa.auth)
    assert bad_format.status_code == 422 and bad_format.json()["error"]["field"] == "format"


def test_csv_export_parses_and_keeps_japanese(client: TestClient, clock: FrozenClock) -> None:
    user = ApiUser(client, clock, username="はなこ").register().enable_totp()
    client.post("/api/v1/login", json={"username": user.username, "password": "wrong password"})
    flow_id = user.flow()
    clock.advance(30)
    trusted = client.post(f"/api/v1/login/{flow_id}/code", json={"code": user.totp(), "trust_device": True})
    user.token = trusted.json()["session_token"]
    device_id = client.get("/api/v1/me/devices", headers=user.auth).json()[0]["id"]
    client.patch(f"/api/v1/me/devices/{device_id}", json={"name": "会社のパソコン"}, headers=user.auth)
    response = client.get("/api/v1/me/events?format=csv", headers=user.auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert {"at", "type"} <= set(rows[0])
    failure = next(r for r in rows if r["result"] == "failure")
    assert failure["type"] == "sign_in" and failure["error_code"] == "invalid_credentials"
    assert failure["method"] == "password" and failure["ip"] == "203.0.113.50"
    renamed = next(r for r in rows if r["type"] == "device_renamed")
    assert '"name": "会社のパソコン"' in renamed["details"]  # Japanese round-trips, unescaped
    only_sign_ins = client.get("/api/v1/me/events?type=sign_in&format=csv", headers=user.auth)
    types = {r["type"] for r in csv.DictReader(io.StringIO(only_sign_ins.text))}
    assert types == {"sign_in"}


def test_csv_cells_never_start_a_formula(client: TestClient, clock: FrozenClock) -> None:
    user = ApiUser(client, clock).register()
    client.post(
        "/api/v1/login",
        json={"username": user.username, "password": "wrong password"},
        headers={"User-Agent": '=HYPERLINK("http://evil.example")'},
    )
    user.login()
    rows = list(
        csv.DictReader(io.StringIO(client.get("/api/v1/me/events?format=csv", headers=user.auth).text))
    )
    agents = [r["user_agent"] for r in rows if r["user_agent"]]
    assert '\'=HYPERLINK("http://evil.example")' in agents
    assert not any(a.startswith("=") for a in agents)


def test_sessions_name_their_device(client: TestClient, user: ApiUser) -> None:
    response = client.post(
        "/api/v1/login",
        json={"username": user.username, "password": user.password},
        headers={"User-Agent": IPHONE},
    )
    token = response.json()["session_token"]
    sessions = client.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}).json()
    assert sessions[0]["device"] == "Mobile Safari on iOS"
    japanese = client.get(
        "/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}", "Accept-Language": "ja"}
    ).json()
    assert japanese[0]["device"] == "iOS の Mobile Safari"


def test_sign_out_every_other_session(client: TestClient, user: ApiUser) -> None:
    tokens = [user.login()["session_token"] for _ in range(3)]
    keep = {"Authorization": f"Bearer {tokens[-1]}"}
    refused = client.delete("/api/v1/me/sessions", headers=keep)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "others"
    assert client.delete("/api/v1/me/sessions?others=true", headers=keep).status_code == 204
    sessions = client.get("/api/v1/me/sessions", headers=keep).json()
    assert [s["current"] for s in sessions] == [True]
    for token in tokens[:-1]:
        gone = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 401
    event = client.get("/api/v1/me/events?type=session_revoked", headers=keep).json()[0]
    assert event["others"] is True and event["count"] == 2
