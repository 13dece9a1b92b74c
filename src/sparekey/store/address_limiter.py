"""Failures per client address in a moving window, shared by every process of an
installation: in Redis when one is configured, else in the database. (Kept in each
process's memory, N server processes would allow N times the limit.)"""

from __future__ import annotations

import math
import time
from datetime import timedelta

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from sparekey.core.clock import Clock
from sparekey.core.ports import Transaction


class RedisAddressLimiter:
    def __init__(self, *, limit: int, window_seconds: int, redis_url: str) -> None:
        self.storage = RedisStorage(redis_url)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._item = RateLimitItemPerSecond(limit, window_seconds, namespace="sparekey-address")

    def hit(self, tx: Transaction, ip: str) -> None:
        self._limiter.hit(self._item, ip)

    def retry_after(self, tx: Transaction, ip: str) -> int:
        if self._limiter.test(self._item, ip):
            return 0
        reset_at, _remaining = self._limiter.get_window_stats(self._item, ip)
        return max(1, math.ceil(reset_at - time.time()))

    def ping(self) -> bool:
        return bool(self.storage.check())


class DatabaseAddressLimiter:
    """One row per failure, in the caller's transaction. ``retry_after`` reads the
    ``limit``-th newest failure of the address inside the window (one indexed query on
    every attempt); ``hit`` adds a row and forgets the rows that left the window, so the
    table holds about one window of failures."""

    def __init__(self, clock: Clock, *, limit: int, window_seconds: int) -> None:
        self._clock = clock
        self._limit = limit
        self._window = timedelta(seconds=window_seconds)

    def hit(self, tx: Transaction, ip: str) -> None:
        now = self._clock.now()
        tx.address_failures.add(ip, now)
        tx.address_failures.forget(now - self._window)

    def retry_after(self, tx: Transaction, ip: str) -> int:
        now = self._clock.now()
        counted_from = tx.address_failures.nth_newest_since(ip, now - self._window, self._limit)
        if counted_from is None:
            return 0  # fewer than ``limit`` failures in the window
        return max(1, math.ceil((counted_from + self._window - now).total_seconds()))
