"""Registering relying parties: the redirect URI rule, and the pages' form-action sources."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sparekey.core.deps import Deps
from sparekey.oidc import clients
from tests.oidc.conftest import Person, RelyingParty


@pytest.mark.parametrize(
    "uri",
    [
        "https://wiki.example.com/oidc/callback",
        "https://wiki.example.com:8443/cb?tenant=7",
        "http://127.0.0.1:9000/callback",
        "http://localhost:3000/cb",
        "http://[::1]:3000/cb",
    ],
)
def test_redirect_uris_that_may_be_registered(uri: str) -> None:
    assert clients.checked_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://wiki.example.com/cb",  # plain http off this machine
        "https://wiki.example.com/cb#x",
        "https://user:pw@wiki.example.com/cb",
        "/callback",
        "javascript:alert(1)",
        "com.example.app:/cb",
        "https://wiki.example.com/c b",
        "https://wiki.example.com/cb\r\n",
        "https://wïki.example.com/cb",
        "https://wiki.example.com:99999/cb",
        "",
        "https://example.com/" + "a" * 1000,
    ],
)
def test_redirect_uris_that_may_not(uri: str) -> None:
    with pytest.raises(clients.BadClient):
        clients.checked_redirect_uri(uri)


def test_a_confidential_client_gets_a_secret_kept_as_a_digest(app_deps: Deps) -> None:
    made = clients.add(app_deps, name=" Wiki ", redirect_uris=["https://w.example/cb"] * 2, public=False)
    assert made.secret and len(made.secret) >= 43
    stored = clients.get(app_deps, made.client.id)
    assert stored is not None and stored.name == "Wiki" and stored.redirect_uris == ("https://w.example/cb",)
    assert stored.secret_hash != made.secret and made.secret not in repr(stored)
    public = clients.add(app_deps, name="App", redirect_uris=["http://127.0.0.1:1/cb"], public=True)
    assert public.secret is None and public.client.public


def test_a_client_needs_a_name_and_a_redirect_uri(app_deps: Deps) -> None:
    with pytest.raises(clients.BadClient):
        clients.add(app_deps, name="", redirect_uris=["https://w.example/cb"], public=False)
    with pytest.raises(clients.BadClient):
        clients.add(app_deps, name="Wiki", redirect_uris=[], public=False)


def test_form_action_sources_are_cached_about_a_second(app_deps: Deps) -> None:
    now = [100.0]
    sources = clients.RedirectSources(app_deps, now=lambda: now[0])
    assert sources() == []
    clients.add(app_deps, name="Wiki", redirect_uris=["https://w.example/a/cb?x=1"], public=False)
    assert sources() == []
    now[0] += 1.0
    assert sources() == ["https://w.example/a/cb"]  # the query is no part of a CSP source


def test_a_new_client_is_allowed_in_form_action_at_once(
    http: TestClient, app_deps: Deps, alice: Person
) -> None:
    http.get("/login")  # the sources are read (and kept) now, before the client exists
    uri = "http://127.0.0.1:7777/cb"
    rp = RelyingParty(http, clients.add(app_deps, name="New", redirect_uris=[uri], public=False), uri)
    page = rp.authorize(rp.request())
    assert page.status_code == 200  # the consent page, whose form ends at the redirect URI
    assert uri in page.headers["content-security-policy"]


def test_removing_a_client_removes_its_tokens(rp: RelyingParty, alice: Person, app_deps: Deps) -> None:
    pending = rp.request()
    token = rp.redeem(rp.code(pending), pending.verifier).json()
    assert clients.remove(app_deps, rp.client_id)
    assert rp.userinfo(token["access_token"]).status_code == 401
    assert not clients.remove(app_deps, rp.client_id)
    assert rp.authorize(rp.request()).status_code == 400
