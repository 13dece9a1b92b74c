"""The JSON API of shared/API.md, call by call and error code by error code."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.web.conftest import CLIENT_IP, ApiUser

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


# Accounts -----------------------------------------------------------------------------------


def test_register(client: TestClient) -> None:
    response = client.post(
        "/api/v1/accounts",
        json={
            "username": "Bob",
            "password": "a long enough secret",
            "email": "bob@example.org",
            "extra": "ignored",
        },
    )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "username"} and response.json()["username"] == "bob"


def test_register_errors(client: TestClient, user: ApiUser) -> None:
    assert_error(
        client.post("/api/v1/accounts", json={"username": "ALICE", "password": "another good one"}),
        409,
        "username_taken",
    )
    weak = assert_error(
        client.post("/api/v1/accounts", json={"username": "carol", "password": "short"}),
        422,
        "password_too_weak",
    )
    assert weak["reason"] == "too_short" and weak["min_length"] == 8
    common = assert_error(
        client.post("/api/v1/accounts", json={"username": "carol", "password": "password1"}),
        422,
        "password_too_weak",
    )
    assert common["reason"] == "common"
    missing = assert_error(
        client.post("/api/v1/accounts", json={"username": "carol"}), 422, "validation_error"
    )
    assert missing["field"] == "password"
    typed = assert_error(
        client.post("/api/v1/accounts", json={"username": 12, "password": "a good secret"}),
        422,
        "validation_error",
    )
    assert typed["field"] == "username"
    bad_name = assert_error(
        client.post("/api/v1/accounts", json={"username": "a\u202eb", "password": "x" * 12}),
        422,
        "validation_error",
    )
    assert bad_name["field"] == "username"
    bad_mail = assert_error(
        client.post(
            "/api/v1/accounts", json={"username": "dave", "password": "x y z w v u", "email": "nope"}
        ),
        422,
        "validation_error",
    )
    assert bad_mail["field"] == "email"


# Sign-in ------------------------------------------------------------------------------------


def test_login_without_second_factor(client: TestClient, user: ApiUser) -> None:
    body = user.login()
    assert body["status"] == "authenticated" and len(body["session_token"]) >= 22
    me = client.get("/api/v1/me", headers=user.auth).json()
    assert me["username"] == "alice" and me["two_factor_enabled"] is False and me["backup_codes"] is None
    assert me["methods"] == []


def test_login_errors_do_not_enumerate(client: TestClient, user: ApiUser) -> None:
    wrong = client.post("/api/v1/login", json={"username": "alice", "password": "wrong password"})
    unknown = client.post("/api/v1/login", json={"username": "nobody", "password": "wrong password"})
    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


def test_login_rate_limited_with_retry_after(client: TestClient, user: ApiUser) -> None:
    for _ in range(10):
        client.post("/api/v1/login", json={"username": "alice", "password": "wrong password"})
    response = client.post("/api/v1/login", json={"username": "alice", "password": user.password})
    error = assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == str(error["retry_after"]) == "60"


def test_second_factor_flow(client: TestClient, user_2fa: ApiUser) -> None:
    body = user_2fa.login()
    assert body["status"] == "second_factor_required"
    assert ISO.match(body["expires_at"]) and len(body["flow_id"]) >= 22
    types = {m["type"]: m for m in body["methods"]}
    assert set(types) == {"totp", "backup_code"} and types["backup_code"]["remaining"] == 10
    response = client.post(f"/api/v1/login/{body['flow_id']}/code", json={"code": user_2fa.totp()})
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "authenticated" and done["method_used"] == "totp" and done["notices"] == []
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {done['session_token']}"}).status_code
        == 200
    )


def test_code_errors(client: TestClient, user_2fa: ApiUser, clock: FrozenClock) -> None:
    flow = user_2fa.flow()
    url = f"/api/v1/login/{flow}/code"
    assert_error(client.post(url, json={"code": "000000"}), 401, "invalid_code")
    assert_error(client.post(url, json={"code": "●●●●●●"}), 400, "malformed_code")
    drift = assert_error(
        client.post(url, json={"code": user_2fa.totp(offset=-300)}), 401, "clock_drift_suspected"
    )
    assert drift["offset_seconds"] == -300 and "5" in drift["message"]
    typo = user_2fa.codes[0][:-1] + ("2" if user_2fa.codes[0][-1] != "2" else "3")
    assert_error(client.post(url, json={"code": typo}), 400, "code_typo")
    # Fifth wrong code ends the flow.
    assert_error(client.post(url, json={"code": "999999"}), 401, "invalid_code")
    assert_error(client.post(url, json={"code": user_2fa.totp()}), 410, "flow_expired")
    assert_error(
        client.post("/api/v1/login/unknown-flow/code", json={"code": "123456"}), 404, "flow_not_found"
    )


def test_backup_code_errors(client: TestClient, user_2fa: ApiUser, clock: FrozenClock) -> None:
    code = user_2fa.codes[0]
    first = client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": code})
    assert first.status_code == 200 and first.json()["method_used"] == "backup_code"
    again = assert_error(
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": code}), 401, "code_already_used"
    )
    assert ISO.match(again["used_at"])
    user_2fa.token = first.json()["session_token"]
    user_2fa.sudo()
    regenerated = client.post("/api/v1/me/backup-codes/regenerate", headers=user_2fa.auth)
    assert regenerated.status_code == 201
    old = assert_error(
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": user_2fa.codes[1]}),
        401,
        "code_from_replaced_set",
    )
    assert old["set_number"] == 1 and ISO.match(old["replaced_at"])


def test_totp_replay_over_http(client: TestClient, user_2fa: ApiUser) -> None:
    code = user_2fa.totp()
    assert client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": code}).status_code == 200
    assert_error(
        client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": code}), 401, "code_replayed"
    )


def test_code_rate_limit(client: TestClient, user_2fa: ApiUser) -> None:
    for _ in range(2):
        flow = user_2fa.flow()
        for _ in range(5):
            client.post(f"/api/v1/login/{flow}/code", json={"code": "000000"})
    response = client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": user_2fa.totp()})
    error = assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) == error["retry_after"] > 0


def test_send_for_unknown_flow(client: TestClient) -> None:
    assert_error(client.post("/api/v1/login/nope/send", json={"method": "email"}), 404, "flow_not_found")


def test_logout(client: TestClient, user: ApiUser) -> None:
    user.login()
    assert client.post("/api/v1/logout", headers=user.auth).status_code == 204
    assert_error(client.post("/api/v1/logout", headers=user.auth), 401, "not_authenticated")
    assert_error(client.get("/api/v1/me", headers=user.auth), 401, "not_authenticated")


# The signed-in account ------------------------------------------------------------------------


def test_totp_enrolment(client: TestClient, user: ApiUser) -> None:
    user.login()
    response = client.post("/api/v1/me/totp", json={}, headers=user.auth)
    assert response.status_code == 201
    body = response.json()
    assert {"authenticator_id", "secret", "otpauth_uri", "qr_svg"} <= set(body)
    assert body["otpauth_uri"].startswith("otpauth://totp/") and body["qr_svg"].startswith("<svg")
    user.secret = body["secret"]
    wrong = assert_error(
        client.post(
            f"/api/v1/me/totp/{body['authenticator_id']}/confirm", json={"code": "000000"}, headers=user.auth
        ),
        400,
        "invalid_code",
    )
    assert "offset_seconds" not in wrong
    done = client.post(
        f"/api/v1/me/totp/{body['authenticator_id']}/confirm", json={"code": user.totp()}, headers=user.auth
    )
    assert done.status_code == 200
    issued = done.json()["backup_codes"]
    assert issued["set_number"] == 1 and len(issued["codes"]) == 10 and ISO.match(issued["created_at"])
    assert all(re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", c) for c in issued["codes"])
    assert done.json()["authenticator"]["name"]


def test_second_authenticator_needs_sudo_and_gets_no_new_codes(client: TestClient, user_2fa: ApiUser) -> None:
    assert_error(
        client.post("/api/v1/me/totp", json={"name": "iPad"}, headers=user_2fa.auth), 403, "sudo_required"
    )
    user_2fa.sudo()
    response = client.post("/api/v1/me/totp", json={"name": "iPad"}, headers=user_2fa.auth)
    assert response.status_code == 201
    import pyotp

    code = pyotp.TOTP(response.json()["secret"]).at(user_2fa.clock.now())
    done = client.post(
        f"/api/v1/me/totp/{response.json()['authenticator_id']}/confirm",
        json={"code": code},
        headers=user_2fa.auth,
    )
    assert done.status_code == 200 and "backup_codes" not in done.json()
    methods = client.get("/api/v1/me", headers=user_2fa.auth).json()["methods"]
    assert [a["name"] for a in methods[0]["authenticators"]] == ["iPhone", "iPad"]


def test_delete_totp_needs_sudo(client: TestClient, user_2fa: ApiUser) -> None:
    url = f"/api/v1/me/totp/{user_2fa.authenticator_id}"
    assert_error(client.delete(url, headers=user_2fa.auth), 403, "sudo_required")
    user_2fa.sudo()
    assert client.delete(url, headers=user_2fa.auth).status_code == 204
    me = client.get("/api/v1/me", headers=user_2fa.auth).json()
    assert me["two_factor_enabled"] is False and me["backup_codes"] is None


def test_sudo_errors(client: TestClient, user_2fa: ApiUser) -> None:
    assert_error(
        client.post("/api/v1/me/sudo", json={"password": "wrong"}, headers=user_2fa.auth),
        401,
        "invalid_credentials",
    )
    assert_error(
        client.post(
            "/api/v1/me/sudo", json={"password": user_2fa.password, "code": "000000"}, headers=user_2fa.auth
        ),
        401,
        "invalid_code",
    )
    response = client.post(
        "/api/v1/me/sudo",
        json={"password": user_2fa.password, "code": user_2fa.totp()},
        headers=user_2fa.auth,
    )
    assert response.status_code == 200 and ISO.match(response.json()["sudo_until"])
    # A bearer token is not rotated: the client keeps using it.
    assert client.get("/api/v1/me", headers=user_2fa.auth).status_code == 200


def test_change_password(client: TestClient, user: ApiUser) -> None:
    """``POST /api/v1/me/password {new_password}``: only in sudo mode; a weak password is refused
    with its reason; a change ends every other session of the account (a stolen session does
    not survive it) but not this one, only the new password signs in, and it is recorded."""
    url = "/api/v1/me/password"
    old_password, new_password = user.password, "a brand new passphrase"
    user.login()
    others = [
        client.post("/api/v1/login", json={"username": "alice", "password": old_password}).json()[
            "session_token"
        ]
        for _ in range(2)
    ]
    assert_error(
        client.post(url, json={"new_password": new_password}, headers=user.auth), 403, "sudo_required"
    )
    user.sudo()
    short = assert_error(
        client.post(url, json={"new_password": "short"}, headers=user.auth), 422, "password_too_weak"
    )
    assert short["reason"] == "too_short"
    common = assert_error(
        client.post(url, json={"new_password": "password1"}, headers=user.auth), 422, "password_too_weak"
    )
    assert common["reason"] == "common"
    for token in others:  # the refused changes changed nothing
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    response = client.post(url, json={"new_password": new_password}, headers=user.auth)
    assert response.status_code == 204 and response.content == b""
    for token in others:
        assert_error(
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "not_authenticated"
        )
    assert client.get("/api/v1/me", headers=user.auth).status_code == 200
    assert [s["current"] for s in client.get("/api/v1/me/sessions", headers=user.auth).json()] == [True]
    assert_error(
        client.post("/api/v1/login", json={"username": "alice", "password": old_password}),
        401,
        "invalid_credentials",
    )
    events = client.get("/api/v1/me/events", headers=user.auth).json()
    changed = [e for e in events if e["type"] == "password_changed"]
    assert len(changed) == 1 and ISO.match(changed[0]["at"]) and changed[0]["ip"] == CLIENT_IP
    user.password = new_password
    assert user.login()["status"] == "authenticated"


def test_backup_code_status_and_confirm(client: TestClient, user_2fa: ApiUser) -> None:
    status = client.get("/api/v1/me/backup-codes", headers=user_2fa.auth).json()
    assert {k: status[k] for k in ("set_number", "total", "remaining", "confirmed", "used")} == {
        "set_number": 1,
        "total": 10,
        "remaining": 10,
        "confirmed": False,
        "used": [],
    }
    assert "codes" not in status
    assert_error(
        client.post(
            "/api/v1/me/backup-codes/confirm",
            json={"position": 3, "code": user_2fa.codes[0]},
            headers=user_2fa.auth,
        ),
        400,
        "invalid_code",
    )
    done = client.post(
        "/api/v1/me/backup-codes/confirm",
        json={"position": 3, "code": user_2fa.codes[2]},
        headers=user_2fa.auth,
    )
    assert done.status_code == 200 and done.json() == {"confirmed": True}
    status = client.get("/api/v1/me/backup-codes", headers=user_2fa.auth).json()
    assert status["confirmed"] is True and status["remaining"] == 10


def test_backup_codes_used_positions(client: TestClient, user_2fa: ApiUser) -> None:
    done = client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": user_2fa.codes[4]}).json()
    assert {"code": "backup_code_used", "remaining": 9} in done["notices"]
    status = client.get("/api/v1/me/backup-codes", headers=user_2fa.auth).json()
    assert status["remaining"] == 9 and [u["position"] for u in status["used"]] == [5]
    assert ISO.match(status["used"][0]["used_at"]) and status["used"][0]["ip"] == CLIENT_IP


def test_backup_codes_low_notice(client: TestClient, user_2fa: ApiUser) -> None:
    for code in user_2fa.codes[:7]:
        done = client.post(f"/api/v1/login/{user_2fa.flow()}/code", json={"code": code}).json()
    assert {"code": "backup_codes_low", "remaining": 3} in done["notices"]


def test_regenerate_needs_sudo(client: TestClient, user_2fa: ApiUser) -> None:
    assert_error(
        client.post("/api/v1/me/backup-codes/regenerate", headers=user_2fa.auth), 403, "sudo_required"
    )
    user_2fa.sudo()
    response = client.post("/api/v1/me/backup-codes/regenerate", headers=user_2fa.auth)
    assert response.status_code == 201
    assert response.json()["set_number"] == 2 and len(response.json()["codes"]) == 10


def test_two_factor_off(client: TestClient, user_2fa: ApiUser) -> None:
    assert_error(client.delete("/api/v1/me/two-factor", headers=user_2fa.auth), 403, "sudo_required")
    user_2fa.sudo()
    assert client.delete("/api/v1/me/two-factor", headers=user_2fa.auth).status_code == 204
    assert_error(client.get("/api/v1/me/backup-codes", headers=user_2fa.auth), 404, "two_factor_disabled")
    assert user_2fa.login()["status"] == "authenticated"


def test_no_backup_codes_without_2fa(client: TestClient, user: ApiUser) -> None:
    user.login()
    assert_error(client.get("/api/v1/me/backup-codes", headers=user.auth), 404, "two_factor_disabled")


def test_sessions(client: TestClient, user: ApiUser) -> None:
    user.login()
    other = client.post("/api/v1/login", json={"username": "alice", "password": user.password}).json()
    listed = client.get("/api/v1/me/sessions", headers=user.auth).json()
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    assert {"id", "current", "created_at", "last_seen_at", "ip", "user_agent"} <= set(listed[0])
    other_id = next(s["id"] for s in listed if not s["current"])
    assert client.delete(f"/api/v1/me/sessions/{other_id}", headers=user.auth).status_code == 204
    assert_error(client.delete(f"/api/v1/me/sessions/{other_id}", headers=user.auth), 404, "not_found")
    assert_error(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {other['session_token']}"}),
        401,
        "not_authenticated",
    )


def test_events_newest_first(client: TestClient, user_2fa: ApiUser) -> None:
    client.post("/api/v1/login", json={"username": "alice", "password": "wrong password"})
    events = client.get("/api/v1/me/events", headers=user_2fa.auth).json()
    types = [e["type"] for e in events]
    assert types[0] == "sign_in" and events[0]["result"] == "failure"
    assert events[0]["error_code"] == "invalid_credentials" and events[0]["method"] == "password"
    assert {"backup_codes_generated", "factor_added"} <= set(types)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids, reverse=True)
    assert all(ISO.match(e["at"]) for e in events)


@pytest.mark.parametrize(
    "call",
    [
        ("get", "/api/v1/me"),
        ("post", "/api/v1/me/sudo"),
        ("post", "/api/v1/me/password"),
        ("post", "/api/v1/me/totp"),
        ("delete", "/api/v1/me/totp/x"),
        ("get", "/api/v1/me/backup-codes"),
        ("post", "/api/v1/me/backup-codes/regenerate"),
        ("post", "/api/v1/me/backup-codes/confirm"),
        ("delete", "/api/v1/me/two-factor"),
        ("get", "/api/v1/me/sessions"),
        ("delete", "/api/v1/me/sessions/x"),
        ("get", "/api/v1/me/events"),
        ("get", "/api/v1/me/contacts"),
        ("post", "/api/v1/me/contacts"),
        ("post", "/api/v1/me/contacts/x/verify"),
        ("post", "/api/v1/me/contacts/x/resend"),
        ("delete", "/api/v1/me/contacts/x"),
        ("post", "/api/v1/logout"),
    ],
)
def test_signed_in_calls_need_a_session(client: TestClient, call: tuple[str, str]) -> None:
    method, url = call
    assert_error(client.request(method, url, json={}), 401, "not_authenticated")


def test_messages_in_japanese(client: TestClient, user: ApiUser) -> None:
    response = client.post(
        "/api/v1/login",
        json={"username": "alice", "password": "nope nope"},
        headers={"Accept-Language": "ja"},
    )
    message = response.json()["error"]["message"]
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", message), message


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    assert client.get("/openapi.json").json()["info"]["title"] == "sparekey"
