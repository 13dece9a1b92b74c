"""Repository of the OpenID Connect provider (``sparekey/oidc/ports.py``): clients, codes,
grants, consents and signing keys. What must happen once (spending a code, spending a
refresh token, retiring a key) is one conditional UPDATE whose row count decides."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from sparekey.oidc.records import AuthorizationCode, Client, Consent, Grant, SigningKey
from sparekey.store import tables as t
from sparekey.store.repo import _Repo, _row


def _client(data: dict[str, Any]) -> Client:
    return Client(**{**data, "redirect_uris": tuple(data["redirect_uris"])})


class SqlOidc(_Repo):
    # Clients ---------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        self.conn.execute(
            insert(t.oidc_clients).values(**{**vars(client), "redirect_uris": list(client.redirect_uris)})
        )

    def get_client(self, client_id: str) -> Client | None:
        row = self.conn.execute(select(t.oidc_clients).where(t.oidc_clients.c.id == client_id)).first()
        return _client(_row(row)) if row else None

    def clients(self) -> list[Client]:
        c = t.oidc_clients.c
        rows = self.conn.execute(select(t.oidc_clients).order_by(c.created_at, c.id))
        return [_client(_row(row)) for row in rows]

    def remove_client(self, client_id: str) -> bool:
        # Codes, grants and consents go with it (ON DELETE CASCADE; SQLite runs with foreign_keys=ON).
        return self.conn.execute(delete(t.oidc_clients).where(t.oidc_clients.c.id == client_id)).rowcount == 1

    # Codes -----------------------------------------------------------------------------

    def add_code(self, code: AuthorizationCode) -> None:
        self.conn.execute(insert(t.oidc_codes).values(**vars(code)))

    def claim_code(self, code_hash: str, client_id: str, *, at: datetime) -> AuthorizationCode | None:
        c = t.oidc_codes.c
        spent = self.conn.execute(
            update(t.oidc_codes)
            .where(c.code_hash == code_hash, c.client_id == client_id, c.used_at.is_(None), c.expires_at > at)
            .values(used_at=at)
        )
        return self.code_by_hash(code_hash) if spent.rowcount == 1 else None

    def code_by_hash(self, code_hash: str) -> AuthorizationCode | None:
        row = self.conn.execute(select(t.oidc_codes).where(t.oidc_codes.c.code_hash == code_hash)).first()
        return AuthorizationCode(**_row(row)) if row else None

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        c = t.oidc_codes.c
        found = self.conn.execute(select(c.id).where(c.client_id == client_id, c.nonce == nonce).limit(1))
        return found.first() is not None

    def forget_codes(self, *, expired_before: datetime) -> int:
        return int(
            self.conn.execute(delete(t.oidc_codes).where(t.oidc_codes.c.expires_at < expired_before)).rowcount
        )

    # Grants ----------------------------------------------------------------------------

    def add_grant(self, grant: Grant) -> None:
        self.conn.execute(insert(t.oidc_grants).values(**vars(grant)))

    def grant_by_access(self, access_hash: str) -> Grant | None:
        row = self.conn.execute(
            select(t.oidc_grants).where(t.oidc_grants.c.access_hash == access_hash)
        ).first()
        return Grant(**_row(row)) if row else None

    def grant_by_refresh(self, refresh_hash: str) -> Grant | None:
        row = self.conn.execute(
            select(t.oidc_grants).where(t.oidc_grants.c.refresh_hash == refresh_hash)
        ).first()
        return Grant(**_row(row)) if row else None

    def claim_refresh(self, grant_id: str, *, at: datetime) -> bool:
        c = t.oidc_grants.c
        spent = self.conn.execute(
            update(t.oidc_grants)
            .where(c.id == grant_id, c.refreshed_at.is_(None), c.revoked_at.is_(None))
            .values(refreshed_at=at)
        )
        return spent.rowcount == 1

    def revoke_family(self, family_id: str, *, at: datetime) -> int:
        c = t.oidc_grants.c
        revoked = self.conn.execute(
            update(t.oidc_grants)
            .where(c.family_id == family_id, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(revoked.rowcount)

    def revoke_for_account(self, account_id: str, *, at: datetime) -> int:
        c = t.oidc_grants.c
        revoked = self.conn.execute(
            update(t.oidc_grants)
            .where(c.account_id == account_id, c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(revoked.rowcount)

    def forget_grants(self, *, expired_before: datetime) -> int:
        c = t.oidc_grants.c
        gone = c.access_expires_at < expired_before
        refresh_gone = or_(c.refresh_expires_at.is_(None), c.refresh_expires_at < expired_before)
        return int(self.conn.execute(delete(t.oidc_grants).where(gone, refresh_gone)).rowcount)

    # Consents --------------------------------------------------------------------------

    def consent(self, account_id: str, client_id: str) -> Consent | None:
        c = t.oidc_consents.c
        row = self.conn.execute(
            select(t.oidc_consents).where(c.account_id == account_id, c.client_id == client_id)
        ).first()
        if row is None:
            return None
        data = _row(row)
        return Consent(
            account_id=data["account_id"],
            client_id=data["client_id"],
            scopes=frozenset(data["scopes"].split()),
            granted_at=data["granted_at"],
        )

    def remember_consent(
        self, account_id: str, client_id: str, scopes: Iterable[str], *, at: datetime
    ) -> None:
        known = self.consent(account_id, client_id)
        wanted = " ".join(sorted(set(scopes) | (known.scopes if known else frozenset())))
        values = {"account_id": account_id, "client_id": client_id, "scopes": wanted, "granted_at": at}
        if self._insert_new(t.oidc_consents, values):
            return
        c = t.oidc_consents.c
        self.conn.execute(
            update(t.oidc_consents)
            .where(c.account_id == account_id, c.client_id == client_id)
            .values(scopes=wanted, granted_at=at)
        )

    # Signing keys ----------------------------------------------------------------------

    def add_key(self, key: SigningKey) -> None:
        self.conn.execute(insert(t.oidc_signing_keys).values(**vars(key)))

    def signing_keys(self) -> list[SigningKey]:
        c = t.oidc_signing_keys.c
        rows = self.conn.execute(select(t.oidc_signing_keys).order_by(c.created_at.desc(), c.kid.desc()))
        return [SigningKey(**_row(row)) for row in rows]

    def retire_key(self, kid: str, *, at: datetime, publish_until: datetime) -> bool:
        c = t.oidc_signing_keys.c
        retired = self.conn.execute(
            update(t.oidc_signing_keys)
            .where(c.kid == kid, c.retired_at.is_(None))
            .values(retired_at=at, publish_until=publish_until)
        )
        return retired.rowcount == 1

    def forget_keys(self, *, unpublished_before: datetime) -> int:
        c = t.oidc_signing_keys.c
        gone = delete(t.oidc_signing_keys).where(
            c.publish_until.is_not(None), c.publish_until < unpublished_before
        )
        return int(self.conn.execute(gone).rowcount)
