"""A small web application that signs people in with sparekey (OpenID Connect), using
Authlib's client.

    pip install authlib requests
    sparekey client add --name "Example app" --redirect-uri http://127.0.0.1:5000/callback
    OIDC_ISSUER=https://id.example.com OIDC_CLIENT_ID=... OIDC_CLIENT_SECRET=... \\
        python oidc_relying_party.py

Then open http://127.0.0.1:5000/ and sign in. ``/login?prompt=login`` (or ``max_age=0``)
asks for the password again; ``/login?acr_values=urn:sparekey:acr:two_factors`` asks for a
second factor.

What it does, in order: reads the provider's discovery document; sends the browser to the
authorization endpoint with ``state`` (kept in a cookie), ``nonce`` and a PKCE challenge
(S256); at the callback checks ``state`` and ``iss`` (RFC 9207), redeems the code with the
verifier, and checks the ID token: its signature against the JWKS (fetched again when a key
it does not know appears, after a key rotation), then ``iss``, ``aud``, ``exp``, ``iat``,
``nonce``, ``at_hash`` and ``auth_time`` with Authlib's ``CodeIDToken``.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

SCOPE = "openid profile email offline_access"


@dataclass
class Started:
    """One authorization request: what the callback needs to finish it."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass
class SignIn:
    """A finished sign-in: the checked ID token's claims and the tokens."""

    claims: dict[str, Any]
    token: dict[str, Any]
    code: str
    started: Started


@dataclass
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scope: str = SCOPE
    metadata: dict[str, Any] = field(default_factory=dict)
    _keys: KeySet | None = None
    _pending: dict[str, Started] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        found = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        found.raise_for_status()
        self.metadata = found.json()
        if self.metadata["issuer"] != self.issuer:
            raise ValueError(f"the provider says it is {self.metadata['issuer']!r}, not {self.issuer!r}")

    def _client(self, **options: Any) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            **options,
        )

    def start(self, **extra: str) -> Started:
        """The authorization URL to send the browser to (``extra``: prompt, max_age, acr_values)."""
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = self._client().create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
        )
        started = Started(url=url, state=state, nonce=nonce, verifier=verifier)
        with self._lock:
            self._pending[state] = started
        return started

    def finish(self, callback_url: str, state: str) -> SignIn:
        """The browser came back to the redirect URI: redeem the code, check the ID token."""
        with self._lock:
            started = self._pending.pop(state, None)
        if started is None:
            raise ValueError("no sign-in was started with this state")
        answer = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        if answer.get("state") != state:
            raise ValueError("the state does not match")
        if answer.get("iss") != self.issuer:  # RFC 9207: the answer comes from this provider
            raise ValueError("the answer does not name this provider")
        if "error" in answer:
            raise PermissionError(f"{answer['error']}: {answer.get('error_description', '')}")
        token = self.redeem(answer["code"], started.verifier)
        claims = self.verify_id_token(token, started.nonce)
        return SignIn(claims=claims, token=dict(token), code=answer["code"], started=started)

    def redeem(self, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for a code (raises authlib's OAuthError when refused)."""
        token = self._client().fetch_token(
            self.metadata["token_endpoint"],
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )
        return dict(token)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token, which is then spent (raises OAuthError when refused)."""
        return dict(
            self._client().refresh_token(self.metadata["token_endpoint"], refresh_token=refresh_token)
        )

    def userinfo(self, access_token: str) -> dict[str, Any]:
        answer = self._client(token={"access_token": access_token, "token_type": "Bearer"}).get(
            self.metadata["userinfo_endpoint"], timeout=10
        )
        answer.raise_for_status()
        info: dict[str, Any] = answer.json()
        return info

    def verify_id_token(self, token: dict[str, Any], nonce: str, *, leeway: int = 60) -> dict[str, Any]:
        algorithms = self.metadata.get("id_token_signing_alg_values_supported", ["RS256"])
        try:
            decoded = jwt.decode(token["id_token"], self._jwks(), algorithms=algorithms)
        except InvalidKeyIdError:  # signed with a key made since the JWKS was read
            decoded = jwt.decode(token["id_token"], self._jwks(refresh=True), algorithms=algorithms)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "value": self.issuer}, "auth_time": {"essential": True}},
            {"nonce": nonce, "client_id": self.client_id, "access_token": token.get("access_token")},
        )
        claims.validate(leeway=leeway)
        return dict(claims)

    def _jwks(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            answer = requests.get(self.metadata["jwks_uri"], timeout=10)
            answer.raise_for_status()
            self._keys = KeySet.import_key_set(answer.json())
        return self._keys


def make_server(rp: RelyingParty, host: str = "127.0.0.1", port: int = 5000) -> ThreadingHTTPServer:
    """The web application: ``/`` links to ``/login``, which starts a sign-in; ``/callback``
    finishes it and shows who signed in. ``server.sign_ins`` keeps every finished sign-in."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(path.query).items()}
            if path.path == "/login":
                wanted = {k: v for k, v in query.items() if k in ("prompt", "max_age", "acr_values")}
                started = rp.start(**wanted)
                self.send_response(302)
                self.send_header("Location", started.url)
                self.send_header("Set-Cookie", f"rp_state={started.state}; HttpOnly; SameSite=Lax; Path=/")
                self.end_headers()
            elif path.path == "/callback":
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                state = cookie["rp_state"].value if "rp_state" in cookie else ""
                try:
                    if not state or query.get("state") != state:
                        raise ValueError("this sign-in was not started in this browser")
                    done = rp.finish(f"{rp.redirect_uri}?{path.query}", state)
                except Exception as error:  # noqa: BLE001 - shown to the person
                    self._page(400, f"<h1>Not signed in</h1><p id='error'>{html.escape(str(error))}</p>")
                    return
                server.sign_ins.append(done)
                claims = json.dumps(done.claims, indent=2, sort_keys=True)
                self._page(200, f"<h1>Signed in</h1><pre id='claims'>{html.escape(claims)}</pre>")
            else:
                self._page(200, "<h1>Example app</h1><p><a href='/login'>Sign in with sparekey</a></p>")

        def _page(self, status: int, body: str) -> None:
            data = f"<!doctype html><meta charset=utf-8><title>Example app</title>{body}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.sign_ins = []  # type: ignore[attr-defined]
    return server


if __name__ == "__main__":
    party = RelyingParty(
        issuer=os.environ["OIDC_ISSUER"].rstrip("/"),
        client_id=os.environ["OIDC_CLIENT_ID"],
        client_secret=os.environ.get("OIDC_CLIENT_SECRET"),
        redirect_uri=os.environ.get("OIDC_REDIRECT_URI", "http://127.0.0.1:5000/callback"),
    )
    where = urlsplit(party.redirect_uri)
    print(f"Open http://{where.hostname}:{where.port}/")  # noqa: T201
    make_server(party, where.hostname or "127.0.0.1", where.port or 80).serve_forever()
