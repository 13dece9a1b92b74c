"""One storage contract, run on SQLite and on PostgreSQL (when reachable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sparekey.core.crypto import new_id
from sparekey.core.models import (
    Account,
    Authenticator,
    BackupCodeSet,
    Event,
    FlowState,
    KnownClient,
    LoginFlow,
    Session,
)
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
