"""What every use case is handed: storage, time, policy, hashers, delivery. No request, no globals.

``bootstrap.build_deps`` is the one place that builds it, for the server, the CLI, the
tests and the benchmarks alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparekey.core.clock import Clock
from sparekey.core.crypto import SecretBox
from sparekey.core.delivery import Composer, Senders
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
    composer: Composer
    senders: Senders
