"""One code, or one refresh token, redeemed by many requests at once, on SQLite and on
PostgreSQL: exactly one gets tokens."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from sparekey.core.assurance import Amr, context
from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.flows import accounts
from sparekey.oidc import clients
from sparekey.oidc.policy import OidcPolicy
from sparekey.oidc.provider import Answer, HttpRequest, Provider, SignedIn
from tests.conftest import build_deps
from tests.store.test_repositories import race

REDIRECT = "https://wiki.example.com/cb"
VERIFIER = "v" * 50


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    return build_deps(database_url, clock)


def setup(deps: Deps) -> tuple[Provider, dict[str, str]]:
    provider = Provider(deps, OidcPolicy(issuer="https://id.example.com"))
    made = clients.add(deps, name="Wiki", redirect_uris=[REDIRECT], public=False)
    assert made.secret
    basic = base64.b64encode(f"{made.client.id}:{made.secret}".encode()).decode()
    return provider, {"client_id": made.client.id, "authorization": f"Basic {basic}"}


def code_for(provider: Provider, deps: Deps, client_id: str, scope: str) -> str:
    account = accounts.register(deps, username="alice", password="correct horse battery staple")
    signed = SignedIn(account=account, context=context([Amr.PWD, Amr.OTP], deps.clock.now(), factors=2))
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s",
        "code_challenge": create_s256_code_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    answer = provider.authorize(
        HttpRequest("GET", "/oauth/authorize", {}, list(params.items())), signed, decision="allow"
    )
    assert isinstance(answer, Answer) and answer.location, answer
    return parse_qs(urlsplit(answer.location).query)["code"][0]


def token(provider: Provider, auth: dict[str, str], **form: str) -> Answer:
    return provider.token(
        HttpRequest("POST", "/oauth/token", {"Authorization": auth["authorization"]}, list(form.items()))
    )


def test_one_code_redeemed_at_once_gives_tokens_once(deps: Deps) -> None:
    provider, auth = setup(deps)
    code = code_for(provider, deps, auth["client_id"], "openid")
    outcomes: list[tuple[int, str]] = []

    def redeem() -> bool:
        answer = token(
            provider,
            auth,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=VERIFIER,
        )
        outcomes.append((answer.status, answer.body.get("error", "")))
        return answer.status == 200

    assert race(8, redeem) == [False] * 7 + [True]
    assert sorted(outcomes) == [(200, "")] + [(400, "invalid_grant")] * 7


def test_one_refresh_token_used_at_once_gives_tokens_once_and_ends_the_family(deps: Deps) -> None:
    provider, auth = setup(deps)
    code = code_for(provider, deps, auth["client_id"], "openid offline_access")
    first = token(
        provider,
        auth,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=VERIFIER,
    )
    refresh = first.body["refresh_token"]
    won: list[str] = []

    def use() -> bool:
        answer = token(provider, auth, grant_type="refresh_token", refresh_token=refresh)
        if answer.status == 200:
            won.append(answer.body["refresh_token"])
        else:
            assert answer.body["error"] == "invalid_grant"
        return answer.status == 200

    assert race(6, use) == [False] * 5 + [True]
    # The others were reuses: the family is revoked, the winner's new token with it.
    assert (
        token(provider, auth, grant_type="refresh_token", refresh_token=won[0]).body["error"]
        == "invalid_grant"
    )
