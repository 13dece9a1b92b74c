"""One storage contract, run on SQLite and on PostgreSQL (when reachable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, null, select, update
from sqlalchemy.exc import IntegrityError

from sparekey.core.crypto import new_id
from sparekey.core.models import (
    Account,
    Authenticator,
    BackupCodeSet,
    CeremonyPurpose,
    Event,
    FlowKind,
    FlowState,
    KeyCeremony,
    KnownClient,
    LoginFlow,
    SecurityKey,
    Session,
    TrustedDevice,
)
from sparekey.store import tables
from sparekey.store.database import make_engine
from sparekey.store.sql import SqlStore
from sparekey.store.tables import totp_refused_steps

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> SqlStore:
    return SqlStore(make_engine(database_url))


def add_account(store: SqlStore, username: str = "alice") -> Account:
    account = Account(id=new_id(), username=username, password_hash="$argon2id$x", created_at=NOW)
    with store.transaction() as tx:
        tx.accounts.add(account)
    return account


def add_set(store: SqlStore, account: Account, number: int, count: int = 3) -> BackupCodeSet:
    code_set = BackupCodeSet(id=new_id(), account_id=account.id, set_number=number, created_at=NOW)
    with store.transaction() as tx:
        tx.backup_codes.end_current_set(account.id, at=NOW + timedelta(minutes=number))
        tx.backup_codes.add_set(code_set, [bytes([number, i]) * 16 for i in range(count)])
    return code_set


def race(count: int, attempt: Callable[[], bool]) -> list[bool]:
    """Run ``attempt`` in ``count`` threads released at once; their results, sorted."""
    results: list[bool] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        results.append(attempt())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def test_accounts_round_trip_with_aware_datetimes(store: SqlStore) -> None:
    account = add_account(store)
    with store.transaction() as tx:
        loaded = tx.accounts.by_username("alice")
        tx.accounts.set_two_factor(account.id, True)
        tx.accounts.set_backup_salt(account.id, b"s" * 16)
    assert loaded == account and loaded.created_at.tzinfo is not None
    with store.transaction() as tx:
        again = tx.accounts.get(account.id)
    assert again is not None and again.two_factor_enabled and again.backup_salt == b"s" * 16


def test_usernames_are_unique(store: SqlStore) -> None:
    add_account(store)
    with pytest.raises(IntegrityError):
        add_account(store)


def test_transaction_rolls_back_on_error(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.accounts.add(Account(id=new_id(), username="bob", password_hash="h", created_at=NOW))
        raise RuntimeError("boom")
    with store.transaction() as tx:
        assert tx.accounts.by_username("bob") is None


def test_claim_step_accepts_only_newer_steps(store: SqlStore) -> None:
    account = add_account(store)
    authenticator = Authenticator(
        id=new_id(), account_id=account.id, name="phone", secret_enc="k1:x", created_at=NOW
    )
    with store.transaction() as tx:
        tx.authenticators.add(authenticator)
        assert tx.authenticators.confirm(authenticator.id, at=NOW, step=100)
        assert not tx.authenticators.confirm(authenticator.id, at=NOW, step=100)
        assert not tx.authenticators.claim_step(
            authenticator.id, step=100, at=NOW, drift_steps=0, offset_steps=0
        )
        assert not tx.authenticators.claim_step(
            authenticator.id, step=99, at=NOW, drift_steps=0, offset_steps=0
        )
        assert tx.authenticators.claim_step(authenticator.id, step=101, at=NOW, drift_steps=1, offset_steps=1)
        loaded = tx.authenticators.get(account.id, authenticator.id)
    assert loaded is not None and (loaded.last_used_step, loaded.drift_steps, loaded.last_offset_steps) == (
        101,
        1,
        1,
    )


def test_claim_step_race_has_one_winner(store: SqlStore) -> None:
    account = add_account(store)
    authenticator = Authenticator(
        id=new_id(),
        account_id=account.id,
        name="phone",
        secret_enc="k1:x",
        created_at=NOW,
        confirmed_at=NOW,
        last_used_step=1,
    )
    with store.transaction() as tx:
        tx.authenticators.add(authenticator)

    def claim() -> bool:
        with store.transaction() as tx:
            return tx.authenticators.claim_step(
                authenticator.id, step=2, at=NOW, drift_steps=0, offset_steps=0
            )

    assert race(8, claim) == [False] * 7 + [True]


def test_one_current_backup_set_per_account_is_enforced(store: SqlStore) -> None:
    account = add_account(store)
    first = add_set(store, account, 1)
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.backup_codes.add_set(
            BackupCodeSet(id=new_id(), account_id=account.id, set_number=2, created_at=NOW), [b"x" * 32]
        )
    with store.transaction() as tx:
        current = tx.backup_codes.current_set(account.id)
    assert current is not None and current.id == first.id


def test_sets_replace_and_are_listed_newest_first(store: SqlStore) -> None:
    account = add_account(store)
    for number in range(1, 6):
        add_set(store, account, number)
    with store.transaction() as tx:
        current = tx.backup_codes.current_set(account.id)
        replaced = tx.backup_codes.recent_replaced_sets(account.id, limit=3)
        assert tx.backup_codes.next_set_number(account.id) == 6
    assert current is not None and current.set_number == 5
    assert [s.set_number for s in replaced] == [4, 3, 2]
    assert all(s.replaced_at is not None for s in replaced)


def test_consume_is_single_use_and_only_on_the_current_set(store: SqlStore) -> None:
    account = add_account(store)
    old = add_set(store, account, 1)
    new = add_set(store, account, 2)
    with store.transaction() as tx:
        assert not tx.backup_codes.consume(old.id, 1, at=NOW, ip=None, user_agent=None)
        assert tx.backup_codes.consume(new.id, 1, at=NOW, ip="192.0.2.1", user_agent="ua")
        assert not tx.backup_codes.consume(new.id, 1, at=NOW, ip=None, user_agent=None)
        assert tx.backup_codes.counts(new.id) == (3, 2) and tx.backup_codes.counts(old.id) == (3, 3)
        codes = tx.backup_codes.codes([new.id])
    assert [(c.position, c.used_at is not None, c.used_ip) for c in codes] == [
        (1, True, "192.0.2.1"),
        (2, False, None),
        (3, False, None),
    ]


def test_consume_race_has_one_winner(store: SqlStore) -> None:
    account = add_account(store)
    code_set = add_set(store, account, 1)

    def use() -> bool:
        with store.transaction() as tx:
            return tx.backup_codes.consume(code_set.id, 2, at=NOW, ip=None, user_agent=None)

    assert race(8, use) == [False] * 7 + [True]


def add_flow(store: SqlStore, account: Account, flow_id: str) -> LoginFlow:
    flow = LoginFlow(
        id=flow_id,
        account_id=account.id,
        state=FlowState.AWAITING_SECOND_FACTOR,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )
    with store.transaction() as tx:
        tx.flows.add(flow)
    return flow


def test_flows_reserve_attempts_then_fail(store: SqlStore) -> None:
    flow = add_flow(store, add_account(store), "f" * 32)
    with store.transaction() as tx:
        assert [tx.flows.reserve_attempt(flow.id, max_attempts=3) for _ in range(4)] == [True] * 3 + [False]
        tx.flows.fail_if_spent(flow.id, max_attempts=4)
        assert tx.flows.get(flow.id).state is FlowState.AWAITING_SECOND_FACTOR  # type: ignore[union-attr]
        tx.flows.fail_if_spent(flow.id, max_attempts=3)
        failed = tx.flows.get(flow.id)
        assert failed is not None and failed.state is FlowState.FAILED and failed.attempts == 3
        assert not tx.flows.complete(flow.id)


def test_flow_attempt_race_counts_each_once(store: SqlStore) -> None:
    flow = add_flow(store, add_account(store), "r" * 32)

    def attempt() -> bool:
        with store.transaction() as tx:
            return tx.flows.reserve_attempt(flow.id, max_attempts=5)

    assert race(12, attempt) == [False] * 7 + [True] * 5


def test_ending_an_accounts_flows(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    open_flow, done_flow, other = (
        add_flow(store, alice, "a" * 32),
        add_flow(store, alice, "b" * 32),
        add_flow(store, bob, "c" * 32),
    )
    with store.transaction() as tx:
        assert tx.flows.complete(done_flow.id)
        assert tx.flows.end_for_account(alice.id) == 1
        assert tx.flows.get(open_flow.id).state is FlowState.ENDED  # type: ignore[union-attr]
        assert tx.flows.get(done_flow.id).state is FlowState.COMPLETED  # type: ignore[union-attr]
        assert tx.flows.get(other.id).state is FlowState.AWAITING_SECOND_FACTOR  # type: ignore[union-attr]
        assert not tx.flows.reserve_attempt(open_flow.id, max_attempts=5)
        assert not tx.flows.complete(open_flow.id)


def test_flow_completes_once(store: SqlStore) -> None:
    account = add_account(store)
    with store.transaction() as tx:
        tx.flows.add(
            LoginFlow(
                id="g" * 32,
                account_id=account.id,
                state=FlowState.AWAITING_SECOND_FACTOR,
                created_at=NOW,
                expires_at=NOW + timedelta(minutes=10),
            )
        )
        assert tx.flows.complete("g" * 32)
        assert not tx.flows.complete("g" * 32)


def test_sessions(store: SqlStore) -> None:
    account = add_account(store)
    sessions = [
        Session(
            id=new_id(),
            account_id=account.id,
            token_hash=f"{i:064x}",
            created_at=NOW,
            last_seen_at=NOW + timedelta(minutes=i),
            expires_at=NOW + timedelta(days=1),
        )
        for i in range(3)
    ]
    with store.transaction() as tx:
        for session in sessions:
            tx.sessions.add(session)
        tx.sessions.set_token_hash(sessions[0].id, "a" * 64)
        assert tx.sessions.by_token_hash(f"{0:064x}") is None
        assert tx.sessions.by_token_hash("a" * 64) is not None
        assert [s.id for s in tx.sessions.for_account(account.id)] == [s.id for s in reversed(sessions)]
        tx.sessions.delete_for_account(account.id, except_id=sessions[1].id)
        assert [s.id for s in tx.sessions.for_account(account.id)] == [sessions[1].id]


def test_events_newest_first_with_json_data(store: SqlStore) -> None:
    account = add_account(store)
    with store.transaction() as tx:
        for i in range(3):
            tx.events.add(
                Event(
                    id=None,
                    account_id=account.id,
                    at=NOW + timedelta(seconds=i),
                    type=f"t{i}",
                    data={"n": i, "text": "日本語"},
                )
            )
        found = tx.events.for_account(account.id, limit=2)
    assert [(e.type, e.data) for e in found] == [
        ("t2", {"n": 2, "text": "日本語"}),
        ("t1", {"n": 1, "text": "日本語"}),
    ]


def test_throttle_counts_and_resets(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert tx.throttles.get("k") is None
        assert tx.throttles.count_attempt("k").failures == 1
        assert tx.throttles.count_attempt("k").failures == 2
        tx.throttles.set_lock("k", locked_until=NOW, lockouts=1)
        counted = tx.throttles.count_attempt("k")
        assert (counted.failures, counted.lockouts, counted.locked_until) == (3, 1, NOW)
        tx.throttles.reset("k")
        assert tx.throttles.get("k") is None


def test_throttle_attempts_see_every_earlier_one(store: SqlStore) -> None:
    """Each concurrent attempt sees a different count: none of them checks on a stale one."""
    seen: list[int] = []

    def attempt() -> bool:
        with store.transaction() as tx:
            seen.append(tx.throttles.count_attempt("shared").failures)
        return True

    race(8, attempt)
    assert sorted(seen) == list(range(1, 9))


def test_throttle_attempts_see_a_lock_set_by_an_earlier_one(store: SqlStore) -> None:
    """The attempt that reaches the limit locks the key in its own transaction; every attempt
    that comes after it, however close, sees the lock in what its own count returns."""
    locked: list[bool] = []

    def attempt() -> bool:
        with store.transaction() as tx:
            counted = tx.throttles.count_attempt("limit")
            if counted.locked_until is not None:
                locked.append(True)
                return False
            if counted.failures >= 3:
                tx.throttles.set_lock("limit", locked_until=NOW, lockouts=counted.lockouts + 1)
            return True

    assert race(10, attempt) == [False] * 7 + [True] * 3


def test_known_clients(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    clients = [
        KnownClient(
            id=f"{i:024x}", account_id=alice.id, created_at=NOW, last_used_at=NOW + timedelta(minutes=i)
        )
        for i in range(4)
    ]
    with store.transaction() as tx:
        for client in clients:
            tx.known_clients.add(client)
        ids = [c.id for c in clients]
        assert {c.id for c in tx.known_clients.find(alice.id, ids)} == set(ids)
        assert tx.known_clients.find(bob.id, ids) == []  # bound to the account
        tx.known_clients.touch(clients[0].id, NOW + timedelta(hours=1))
        tx.known_clients.keep_newest(alice.id, 2)
        assert {c.id for c in tx.known_clients.find(alice.id, ids)} == {clients[0].id, clients[3].id}


def test_a_refused_totp_step_is_never_claimed(store: SqlStore) -> None:
    account = add_account(store)
    authenticator = Authenticator(
        id=new_id(), account_id=account.id, name="phone", secret_enc="x", created_at=NOW, confirmed_at=NOW
    )
    with store.transaction() as tx:
        tx.authenticators.add(authenticator)
        tx.authenticators.refuse_step(authenticator.id, 105, at=NOW, keep_after=90)
        tx.authenticators.refuse_step(authenticator.id, 105, at=NOW, keep_after=90)  # idempotent
        tx.authenticators.refuse_step(authenticator.id, 95, at=NOW, keep_after=90)
        assert not tx.authenticators.claim_step(
            authenticator.id, step=105, at=NOW, drift_steps=0, offset_steps=0
        )
        assert tx.authenticators.claim_step(authenticator.id, step=104, at=NOW, drift_steps=0, offset_steps=0)
        # Steps at or before keep_after are forgotten when the next refusal is recorded.
        tx.authenticators.refuse_step(authenticator.id, 130, at=NOW, keep_after=100)
        rows = tx.conn.execute(select(totp_refused_steps.c.step)).scalars().all()  # type: ignore[attr-defined]
        assert sorted(rows) == [105, 130]


def test_username_skeletons_are_unique(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.accounts.add(
            Account(
                id=new_id(), username="alice", username_skeleton="alice", password_hash="h", created_at=NOW
            )
        )
        found = tx.accounts.by_skeleton("alice")
        assert found is not None and found.username == "alice"
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.accounts.add(
            Account(
                id=new_id(), username="аlice", username_skeleton="alice", password_hash="h", created_at=NOW
            )
        )


def test_the_migrations_build_the_declared_schema(database_url: str) -> None:
    """What Alembic built is exactly what ``store/tables.py`` declares, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sparekey.store.tables import metadata

    engine = make_engine(database_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert differences == []


# Security keys and passkeys ------------------------------------------------------------------


def security_key(account: Account, number: int, **fields: object) -> SecurityKey:
    values: dict[str, object] = {
        "id": new_id(),
        "account_id": account.id,
        "name": f"key {number}",
        # Bytes that no text encoding would keep: a NUL, 0xff, every byte value in the key.
        "credential_id": bytes([number, 0, 0xFF]) * 8,
        "public_key": b"\xa5\x01\x02\x03\x26" + bytes(range(256)),
        "created_at": NOW + timedelta(minutes=number),
    }
    values.update(fields)
    return SecurityKey(**values)  # type: ignore[arg-type]


def add_key(store: SqlStore, key: SecurityKey) -> SecurityKey:
    with store.transaction() as tx:
        tx.security_keys.add(key)
    return key


def test_security_keys_round_trip(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    passkey = add_key(
        store,
        security_key(
            alice,
            1,
            sign_count=2**32 - 1,  # the largest a 32-bit authenticator counter reaches
            passkey=True,
            backup_eligible=True,
            backed_up=True,
            transports=["hybrid", "internal", "usb"],
            aaguid="fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
            last_used_at=NOW + timedelta(hours=1),
        ),
    )
    plain = add_key(store, security_key(alice, 2))
    with store.transaction() as tx:
        loaded = tx.security_keys.get(alice.id, passkey.id)
        by_credential = tx.security_keys.by_credential_id(passkey.credential_id)
        loaded_plain = tx.security_keys.get(alice.id, plain.id)
        assert tx.security_keys.get(bob.id, passkey.id) is None  # bound to the account
        assert tx.security_keys.get(alice.id, new_id()) is None
        assert tx.security_keys.by_credential_id(b"\x00" * 24) is None
        assert tx.security_keys.for_account(bob.id) == []
    assert loaded == passkey and by_credential == passkey and loaded_plain == plain
    assert loaded is not None and loaded_plain is not None
    assert type(loaded.credential_id) is bytes and type(loaded.public_key) is bytes
    assert loaded.transports == ["hybrid", "internal", "usb"] and loaded_plain.transports == []
    assert loaded.created_at.tzinfo is not None and loaded.last_used_at is not None
    assert loaded.last_used_at.tzinfo is not None


def test_security_keys_are_listed_oldest_first(store: SqlStore) -> None:
    account = add_account(store)
    # Added out of order; two made in the same instant are ordered by id.
    later = add_key(store, security_key(account, 3))
    tied = sorted(
        [
            security_key(account, 1, id="b" * 32, credential_id=b"tied-b"),
            security_key(account, 1, id="a" * 32, credential_id=b"tied-a"),
        ],
        key=lambda k: k.id,
    )
    for key in reversed(tied):
        add_key(store, key)
    earliest = add_key(store, security_key(account, 0))
    with store.transaction() as tx:
        listed = tx.security_keys.for_account(account.id)
    assert [k.id for k in listed] == [earliest.id, tied[0].id, tied[1].id, later.id]
    assert listed[1] == tied[0]


def test_credential_ids_are_unique_across_accounts(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    key = add_key(store, security_key(alice, 1))
    with pytest.raises(IntegrityError):
        add_key(store, security_key(bob, 2, credential_id=key.credential_id))
    with store.transaction() as tx:
        assert tx.security_keys.for_account(bob.id) == []
        assert tx.security_keys.by_credential_id(key.credential_id) == key


def test_security_keys_rename_and_delete(store: SqlStore) -> None:
    account = add_account(store)
    first, second = add_key(store, security_key(account, 1)), add_key(store, security_key(account, 2))
    with store.transaction() as tx:
        tx.security_keys.rename(first.id, "YubiKey 5 — 日本語")
    with store.transaction() as tx:
        renamed = tx.security_keys.get(account.id, first.id)
        assert tx.security_keys.get(account.id, second.id) == second
    assert renamed is not None and renamed.name == "YubiKey 5 — 日本語"
    with store.transaction() as tx:
        tx.security_keys.delete(first.id)
        tx.security_keys.delete(first.id)  # already gone: nothing happens
    with store.transaction() as tx:
        assert tx.security_keys.get(account.id, first.id) is None
        assert tx.security_keys.by_credential_id(first.credential_id) is None
        assert tx.security_keys.for_account(account.id) == [second]


def test_record_use_accepts_only_a_growing_sign_count(store: SqlStore) -> None:
    account = add_account(store)
    key = add_key(store, security_key(account, 1, sign_count=5))
    later = NOW + timedelta(hours=1)
    with store.transaction() as tx:
        assert not tx.security_keys.record_use(key.id, sign_count=5, backed_up=True, at=later)
        assert not tx.security_keys.record_use(key.id, sign_count=4, backed_up=True, at=later)
        assert not tx.security_keys.record_use(key.id, sign_count=0, backed_up=True, at=later)
    with store.transaction() as tx:
        assert tx.security_keys.get(account.id, key.id) == key  # nothing changed
        assert tx.security_keys.record_use(key.id, sign_count=6, backed_up=True, at=later)
    with store.transaction() as tx:
        used = tx.security_keys.get(account.id, key.id)
        assert tx.security_keys.record_use(key.id, sign_count=2**32 - 1, backed_up=False, at=later)
        assert not tx.security_keys.record_use(key.id, sign_count=2**32 - 1, backed_up=False, at=later)
        top = tx.security_keys.get(account.id, key.id)
    assert used is not None and (used.sign_count, used.backed_up, used.last_used_at) == (6, True, later)
    assert top is not None and (top.sign_count, top.backed_up) == (2**32 - 1, False)


def test_record_use_accepts_zero_after_zero(store: SqlStore) -> None:
    """An authenticator without a counter always says 0: every use of it is recorded."""
    account = add_account(store)
    key = add_key(store, security_key(account, 1))
    first, second = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    with store.transaction() as tx:
        assert tx.security_keys.record_use(key.id, sign_count=0, backed_up=True, at=first)
        once = tx.security_keys.get(account.id, key.id)
        assert tx.security_keys.record_use(key.id, sign_count=0, backed_up=False, at=second)
        twice = tx.security_keys.get(account.id, key.id)
        # Once it has counted, 0 is a counter gone backwards.
        assert tx.security_keys.record_use(key.id, sign_count=1, backed_up=False, at=second)
        assert not tx.security_keys.record_use(key.id, sign_count=0, backed_up=False, at=second)
        assert not tx.security_keys.record_use(new_id(), sign_count=0, backed_up=False, at=second)
    assert once is not None and (once.sign_count, once.backed_up, once.last_used_at) == (0, True, first)
    assert twice is not None and (twice.backed_up, twice.last_used_at) == (False, second)


def test_record_use_race_has_one_winner(store: SqlStore) -> None:
    account = add_account(store)
    key = add_key(store, security_key(account, 1, sign_count=1))

    def use() -> bool:
        with store.transaction() as tx:
            return tx.security_keys.record_use(key.id, sign_count=2, backed_up=True, at=NOW)

    assert race(8, use) == [False] * 7 + [True]
    with store.transaction() as tx:
        stored = tx.security_keys.get(account.id, key.id)
    assert stored is not None and stored.sign_count == 2


# Key ceremonies ------------------------------------------------------------------------------


def add_session(store: SqlStore, account: Account, number: int = 0, **fields: object) -> Session:
    values: dict[str, object] = {
        "id": new_id(),
        "account_id": account.id,
        "token_hash": f"{number:064x}",
        "created_at": NOW,
        "last_seen_at": NOW,
        "expires_at": NOW + timedelta(days=1),
    }
    values.update(fields)
    session = Session(**values)  # type: ignore[arg-type]
    with store.transaction() as tx:
        tx.sessions.add(session)
    return session


def ceremony(session: Session, purpose: CeremonyPurpose, **fields: object) -> KeyCeremony:
    values: dict[str, object] = {
        "id": new_id() + new_id(),
        "account_id": session.account_id,
        "session_id": session.id,
        "purpose": purpose,
        "challenge": bytes(range(256))[::-8] + b"\x00\xff" * 16,
        "created_at": NOW,
        "expires_at": NOW + timedelta(minutes=5),
    }
    values.update(fields)
    return KeyCeremony(**values)  # type: ignore[arg-type]


def test_key_ceremonies_round_trip_and_are_spent_once(store: SqlStore) -> None:
    session = add_session(store, add_account(store))
    register = ceremony(session, CeremonyPurpose.REGISTER, name="YubiKey", passkey=True)
    sudo = ceremony(session, CeremonyPurpose.SUDO)
    spent_at = NOW + timedelta(minutes=1)
    with store.transaction() as tx:
        tx.key_ceremonies.add(register)
        tx.key_ceremonies.add(sudo)
    with store.transaction() as tx:
        loaded, loaded_sudo = tx.key_ceremonies.get(register.id), tx.key_ceremonies.get(sudo.id)
        assert tx.key_ceremonies.get(new_id()) is None
        assert tx.key_ceremonies.spend(register.id, spent_at)
        assert not tx.key_ceremonies.spend(register.id, spent_at + timedelta(seconds=1))
        assert not tx.key_ceremonies.spend(new_id(), spent_at)
        spent, untouched = tx.key_ceremonies.get(register.id), tx.key_ceremonies.get(sudo.id)
    assert loaded == register and loaded_sudo == sudo
    assert loaded is not None and loaded_sudo is not None
    assert loaded.purpose is CeremonyPurpose.REGISTER and loaded_sudo.purpose is CeremonyPurpose.SUDO
    assert type(loaded.challenge) is bytes and (loaded_sudo.name, loaded_sudo.passkey) == (None, False)
    assert spent is not None and spent.used_at == spent_at
    assert untouched == sudo


def test_key_ceremony_spend_race_has_one_winner(store: SqlStore) -> None:
    session = add_session(store, add_account(store))
    sudo = ceremony(session, CeremonyPurpose.SUDO)
    with store.transaction() as tx:
        tx.key_ceremonies.add(sudo)

    def spend() -> bool:
        with store.transaction() as tx:
            return tx.key_ceremonies.spend(sudo.id, NOW)

    assert race(8, spend) == [False] * 7 + [True]


# Trusted devices -----------------------------------------------------------------------------


def trusted_device(account: Account, token: str, minutes: int = 0) -> TrustedDevice:
    return TrustedDevice(
        id=new_id(),
        account_id=account.id,
        token_hash=token * 64,
        name=f"Firefox {token}",
        created_at=NOW,
        last_used_at=NOW + timedelta(minutes=minutes),
        expires_at=NOW + timedelta(days=30),
        user_agent="Mozilla/5.0",
        ip="2001:db8::1",
    )


def add_devices(store: SqlStore, *devices: TrustedDevice) -> None:
    with store.transaction() as tx:
        for device in devices:
            tx.trusted_devices.add(device)


def test_trusted_devices_are_found_by_token_hash_for_their_account(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    first, second, bobs = (
        trusted_device(alice, "a", 1),
        trusted_device(alice, "b", 2),
        trusted_device(bob, "c", 3),
    )
    add_devices(store, first, second, bobs)
    every_hash = [first.token_hash, second.token_hash, bobs.token_hash, "f" * 64]
    with store.transaction() as tx:
        found = tx.trusted_devices.by_token_hashes(alice.id, every_hash)
        assert tx.trusted_devices.by_token_hashes(bob.id, [first.token_hash]) == []
        assert tx.trusted_devices.by_token_hashes(bob.id, every_hash) == [bobs]
        assert tx.trusted_devices.by_token_hashes(alice.id, []) == []
        assert tx.trusted_devices.get(alice.id, first.id) == first
        assert tx.trusted_devices.get(bob.id, first.id) is None
        assert tx.trusted_devices.for_account(alice.id) == [second, first]  # most recently used first
    assert sorted(found, key=lambda d: d.name) == [first, second]
    assert all(d.last_used_at.tzinfo is not None for d in found)


def test_trusted_device_token_hashes_are_unique(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    add_devices(store, trusted_device(alice, "a"))
    with pytest.raises(IntegrityError):
        add_devices(store, trusted_device(bob, "a"))


def test_trusted_devices_touch_and_rename(store: SqlStore) -> None:
    account = add_account(store)
    first, second = trusted_device(account, "a", 1), trusted_device(account, "b", 2)
    add_devices(store, first, second)
    used = NOW + timedelta(days=1)
    with store.transaction() as tx:
        tx.trusted_devices.touch(first.id, used)
        tx.trusted_devices.rename(second.id, "Work laptop — 日本語")
    with store.transaction() as tx:
        touched, renamed = (
            tx.trusted_devices.get(account.id, first.id),
            tx.trusted_devices.get(account.id, second.id),
        )
        assert [d.id for d in tx.trusted_devices.for_account(account.id)] == [first.id, second.id]
    assert touched is not None and touched.last_used_at == used and touched.name == first.name
    assert renamed is not None and renamed.name == "Work laptop — 日本語"
    assert renamed.last_used_at == second.last_used_at


def test_trusted_device_delete(store: SqlStore) -> None:
    account = add_account(store)
    first, second = trusted_device(account, "a"), trusted_device(account, "b")
    add_devices(store, first, second)
    with store.transaction() as tx:
        assert tx.trusted_devices.delete(first.id)
        assert not tx.trusted_devices.delete(first.id)
        assert not tx.trusted_devices.delete(new_id())
    with store.transaction() as tx:
        assert tx.trusted_devices.get(account.id, first.id) is None
        assert tx.trusted_devices.by_token_hashes(account.id, [first.token_hash]) == []
        assert tx.trusted_devices.for_account(account.id) == [second]


def test_trusted_devices_delete_for_account_returns_them_and_keeps_others(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    alices = [trusted_device(alice, "a", 1), trusted_device(alice, "b", 2)]
    bobs = trusted_device(bob, "c")
    add_devices(store, *alices, bobs)
    with store.transaction() as tx:
        deleted = tx.trusted_devices.delete_for_account(alice.id)
        assert tx.trusted_devices.delete_for_account(alice.id) == []
    assert sorted(deleted, key=lambda d: d.name) == alices  # whole records, aware datetimes
    with store.transaction() as tx:
        assert tx.trusted_devices.for_account(alice.id) == []
        assert tx.trusted_devices.for_account(bob.id) == [bobs]


# Passkey flows, flow context and WebAuthn challenges ----------------------------------------


def passkey_flow(flow_id: str, **fields: object) -> LoginFlow:
    values: dict[str, object] = {
        "id": flow_id,
        "account_id": None,
        "kind": FlowKind.PASSKEY,
        "state": FlowState.AWAITING_SECOND_FACTOR,
        "created_at": NOW,
        "expires_at": NOW + timedelta(minutes=5),
    }
    values.update(fields)
    return LoginFlow(**values)  # type: ignore[arg-type]


def test_a_passkey_flow_without_an_account_round_trips(store: SqlStore) -> None:
    account = add_account(store)
    flow = passkey_flow(
        "p" * 32,
        ip="192.0.2.1",
        user_agent="ua",
        webauthn_challenge="A" * 43,
        context={"sent": {"channel": "email", "n": 1}, "text": "日本語", "list": [1, None, True]},
    )
    with store.transaction() as tx:
        tx.flows.add(flow)
    second_factor = add_flow(store, account, "s" * 32)
    with store.transaction() as tx:
        loaded, loaded_second = tx.flows.get(flow.id), tx.flows.get(second_factor.id)
    assert loaded == flow and loaded is not None
    assert loaded.account_id is None and loaded.kind is FlowKind.PASSKEY
    assert loaded_second == second_factor and loaded_second is not None
    assert loaded_second.kind is FlowKind.SECOND_FACTOR and loaded_second.context == {}


def test_a_flow_row_from_before_passkeys_reads_with_defaults(store: SqlStore) -> None:
    """A row written without the new columns (as before migration 0004) reads as a second-factor
    flow with an empty context and no challenge."""
    account = add_account(store)
    with store.transaction() as tx:
        tx.conn.execute(  # type: ignore[attr-defined]
            insert(tables.login_flows).values(
                id="o" * 32,
                account_id=account.id,
                state=FlowState.AWAITING_SECOND_FACTOR.value,
                created_at=NOW,
                expires_at=NOW + timedelta(minutes=10),
                attempts=0,
            )
        )
    with store.transaction() as tx:
        old = tx.flows.get("o" * 32)
    assert old is not None and old.kind is FlowKind.SECOND_FACTOR
    assert (old.context, old.webauthn_challenge) == ({}, None)


def test_bind_account_binds_a_passkey_flow_once(store: SqlStore) -> None:
    alice, bob = add_account(store), add_account(store, "bob")
    flow = passkey_flow("p" * 32)
    second_factor = add_flow(store, alice, "s" * 32)
    with store.transaction() as tx:
        tx.flows.add(flow)
    with store.transaction() as tx:
        tx.flows.bind_account(flow.id, alice.id)
    with store.transaction() as tx:
        tx.flows.bind_account(flow.id, bob.id)  # already bound: nothing happens
        tx.flows.bind_account(second_factor.id, bob.id)
        bound, other = tx.flows.get(flow.id), tx.flows.get(second_factor.id)
    assert bound is not None and bound.account_id == alice.id and bound.kind is FlowKind.PASSKEY
    assert other is not None and other.account_id == alice.id


def test_flow_context_round_trips(store: SqlStore) -> None:
    flow = add_flow(store, add_account(store), "f" * 32)
    context = {"contact_id": "c" * 32, "nested": {"text": "日本語", "n": [1, 2.5, None, False]}}
    with store.transaction() as tx:
        tx.flows.set_context(flow.id, context)
    with store.transaction() as tx:
        stored = tx.flows.get(flow.id)
        tx.flows.set_context(flow.id, {})
        emptied = tx.flows.get(flow.id)
    assert stored is not None and stored.context == context
    assert emptied is not None and emptied.context == {}
    for nothing in (None, null()):  # JSON null and SQL NULL
        with store.transaction() as tx:
            tx.conn.execute(  # type: ignore[attr-defined]
                update(tables.login_flows).where(tables.login_flows.c.id == flow.id).values(context=nothing)
            )
            read = tx.flows.get(flow.id)
        assert read is not None and read.context == {}


def test_take_challenge_spends_the_right_challenge_once(store: SqlStore) -> None:
    flow = passkey_flow("p" * 32)
    with store.transaction() as tx:
        tx.flows.add(flow)
        assert not tx.flows.take_challenge(flow.id, "A" * 43)  # none was set
        tx.flows.set_challenge(flow.id, "A" * 43)
    with store.transaction() as tx:
        assert not tx.flows.take_challenge(flow.id, "B" * 43)
        assert not tx.flows.take_challenge(flow.id, "a" * 43)  # compared exactly
        assert not tx.flows.take_challenge("q" * 32, "A" * 43)
        assert tx.flows.take_challenge(flow.id, "A" * 43)
        assert not tx.flows.take_challenge(flow.id, "A" * 43)
        spent = tx.flows.get(flow.id)
        tx.flows.set_challenge(flow.id, "C" * 43)  # a new challenge replaces the spent one
        assert not tx.flows.take_challenge(flow.id, "A" * 43)
        tx.flows.set_challenge(flow.id, "D" * 43)  # ... and an unspent one
        assert not tx.flows.take_challenge(flow.id, "C" * 43)
        assert tx.flows.take_challenge(flow.id, "D" * 43)
    assert spent is not None and spent.webauthn_challenge is None


def test_take_challenge_race_has_one_winner(store: SqlStore) -> None:
    flow = passkey_flow("p" * 32, webauthn_challenge="A" * 43)
    with store.transaction() as tx:
        tx.flows.add(flow)

    def take() -> bool:
        with store.transaction() as tx:
            return tx.flows.take_challenge(flow.id, "A" * 43)

    assert race(8, take) == [False] * 7 + [True]


# How sessions were made ----------------------------------------------------------------------


def test_sessions_keep_how_they_were_made(store: SqlStore) -> None:
    account = add_account(store)
    session = add_session(
        store,
        account,
        1,
        auth_methods="pwd hwk mfa",
        auth_level="phishing_resistant",
        auth_time=NOW + timedelta(minutes=5),
        trusted_device_id="d" * 32,
    )
    with store.transaction() as tx:
        by_hash = tx.sessions.by_token_hash(session.token_hash)
        by_id = tx.sessions.get(account.id, session.id)
        listed = tx.sessions.for_account(account.id)
    assert by_hash == session and by_id == session and listed == [session]
    assert by_hash is not None and by_hash.auth_time is not None and by_hash.auth_time.tzinfo is not None
    assert by_hash.context.auth_time == NOW + timedelta(minutes=5)


def test_sessions_made_without_a_context_read_back_defaults(store: SqlStore) -> None:
    account = add_account(store)
    session = add_session(store, account, 1)
    with store.transaction() as tx:
        # A row written without the new columns, as before migration 0004: the server's defaults.
        tx.conn.execute(  # type: ignore[attr-defined]
            insert(tables.sessions).values(
                id="o" * 32,
                account_id=account.id,
                token_hash="e" * 64,
                created_at=NOW,
                last_seen_at=NOW,
                expires_at=NOW + timedelta(days=1),
            )
        )
    with store.transaction() as tx:
        made = tx.sessions.get(account.id, session.id)
        old = tx.sessions.get(account.id, "o" * 32)
    for loaded in (made, old):
        assert loaded is not None
        assert (loaded.auth_methods, loaded.auth_level) == ("pwd", "one_factor")
        assert (loaded.auth_time, loaded.trusted_device_id) == (None, None)
        assert loaded.context.auth_time == NOW  # the session's creation stands in
