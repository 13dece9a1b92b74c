"""What the OpenID Connect provider needs from storage (``Transaction.oidc``); the store
implements it in ``store/sql_oidc.py``, tested on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sparekey.oidc.records import AuthorizationCode, Client, Consent, Grant, SigningKey


class OidcRecords(Protocol):
    # Clients ---------------------------------------------------------------------------
    def add_client(self, client: Client) -> None: ...
    def get_client(self, client_id: str) -> Client | None: ...
    def clients(self) -> list[Client]:
        """Every client, oldest first."""
        ...

    def remove_client(self, client_id: str) -> bool:
        """Remove a client with its codes, grants and consents; False if there was none."""
        ...

    # Codes -----------------------------------------------------------------------------
    def add_code(self, code: AuthorizationCode) -> None: ...
    def claim_code(self, code_hash: str, client_id: str, *, at: datetime) -> AuthorizationCode | None:
        """Spend the client's unexpired, unused code (``UPDATE ... WHERE used_at IS NULL``):
        the code for the one call that spent it, else None."""
        ...

    def code_by_hash(self, code_hash: str) -> AuthorizationCode | None: ...
    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """Whether a code of this client already carries ``nonce``."""
        ...

    def forget_codes(self, *, expired_before: datetime) -> int: ...

    # Grants (access and refresh tokens) ---------------------------------------------------
    def add_grant(self, grant: Grant) -> None: ...
    def grant_by_access(self, access_hash: str) -> Grant | None: ...
    def grant_by_refresh(self, refresh_hash: str) -> Grant | None: ...
    def claim_refresh(self, grant_id: str, *, at: datetime) -> bool:
        """Spend a grant's refresh token if it is neither spent nor revoked: True for the one
        call that spent it."""
        ...

    def revoke_family(self, family_id: str, *, at: datetime) -> int:
        """Revoke every grant of the family; how many were still unrevoked."""
        ...

    def revoke_for_account(self, account_id: str, *, at: datetime) -> int:
        """Revoke every grant of the account (its credentials changed); how many were live."""
        ...

    def forget_grants(self, *, expired_before: datetime) -> int:
        """Delete grants whose access and refresh tokens both expired before the time."""
        ...

    # Consents --------------------------------------------------------------------------
    def consent(self, account_id: str, client_id: str) -> Consent | None: ...
    def remember_consent(
        self, account_id: str, client_id: str, scopes: Iterable[str], *, at: datetime
    ) -> None:
        """Record (or widen to) ``scopes`` for the account and the client."""
        ...

    # Signing keys ----------------------------------------------------------------------
    def add_key(self, key: SigningKey) -> None: ...
    def signing_keys(self) -> list[SigningKey]:
        """Every key, newest first."""
        ...

    def retire_key(self, kid: str, *, at: datetime, publish_until: datetime) -> bool:
        """Stop signing with the key (still published until ``publish_until``); False if it
        was retired already."""
        ...

    def forget_keys(self, *, unpublished_before: datetime) -> int: ...
