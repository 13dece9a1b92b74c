"""Build the use cases' dependencies from settings: the one place where the parts are wired.

The server, the CLI, the tests and the benchmarks all call ``build_deps``; tests may hand
in a frozen clock and senders of their own.
"""

from __future__ import annotations

from sparekey.core.clock import Clock, SystemClock
from sparekey.core.crypto import SecretBox
from sparekey.core.delivery import Senders
from sparekey.core.deps import Deps
from sparekey.core.factors.backup_codes import CodeHasher
from sparekey.core.factors.password import PasswordHasher
from sparekey.core.ports import AddressLimiter
from sparekey.delivery import build_senders
from sparekey.delivery.composer import TemplateComposer
from sparekey.settings import Settings
from sparekey.store.address_limiter import DatabaseAddressLimiter, RedisAddressLimiter
from sparekey.store.database import make_engine
from sparekey.store.sql import SqlStore


def build_deps(settings: Settings, clock: Clock | None = None, *, senders: Senders | None = None) -> Deps:
    policy = settings.policy()
    argon2 = policy.argon2
    engine = make_engine(settings.database())
    clock = clock or SystemClock()
    addresses: AddressLimiter = (
        RedisAddressLimiter(
            limit=policy.ip_failure_limit,
            window_seconds=policy.ip_failure_window_seconds,
            redis_url=settings.redis_url,
        )
        if settings.redis_url
        else DatabaseAddressLimiter(
            clock, limit=policy.ip_failure_limit, window_seconds=policy.ip_failure_window_seconds
        )
    )
    return Deps(
        store=SqlStore(engine),
        clock=clock,
        policy=policy,
        box=SecretBox(settings.key_ring()),
        passwords=PasswordHasher(argon2),
        code_hasher=CodeHasher(
            time_cost=argon2.time_cost, memory_cost=argon2.memory_cost, parallelism=argon2.parallelism
        ),
        addresses=addresses,
        composer=TemplateComposer(issuer=policy.issuer),
        senders=senders or build_senders(settings),
    )
