"""The provider through HTTP (a TestClient on a real SQLite database, a frozen clock), a person
whose browser is the TestClient's cookie jar, and a relying party that checks what it gets
with Authlib's and joserfc's client-side checks (PKCE, ID token claims, JWKS)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pyotp
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.oidc import clients
from sparekey.web.app import create_app
from tests.web.conftest import CLIENT_IP, app_settings

ISSUER = "http://localhost:8000"
REDIRECT = "http://127.0.0.1:9000/callback"
PASSWORD = "correct horse battery staple"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return unescape(found.group(1))


@pytest.fixture
def http(tmp_path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    """The application at its public URL (the issuer); redirects are not followed."""
    app = create_app(app_settings(tmp_path, public_url=ISSUER), clock=clock, migrate=True)
    with TestClient(
        app,
        base_url=ISSUER,
        headers={"Accept-Language": "en"},
        client=(CLIENT_IP, 50000),
        follow_redirects=False,
    ) as client:
        yield client


@pytest.fixture
def app_deps(http: TestClient) -> Deps:
    deps: Deps = http.app.state.deps  # type: ignore[attr-defined]
    return deps


class Person:
    """Someone with an account, signing in with the TestClient as their browser."""

    def __init__(self, http: TestClient, clock: FrozenClock, username: str = "alice") -> None:
        self.http = http
        self.clock = clock
        self.username = username
        self.secret: str | None = None
        self.codes: list[str] = []

    def register(self) -> Person:
        page = self.http.get("/register").text
        done = self.http.post(
            "/register", data={"csrf_token": csrf(page), "username": self.username, "password": PASSWORD}
        )
        assert done.status_code == 303, done.text
        return self

    def enable_totp(self) -> Person:
        """An authenticator app (two-step verification on), added from the security page."""
        page = self.http.get("/security").text
        page = self.http.post("/security/totp", data={"csrf_token": csrf(page), "name": "Pixel"}).text
        self.secret = unescape(re.search(r'<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>', page).group(1))  # type: ignore[union-attr]
        action = re.search(r'action="(/security/totp/\w+/confirm)"', page).group(1)  # type: ignore[union-attr]
        page = self.http.post(action, data={"csrf_token": csrf(page), "code": self.totp()}).text
        self.codes = re.findall(r"<li><code>([0-9A-Z]{5}-[0-9A-Z]{5})</code></li>", page)
        assert len(self.codes) == 10
        self.clock.advance(30)
        return self

    def totp(self) -> str:
        assert self.secret
        return pyotp.TOTP(self.secret).at(self.clock.now())

    def sign_out(self) -> None:
        page = self.http.get("/security").text
        self.http.post("/logout", data={"csrf_token": csrf(page)})

    def sign_in(self, login: httpx2.Response | None = None) -> httpx2.Response:
        """Sign in on the page ``login`` redirected to (or /login): the password, then a code
        when the account has two steps. The answer to the last form (a redirect)."""
        where = login.headers["location"] if login is not None else "/login"
        page = self.http.get(where)
        assert page.status_code == 200 and 'name="password"' in page.text, page.text
        done = self.http.post(
            "/login", data={"csrf_token": csrf(page.text), "username": self.username, "password": PASSWORD}
        )
        assert done.status_code == 303, done.text
        if done.headers["location"] == "/login/code":
            self.clock.advance(30)
            page = self.http.get("/login/code")
            done = self.http.post("/login/code", data={"csrf_token": csrf(page.text), "code": self.totp()})
            assert done.status_code == 303, done.text
        return done


@pytest.fixture
def alice(http: TestClient, clock: FrozenClock) -> Person:
    """Registered, and so signed in (one factor: a password)."""
    return Person(http, clock).register()


@pytest.fixture
def alice_2fa(alice: Person) -> Person:
    """Signed in, then given an authenticator app."""
    return alice.enable_totp()


@dataclass
class Pending:
    """One authorization request the relying party made, and what it keeps for the answer."""

    params: dict[str, str]
    verifier: str
    state: str
    nonce: str


class RelyingParty:
    def __init__(
        self, http: TestClient, registered: clients.Registered, redirect_uri: str = REDIRECT
    ) -> None:
        self.http = http
        self.client_id = registered.client.id
        self.secret = registered.secret
        self.redirect_uri = redirect_uri

    def request(self, scope: str = "openid profile email", *, pkce: bool = True, **extra: str) -> Pending:
        verifier, state, nonce = (
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(16),
            secrets.token_urlsafe(16),
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        if pkce:
            params.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
        params.update(extra)
        return Pending(params=params, verifier=verifier, state=state, nonce=nonce)

    def authorize(self, pending: Pending) -> httpx2.Response:
        return self.http.get("/oauth/authorize", params=pending.params)

    def consent(self, page: httpx2.Response, decision: str = "allow") -> httpx2.Response:
        assert page.status_code == 200 and 'value="allow"' in page.text, page.text
        action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        return self.http.post(action, data={"csrf_token": csrf(page.text), "decision": decision})

    def answer(self, response: httpx2.Response, pending: Pending) -> dict[str, str]:
        """The parameters the browser brought to the redirect URI (state checked)."""
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(self.redirect_uri + "?"), location
        got = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert got.get("state") == pending.state and got.get("iss") == ISSUER
        return got

    def code(self, pending: Pending) -> str:
        """Authorize a signed-in browser, allowing on the consent page if it is shown."""
        response = self.authorize(pending)
        if response.status_code == 200:
            response = self.consent(response)
        got = self.answer(response, pending)
        assert "code" in got, got
        return got["code"]

    def redeem(self, code: str, verifier: str | None, **extra: str) -> httpx2.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if verifier is not None:
            form["code_verifier"] = verifier
        return self.token(form | extra)

    def refresh(self, refresh_token: str) -> httpx2.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def token(self, form: dict[str, str]) -> httpx2.Response:
        if self.secret is None:
            return self.http.post("/oauth/token", data={"client_id": self.client_id, **form})
        return self.http.post("/oauth/token", data=form, auth=(self.client_id, self.secret))

    def id_token(self, token: dict[str, Any], nonce: str, clock: FrozenClock) -> CodeIDToken:
        """The ID token, its signature checked against the JWKS and its claims against what
        this relying party asked (Authlib's OpenID Connect checks)."""
        keyset = KeySet.import_key_set(self.http.get("/oauth/jwks").json())
        decoded = jwt.decode(token["id_token"], keyset, algorithms=["RS256"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "value": ISSUER}},
            {"nonce": nonce, "client_id": self.client_id, "access_token": token["access_token"]},
        )
        claims.validate(now=int(clock.now().timestamp()))
        return claims

    def userinfo(self, access_token: str) -> httpx2.Response:
        return self.http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture
def confidential(app_deps: Deps) -> clients.Registered:
    return clients.add(app_deps, name="Wiki", redirect_uris=[REDIRECT], public=False)


@pytest.fixture
def public_app(app_deps: Deps) -> clients.Registered:
    return clients.add(app_deps, name="Phone app", redirect_uris=[REDIRECT], public=True)


@pytest.fixture
def rp(http: TestClient, confidential: clients.Registered) -> RelyingParty:
    return RelyingParty(http, confidential)


@pytest.fixture
def public_rp(http: TestClient, public_app: clients.Registered) -> RelyingParty:
    return RelyingParty(http, public_app)
