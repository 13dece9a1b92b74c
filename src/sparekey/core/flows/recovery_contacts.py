"""Recovery contacts (to be written)."""

from __future__ import annotations

from sparekey.core.deps import Deps
from sparekey.core.models import Account, RecoveryRequest
from sparekey.core.ports import Transaction


def ask_all(tx: Transaction, deps: Deps, request: RecoveryRequest, account: Account) -> list[str | None]:
    """Ask every accepted contact of ``account`` about ``request`` (called by
    ``recovery.dispatch`` inside its transaction); the ids of the messages to deliver."""
    return []
