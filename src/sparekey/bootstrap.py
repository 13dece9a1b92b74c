"""Build the use cases' dependencies from settings: the one place where the parts are wired."""

from __future__ import annotations

from sparekey.core.clock import Clock, SystemClock
from sparekey.core.crypto import SecretBox
from sparekey.core.deps import Deps
from sparekey.settings import Settings
from sparekey.store.address_limiter import WindowAddressLimiter
from sparekey.store.database import make_engine
from sparekey.store.sql import SqlStore


def build_deps(settings: Settings, clock: Clock | None = None) -> Deps:
    policy = settings.policy()
    return Deps.build(
        store=SqlStore(make_engine(settings.database())),
        clock=clock or SystemClock(),
        policy=policy,
        box=SecretBox(settings.key_ring()),
        addresses=WindowAddressLimiter(
            limit=policy.ip_failure_limit,
            window_seconds=policy.ip_failure_window_seconds,
            redis_url=settings.redis_url,
        ),
    )
