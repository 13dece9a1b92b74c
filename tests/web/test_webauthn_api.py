"""Passkeys and security keys over the JSON API, answered by a software authenticator
(tests/soft_authenticator.py, independent of py_webauthn): registration, sign-in as the
second step and on its own, every ``reason`` of ``webauthn_failed``, rename, removal, sudo."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.soft_authenticator import SoftAuthenticator, b64url
from tests.web.conftest import ApiUser

ORIGIN = "http://localhost:8000"  # SPAREKEY_PUBLIC_URL's default: RP ID "localhost"


def register_key(
    user: ApiUser, authenticator: SoftAuthenticator, *, passkey: bool = False, name: str | None = None
) -> dict[str, Any]:
    if user.token is None:
        user.login()
    body: dict[str, Any] = {"passkey": passkey}
    if name is not None:
        body["name"] = name
    begun = user.http.post("/api/v1/me/webauthn/register", json=body, headers=user.auth)
    assert begun.status_code == 200, begun.text
    credential = authenticator.create(begun.json()["options"])
    finished = user.http.post(
        f"/api/v1/me/webauthn/register/{begun.json()['registration_id']}",
        json={"credential": credential},
        headers=user.auth,
    )
    assert finished.status_code == 201, finished.text
    result: dict[str, Any] = finished.json()
    return result


def key_step(user: ApiUser) -> tuple[str, dict[str, Any]]:
    """A sign-in flow after the password, and its WebAuthn options."""
    body = user.login()
    assert body["status"] == "second_factor_required", body
    entry = next(m for m in body["methods"] if m["type"] == "webauthn")
    return body["flow_id"], entry["options"]


def answer(http: TestClient, flow_id: str, credential: dict[str, Any], **extra: Any) -> Any:
    return http.post(f"/api/v1/login/{flow_id}/webauthn", json={"credential": credential, **extra})


def events_of(user: ApiUser, kind: str) -> list[dict[str, Any]]:
    response = user.http.get("/api/v1/me/events", headers=user.auth)
    return [e for e in response.json() if e["type"] == kind]


def current_session(http: TestClient, token: str) -> dict[str, Any]:
    sessions = http.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {token}"}).json()
    return next(s for s in sessions if s["current"])


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def test_the_first_security_key_turns_2fa_on_and_then_signs_in_as_the_second_step(
    user: ApiUser, key: SoftAuthenticator
) -> None:
    registered = register_key(user, key, name="YubiKey in the drawer")
    assert registered["key"]["name"] == "YubiKey in the drawer" and registered["key"]["passkey"] is False
    assert registered["backup_codes"]["set_number"] == 1 and len(registered["backup_codes"]["codes"]) == 10
    assert user.http.get("/api/v1/me", headers=user.auth).json()["two_factor_enabled"] is True

    flow_id, options = key_step(user)
    allowed = [c["id"] for c in options["allowCredentials"]]
    assert allowed == [b64url(next(iter(key.credentials)))] and options["rpId"] == "localhost"
    response = answer(user.http, flow_id, key.get(options))
    assert response.status_code == 200, response.text
    assert response.json()["method_used"] == "webauthn"
    user.token = response.json()["session_token"]
    session = current_session(user.http, user.token)
    assert session["amr"] == ["pwd", "hwk", "mfa"] and session["level"] == "phishing_resistant"
    assert [e["factor"] for e in events_of(user, "factor_added")] == ["webauthn"]
    assert events_of(user, "key_used")[0]["name"] == "YubiKey in the drawer"
    assert events_of(user, "sign_in")[0]["method"] == "webauthn"


def test_a_passkey_signs_in_on_its_own_and_counts_as_two_factors(user: ApiUser) -> None:
    synced = SoftAuthenticator(origin=ORIGIN, backup_eligible=True, backed_up=True, transports=("internal",))
    registered = register_key(user, synced, passkey=True)
    assert registered["key"]["passkey"] is True and registered["key"]["name"] == "Passkey 1"
    listed = user.http.get("/api/v1/me/webauthn", headers=user.auth).json()
    assert listed[0]["backed_up"] is True and listed[0]["transports"] == ["internal"]

    started = user.http.post("/api/v1/login/passkey")
    assert started.status_code == 200, started.text
    options = started.json()["options"]
    assert "allowCredentials" not in options or options["allowCredentials"] == []
    assert options["userVerification"] == "required"
    response = answer(user.http, started.json()["flow_id"], synced.get(options))
    assert response.status_code == 200, response.text
    assert response.json()["method_used"] == "passkey" and response.json()["status"] == "authenticated"
    session = current_session(user.http, response.json()["session_token"])
    assert session["amr"] == ["swk", "mfa"] and session["level"] == "phishing_resistant"
    # The flow is spent: the same answer again opens nothing.
    again = answer(user.http, started.json()["flow_id"], synced.get(options))
    assert again.status_code == 410 and again.json()["error"]["code"] == "flow_expired"


def test_a_security_key_does_not_sign_in_on_its_own(user: ApiUser) -> None:
    """Registered as a second factor only: it cannot stand in for the password."""
    device = SoftAuthenticator(origin=ORIGIN)
    register_key(user, device)
    started = user.http.post("/api/v1/login/passkey").json()
    credential = device.get(started["options"], credential_id=next(iter(device.credentials)))
    error = answer(user.http, started["flow_id"], credential).json()["error"]
    assert error["code"] == "webauthn_failed" and error["reason"] == "unknown_credential"


def failing(reason: str, device: SoftAuthenticator, options: dict[str, Any]) -> dict[str, Any]:
    """An answer that breaks exactly the rule named ``reason``."""
    if reason == "origin":
        return device.get(options, origin="https://login.example.net")
    if reason == "rp_id":
        return device.get(options, rp_id="example.net")
    if reason == "user_presence":
        return device.get(options, user_present=False)
    if reason == "signature":
        return device.get(options, bad_signature=True)
    if reason == "unknown_credential":
        return unregistered(options)
    raise AssertionError(reason)


def unregistered(options: dict[str, Any]) -> dict[str, Any]:
    """A genuine answer from a key that was never registered here."""
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create(
        {
            "rp": {"id": "localhost", "name": "sparekey"},
            "user": {"id": b64url(b"someone-else"), "name": "someone", "displayName": "someone"},
            "challenge": b64url(bytes(32)),
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        }
    )
    return stranger.get(options, credential_id=next(iter(stranger.credentials)))


@pytest.mark.parametrize("reason", ["origin", "rp_id", "user_presence", "signature", "unknown_credential"])
def test_each_broken_rule_is_named_counts_as_a_failure_and_brings_fresh_options(
    user: ApiUser, key: SoftAuthenticator, reason: str
) -> None:
    register_key(user, key)
    flow_id, options = key_step(user)
    response = answer(user.http, flow_id, failing(reason, key, options))
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "webauthn_failed" and error["reason"] == reason
    assert error["message"] and error["message"] != "webauthn_failed"
    fresh = error["options"]
    assert fresh["challenge"] != options["challenge"]
    failure = events_of(user, "sign_in")[0]  # read with the session that registered the key
    assert failure["result"] == "failure" and failure["error_code"] == "webauthn_failed"
    # The fresh options work: the owner's key still signs in within the same flow.
    response = answer(user.http, flow_id, key.get(fresh))
    assert response.status_code == 200, response.text


def test_a_replayed_challenge_is_refused(user: ApiUser, key: SoftAuthenticator) -> None:
    register_key(user, key)
    flow_id, options = key_step(user)
    kept = key.get(options)  # a genuine answer, kept back by an attacker
    spent = answer(user.http, flow_id, key.get(options, bad_signature=True))  # spends the challenge
    assert spent.json()["error"]["reason"] == "signature"
    error = answer(user.http, flow_id, kept).json()["error"]
    assert error["code"] == "webauthn_failed" and error["reason"] == "challenge"


def test_a_passkey_without_user_verification_is_refused(user: ApiUser) -> None:
    device = SoftAuthenticator(origin=ORIGIN)
    register_key(user, device, passkey=True)
    started = user.http.post("/api/v1/login/passkey").json()
    error = answer(user.http, started["flow_id"], device.get(started["options"], user_verified=False)).json()
    assert error["error"]["code"] == "webauthn_failed" and error["error"]["reason"] == "user_verification"


def test_a_sign_count_that_goes_backwards_is_refused_and_recorded_as_a_cloned_key(
    user: ApiUser, key: SoftAuthenticator
) -> None:
    register_key(user, key)
    for _ in range(2):  # counts 1, then 2
        flow_id, options = key_step(user)
        assert answer(user.http, flow_id, key.get(options)).status_code == 200
    flow_id, options = key_step(user)
    error = answer(user.http, flow_id, key.get(options, sign_count=1)).json()["error"]
    assert error["code"] == "webauthn_failed" and error["reason"] == "sign_count"
    user.login()  # a second factor is needed to read the history: use the key once more
    flow_id, options = key_step(user)
    user.token = answer(user.http, flow_id, key.get(options, sign_count=10)).json()["session_token"]
    suspected = events_of(user, "key_clone_suspected")
    assert len(suspected) == 1 and suspected[0]["stored_sign_count"] == 2 and suspected[0]["sign_count"] == 1


def test_keys_that_never_count_keep_working(user: ApiUser) -> None:
    """Many passkeys report 0 every time: 0 after 0 is not a clone."""
    device = SoftAuthenticator(origin=ORIGIN, counts_signatures=False)
    register_key(user, device)
    for _ in range(3):
        flow_id, options = key_step(user)
        assert answer(user.http, flow_id, device.get(options)).status_code == 200


def test_registration_refusals(user: ApiUser, clock: FrozenClock, key: SoftAuthenticator) -> None:
    user.login()

    def begin(**body: Any) -> dict[str, Any]:
        response = user.http.post("/api/v1/me/webauthn/register", json=body, headers=user.auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def finish(registration_id: str, credential: dict[str, Any]) -> Any:
        return user.http.post(
            f"/api/v1/me/webauthn/register/{registration_id}",
            json={"credential": credential},
            headers=user.auth,
        )

    begun = begin()
    refused = finish(begun["registration_id"], key.create(begun["options"], origin="https://evil.example"))
    assert refused.status_code == 400 and refused.json()["error"]["reason"] == "origin"
    again = finish(begun["registration_id"], key.create(begun["options"]))  # the challenge was spent
    assert again.status_code == 400 and again.json()["error"]["reason"] == "challenge"

    begun = begin(passkey=True)
    no_uv = finish(begun["registration_id"], key.create(begun["options"], user_verified=False))
    assert no_uv.json()["error"]["reason"] == "user_verification"

    begun = begin()
    wrong_rp = finish(begun["registration_id"], key.create(begun["options"], rp_id="example.net"))
    assert wrong_rp.json()["error"]["reason"] == "rp_id"

    begun = begin()
    clock.advance(11 * 60)
    late = finish(begun["registration_id"], key.create(begun["options"]))
    assert late.status_code == 410 and late.json()["error"]["code"] == "registration_expired"

    assert finish("no-such-registration", {"id": "x"}).status_code == 404
    begun = begin()
    unreadable = finish(begun["registration_id"], {"id": "x", "response": {}})
    assert unreadable.status_code == 422 and unreadable.json()["error"]["field"] == "credential"
    # Nothing was registered by any of these.
    assert user.http.get("/api/v1/me/webauthn", headers=user.auth).json() == []


def test_another_session_cannot_finish_a_registration(user: ApiUser, key: SoftAuthenticator) -> None:
    user.login()
    begun = user.http.post("/api/v1/me/webauthn/register", json={}, headers=user.auth).json()
    other = ApiUser(user.http, user.clock, username="mallory").register()
    other.login()
    response = user.http.post(
        f"/api/v1/me/webauthn/register/{begun['registration_id']}",
        json={"credential": key.create(begun["options"])},
        headers=other.auth,
    )
    assert response.status_code == 404


def test_adding_a_key_once_2fa_is_on_needs_sudo(user_2fa: ApiUser, key: SoftAuthenticator) -> None:
    response = user_2fa.http.post("/api/v1/me/webauthn/register", json={}, headers=user_2fa.auth)
    assert response.status_code == 403 and response.json()["error"]["code"] == "sudo_required"
    user_2fa.sudo()
    registered = register_key(user_2fa, key)
    assert "backup_codes" not in registered  # 2FA was already on: set #1 stands


def test_rename_and_remove(user: ApiUser, key: SoftAuthenticator) -> None:
    key_id = register_key(user, key)["key"]["id"]
    renamed = user.http.patch(
        f"/api/v1/me/webauthn/{key_id}", json={"name": "  Blue key "}, headers=user.auth
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Blue key"
    assert events_of(user, "factor_renamed")[0]["old_name"] == "Security key 1"
    bad = user.http.patch(f"/api/v1/me/webauthn/{key_id}", json={"name": "a\u202eb"}, headers=user.auth)
    assert bad.status_code == 422
    assert (
        user.http.patch("/api/v1/me/webauthn/nope", json={"name": "x"}, headers=user.auth).status_code == 404
    )

    removed = user.http.delete(f"/api/v1/me/webauthn/{key_id}", headers=user.auth)
    assert removed.status_code == 403 and removed.json()["error"]["code"] == "sudo_required"
    sudo = user.http.post("/api/v1/me/sudo", json={"webauthn": True}, headers=user.auth).json()
    done = user.http.post(
        "/api/v1/me/sudo/webauthn",
        json={"sudo_flow_id": sudo["sudo_flow_id"], "credential": key.get(sudo["options"])},
        headers=user.auth,
    )
    assert done.status_code == 200, done.text
    assert user.http.delete(f"/api/v1/me/webauthn/{key_id}", headers=user.auth).status_code == 204
    me = user.http.get("/api/v1/me", headers=user.auth).json()
    assert me["two_factor_enabled"] is False and me["backup_codes"] is None  # the last factor went
    assert events_of(user, "factor_removed")[0]["factor"] == "webauthn"


def test_a_passkey_only_account_enters_sudo_with_its_key(user: ApiUser) -> None:
    device = SoftAuthenticator(origin=ORIGIN)
    register_key(user, device, passkey=True)
    started = user.http.post("/api/v1/login/passkey").json()
    user.token = answer(user.http, started["flow_id"], device.get(started["options"])).json()["session_token"]

    regenerate = user.http.post("/api/v1/me/backup-codes/regenerate", headers=user.auth)
    assert regenerate.status_code == 403
    # A password sent beside webauthn: true is ignored (even a wrong one).
    begun = user.http.post("/api/v1/me/sudo", json={"webauthn": True, "password": "wrong"}, headers=user.auth)
    assert begun.status_code == 200, begun.text
    credential = device.get(begun.json()["options"])
    done = user.http.post(
        "/api/v1/me/sudo/webauthn",
        json={"sudo_flow_id": begun.json()["sudo_flow_id"], "credential": credential},
        headers=user.auth,
    )
    assert done.status_code == 200 and "sudo_until" in done.json()
    assert user.http.post("/api/v1/me/backup-codes/regenerate", headers=user.auth).status_code == 201
    replay = user.http.post(
        "/api/v1/me/sudo/webauthn",
        json={"sudo_flow_id": begun.json()["sudo_flow_id"], "credential": credential},
        headers=user.auth,
    )
    assert replay.status_code == 401 and replay.json()["error"]["reason"] == "challenge"
    sudo_events = events_of(user, "sudo")
    assert sudo_events[0]["method"] == "passkey" or sudo_events[0]["method"] == "webauthn"


def test_sudo_by_key_needs_a_key(user: ApiUser) -> None:
    user.login()
    response = user.http.post("/api/v1/me/sudo", json={"webauthn": True}, headers=user.auth)
    assert response.status_code == 422 and response.json()["error"]["field"] == "webauthn"
    missing = user.http.post("/api/v1/me/sudo", json={}, headers=user.auth)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "password"


def test_a_key_of_another_account_is_unknown_here(client: TestClient, clock: FrozenClock) -> None:
    alice_key, mallory_key = SoftAuthenticator(origin=ORIGIN), SoftAuthenticator(origin=ORIGIN)
    alice = ApiUser(client, clock, "alice").register()
    mallory = ApiUser(client, clock, "mallory").register()
    register_key(alice, alice_key)
    register_key(mallory, mallory_key)
    flow_id, options = key_step(alice)
    forged = mallory_key.get(options, credential_id=next(iter(mallory_key.credentials)))
    error = answer(client, flow_id, forged).json()["error"]
    assert error["code"] == "webauthn_failed" and error["reason"] == "unknown_credential"
