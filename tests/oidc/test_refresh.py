"""Refresh tokens: issued for ``offline_access`` only, rotated at every use; a refresh token
used twice revokes its whole family (every access and refresh token that descends from the
same code)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.oidc.conftest import Person, RelyingParty


def tokens(rp: RelyingParty) -> dict[str, str]:
    pending = rp.request(scope="openid offline_access")
    response = rp.redeem(rp.code(pending), pending.verifier)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_offline_access_gives_a_refresh_token_without_prompt_consent(rp: RelyingParty, alice: Person) -> None:
    first = tokens(rp)
    assert first["refresh_token"] and first["scope"] == "openid offline_access"


def test_each_refresh_gives_new_tokens_and_the_old_refresh_token_stops(
    rp: RelyingParty, alice: Person, clock: FrozenClock
) -> None:
    first = tokens(rp)
    clock.advance(300)
    second = rp.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"] and body["access_token"] != first["access_token"]
    assert body["scope"] == "openid offline_access" and "id_token" not in body
    assert rp.userinfo(body["access_token"]).status_code == 200
    third = rp.refresh(body["refresh_token"])
    assert third.status_code == 200, third.text


def test_a_reused_refresh_token_revokes_the_family(rp: RelyingParty, alice: Person) -> None:
    first = tokens(rp)
    second = rp.refresh(first["refresh_token"]).json()
    reuse = rp.refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # Everything of the family is gone: the newest refresh token, and every access token.
    assert rp.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    assert rp.userinfo(second["access_token"]).status_code == 401
    assert rp.userinfo(first["access_token"]).status_code == 401
    # Another family (another sign-in of the same client) is untouched.
    other = tokens(rp)
    assert rp.refresh(other["refresh_token"]).status_code == 200


def test_refresh_tokens_belong_to_their_client(
    rp: RelyingParty, public_rp: RelyingParty, alice: Person
) -> None:
    first = tokens(rp)
    assert public_rp.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert rp.refresh(first["refresh_token"]).status_code == 200  # not spent by the other client's try


def test_a_refresh_token_expires(rp: RelyingParty, alice: Person, clock: FrozenClock) -> None:
    first = tokens(rp)
    clock.advance(days=30, seconds=1)
    assert rp.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_wider_scope_is_refused_and_spends_nothing(rp: RelyingParty, alice: Person) -> None:
    first = tokens(rp)
    wider = rp.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "openid email"}
    )
    assert wider.json()["error"] == "invalid_scope"
    assert rp.refresh(first["refresh_token"]).status_code == 200
    narrower = tokens(rp)
    fewer = rp.token(
        {"grant_type": "refresh_token", "refresh_token": narrower["refresh_token"], "scope": "openid"}
    )
    assert fewer.status_code == 200 and fewer.json()["scope"] == "openid"
    assert "refresh_token" not in fewer.json()  # without offline_access, no new refresh token


def test_a_change_of_credentials_revokes_every_token_applications_hold(
    rp: RelyingParty, alice: Person, http: TestClient
) -> None:
    from sparekey.core.flows import lifecycle

    first = tokens(rp)
    account_id = rp.userinfo(first["access_token"]).json()["sub"]
    deps = http.app.state.deps  # type: ignore[attr-defined]
    with deps.store.transaction() as tx:  # what a password change, a removed factor or 2FA off call
        lifecycle.credentials_changed(tx, deps, account_id, reason="password_changed")
    assert rp.userinfo(first["access_token"]).status_code == 401
    assert rp.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert rp.refresh(tokens(rp)["refresh_token"]).status_code == 200  # a new sign-in gets new ones
