"""What the OpenID Connect provider keeps: clients, codes, token grants, consents, signing keys.

Plain records, as the store reads and writes them (``store/sql_oidc.py``). Every secret the
provider hands out (a client secret, a code, an access or refresh token) is kept only as its
SHA-256 digest: each has 256 random bits, so a digest is enough and a stolen database yields
nothing usable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Client:
    """A relying party, registered with ``sparekey client add``. A public client (a native or
    in-browser app) has no secret and must use PKCE; a confidential one authenticates with
    its secret at the token endpoint."""

    id: str
    name: str
    redirect_uris: tuple[str, ...]
    created_at: datetime
    secret_hash: str | None = None

    @property
    def public(self) -> bool:
        return self.secret_hash is None


@dataclass(frozen=True)
class AuthorizationCode:
    """A code handed to the relying party's redirect URI, with what its ID token will say
    about the sign-in (read from the browser's session when the code was made). Spent by its
    first redemption, whatever the outcome."""

    id: str
    code_hash: str
    client_id: str
    account_id: str
    redirect_uri: str
    scope: str
    auth_time: datetime
    amr: str  # space-separated RFC 8176 values
    acr: str
    created_at: datetime
    expires_at: datetime
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    used_at: datetime | None = None


@dataclass(frozen=True)
class Grant:
    """One access token and, with ``offline_access``, its refresh token. Every grant that a
    refresh descends from the same code shares the code's ``family_id``: a refresh token used
    twice, or the code redeemed twice, revokes the whole family."""

    id: str
    family_id: str
    client_id: str
    account_id: str
    scope: str
    access_hash: str
    issued_at: datetime
    access_expires_at: datetime
    auth_time: datetime
    amr: str
    acr: str
    refresh_hash: str | None = None
    refresh_expires_at: datetime | None = None
    refreshed_at: datetime | None = None  # its refresh token was spent
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Consent:
    """The scopes an account allowed a client; asked again only for more."""

    account_id: str
    client_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    granted_at: datetime | None = None


@dataclass(frozen=True)
class SigningKey:
    """A key that signs ID tokens. The newest unretired one signs; a retired one stays in the
    JWKS until ``publish_until``, when the last ID token it signed has expired."""

    kid: str
    alg: str
    private_sealed: str  # the private key (PEM), sealed with the secret box, the kid as associated data
    public_jwk: dict[str, str]
    created_at: datetime
    retired_at: datetime | None = None
    publish_until: datetime | None = None
