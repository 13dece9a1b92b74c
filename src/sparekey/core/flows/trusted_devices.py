"""Trusted devices (PRODUCT.md §6): "trust this device for 30 days" at the second step.

* Opt-in at a second step that succeeded: a random ``device_token`` (only its SHA-256 is
  stored) for the browser cookie or the API client, a readable name from the User-Agent
  that the owner can change, and an expiry (``trusted_device_seconds``).
* With the right password, a trusted device skips the second step (``recognise``). The token
  alone gets nothing: it is only looked at after the password was checked. An expired or
  revoked token is ignored and the second step is asked again.
* Revocable one by one; every device of the account is revoked when credentials change
  (``core/flows/lifecycle.py``: password, a factor removed, secure-my-account, recovery).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sparekey.core import events
from sparekey.core.crypto import new_id, new_token, plausible_id, token_hash
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound
from sparekey.core.events import EventType
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Account, Client, TrustedDevice
from sparekey.core.names import NAME_MAX, required_name
from sparekey.core.ports import Transaction
from sparekey.core.user_agents import readable

MAX_TOKENS = 5  # tokens looked at per sign-in (a browser keeps one per account it trusts)
MAX_TOKEN_LENGTH = 128
_TOUCH_EVERY = timedelta(hours=1)


def trust(
    tx: Transaction, deps: Deps, account: Account, client: Client, *, lang: str
) -> tuple[str, TrustedDevice]:
    """A new trusted device for the client that just finished a second step: its token."""
    token = new_token()
    now = deps.clock.now()
    device = TrustedDevice(
        id=new_id(),
        account_id=account.id,
        token_hash=token_hash(token),
        name=readable(client.user_agent, lang)[:NAME_MAX],
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=deps.policy.trusted_device_seconds),
        user_agent=client.user_agent,
        ip=client.ip,
    )
    tx.trusted_devices.add(device)
    events.record(
        tx, deps.clock, account.id, EventType.DEVICE_TRUSTED, client, device_id=device.id, name=device.name
    )
    return token, device


def recognise(tx: Transaction, deps: Deps, account: Account, tokens: Sequence[str]) -> TrustedDevice | None:
    """The account's live trusted device among ``tokens`` (after the right password only)."""
    hashes = [
        token_hash(t) for t in tokens[:MAX_TOKENS] if isinstance(t, str) and 0 < len(t) <= MAX_TOKEN_LENGTH
    ]
    now = deps.clock.now()
    for device in tx.trusted_devices.by_token_hashes(account.id, hashes):
        if device.expires_at > now:
            if now - device.last_used_at >= _TOUCH_EVERY:
                tx.trusted_devices.touch(device.id, now)
                device.last_used_at = now
            return device
    return None


def list_devices(deps: Deps, current: Current) -> list[tuple[TrustedDevice, bool]]:
    """The account's trusted devices that still work, and which one made this session."""
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        devices = tx.trusted_devices.for_account(current.account.id)
    return [(d, d.id == current.session.trusted_device_id) for d in devices if d.expires_at > now]


def rename(deps: Deps, current: Current, device_id: str, *, name: str, client: Client) -> TrustedDevice:
    new_name = required_name(name)
    with deps.store.transaction() as tx:
        device = tx.trusted_devices.get(current.account.id, device_id) if plausible_id(device_id) else None
        if device is None:
            raise NotFound()
        tx.trusted_devices.rename(device.id, new_name)
        events.record(
            tx,
            deps.clock,
            current.account.id,
            EventType.DEVICE_RENAMED,
            client,
            device_id=device.id,
            name=new_name,
            old_name=device.name,
        )
        device.name = new_name
        return device


def revoke(deps: Deps, current: Current, device_id: str, client: Client) -> None:
    with deps.store.transaction() as tx:
        device = tx.trusted_devices.get(current.account.id, device_id) if plausible_id(device_id) else None
        if device is None or not tx.trusted_devices.delete(device.id):
            raise NotFound()
        _revoked(tx, deps, device, client, reason="owner")


def revoke_all(tx: Transaction, deps: Deps, account_id: str, client: Client | None, *, reason: str) -> int:
    """Every trusted device of the account, each recorded; how many there were."""
    devices = tx.trusted_devices.delete_for_account(account_id)
    for device in devices:
        _revoked(tx, deps, device, client, reason=reason)
    return len(devices)


def _revoked(
    tx: Transaction, deps: Deps, device: TrustedDevice, client: Client | None, *, reason: str
) -> None:
    events.record(
        tx,
        deps.clock,
        device.account_id,
        EventType.DEVICE_REVOKED,
        client,
        device_id=device.id,
        name=device.name,
        reason=reason,
    )
