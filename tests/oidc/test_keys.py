"""Signing keys: rotation keeps the old key published until the ID tokens it signed have
expired, then drops it; private keys are sealed at rest."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.oidc import keys
from sparekey.oidc.policy import OidcPolicy
from tests.oidc.conftest import ISSUER, Person, RelyingParty


def id_token(rp: RelyingParty) -> str:
    pending = rp.request()
    body = rp.redeem(rp.code(pending), pending.verifier).json()
    return str(body["id_token"])


def kids(http: TestClient) -> set[str]:
    return {key["kid"] for key in http.get("/oauth/jwks").json()["keys"]}


def test_rotation_keeps_old_tokens_verifiable_until_they_expire(
    http: TestClient, rp: RelyingParty, alice: Person, app_deps: Deps, clock: FrozenClock
) -> None:
    old_token = id_token(rp)
    (old_kid,) = kids(http)
    clock.advance(120)
    rotation = keys.rotate(app_deps, OidcPolicy(issuer=ISSUER))
    assert [k.kid for k in rotation.retired] == [old_kid]
    assert kids(http) == {old_kid, rotation.new.kid}

    # A token signed before the rotation still verifies against the JWKS of now...
    decoded = jwt.decode(
        old_token, KeySet.import_key_set(http.get("/oauth/jwks").json()), algorithms=["RS256"]
    )
    assert decoded.header["kid"] == old_kid
    # ...and new tokens are signed with the new key.
    new_token = id_token(rp)
    assert (
        jwt.decode(new_token, KeySet.import_key_set(http.get("/oauth/jwks").json())).header["kid"]
        == rotation.new.kid
    )

    clock.advance(599)  # the old key's last token (made at the rotation) expires at 600 s
    assert kids(http) == {old_kid, rotation.new.kid}
    clock.advance(1)
    assert kids(http) == {rotation.new.kid}
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(old_token, KeySet.import_key_set(http.get("/oauth/jwks").json()))


def test_a_second_rotation_forgets_keys_nobody_can_need(app_deps: Deps, clock: FrozenClock) -> None:
    policy = OidcPolicy(issuer=ISSUER)
    first = keys.current(app_deps)
    keys.rotate(app_deps, policy)
    clock.advance(601)
    keys.rotate(app_deps, policy)
    with app_deps.store.transaction() as tx:
        assert first.kid not in {k.kid for k in tx.oidc.signing_keys()}


def test_private_keys_are_sealed_with_their_kid(app_deps: Deps) -> None:
    key = keys.current(app_deps)
    assert "PRIVATE KEY" not in key.private_sealed
    assert "d" not in key.public_jwk
    assert keys.private_jwk(app_deps, key).as_dict(private=True)["d"]
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses a ciphertext moved to another kid
        app_deps.box.decrypt(key.private_sealed, aad=b"oidc-signing-key:another")
