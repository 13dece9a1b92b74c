"""Trusted devices over the JSON API: "trust this device" at the second step, signing in with
the right password and the device token, the owner's list (names, expiry, which one is this
one), renaming, revoking one, and every device revoked when credentials change. Time moves
only with the frozen clock."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.core.flows import delivery
from sparekey.core.user_agents import readable
from sparekey.web.app import create_app
from tests.soft_authenticator import SoftAuthenticator
from tests.web.conftest import CLIENT_IP, ApiUser, app_settings

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
DAY = 86400
ORIGIN = "http://localhost:8000"  # SPAREKEY_PUBLIC_URL's default: RP ID "localhost"
JP_PHONE = {"kind": "phone", "address": "090-1234-5678", "region": "JP"}


def code_step(user: ApiUser, *, trust: bool | None = None, user_agent: str | None = None) -> Any:
    """The password, then (in a new time step) an authenticator code, optionally trusting."""
    flow_id = user.flow()
    user.clock.advance(30)  # a TOTP time step is accepted once per authenticator
    body: dict[str, Any] = {"code": user.totp()}
    if trust is not None:
        body["trust_device"] = trust
    headers = {"User-Agent": user_agent} if user_agent else {}
    return user.http.post(f"/api/v1/login/{flow_id}/code", json=body, headers=headers)


def trusted_sign_in(user: ApiUser, *, user_agent: str = CHROME_ANDROID) -> dict[str, Any]:
    """A second step with ``trust_device``: the answer (with ``device_token``); its session is the user's."""
    response = code_step(user, trust=True, user_agent=user_agent)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    user.token = body["session_token"]
    return body


def with_device(user: ApiUser, device_token: str, *, password: str | None = None) -> Any:
    return user.http.post(
        "/api/v1/login",
        json={
            "username": user.username,
            "password": password if password is not None else user.password,
            "device_token": device_token,
        },
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def devices_seen_by(http: TestClient, token: str) -> list[dict[str, Any]]:
    response = http.get("/api/v1/me/devices", headers=bearer(token))
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def events_of(user: ApiUser, kind: str) -> list[dict[str, Any]]:
    response = user.http.get("/api/v1/me/events", headers=user.auth)
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["type"] == kind]


def current_session(http: TestClient, token: str) -> dict[str, Any]:
    sessions = http.get("/api/v1/me/sessions", headers=bearer(token)).json()
    return next(s for s in sessions if s["current"])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- trusting and signing in ----------------------------------------------------------------------


def test_trusting_the_device_at_the_second_step_answers_a_device_token(user_2fa: ApiUser) -> None:
    trusted = trusted_sign_in(user_2fa)
    assert trusted["status"] == "authenticated" and trusted["method_used"] == "totp"
    token = trusted["device_token"]
    assert isinstance(token, str) and len(token) >= 22 and token != trusted["session_token"]

    for trust in (None, False):
        plain = code_step(user_2fa, trust=trust)
        assert plain.status_code == 200, plain.text
        assert "device_token" not in plain.json()
    assert len(devices_seen_by(user_2fa.http, user_2fa.token or "")) == 1
    assert [e["name"] for e in events_of(user_2fa, "device_trusted")] == [readable(CHROME_ANDROID, "en")]


def test_the_right_password_on_a_trusted_device_signs_in_without_a_second_step(user_2fa: ApiUser) -> None:
    device_token = trusted_sign_in(user_2fa)["device_token"]
    user_2fa.clock.advance(60)

    response = with_device(user_2fa, device_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "authenticated" and body["method_used"] == "trusted_device"
    assert "flow_id" not in body and body["session_token"]
    session = current_session(user_2fa.http, body["session_token"])
    assert session["amr"] == ["pwd", "mfa"] and session["level"] == "two_factors"
    assert at(session["auth_time"]) == user_2fa.clock.now()
    user_2fa.token = body["session_token"]
    assert events_of(user_2fa, "sign_in")[0]["method"] == "trusted_device"


def test_the_device_list_names_the_browser_and_says_which_device_this_is(user_2fa: ApiUser) -> None:
    trusted_at = user_2fa.clock.now() + timedelta(seconds=30)  # the code comes one time step later
    first = trusted_sign_in(user_2fa)
    assert user_2fa.clock.now() == trusted_at
    listed = devices_seen_by(user_2fa.http, first["session_token"])
    assert len(listed) == 1
    device = listed[0]
    assert set(device) >= {"id", "name", "created_at", "last_used_at", "expires_at", "current"}
    assert device["name"] == readable(CHROME_ANDROID, "en") == "Chrome Mobile on Android"
    assert at(device["created_at"]) == at(device["last_used_at"]) == trusted_at
    assert at(device["expires_at"]) == trusted_at + timedelta(days=30)
    assert device["current"] is True  # the session that made the device trusted

    second = trusted_sign_in(user_2fa, user_agent=FIREFOX_LINUX)
    plain = code_step(user_2fa)
    assert plain.status_code == 200, plain.text
    user_2fa.clock.advance(60)
    made_with_first = with_device(user_2fa, first["device_token"]).json()["session_token"]

    def current_names(token: str) -> dict[str, bool]:
        return {d["name"]: d["current"] for d in devices_seen_by(user_2fa.http, token)}

    chrome, firefox = readable(CHROME_ANDROID, "en"), readable(FIREFOX_LINUX, "en")
    assert chrome != firefox
    assert current_names(first["session_token"]) == {chrome: True, firefox: False}
    assert current_names(second["session_token"]) == {chrome: False, firefox: True}
    assert current_names(made_with_first) == {chrome: True, firefox: False}
    assert current_names(plain.json()["session_token"]) == {chrome: False, firefox: False}


def test_a_japanese_browser_gets_a_japanese_device_name(user_2fa: ApiUser) -> None:
    flow_id = user_2fa.flow()
    user_2fa.clock.advance(30)
    response = user_2fa.http.post(
        f"/api/v1/login/{flow_id}/code",
        json={"code": user_2fa.totp(), "trust_device": True},
        headers={"User-Agent": CHROME_ANDROID, "Accept-Language": "ja"},
    )
    assert response.status_code == 200, response.text
    [device] = devices_seen_by(user_2fa.http, response.json()["session_token"])
    assert device["name"] == readable(CHROME_ANDROID, "ja")


def register_key(user: ApiUser, key: SoftAuthenticator, *, passkey: bool) -> None:
    if user.token is None:
        user.login()
    begun = user.http.post("/api/v1/me/webauthn/register", json={"passkey": passkey}, headers=user.auth)
    assert begun.status_code == 200, begun.text
    registered = user.http.post(
        f"/api/v1/me/webauthn/register/{begun.json()['registration_id']}",
        json={"credential": key.create(begun.json()["options"])},
        headers=user.auth,
    )
    assert registered.status_code == 201, registered.text


@pytest.mark.parametrize("passkey", [False, True], ids=["security-key-second-step", "passkey-alone"])
def test_a_device_is_trusted_at_the_key_step_too(user: ApiUser, passkey: bool) -> None:
    key = SoftAuthenticator(origin=ORIGIN)
    register_key(user, key, passkey=passkey)
    if passkey:
        started = user.http.post("/api/v1/login/passkey").json()
        flow_id, options = started["flow_id"], started["options"]
    else:
        body = user.login()
        assert body["status"] == "second_factor_required", body
        flow_id = body["flow_id"]
        options = next(m for m in body["methods"] if m["type"] == "webauthn")["options"]
    answered = user.http.post(
        f"/api/v1/login/{flow_id}/webauthn",
        json={"credential": key.get(options), "trust_device": True},
        headers={"User-Agent": CHROME_ANDROID},
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["method_used"] == ("passkey" if passkey else "webauthn")
    device_token = answered.json()["device_token"]
    [device] = devices_seen_by(user.http, answered.json()["session_token"])
    assert device["current"] is True and device["name"] == readable(CHROME_ANDROID, "en")

    response = with_device(user, device_token)
    assert response.status_code == 200 and response.json()["method_used"] == "trusted_device", response.text
    session = current_session(user.http, response.json()["session_token"])
    # The device stands for a second factor; it does not carry the key's proof of origin.
    assert session["amr"] == ["pwd", "mfa"] and session["level"] == "two_factors"


def test_two_trusted_sign_ins_with_the_same_browser_make_two_devices(user_2fa: ApiUser) -> None:
    first = trusted_sign_in(user_2fa)["device_token"]
    second = trusted_sign_in(user_2fa)["device_token"]
    assert first != second
    listed = devices_seen_by(user_2fa.http, user_2fa.token or "")
    assert len({d["id"] for d in listed}) == 2
    assert {d["name"] for d in listed} == {readable(CHROME_ANDROID, "en")}
    for token in (first, second):
        assert with_device(user_2fa, token).json()["method_used"] == "trusted_device"


def test_trust_asked_with_a_wrong_code_makes_no_device(user_2fa: ApiUser) -> None:
    flow_id = user_2fa.flow()
    user_2fa.clock.advance(30)
    wrong = "000000" if user_2fa.totp() != "000000" else "111111"
    refused = user_2fa.http.post(
        f"/api/v1/login/{flow_id}/code",
        json={"code": wrong, "trust_device": True},
        headers={"User-Agent": CHROME_ANDROID},
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_code"
    assert "device_token" not in refused.json() and "device_token" not in refused.json()["error"]
    done = user_2fa.http.post(f"/api/v1/login/{flow_id}/code", json={"code": user_2fa.totp()})
    assert done.status_code == 200, done.text
    assert "device_token" not in done.json()
    user_2fa.token = done.json()["session_token"]
    assert devices_seen_by(user_2fa.http, user_2fa.token) == []
    assert events_of(user_2fa, "device_trusted") == []


# -- a token alone gets nothing ----------------------------------------------------------------------


def test_a_stolen_device_token_without_the_password_gets_nothing(user_2fa: ApiUser) -> None:
    device_token = trusted_sign_in(user_2fa)["device_token"]
    response = with_device(user_2fa, device_token, password="not the password at all")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_credentials"
    assert "session_token" not in response.json()
    failure = events_of(user_2fa, "sign_in")[0]
    assert failure["result"] == "failure" and failure["error_code"] == "invalid_credentials"


def test_one_accounts_device_token_does_not_skip_another_accounts_second_step(
    client: TestClient, clock: FrozenClock, user_2fa: ApiUser
) -> None:
    alice_token = trusted_sign_in(user_2fa)["device_token"]
    bob = ApiUser(client, clock, "bob").register().enable_totp()
    response = with_device(bob, alice_token)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "second_factor_required" and "session_token" not in response.json()
    # Alice's device still works for Alice.
    assert with_device(user_2fa, alice_token).json()["method_used"] == "trusted_device"


@pytest.mark.parametrize("token", ["", "x", "not-a-real-device-token-0123456789abcdef", "ü" * 50])
def test_an_unknown_device_token_is_ignored(user_2fa: ApiUser, token: str) -> None:
    trusted_sign_in(user_2fa)
    response = with_device(user_2fa, token)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "second_factor_required"


# -- expiry -----------------------------------------------------------------------------------------


def test_a_trusted_device_works_for_30_days_and_then_asks_for_the_second_step_again(
    user_2fa: ApiUser,
) -> None:
    device_token = trusted_sign_in(user_2fa)["device_token"]
    user_2fa.clock.advance(30 * DAY - 1)
    still = with_device(user_2fa, device_token)
    assert still.status_code == 200 and still.json()["method_used"] == "trusted_device", still.text
    [device] = devices_seen_by(user_2fa.http, still.json()["session_token"])
    assert at(device["last_used_at"]) == user_2fa.clock.now()  # used after more than an hour

    user_2fa.clock.advance(2)  # 30 days and 1 second after trust
    expired = with_device(user_2fa, device_token)
    assert expired.status_code == 200, expired.text
    assert expired.json()["status"] == "second_factor_required"
    after = code_step(user_2fa)
    assert after.status_code == 200, after.text
    assert devices_seen_by(user_2fa.http, after.json()["session_token"]) == []  # gone from the list


def test_the_operator_chooses_how_long_a_device_stays_trusted(tmp_path: Path, clock: FrozenClock) -> None:
    app = create_app(app_settings(tmp_path, trusted_device_days=7), clock=clock, migrate=True)
    with TestClient(app, headers={"Accept-Language": "en"}, client=(CLIENT_IP, 50000)) as http:
        user = ApiUser(http, clock).register().enable_totp()
        trusted = trusted_sign_in(user)
        [device] = devices_seen_by(http, trusted["session_token"])
        assert at(device["expires_at"]) - at(device["created_at"]) == timedelta(days=7)

        clock.advance(7 * DAY - 1)
        assert with_device(user, trusted["device_token"]).json()["method_used"] == "trusted_device"
        clock.advance(2)
        assert with_device(user, trusted["device_token"]).json()["status"] == "second_factor_required"


# -- renaming ---------------------------------------------------------------------------------------


def test_the_owner_renames_a_device(user_2fa: ApiUser) -> None:
    trusted_sign_in(user_2fa)
    [device] = devices_seen_by(user_2fa.http, user_2fa.token or "")
    renamed = user_2fa.http.patch(
        f"/api/v1/me/devices/{device['id']}", json={"name": "  My   Pixel "}, headers=user_2fa.auth
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "My Pixel" and renamed.json()["id"] == device["id"]
    assert renamed.json()["current"] is True
    assert devices_seen_by(user_2fa.http, user_2fa.token or "")[0]["name"] == "My Pixel"
    event = events_of(user_2fa, "device_renamed")[0]
    assert (event["device_id"], event["name"], event["old_name"]) == (
        device["id"],
        "My Pixel",
        device["name"],
    )


@pytest.mark.parametrize(
    "name", ["", "   ", "\x00", "Pixel\x00", "Pix\x07el", "a\u202eb", "\u200b", "x" * 65]
)
def test_an_empty_or_unprintable_device_name_is_refused(user_2fa: ApiUser, name: str) -> None:
    trusted_sign_in(user_2fa)
    [device] = devices_seen_by(user_2fa.http, user_2fa.token or "")
    response = user_2fa.http.patch(
        f"/api/v1/me/devices/{device['id']}", json={"name": name}, headers=user_2fa.auth
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert devices_seen_by(user_2fa.http, user_2fa.token or "")[0]["name"] == device["name"]
    assert events_of(user_2fa, "device_renamed") == []


def test_a_device_named_from_a_hostile_user_agent_gets_no_control_characters(user_2fa: ApiUser) -> None:
    """The one rule for names (core/names.py) holds for the name sparekey gives a device too:
    what the owner could not type in a rename must not come in through the User-Agent."""
    flow_id = user_2fa.flow()
    user_2fa.clock.advance(30)
    response = user_2fa.http.post(
        f"/api/v1/login/{flow_id}/code",
        json={"code": user_2fa.totp(), "trust_device": True},
        headers={b"User-Agent": b"\x9b31mEvil\x85App/1.0 CFNetwork/1.0 Darwin/20.0"},  # C1 CSI and NEL
    )
    assert response.status_code == 200, response.text
    [device] = devices_seen_by(user_2fa.http, response.json()["session_token"])
    unprintable = [ch for ch in device["name"] if unicodedata.category(ch) in {"Cc", "Cf"}]
    assert unprintable == [], device["name"]


def test_renaming_an_unknown_or_anothers_device_is_not_found(
    client: TestClient, clock: FrozenClock, user_2fa: ApiUser
) -> None:
    trusted_sign_in(user_2fa)
    [alices] = devices_seen_by(user_2fa.http, user_2fa.token or "")
    bob = ApiUser(client, clock, "bob").register().enable_totp()
    trusted_sign_in(bob)
    for who, device_id in ((user_2fa, "no-such-device"), (user_2fa, "x" * 500), (bob, alices["id"])):
        response = who.http.patch(f"/api/v1/me/devices/{device_id}", json={"name": "Mine"}, headers=who.auth)
        assert response.status_code == 404, response.text
    assert devices_seen_by(user_2fa.http, user_2fa.token or "")[0]["name"] == alices["name"]


# -- revoking ---------------------------------------------------------------------------------------


def test_the_owner_revokes_a_device_and_its_token_is_ignored_from_then_on(user_2fa: ApiUser) -> None:
    device_token = trusted_sign_in(user_2fa)["device_token"]
    [device] = devices_seen_by(user_2fa.http, user_2fa.token or "")
    revoked = user_2fa.http.delete(f"/api/v1/me/devices/{device['id']}", headers=user_2fa.auth)
    assert revoked.status_code == 204, revoked.text
    assert devices_seen_by(user_2fa.http, user_2fa.token or "") == []
    event = events_of(user_2fa, "device_revoked")[0]
    assert (event["device_id"], event["name"], event["reason"]) == (device["id"], device["name"], "owner")

    response = with_device(user_2fa, device_token)
    assert response.status_code == 200 and response.json()["status"] == "second_factor_required"
    again = user_2fa.http.delete(f"/api/v1/me/devices/{device['id']}", headers=user_2fa.auth)
    assert again.status_code == 404
    unknown = user_2fa.http.delete("/api/v1/me/devices/no-such-device", headers=user_2fa.auth)
    assert unknown.status_code == 404
    assert len(events_of(user_2fa, "device_revoked")) == 1


def test_nobody_revokes_anothers_device(client: TestClient, clock: FrozenClock, user_2fa: ApiUser) -> None:
    alice_token = trusted_sign_in(user_2fa)["device_token"]
    [alices] = devices_seen_by(user_2fa.http, user_2fa.token or "")
    bob = ApiUser(client, clock, "bob").register().enable_totp()
    trusted_sign_in(bob)
    response = bob.http.delete(f"/api/v1/me/devices/{alices['id']}", headers=bob.auth)
    assert response.status_code == 404, response.text
    assert [d["id"] for d in devices_seen_by(user_2fa.http, user_2fa.token or "")] == [alices["id"]]
    assert len(devices_seen_by(bob.http, bob.token or "")) == 1
    assert with_device(user_2fa, alice_token).json()["method_used"] == "trusted_device"


def test_the_device_list_needs_a_session(client: TestClient) -> None:
    assert client.get("/api/v1/me/devices").status_code == 401
    assert client.delete("/api/v1/me/devices/anything").status_code == 401
    assert client.patch("/api/v1/me/devices/anything", json={"name": "x"}).status_code == 401


# -- every device revoked when credentials change --------------------------------------------------


def two_trusted_devices(user: ApiUser) -> list[str]:
    tokens = [trusted_sign_in(user)["device_token"], trusted_sign_in(user)["device_token"]]
    assert len(devices_seen_by(user.http, user.token or "")) == 2
    return tokens


def revoked_reasons(user: ApiUser) -> list[str]:
    return [e["reason"] for e in events_of(user, "device_revoked")]


def test_a_password_change_revokes_every_trusted_device(user_2fa: ApiUser) -> None:
    tokens = two_trusted_devices(user_2fa)
    user_2fa.sudo()
    changed = user_2fa.http.post(
        "/api/v1/me/password", json={"new_password": "a brand new passphrase here"}, headers=user_2fa.auth
    )
    assert changed.status_code == 204, changed.text
    user_2fa.password = "a brand new passphrase here"
    assert devices_seen_by(user_2fa.http, user_2fa.token or "") == []
    assert revoked_reasons(user_2fa) == ["password_changed", "password_changed"]
    for token in tokens:
        response = with_device(user_2fa, token)
        assert response.status_code == 200 and response.json()["status"] == "second_factor_required"


def add_second_factor(user: ApiUser, kind: str) -> str:
    """Another factor beside the first app (in sudo mode): the path that removes it."""
    if kind == "totp":
        begun = user.http.post("/api/v1/me/totp", json={"name": "Old phone"}, headers=user.auth)
        assert begun.status_code == 201, begun.text
        second_id, secret = begun.json()["authenticator_id"], begun.json()["secret"]
        code = pyotp.TOTP(secret).at(user.clock.now())
        confirmed = user.http.post(
            f"/api/v1/me/totp/{second_id}/confirm", json={"code": code}, headers=user.auth
        )
        assert confirmed.status_code == 200, confirmed.text
        return f"/api/v1/me/totp/{second_id}"
    if kind == "phone":
        added = user.http.post("/api/v1/me/contacts", json=JP_PHONE, headers=user.auth)
        assert added.status_code == 201, added.text
        contact_id = added.json()["id"]
        code = sent_code(user.http, "+819012345678")
        verified = user.http.post(
            f"/api/v1/me/contacts/{contact_id}/verify", json={"code": code}, headers=user.auth
        )
        assert verified.status_code == 200, verified.text
        return f"/api/v1/me/contacts/{contact_id}"
    if kind == "email":  # not a factor that keeps 2FA on, but a way to get a sign-in code
        added = user.http.post(
            "/api/v1/me/contacts", json={"kind": "email", "address": "alice@example.org"}, headers=user.auth
        )
        assert added.status_code == 201, added.text
        contact_id = added.json()["id"]
        code = sent_code(user.http, "alice@example.org")
        verified = user.http.post(
            f"/api/v1/me/contacts/{contact_id}/verify", json={"code": code}, headers=user.auth
        )
        assert verified.status_code == 200, verified.text
        return f"/api/v1/me/contacts/{contact_id}"
    key = SoftAuthenticator(origin=ORIGIN)
    begun = user.http.post("/api/v1/me/webauthn/register", json={"name": "YubiKey"}, headers=user.auth)
    assert begun.status_code == 200, begun.text
    registered = user.http.post(
        f"/api/v1/me/webauthn/register/{begun.json()['registration_id']}",
        json={"credential": key.create(begun.json()["options"])},
        headers=user.auth,
    )
    assert registered.status_code == 201, registered.text
    return f"/api/v1/me/webauthn/{registered.json()['key']['id']}"


def sent_code(http: TestClient, to: str) -> str:
    """The code in the newest message the embedded outbox kept for ``to``."""
    deps = http.app.state.deps  # type: ignore[attr-defined]
    with deps.store.transaction() as tx:
        kept = [m for m in tx.messages.kept_by_outbox(limit=50) if m.to == to]
    message = delivery.opened(deps, kept[0])
    assert message is not None
    found = re.search(r"\b\d{6}\b", message.text)
    assert found, message.text
    return found.group(0)


@pytest.mark.parametrize("kind", ["totp", "phone", "email", "security_key"])
def test_removing_a_second_factor_revokes_every_trusted_device(user_2fa: ApiUser, kind: str) -> None:
    tokens = two_trusted_devices(user_2fa)
    user_2fa.sudo()
    removal = add_second_factor(user_2fa, kind)
    assert len(devices_seen_by(user_2fa.http, user_2fa.token or "")) == 2  # adding a factor keeps them

    removed = user_2fa.http.delete(removal, headers=user_2fa.auth)
    assert removed.status_code == 204, removed.text
    assert user_2fa.http.get("/api/v1/me", headers=user_2fa.auth).json()["two_factor_enabled"] is True
    assert devices_seen_by(user_2fa.http, user_2fa.token or "") == []
    assert revoked_reasons(user_2fa) == ["factor_removed", "factor_removed"]
    for token in tokens:
        response = with_device(user_2fa, token)
        assert response.status_code == 200 and response.json()["status"] == "second_factor_required"


def test_turning_two_step_verification_off_revokes_every_trusted_device_for_good(user_2fa: ApiUser) -> None:
    tokens = two_trusted_devices(user_2fa)
    user_2fa.sudo()
    off = user_2fa.http.delete("/api/v1/me/two-factor", headers=user_2fa.auth)
    assert off.status_code == 204, off.text
    assert devices_seen_by(user_2fa.http, user_2fa.token or "") == []
    assert revoked_reasons(user_2fa) == ["two_factor_disabled", "two_factor_disabled"]
    password_only = with_device(user_2fa, tokens[0])
    assert password_only.json()["method_used"] == "password"  # no second step to skip

    # Turned on again, the old devices stay revoked: the second step is asked.
    user_2fa.token = password_only.json()["session_token"]
    user_2fa.enable_totp()
    for token in tokens:
        response = with_device(user_2fa, token)
        assert response.status_code == 200 and response.json()["status"] == "second_factor_required"


def test_the_api_reads_the_pages_device_cookie_too(user_2fa: ApiUser) -> None:
    """API.md: ``device_token`` in the body, "or that cookie" the pages set."""
    token = trusted_sign_in(user_2fa)["device_token"]
    user_2fa.http.cookies.set("sparekey_devices", f"not-a-token|{token}")
    response = user_2fa.http.post(
        "/api/v1/login", json={"username": user_2fa.username, "password": user_2fa.password}
    )
    user_2fa.http.cookies.clear()
    assert response.status_code == 200 and response.json()["method_used"] == "trusted_device"
