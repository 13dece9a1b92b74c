"""The contact-point calls and sent codes of API.md ("Other ways in"), over HTTP.

Codes are read from the embedded outbox (the default sender), as an operator would with
``sparekey outbox``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from sparekey.core.flows import delivery
from tests.web.conftest import ApiUser

JP_PHONE = {"kind": "phone", "address": "090-1234-5678", "region": "JP"}


def last_code(client: TestClient, to: str) -> str:
    deps = client.app.state.deps  # type: ignore[attr-defined]
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=50) if m.to == to]
    message = delivery.opened(deps, kept[0])
    assert message is not None
    return re.search(r"\b\d{6}\b", message.text).group(0)  # type: ignore[union-attr]


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_add_verify_list_and_turn_two_step_on_with_a_phone(client: TestClient, user: ApiUser) -> None:
    user.login()
    added = client.post("/api/v1/me/contacts", json=JP_PHONE, headers=user.auth)
    assert added.status_code == 201, added.text
    contact = added.json()
    assert {k: contact[k] for k in ("kind", "address", "verified")} == {
        "kind": "phone",
        "address": "+819012345678",
        "verified": False,
    }
    listed = client.get("/api/v1/me/contacts", headers=user.auth).json()
    assert [(c["id"], c["verified"]) for c in listed] == [(contact["id"], False)]

    wrong = client.post(
        f"/api/v1/me/contacts/{contact['id']}/verify", json={"code": "000000"}, headers=user.auth
    )
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_code"
    code = last_code(client, "+819012345678")
    verified = client.post(
        f"/api/v1/me/contacts/{contact['id']}/verify", json={"code": code}, headers=user.auth
    )
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["contact"]["verified"] is True
    assert body["backup_codes"]["set_number"] == 1 and len(body["backup_codes"]["codes"]) == 10
    assert client.get("/api/v1/me", headers=user.auth).json()["two_factor_enabled"] is True


def test_sign_in_by_sms_and_the_cool_down(client: TestClient, user: ApiUser) -> None:
    user.login()
    contact = client.post("/api/v1/me/contacts", json=JP_PHONE, headers=user.auth).json()
    client.post(
        f"/api/v1/me/contacts/{contact['id']}/verify",
        json={"code": last_code(client, "+819012345678")},
        headers=user.auth,
    )
    user.clock.advance(61)
    flow = user.flow()
    methods = client.post("/api/v1/login", json={"username": user.username, "password": user.password}).json()
    sms = next(m for m in methods["methods"] if m["type"] == "sms")
    assert sms["destinations"] == [{"id": contact["id"], "masked": "+81 ** **** 5678"}]

    sent = client.post(f"/api/v1/login/{flow}/send", json={"method": "sms"})
    assert sent.status_code == 202 and sent.json() == {"sent_to": "+81 ** **** 5678", "resend_after": 60}
    again = client.post(f"/api/v1/login/{flow}/send", json={"method": "sms"})
    assert again.status_code == 429 and error_of(again)["code"] == "rate_limited"
    assert again.headers["Retry-After"] == "60" and error_of(again)["retry_after"] == 60

    done = client.post(f"/api/v1/login/{flow}/code", json={"code": last_code(client, "+819012345678")})
    assert done.status_code == 200 and done.json()["method_used"] == "sms"


def test_contact_point_errors(client: TestClient, user_2fa: ApiUser) -> None:
    auth = user_2fa.auth
    refused = client.post("/api/v1/me/contacts", json=JP_PHONE, headers=auth)
    assert refused.status_code == 403 and error_of(refused)["code"] == "sudo_required"
    user_2fa.sudo()
    cases = [
        ({"kind": "phone", "address": "090-1234-5678"}, 422, "invalid_phone_number"),
        ({"kind": "phone", "address": "12"}, 422, "invalid_phone_number"),
        ({"kind": "email", "address": "not-an-address"}, 422, "invalid_email"),
        ({"kind": "fax", "address": "+819012345678"}, 422, "validation_error"),
        ({"kind": "phone"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = client.post("/api/v1/me/contacts", json=body, headers=auth)
        assert (response.status_code, error_of(response)["code"]) == (status, code), body
    assert client.post("/api/v1/me/contacts", json=JP_PHONE, headers=auth).status_code == 201
    duplicate = client.post(
        "/api/v1/me/contacts", json={"kind": "phone", "address": "+819012345678"}, headers=auth
    )
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "contact_exists"
    for method, url in [("POST", "/api/v1/me/contacts/nope/verify"), ("DELETE", "/api/v1/me/contacts/nope")]:
        response = client.request(method, url, json={"code": "123456"}, headers=auth)
        assert (response.status_code, error_of(response)["code"]) == (404, "not_found"), url
    in_japanese = client.post(
        "/api/v1/me/contacts",
        json={"kind": "email", "address": "x"},
        headers={**auth, "Accept-Language": "ja"},
    )
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", error_of(in_japanese)["message"])


def test_removing_a_verified_phone_needs_sudo(client: TestClient, user_2fa: ApiUser) -> None:
    user_2fa.sudo()
    contact = client.post("/api/v1/me/contacts", json=JP_PHONE, headers=user_2fa.auth).json()
    code = last_code(client, "+819012345678")
    client.post(f"/api/v1/me/contacts/{contact['id']}/verify", json={"code": code}, headers=user_2fa.auth)
    user_2fa.clock.advance(601)
    refused = client.delete(f"/api/v1/me/contacts/{contact['id']}", headers=user_2fa.auth)
    assert refused.status_code == 403 and error_of(refused)["code"] == "sudo_required"
    user_2fa.sudo()
    assert client.delete(f"/api/v1/me/contacts/{contact['id']}", headers=user_2fa.auth).status_code == 204
    assert client.get("/api/v1/me/contacts", headers=user_2fa.auth).json() == []


def test_resend_a_verification_code(client: TestClient, user: ApiUser) -> None:
    user.login()
    contact = client.post(
        "/api/v1/me/contacts", json={"kind": "email", "address": "taro@example.com"}, headers=user.auth
    ).json()
    too_soon = client.post(f"/api/v1/me/contacts/{contact['id']}/resend", headers=user.auth)
    assert too_soon.status_code == 429 and too_soon.headers["Retry-After"] == "60"
    user.clock.advance(60)
    resent = client.post(f"/api/v1/me/contacts/{contact['id']}/resend", headers=user.auth)
    assert resent.status_code == 202 and resent.json() == {"sent_to": "t***@example.com", "resend_after": 60}
