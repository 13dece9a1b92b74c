"""Brute-force limits: consecutive failures per account (stored) and per client address.

The account counters live in the store, keyed by what the attacker names: the username for
passwords (so unknown and known usernames behave alike) and the account for codes (so a new
sign-in flow does not reset them). A limit trips after ``account_failure_limit`` consecutive
failures; each further failure doubles the wait from ``backoff_initial_seconds`` up to
``backoff_max_seconds``. The wait always ends, so nobody can lock the owner out for good,
and a success clears the count.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import RateLimited
from sparekey.core.models import Client
from sparekey.core.ports import Transaction


def password_key(username: str) -> str:
    return f"password:{username}"


def code_key(account_id: str) -> str:
    return f"code:{account_id}"


def check(tx: Transaction, deps: Deps, key: str, client: Client) -> bool:
    """Raise ``RateLimited`` while the key or the client address must wait.

    Returns whether the key has failures on record (a success then has a count to clear).
    """
    waits = [deps.addresses.retry_after(client.ip) if client.ip else 0]
    throttle = tx.throttles.get(key)
    now = deps.clock.now()
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
        waits.append(math.ceil((throttle.locked_until - now).total_seconds()))
    wait = max(waits)
    if wait > 0:
        raise RateLimited(retry_after=max(1, wait))
    return throttle is not None


def record_failure(
    tx: Transaction, deps: Deps, key: str, client: Client, *, account_id: str | None = None
) -> None:
    if client.ip:
        deps.addresses.hit(client.ip)
    throttle = tx.throttles.record_failure(key)
    policy = deps.policy
    if throttle.failures < policy.account_failure_limit:
        return
    lockouts = throttle.lockouts + 1
    seconds = min(policy.backoff_initial_seconds * 2 ** min(lockouts - 1, 32), policy.backoff_max_seconds)
    tx.throttles.set_lock(key, locked_until=deps.clock.now() + timedelta(seconds=seconds), lockouts=lockouts)
    if account_id is not None:
        events.record(tx, deps.clock, account_id, events.RATE_LIMITED, client, retry_after=seconds)


def record_success(tx: Transaction, key: str, *, had_failures: bool = True) -> None:
    if had_failures:
        tx.throttles.reset(key)
