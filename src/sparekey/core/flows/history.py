"""The account's security history, newest first."""

from __future__ import annotations

from sparekey.core.deps import Deps
from sparekey.core.models import Event


def recent_events(deps: Deps, account_id: str, *, limit: int = 100) -> list[Event]:
    with deps.store.transaction() as tx:
        return tx.events.for_account(account_id, limit=limit)
