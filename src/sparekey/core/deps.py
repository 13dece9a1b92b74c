"""What every use case is handed: storage, time, policy and the hashers. No request, no globals."""

from __future__ import annotations

from dataclasses import dataclass

from sparekey.core.clock import Clock
from sparekey.core.crypto import SecretBox
from sparekey.core.factors.backup_codes import CodeHasher
from sparekey.core.factors.password import PasswordHasher
from sparekey.core.policy import Policy
from sparekey.core.ports import AddressLimiter, Store


@dataclass
class Deps:
    store: Store
    clock: Clock
    policy: Policy
    box: SecretBox
    passwords: PasswordHasher
    code_hasher: CodeHasher
    addresses: AddressLimiter

    @classmethod
    def build(
        cls, *, store: Store, clock: Clock, policy: Policy, box: SecretBox, addresses: AddressLimiter
    ) -> Deps:
        a = policy.argon2
        return cls(
            store=store,
            clock=clock,
            policy=policy,
            box=box,
            passwords=PasswordHasher(a),
            code_hasher=CodeHasher(
                time_cost=a.time_cost, memory_cost=a.memory_cost, parallelism=a.parallelism
            ),
            addresses=addresses,
        )
