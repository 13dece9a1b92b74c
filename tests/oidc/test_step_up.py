"""Which sign-in an authorization request gets: a signed-in browser goes straight through;
``prompt=login``, ``max_age`` and ``acr_values`` send it to the sign-in page (username and
password) first, and back; ``prompt=none`` never shows a page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx2
from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from tests.oidc.conftest import Person, RelyingParty

TWO = "urn:sparekey:acr:two_factors"
KEY = "urn:sparekey:acr:phishing_resistant"


def consented(rp: RelyingParty) -> None:
    """Consent given once, so that what follows is only about the sign-in."""
    pending = rp.request()
    rp.answer(rp.consent(rp.authorize(pending)), pending)


def is_sign_in_page(response: httpx2.Response, http: TestClient) -> bool:
    if response.status_code != 303 or not response.headers["location"].startswith("/login?rd="):
        return False
    page = http.get(response.headers["location"]).text
    return 'name="username"' in page and 'name="password"' in page


def id_token_of(rp: RelyingParty, response: httpx2.Response, pending, clock: FrozenClock):  # type: ignore[no-untyped-def]
    got = rp.answer(response, pending)
    token = rp.redeem(got["code"], pending.verifier).json()
    return rp.id_token(token, pending.nonce, clock)


def test_a_signed_in_browser_gets_its_code_without_any_page(rp: RelyingParty, alice: Person) -> None:
    consented(rp)
    pending = rp.request()
    assert "code" in rp.answer(rp.authorize(pending), pending)


def test_prompt_login_asks_for_the_password_again(
    http: TestClient, rp: RelyingParty, alice: Person, clock: FrozenClock
) -> None:
    consented(rp)
    clock.advance(600)
    pending = rp.request(prompt="login")
    login = rp.authorize(pending)
    assert is_sign_in_page(login, http)
    then = parse_qs(urlsplit(login.headers["location"]).query)["rd"][0]
    assert then.startswith("/oauth/authorize?") and "sparekey_fresh=" in then
    # Coming back without signing in again does not count.
    assert is_sign_in_page(http.get(then), http)
    clock.advance(5)
    back = alice.sign_in(login)
    signed_in_at = int(clock.now().timestamp())
    claims = id_token_of(rp, http.get(back.headers["location"]), pending, clock)
    assert claims["auth_time"] == signed_in_at


def test_max_age_zero_asks_again_and_max_age_n_when_older(
    http: TestClient, rp: RelyingParty, alice: Person, clock: FrozenClock
) -> None:
    consented(rp)
    pending = rp.request(max_age="0")
    login = rp.authorize(pending)
    assert is_sign_in_page(login, http)
    back = alice.sign_in(login)
    assert "code" in rp.answer(http.get(back.headers["location"]), pending)

    clock.advance(100)
    young = rp.request(max_age="300")
    assert "code" in rp.answer(rp.authorize(young), young)
    clock.advance(201)
    old = rp.request(max_age="300")
    assert is_sign_in_page(rp.authorize(old), http)


def test_acr_two_factors_steps_up_a_one_factor_session(
    http: TestClient, rp: RelyingParty, alice_2fa: Person, clock: FrozenClock
) -> None:
    consented(rp)  # with the session made at registration: a password only
    pending = rp.request()
    assert id_token_of(rp, rp.authorize(pending), pending, clock)["acr"] == "urn:sparekey:acr:one_factor"
    pending = rp.request(acr_values=TWO)
    login = rp.authorize(pending)
    assert is_sign_in_page(login, http)
    back = alice_2fa.sign_in(login)  # password and the app's code
    claims = id_token_of(rp, http.get(back.headers["location"]), pending, clock)
    assert claims["acr"] == TWO and claims["amr"] == ["pwd", "otp", "mfa"]
    # Now the session is enough: no page.
    again = rp.request(acr_values=f"urn:example:unknown {TWO}")
    assert "code" in rp.answer(rp.authorize(again), again)


def test_a_level_the_fresh_sign_in_cannot_reach_is_unmet(
    http: TestClient, rp: RelyingParty, alice_2fa: Person
) -> None:
    consented(rp)
    pending = rp.request(acr_values=KEY)
    login = rp.authorize(pending)
    assert is_sign_in_page(login, http)
    back = alice_2fa.sign_in(login)  # an app's code is not a security key
    got = rp.answer(http.get(back.headers["location"]), pending)
    assert got["error"] == "unmet_authentication_requirements" and "code" not in got


def test_two_factors_for_an_account_without_them_is_unmet(
    http: TestClient, rp: RelyingParty, alice: Person
) -> None:
    consented(rp)
    pending = rp.request(acr_values=TWO)
    login = rp.authorize(pending)
    back = alice.sign_in(login)
    assert (
        rp.answer(http.get(back.headers["location"]), pending)["error"] == "unmet_authentication_requirements"
    )


def test_prompt_none_never_shows_a_page(http: TestClient, rp: RelyingParty, alice: Person) -> None:
    pending = rp.request(prompt="none")
    assert rp.answer(rp.authorize(pending), pending)["error"] == "consent_required"
    consented(rp)
    pending = rp.request(prompt="none")
    assert "code" in rp.answer(rp.authorize(pending), pending)
    pending = rp.request(prompt="none", max_age="0")
    assert rp.answer(rp.authorize(pending), pending)["error"] == "login_required"
    alice.sign_out()
    pending = rp.request(prompt="none")
    assert rp.answer(rp.authorize(pending), pending)["error"] == "login_required"


def test_without_a_session_the_browser_signs_in_first(
    http: TestClient, rp: RelyingParty, alice: Person
) -> None:
    consented(rp)
    alice.sign_out()
    pending = rp.request()
    login = rp.authorize(pending)
    assert is_sign_in_page(login, http)
    back = alice.sign_in(login)
    assert "code" in rp.answer(http.get(back.headers["location"]), pending)


def test_a_forged_or_old_mark_is_not_a_fresh_sign_in(
    http: TestClient, rp: RelyingParty, alice: Person, clock: FrozenClock
) -> None:
    consented(rp)
    clock.advance(60)
    pending = rp.request(prompt="login", sparekey_fresh="0.forged")
    assert is_sign_in_page(rp.authorize(pending), http)
    login = rp.authorize(rp.request(prompt="login"))
    then = parse_qs(urlsplit(login.headers["location"]).query)["rd"][0]
    alice.sign_in(login)
    clock.advance(601)  # the mark waits for a sign-in as long as a sign-in flow lasts
    assert is_sign_in_page(http.get(then), http)
