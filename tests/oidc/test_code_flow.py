"""The authorization code flow with PKCE, from the request to the userinfo; every refusal of
RFC 6749 and RFC 7636 where it belongs: at the redirect URI once the client and the redirect
URI are known, on a page (400, no Location) before."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.oidc.conftest import ISSUER, REDIRECT, Person, RelyingParty


def test_code_with_pkce_gives_a_verified_id_token_and_userinfo(
    rp: RelyingParty, alice_2fa: Person, clock: FrozenClock, http: TestClient
) -> None:
    alice_2fa.sign_out()
    clock.advance(60)
    pending = rp.request()
    login = rp.authorize(pending)
    assert login.status_code == 303 and login.headers["location"].startswith("/login?rd=")
    back = alice_2fa.sign_in(login)  # password, then the app's code
    signed_in_at = int(clock.now().timestamp())
    assert back.headers["location"].startswith("/oauth/authorize?")
    consent = http.get(back.headers["location"])
    answer = rp.answer(rp.consent(consent), pending)
    token = rp.redeem(answer["code"], pending.verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert "refresh_token" not in body  # only for offline_access
    assert token.headers["cache-control"] == "no-store"
    claims = rp.id_token(body, pending.nonce, clock)
    assert claims["iss"] == ISSUER and claims["aud"] == rp.client_id
    assert claims["sub"] == http.get("/api/v1/me").json()["id"]
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:sparekey:acr:two_factors"
    assert claims["auth_time"] == signed_in_at
    assert claims["preferred_username"] == "alice"
    info = rp.userinfo(body["access_token"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["preferred_username"] == "alice"
    assert "email" not in info.json()  # no verified address


def test_a_public_client_with_pkce(public_rp: RelyingParty, alice: Person, clock: FrozenClock) -> None:
    pending = public_rp.request()
    token = public_rp.redeem(public_rp.code(pending), pending.verifier)
    assert token.status_code == 200, token.text
    assert public_rp.id_token(token.json(), pending.nonce, clock)["acr"] == "urn:sparekey:acr:one_factor"


def test_a_reused_code_is_invalid_grant_and_revokes_what_it_gave(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    code = rp.code(pending)
    first = rp.redeem(code, pending.verifier)
    assert first.status_code == 200
    again = rp.redeem(code, pending.verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.userinfo(first.json()["access_token"]).status_code == 401


@pytest.mark.parametrize("verifier", ["x" * 43, "wrong", "A" * 129])
def test_a_wrong_verifier_is_invalid_grant(rp: RelyingParty, alice: Person, verifier: str) -> None:
    pending = rp.request()
    code = rp.code(pending)
    wrong = rp.redeem(code, verifier)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The first redemption spent the code, whatever its outcome.
    assert rp.redeem(code, pending.verifier).json()["error"] == "invalid_grant"


def test_a_verifier_is_needed_when_a_challenge_was_sent(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    missing = rp.redeem(rp.code(pending), None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_a_public_client_without_pkce_is_refused_at_its_redirect_uri(
    public_rp: RelyingParty, alice: Person
) -> None:
    pending = public_rp.request(pkce=False)
    got = public_rp.answer(public_rp.authorize(pending), pending)
    assert got["error"] == "invalid_request" and "code" not in got


def test_plain_pkce_is_refused(public_rp: RelyingParty, alice: Person) -> None:
    pending = public_rp.request()
    plain = public_rp.request(code_challenge=pending.verifier, code_challenge_method="plain")
    assert public_rp.answer(public_rp.authorize(plain), plain)["error"] == "invalid_request"
    unnamed = public_rp.request(code_challenge=pending.verifier)
    del unnamed.params["code_challenge_method"]  # plain by default in RFC 7636: refused too
    assert public_rp.answer(public_rp.authorize(unnamed), unnamed)["error"] == "invalid_request"


def test_a_confidential_client_may_go_without_pkce(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request(pkce=False)
    assert rp.redeem(rp.code(pending), None).status_code == 200
    # ...but not send a verifier for a code that had no challenge (RFC 9700 §4.8.2).
    pending = rp.request(pkce=False)
    assert rp.redeem(rp.code(pending), pending.verifier).json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:9000/callback/",
        "http://127.0.0.1:9000/callback?x=1",
        "http://127.0.0.1:9000/Callback",
        "http://127.0.0.1:9001/callback",
        "http://localhost:9000/callback",
        "https://evil.example/callback",
        "http://127.0.0.1:9000/callback#frag",
    ],
)
def test_an_unregistered_redirect_uri_is_a_page_never_a_redirect(
    http: TestClient, rp: RelyingParty, alice: Person, redirect_uri: str
) -> None:
    pending = rp.request(redirect_uri=redirect_uri)
    response = rp.authorize(pending)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert 'id="oidc-error">invalid_request<' in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_without_a_client_or_redirect_uri_it_is_a_page(
    http: TestClient, rp: RelyingParty, alice: Person
) -> None:
    for params in (
        {"response_type": "code", "client_id": "nobody", "redirect_uri": REDIRECT, "scope": "openid"},
        {"response_type": "code", "redirect_uri": REDIRECT, "scope": "openid"},
        {"response_type": "code", "client_id": rp.client_id, "scope": "openid"},
        {"response_type": "token", "client_id": "nobody", "redirect_uri": REDIRECT},
    ):
        response = http.get("/oauth/authorize", params=params)
        assert response.status_code == 400 and "location" not in response.headers, params


def test_the_error_page_speaks_japanese(http: TestClient) -> None:
    response = http.get("/oauth/authorize", params={"client_id": "nobody"}, headers={"Accept-Language": "ja"})
    assert response.status_code == 400 and "このサインインは続行できません" in response.text


def test_errors_after_the_redirect_uri_is_known_go_to_it(rp: RelyingParty, alice: Person) -> None:
    for extra, error in (
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),  # no openid
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
    ):
        pending = rp.request(**extra)
        got = rp.answer(rp.authorize(pending), pending)
        assert got["error"] == error, (extra, got)
        assert "code" not in got


def test_a_nonce_is_used_once_per_client(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    rp.code(pending)
    replay = rp.request(nonce=pending.nonce)
    assert rp.answer(rp.authorize(replay), replay)["error"] == "invalid_request"


def test_the_code_is_bound_to_client_and_redirect_uri(
    http: TestClient, rp: RelyingParty, public_rp: RelyingParty, alice: Person
) -> None:
    pending = rp.request()
    code = rp.code(pending)
    other = public_rp.redeem(code, pending.verifier)
    assert other.json()["error"] == "invalid_grant"
    pending = rp.request()
    moved = rp.redeem(rp.code(pending), pending.verifier, redirect_uri="http://127.0.0.1:9000/other")
    assert moved.json()["error"] == "invalid_grant"


def test_an_expired_code_is_invalid_grant(rp: RelyingParty, alice: Person, clock: FrozenClock) -> None:
    pending = rp.request()
    code = rp.code(pending)
    clock.advance(61)
    assert rp.redeem(code, pending.verifier).json()["error"] == "invalid_grant"


def test_client_authentication(
    http: TestClient, rp: RelyingParty, public_rp: RelyingParty, alice: Person
) -> None:
    pending = rp.request()
    code = rp.code(pending)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pending.verifier,
    }
    wrong = http.post("/oauth/token", data=form, auth=(rp.client_id, "not the secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    # A confidential client cannot pretend to be public.
    bare = http.post("/oauth/token", data={**form, "client_id": rp.client_id})
    assert bare.json()["error"] == "invalid_client"
    # client_secret_post works as well as HTTP Basic.
    pending = rp.request()
    posted = http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": rp.code(pending),
            "redirect_uri": REDIRECT,
            "code_verifier": pending.verifier,
            "client_id": rp.client_id,
            "client_secret": rp.secret,
        },
    )
    assert posted.status_code == 200, posted.text


def test_userinfo_needs_a_live_access_token(
    rp: RelyingParty, alice: Person, clock: FrozenClock, http: TestClient
) -> None:
    assert http.get("/oauth/userinfo").status_code == 401
    assert rp.userinfo("not-a-token").status_code == 401
    pending = rp.request()
    token = rp.redeem(rp.code(pending), pending.verifier).json()
    assert rp.userinfo(token["access_token"]).status_code == 200
    clock.advance(601)
    assert rp.userinfo(token["access_token"]).status_code == 401


def test_userinfo_gives_a_verified_email_with_the_email_scope(
    rp: RelyingParty,
    alice: Person,
    app_deps,
    http: TestClient,  # type: ignore[no-untyped-def]
) -> None:
    from sparekey.core.crypto import new_id
    from sparekey.core.models import Contact

    me = http.get("/api/v1/me").json()
    with app_deps.store.transaction() as tx:
        tx.contacts.add(
            Contact(
                new_id(), me["id"], "email", "alice@example.org", app_deps.clock.now(), app_deps.clock.now()
            )
        )
        tx.contacts.add(Contact(new_id(), me["id"], "email", "unverified@example.org", app_deps.clock.now()))
    pending = rp.request(scope="openid email")
    token = rp.redeem(rp.code(pending), pending.verifier).json()
    info = rp.userinfo(token["access_token"]).json()
    assert info == {"sub": me["id"], "email": "alice@example.org", "email_verified": True}
    pending = rp.request(scope="openid")
    token = rp.redeem(rp.code(pending), pending.verifier).json()
    assert rp.userinfo(token["access_token"]).json() == {"sub": me["id"]}


def test_pages_allow_exactly_the_registered_redirect_uris_in_form_action(
    http: TestClient, rp: RelyingParty
) -> None:
    policy = http.get("/login").headers["content-security-policy"]
    form_action = next(part for part in policy.split(";") if "form-action" in part).split()
    assert form_action == ["form-action", "'self'", "http://127.0.0.1:9000/callback"]
    assert "form-action 'self';" in http.get("/oauth/jwks").headers["content-security-policy"]


def test_state_and_iss_come_back_with_the_code(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    response = rp.consent(rp.authorize(pending))
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == [pending.state] and query["iss"] == [ISSUER] and len(query["code"][0]) >= 32
