"""The provider's repository (``store/sql_oidc.py``) on SQLite and PostgreSQL: records round
trip with aware datetimes, and what must happen once happens once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sparekey.core.crypto import new_id
from sparekey.core.models import Account
from sparekey.oidc.records import AuthorizationCode, Client, Grant, SigningKey
from sparekey.store.database import make_engine
from sparekey.store.sql import SqlStore

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> SqlStore:
    store = SqlStore(make_engine(database_url))
    with store.transaction() as tx:
        tx.accounts.add(Account(id="a1", username="alice", password_hash="$argon2id$x", created_at=NOW))
        tx.oidc.add_client(
            Client("c1", "Wiki", ("https://w.example/cb", "https://w.example/cb2"), NOW, "h" * 64)
        )
        tx.oidc.add_client(Client("c2", "App", ("http://127.0.0.1:1/cb",), NOW + timedelta(seconds=1)))
    return store


def code(**fields: object) -> AuthorizationCode:
    values: dict[str, object] = {
        "id": new_id(), "code_hash": new_id(), "client_id": "c1", "account_id": "a1",
        "redirect_uri": "https://w.example/cb", "scope": "openid", "auth_time": NOW, "amr": "pwd otp mfa",
        "acr": "urn:sparekey:acr:two_factors", "created_at": NOW, "expires_at": NOW + timedelta(minutes=1),
        "nonce": "n-1", "code_challenge": "x" * 43, "code_challenge_method": "S256",
    }  # fmt: skip
    values.update(fields)
    return AuthorizationCode(**values)  # type: ignore[arg-type]


def grant(**fields: object) -> Grant:
    values: dict[str, object] = {
        "id": new_id(), "family_id": "f1", "client_id": "c1", "account_id": "a1",
        "scope": "openid offline_access", "access_hash": new_id(), "issued_at": NOW,
        "access_expires_at": NOW + timedelta(minutes=10),
        "auth_time": NOW, "amr": "pwd", "acr": "urn:sparekey:acr:one_factor", "refresh_hash": new_id(),
        "refresh_expires_at": NOW + timedelta(days=30),
    }  # fmt: skip
    values.update(fields)
    return Grant(**values)  # type: ignore[arg-type]


def test_clients_round_trip(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert [c.id for c in tx.oidc.clients()] == ["c1", "c2"]
        wiki = tx.oidc.get_client("c1")
        assert wiki == Client("c1", "Wiki", ("https://w.example/cb", "https://w.example/cb2"), NOW, "h" * 64)
        assert tx.oidc.get_client("c2").public  # type: ignore[union-attr]
        assert tx.oidc.get_client("nope") is None


def test_a_code_is_claimed_once_by_its_client_before_it_expires(store: SqlStore) -> None:
    made = code()
    late = code(expires_at=NOW)
    with store.transaction() as tx:
        tx.oidc.add_code(made)
        tx.oidc.add_code(late)
        assert tx.oidc.claim_code(made.code_hash, "c2", at=NOW) is None  # another client's
        claimed = tx.oidc.claim_code(made.code_hash, "c1", at=NOW)
        assert claimed is not None and claimed.used_at == NOW and claimed.auth_time.tzinfo is not None
        assert tx.oidc.claim_code(made.code_hash, "c1", at=NOW) is None
        assert tx.oidc.claim_code(late.code_hash, "c1", at=NOW) is None
        assert tx.oidc.nonce_used("c1", "n-1") and not tx.oidc.nonce_used("c2", "n-1")
        assert tx.oidc.forget_codes(expired_before=NOW + timedelta(minutes=2)) == 2


def test_a_refresh_is_claimed_once_and_a_family_revoked_together(store: SqlStore) -> None:
    first, second, other = grant(), grant(), grant(family_id="f2")
    with store.transaction() as tx:
        for g in (first, second, other):
            tx.oidc.add_grant(g)
        assert tx.oidc.grant_by_access(first.access_hash) == first
        assert tx.oidc.grant_by_refresh(second.refresh_hash or "") == second
        assert tx.oidc.claim_refresh(first.id, at=NOW) and not tx.oidc.claim_refresh(first.id, at=NOW)
        assert tx.oidc.revoke_family("f1", at=NOW) == 2 and tx.oidc.revoke_family("f1", at=NOW) == 0
        assert not tx.oidc.claim_refresh(second.id, at=NOW)  # revoked
        assert tx.oidc.grant_by_access(other.access_hash).revoked_at is None  # type: ignore[union-attr]
        assert tx.oidc.forget_grants(expired_before=NOW + timedelta(days=31)) == 3


def test_consent_widens(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert tx.oidc.consent("a1", "c1") is None
        tx.oidc.remember_consent("a1", "c1", ["openid", "profile"], at=NOW)
        tx.oidc.remember_consent("a1", "c1", ["email"], at=NOW)
        assert tx.oidc.consent("a1", "c1").scopes == {"openid", "profile", "email"}  # type: ignore[union-attr]


def test_removing_a_client_takes_its_records(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.oidc.add_code(code())
        tx.oidc.add_grant(g := grant())
        tx.oidc.remember_consent("a1", "c1", ["openid"], at=NOW)
    with store.transaction() as tx:
        assert tx.oidc.remove_client("c1") and not tx.oidc.remove_client("c1")
        assert tx.oidc.grant_by_access(g.access_hash) is None and tx.oidc.consent("a1", "c1") is None


def test_signing_keys_newest_first_retired_once(store: SqlStore) -> None:
    def key(kid: str, at: datetime) -> SigningKey:
        return SigningKey(kid, "RS256", "k1:sealed", {"kty": "RSA", "kid": kid}, at)

    with store.transaction() as tx:
        tx.oidc.add_key(key("old", NOW))
        tx.oidc.add_key(key("new", NOW + timedelta(hours=1)))
        assert [k.kid for k in tx.oidc.signing_keys()] == ["new", "old"]
        assert tx.oidc.signing_keys()[0].public_jwk == {"kty": "RSA", "kid": "new"}
        until = NOW + timedelta(minutes=10)
        assert tx.oidc.retire_key("old", at=NOW, publish_until=until)
        assert not tx.oidc.retire_key("old", at=NOW, publish_until=until)
        assert tx.oidc.forget_keys(unpublished_before=until) == 0
        assert tx.oidc.forget_keys(unpublished_before=until + timedelta(seconds=1)) == 1
        assert [k.kid for k in tx.oidc.signing_keys()] == ["new"]
