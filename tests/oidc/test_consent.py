"""Consent: asked once per account and client (and again for more scopes, or with
``prompt=consent``), with a CSRF-protected form, in both languages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from sparekey.core.deps import Deps
from sparekey.oidc import clients
from tests.oidc.conftest import REDIRECT, Person, RelyingParty


def test_consent_is_asked_once_and_remembered(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request(scope="openid profile")
    page = rp.authorize(pending)
    assert page.status_code == 200
    assert "Allow Wiki to use your sparekey account?" in page.text
    assert "Signed in as alice." in page.text
    assert "See your username, language and time zone" in page.text
    assert "e-mail" not in page.text
    assert "code" in rp.answer(rp.consent(page), pending)
    again = rp.request(scope="openid profile")
    assert "code" in rp.answer(rp.authorize(again), again)
    fewer = rp.request(scope="openid")
    assert "code" in rp.answer(rp.authorize(fewer), fewer)


def test_more_scopes_or_prompt_consent_ask_again(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request(scope="openid")
    rp.consent(rp.authorize(pending))
    more = rp.request(scope="openid email offline_access")
    page = rp.authorize(more)
    assert page.status_code == 200 and "See your verified e-mail address" in page.text
    rp.consent(page)
    asked = rp.request(scope="openid", prompt="consent")
    assert rp.authorize(asked).status_code == 200


def test_consent_is_per_client(http: TestClient, rp: RelyingParty, alice: Person, app_deps: Deps) -> None:
    pending = rp.request()
    rp.consent(rp.authorize(pending))
    other = RelyingParty(http, clients.add(app_deps, name="Chat", redirect_uris=[REDIRECT], public=False))
    page = other.authorize(other.request())
    assert page.status_code == 200 and "Allow Chat" in page.text


def test_denying_sends_access_denied(rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    got = rp.answer(rp.consent(rp.authorize(pending), decision="deny"), pending)
    assert got["error"] == "access_denied" and "code" not in got
    assert rp.authorize(rp.request()).status_code == 200  # nothing was remembered


def test_the_consent_form_needs_its_csrf_token(http: TestClient, rp: RelyingParty, alice: Person) -> None:
    pending = rp.request()
    rp.authorize(pending)
    forged = http.post(
        "/oauth/authorize", params=pending.params, data={"decision": "allow", "csrf_token": "x.y"}
    )
    assert forged.status_code == 403 and "location" not in forged.headers
    cross_site = http.post(
        "/oauth/authorize",
        params=pending.params,
        data={"decision": "allow"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403


def test_the_consent_page_in_japanese(http: TestClient, rp: RelyingParty, alice: Person) -> None:
    page = http.get("/oauth/authorize", params=rp.request().params, headers={"Accept-Language": "ja"})
    assert "Wiki に sparekey アカウントの利用を許可しますか？" in page.text
    assert "許可しない" in page.text
