"""An independent relying party against the provider in Debian's chromium.

The relying party is ``docs/examples/oidc_relying_party.py`` as written (Authlib's client, a
small web app on its own port); sparekey is a real ``sparekey serve`` process whose public URL
(the issuer) is its own address. Through sparekey's sign-in with a second factor, the code
comes back to the relying party in the browser (the pages' form-action allows exactly its
redirect URI, or chromium would block that last redirect), and the relying party checks the
ID token against the JWKS. Then: the code reused, a wrong verifier, an unregistered redirect
URI, refresh and a reused refresh token, prompt=login and max_age=0, a key rotation.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from authlib.integrations.requests_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from sparekey.core.crypto import new_key_string
from tests.web import servers
from tests.web.servers import Server, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse battery staple"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "oidc_relying_party.py"


def example() -> ModuleType:
    """The documented relying party, imported from its file as a reader would copy it."""
    spec = importlib.util.spec_from_file_location("oidc_relying_party", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class Sparekey:
    """The server process, the CLI on its database, and an account with an authenticator app."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        port = servers.free_port()
        self.issuer = f"http://127.0.0.1:{port}"
        self.env = server_env(tmp_path / "data", new_key_string(), public_url=self.issuer)
        with monkeypatch.context() as patch:  # serve where the issuer says
            patch.setattr(servers, "free_port", lambda: port)
            self.server = Server("oidc", self.env, tmp_path).start()
        self.secret = ""
        self.backup_codes: list[str] = []
        self.used_steps: list[int] = []

    def cli(self, *args: str) -> Any:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
        environment.update(self.env)
        done = subprocess.run(
            [sys.executable, "-m", "sparekey", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def account_with_app(self) -> None:
        assert self.server.post("/api/v1/accounts", {"username": "alice", "password": PASSWORD}).status == 201
        token = self.server.post("/api/v1/login", {"username": "alice", "password": PASSWORD}).body[
            "session_token"
        ]
        begun = self.server.post("/api/v1/me/totp", {"name": "Pixel"}, token=token).body
        self.secret = begun["secret"]
        confirmed = self.server.post(
            f"/api/v1/me/totp/{begun['authenticator_id']}/confirm", {"code": self.totp()}, token=token
        )
        assert confirmed.status == 200, confirmed
        self.backup_codes = list(confirmed.body["backup_codes"]["codes"])

    def totp(self) -> str:
        """A code for a time step not used yet (each is accepted once): waits only when needed."""
        totp = pyotp.TOTP(self.secret)
        while self.used_steps and totp.timecode(time.time()) <= self.used_steps[-1]:
            time.sleep(0.2)
        step = totp.timecode(time.time())
        self.used_steps.append(step)
        return totp.generate_otp(step)


@pytest.fixture
def sparekey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sparekey]:
    provider = Sparekey(tmp_path, monkeypatch)
    yield provider
    provider.server.stop()
    assert "Traceback" not in provider.server.log_text(), provider.server.log_text()


def sign_in_on_page(page: Any, second: str) -> None:
    """On sparekey's sign-in page: username and password, then the code page's second factor."""
    page.wait_for_selector("input[name=password]")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", second)
    page.click("form[action='/login/code'] button[type=submit]")


def test_an_independent_relying_party_in_chromium(sparekey: Sparekey, chromium: Any) -> None:
    sparekey.account_with_app()
    rp_port = servers.free_port()
    callback = f"http://127.0.0.1:{rp_port}/callback"
    elsewhere = f"http://127.0.0.1:{rp_port}/held"
    registered = sparekey.cli(
        "client", "add", "--name", "Example app", "--redirect-uri", callback, "--redirect-uri", elsewhere
    )
    module = example()
    rp = module.RelyingParty(
        issuer=sparekey.issuer,
        client_id=registered["client_id"],
        client_secret=registered["client_secret"],
        redirect_uri=callback,
    )
    app = module.make_server(rp, "127.0.0.1", rp_port)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    context = chromium.new_context(locale="en", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()
    policy_errors: list[str] = []
    page.on(
        "console", lambda m: policy_errors.append(m.text) if "Content Security Policy" in m.text else None
    )
    try:
        # Code + PKCE through the sign-in with a second factor, and the consent page.
        page.goto(f"http://127.0.0.1:{rp_port}/login")
        assert page.url.startswith(f"{sparekey.issuer}/login?rd=")
        sign_in_on_page(page, sparekey.totp())
        page.wait_for_selector("button[name=decision][value=allow]")
        assert "Allow Example app to use your sparekey account?" in page.inner_text("h1")
        page.click("button[name=decision][value=allow]")
        page.wait_for_selector("#claims")
        assert page.url.startswith(callback + "?") and "Signed in" in page.inner_text("h1")
        assert policy_errors == []
        (first,) = app.sign_ins
        claims = first.claims  # checked by the relying party: signature, iss, aud, nonce, at_hash
        assert claims["iss"] == sparekey.issuer and claims["aud"] == registered["client_id"]
        assert claims["nonce"] == first.started.nonce
        assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "urn:sparekey:acr:two_factors"
        assert isinstance(claims["auth_time"], int) and claims["preferred_username"] == "alice"
        assert rp.userinfo(first.token["access_token"])["sub"] == claims["sub"]

        # Refresh works; the old refresh token used again revokes the family.
        refreshed = rp.refresh(first.token["refresh_token"])
        assert rp.userinfo(refreshed["access_token"])["sub"] == claims["sub"]
        with pytest.raises(OAuthError) as again:
            rp.refresh(first.token["refresh_token"])
        assert again.value.error == "invalid_grant"
        with pytest.raises(OAuthError):
            rp.refresh(refreshed["refresh_token"])
        with pytest.raises(requests.HTTPError):
            rp.userinfo(refreshed["access_token"])

        # The code again: refused (and what it gave is revoked, which the refresh above already was).
        with pytest.raises(OAuthError) as reused:
            rp.redeem(first.code, first.started.verifier)
        assert reused.value.error == "invalid_grant"

        # A wrong verifier: a second redirect URI of the client, where nothing redeems the code.
        held = module.RelyingParty(
            issuer=sparekey.issuer,
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            redirect_uri=elsewhere,
        )
        page.goto(held.start().url)  # signed in, consent remembered: no page
        assert page.url.startswith(elsewhere + "?")
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        with pytest.raises(OAuthError) as wrong:
            held.redeem(code, "w" * 43)
        assert wrong.value.error == "invalid_grant"

        # A redirect URI that was not registered: a page at sparekey, never a redirect.
        started = rp.start()
        query = parse_qs(urlsplit(started.url).query)
        query["redirect_uri"] = [f"http://127.0.0.1:{rp_port}/unregistered"]
        response = page.goto(f"{sparekey.issuer}/oauth/authorize?{urlencode(query, doseq=True)}")
        assert response.status == 400 and page.url.startswith(f"{sparekey.issuer}/oauth/authorize")
        assert "This sign-in cannot continue" in page.inner_text("h1")
        assert len(app.sign_ins) == 1

        # prompt=login and max_age=0: the sign-in page (username and password) again.
        for ask in ("prompt=login", "max_age=0"):
            page.goto(f"http://127.0.0.1:{rp_port}/login?{ask}")
            assert page.url.startswith(f"{sparekey.issuer}/login?rd=")
            assert page.locator("input[name=username]").is_visible()
            sign_in_on_page(page, sparekey.backup_codes.pop())
            page.wait_for_selector("#claims")
            assert page.url.startswith(callback + "?")
            latest = app.sign_ins[-1].claims
            assert latest["amr"] == ["pwd", "otp", "mfa"] and latest["auth_time"] >= claims["auth_time"]
        assert len(app.sign_ins) == 3

        # A key rotation: tokens signed before it still verify; new ones use the new key.
        before = app.sign_ins[-1]
        old_kid = jwt.decode(before.token["id_token"], rp._jwks()).header["kid"]
        rotated = sparekey.cli("keys", "rotate-signing")
        assert [r["kid"] for r in rotated["retired"]] == [old_kid]
        published = KeySet.import_key_set(requests.get(f"{sparekey.issuer}/oauth/jwks", timeout=10).json())
        assert jwt.decode(before.token["id_token"], published).header["kid"] == old_kid
        assert rp.verify_id_token(before.token, before.started.nonce)["sub"] == claims["sub"]
        page.goto(f"http://127.0.0.1:{rp_port}/login")
        page.wait_for_selector("#claims")
        after = app.sign_ins[-1]  # the relying party fetched the JWKS again for the new kid
        assert jwt.decode(after.token["id_token"], published).header["kid"] == rotated["kid"]
        assert policy_errors == []
    finally:
        context.close()
        app.shutdown()
        app.server_close()
