"""Discovery (OpenID Connect Discovery 1.0, checked with Authlib's metadata validation) and
the JWKS."""

from __future__ import annotations

from authlib.oidc.discovery import OpenIDProviderMetadata
from fastapi.testclient import TestClient
from joserfc.jwk import KeySet

from tests.oidc.conftest import ISSUER


def test_discovery_names_the_issuer_and_every_endpoint(http: TestClient) -> None:
    response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    metadata = response.json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == ISSUER
    assert metadata["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert metadata["userinfo_endpoint"] == f"{ISSUER}/oauth/userinfo"
    assert metadata["jwks_uri"] == f"{ISSUER}/oauth/jwks"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "offline_access" in metadata["scopes_supported"] and "openid" in metadata["scopes_supported"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert metadata["acr_values_supported"] == [
        "urn:sparekey:acr:one_factor",
        "urn:sparekey:acr:two_factors",
        "urn:sparekey:acr:phishing_resistant",
    ]
    assert {"amr", "acr", "auth_time", "nonce"} <= set(metadata["claims_supported"])
    assert response.headers["access-control-allow-origin"] == "*"


def test_the_issuer_follows_the_public_url(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    from sparekey.web.app import create_app
    from tests.web.conftest import app_settings

    app = create_app(app_settings(tmp_path, public_url="https://id.example.com/"), clock=clock, migrate=True)
    with TestClient(app, base_url="https://id.example.com") as client:
        metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["issuer"] == "https://id.example.com"
    assert metadata["jwks_uri"] == "https://id.example.com/oauth/jwks"


def test_jwks_publishes_one_public_signing_key(http: TestClient) -> None:
    body = http.get("/oauth/jwks").json()
    assert len(body["keys"]) == 1
    key = body["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # nothing private
    assert KeySet.import_key_set(body).get_by_kid(key["kid"])
    assert http.get("/oauth/jwks").json() == body  # the same key until it is rotated
