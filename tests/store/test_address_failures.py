"""The client-address limit kept in the database (no Redis), on SQLite and PostgreSQL: two
limiters over one database (two processes) count the same failures; the window moves; the
rows that left it are forgotten."""

from __future__ import annotations

from datetime import timedelta

from sparekey.core.clock import FrozenClock
from sparekey.store.address_limiter import DatabaseAddressLimiter
from sparekey.store.sql import SqlStore
from tests.store.test_repositories import NOW, store

__all__ = ["store"]  # the fixture, used by name
IP = "198.51.100.7"


def test_two_processes_count_the_same_failures_and_the_window_moves(store: SqlStore) -> None:
    clock = FrozenClock(NOW)
    first, second = (DatabaseAddressLimiter(clock, limit=5, window_seconds=900) for _ in range(2))
    for limiter in (first, first, first, second):
        with store.transaction() as tx:
            limiter.hit(tx, IP)
        clock.advance(60)
    with store.transaction() as tx:
        assert first.retry_after(tx, IP) == second.retry_after(tx, IP) == 0  # 4 of 5
        second.hit(tx, IP)
        # The oldest of the five, made 4 minutes ago, leaves the window in 11 minutes.
        assert first.retry_after(tx, IP) == second.retry_after(tx, IP) == 660
        assert first.retry_after(tx, "203.0.113.1") == 0  # another address is not limited
    clock.advance(660)
    with store.transaction() as tx:
        assert first.retry_after(tx, IP) == 0


def test_failures_that_left_the_window_are_forgotten(store: SqlStore) -> None:
    clock = FrozenClock(NOW)
    limiter = DatabaseAddressLimiter(clock, limit=5, window_seconds=900)
    with store.transaction() as tx:
        limiter.hit(tx, IP)
    clock.advance(901)
    with store.transaction() as tx:
        limiter.hit(tx, "203.0.113.1")  # any failure forgets what left the window
        assert tx.address_failures.nth_newest_since(IP, NOW - timedelta(days=1), 1) is None
        assert tx.address_failures.nth_newest_since("203.0.113.1", NOW, 1) == clock.now()
        assert tx.address_failures.nth_newest_since("203.0.113.1", NOW, 2) is None
