"""The keys that sign ID tokens (RS256, 2048-bit RSA made with ``cryptography``).

The first key is made when it is first needed. ``sparekey keys rotate-signing`` makes a new
one that signs from then on; the old one is retired but stays in the JWKS until the last ID
token it signed has expired (``publish_until`` = retirement + the ID token lifetime), and is
forgotten after. Private keys are kept sealed with the secret box (AES-GCM, the key id as
associated data); the key id is the RFC 7638 thumbprint of the public key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from sparekey.core.deps import Deps
from sparekey.oidc.policy import SIGNING_ALG, OidcPolicy
from sparekey.oidc.records import SigningKey

KEY_BITS = 2048
_LOCK = "oidc-signing-keys"


def _aad(kid: str) -> bytes:
    return f"oidc-signing-key:{kid}".encode()


def _new_key(deps: Deps, at: datetime) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = RSAKey.import_key(pem, parameters={"use": "sig", "alg": SIGNING_ALG})
    kid = jwk.thumbprint()
    public = {**jwk.as_dict(private=False), "kid": kid}
    return SigningKey(
        kid=kid,
        alg=SIGNING_ALG,
        private_sealed=deps.box.encrypt(pem, aad=_aad(kid)),
        public_jwk={k: str(v) for k, v in public.items()},
        created_at=at,
    )


def _signing(keys: list[SigningKey]) -> SigningKey | None:
    return next((key for key in keys if key.retired_at is None), None)


def current(deps: Deps) -> SigningKey:
    """The key that signs now; made (once, under a lock) if there is none yet."""
    with deps.store.transaction() as tx:
        found = _signing(tx.oidc.signing_keys())
    if found is not None:
        return found
    with deps.store.transaction() as tx:
        tx.locks.hold(_LOCK)
        found = _signing(tx.oidc.signing_keys())
        if found is None:
            found = _new_key(deps, deps.clock.now())
            tx.oidc.add_key(found)
    return found


def private_jwk(deps: Deps, key: SigningKey) -> RSAKey:
    pem = deps.box.decrypt(key.private_sealed, aad=_aad(key.kid))
    return RSAKey.import_key(pem, parameters={"kid": key.kid, "use": "sig", "alg": key.alg})


def published(deps: Deps) -> dict[str, Any]:
    """The JWKS: the signing key and every retired key whose ID tokens may still be valid."""
    current(deps)
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        keys = tx.oidc.signing_keys()
    shown = [
        k for k in keys if k.retired_at is None or (k.publish_until is not None and k.publish_until > now)
    ]
    return {"keys": [dict(k.public_jwk) for k in shown]}


@dataclass(frozen=True)
class Rotation:
    new: SigningKey
    retired: list[SigningKey]


def rotate(deps: Deps, policy: OidcPolicy) -> Rotation:
    """A new signing key from now on; the old one published until its ID tokens expire."""
    now = deps.clock.now()
    until = now + timedelta(seconds=policy.id_token_seconds)
    fresh = _new_key(deps, now)
    retired = []
    with deps.store.transaction() as tx:
        tx.locks.hold(_LOCK)
        for key in tx.oidc.signing_keys():
            if key.retired_at is None and tx.oidc.retire_key(key.kid, at=now, publish_until=until):
                retired.append(replace(key, retired_at=now, publish_until=until))
        tx.oidc.add_key(fresh)
        tx.oidc.forget_keys(unpublished_before=now)
    return Rotation(new=fresh, retired=retired)
