"""Turning two-factor authentication off, and what the account looks like."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparekey.core import second_factors
from sparekey.core.deps import Deps
from sparekey.core.flows import backup_codes, lifecycle, readiness
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Account, Client


@dataclass(frozen=True)
class Overview:
    account: Account
    methods: list[dict[str, Any]]
    backup_codes: backup_codes.Status | None
    readiness: readiness.Readiness


def disable(deps: Deps, current: Current, client: Client) -> None:
    require_sudo(deps, current)
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(current.account.id)
        assert account is not None
        lifecycle.disable_two_factor(tx, deps, account, client)


def overview(deps: Deps, account_id: str) -> Overview:
    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
        return Overview(
            account=account,
            methods=second_factors.methods_of(tx, deps, account),
            backup_codes=backup_codes.status_in(tx, account_id),
            readiness=readiness.check(tx, deps, account),  # read in the same transaction
        )
