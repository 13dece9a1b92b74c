"""The provider's numbers and names, from the settings: one issuer, the lifetimes of what it
issues, the scopes it knows."""

from __future__ import annotations

from dataclasses import dataclass

from sparekey.settings import Settings

SCOPES = ("openid", "profile", "email", "offline_access")
SIGNING_ALG = "RS256"  # what every OpenID Connect relying party must be able to check


@dataclass(frozen=True)
class OidcPolicy:
    issuer: str  # SPAREKEY_PUBLIC_URL, without a trailing slash
    access_token_seconds: int = 600
    id_token_seconds: int = 600
    refresh_token_seconds: int = 30 * 86400
    code_seconds: int = 60  # a code is redeemed at once by the relying party's server
    sign_in_seconds: int = 600  # how long a "sign in again" request waits for the sign-in

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcPolicy:
        return cls(
            issuer=settings.public_url.rstrip("/"),
            access_token_seconds=settings.oidc_access_token_minutes * 60,
            id_token_seconds=settings.oidc_id_token_minutes * 60,
            refresh_token_seconds=settings.oidc_refresh_token_days * 86400,
            sign_in_seconds=settings.login_flow_minutes * 60,
        )

    def url(self, path: str) -> str:
        return f"{self.issuer}{path}"
