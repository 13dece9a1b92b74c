"""Failures per client address in a moving window, in memory or in Redis (shared by processes)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter


class WindowAddressLimiter:
    def __init__(self, *, limit: int, window_seconds: int, redis_url: str | None = None) -> None:
        self.storage: Storage = RedisStorage(redis_url) if redis_url else MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._item = RateLimitItemPerSecond(limit, window_seconds, namespace="sparekey-address")

    def hit(self, ip: str) -> None:
        self._limiter.hit(self._item, ip)

    def retry_after(self, ip: str) -> int:
        if self._limiter.test(self._item, ip):
            return 0
        reset_at, _remaining = self._limiter.get_window_stats(self._item, ip)
        return max(1, math.ceil(reset_at - time.time()))

    def ping(self) -> bool:
        return bool(self.storage.check())
