"""Brute-force limits: consecutive failures per key (stored) and per client address.

Keys name what an attacker attacks, and who is attacking it:

* ``password:<username>`` counts sign-in passwords from clients the account does not know:
  strangers and unknown usernames behave alike.
* ``password:client:<id>`` counts them for one known client of the account (a browser or
  app that has signed in to it before, see ``flows/known_clients.py``). Strangers' failures
  never reach it, so nobody can lock the owner's own devices out; a known client that
  fails too often is limited itself.
* ``code:<account>`` and ``code:<account>:client:<id>`` do the same for second-factor codes
  (a new sign-in flow does not reset them).
* ``sudo:<session>``: re-authentication on one signed-in session.

A key is limited after ``account_failure_limit`` consecutive failures; each further failure
doubles the wait from ``backoff_initial_seconds`` up to ``backoff_max_seconds``. The wait
always ends, and a success clears the count.

Every attempt is counted **before** it is checked (``reserve``), in one atomic statement
that sees every earlier attempt on the key, so N parallel attempts make at most the limit's
number of checks: the attempt that reaches the limit sets the lock, and the ones behind it
find the lock and are refused unchecked (and uncounted). A success releases (clears) the
count; a failure keeps it.

The client-address limit (``deps.addresses``) is checked before and fed after each failure.
Known clients and signed-in sessions are exempt from it: failures of others who share an
address must not limit them either.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import RateLimited
from sparekey.core.events import EventType
from sparekey.core.models import Client
from sparekey.core.ports import Transaction

_LONGEST_NAME_IN_KEY = 100


def password_key(username: str, known_client_id: str | None = None) -> str:
    if known_client_id:
        return f"password:client:{known_client_id}"
    if len(username) > _LONGEST_NAME_IN_KEY:  # no account has such a name; keys fit their column
        username = "sha256:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()
    return f"password:{username}"


def code_key(account_id: str, known_client_id: str | None = None) -> str:
    return f"code:{account_id}:client:{known_client_id}" if known_client_id else f"code:{account_id}"


def sudo_key(session_id: str) -> str:
    return f"sudo:{session_id}"


@dataclass(frozen=True)
class Attempt:
    """One attempt, counted as a failure until ``succeeded`` releases it."""

    key: str
    account_id: str | None
    locked_for: int | None  # the back-off this attempt started by reaching the limit


def reserve(
    tx: Transaction,
    deps: Deps,
    key: str,
    client: Client,
    *,
    account_id: str | None = None,
    address_limited: bool = True,
) -> Attempt:
    """Count an attempt under ``key`` before checking it; ``RateLimited`` if it must wait.

    Raising leaves the caller's transaction to roll back, so a refused attempt is not counted.
    """
    if address_limited:
        check_address(tx, deps, client)
    throttle = tx.throttles.count_attempt(key)
    now = deps.clock.now()
    if throttle.locked_until is not None and throttle.locked_until > now:
        raise RateLimited(retry_after=max(1, math.ceil((throttle.locked_until - now).total_seconds())))
    locked_for = None
    policy = deps.policy
    if throttle.failures >= policy.account_failure_limit:
        lockouts = throttle.lockouts + 1
        locked_for = min(
            policy.backoff_initial_seconds * 2 ** min(lockouts - 1, 32), policy.backoff_max_seconds
        )
        tx.throttles.set_lock(key, locked_until=now + timedelta(seconds=locked_for), lockouts=lockouts)
    return Attempt(key=key, account_id=account_id, locked_for=locked_for)


def failed(tx: Transaction, deps: Deps, attempt: Attempt, client: Client) -> None:
    """The attempt's check failed: its count stands; the address is charged; a limit it
    reached is recorded in the account's history."""
    address_failed(tx, deps, client)
    if attempt.locked_for is not None and attempt.account_id is not None:
        events.record(
            tx, deps.clock, attempt.account_id, EventType.RATE_LIMITED, client, retry_after=attempt.locked_for
        )


def check_address(tx: Transaction, deps: Deps, client: Client) -> None:
    """Where no account is known yet (a passkey sign-in): only the client address's limit."""
    if client.ip:
        wait = deps.addresses.retry_after(tx, client.ip)
        if wait > 0:
            raise RateLimited(retry_after=wait)


def address_failed(tx: Transaction, deps: Deps, client: Client) -> None:
    if client.ip:
        deps.addresses.hit(tx, client.ip)


def succeeded(tx: Transaction, attempt: Attempt) -> None:
    """The attempt's check passed: the key's count of consecutive failures ends."""
    tx.throttles.reset(attempt.key)
