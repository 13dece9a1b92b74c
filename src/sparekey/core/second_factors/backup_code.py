"""Backup codes as a second factor: the last spare key. They never keep two-step
verification on by themselves: they come with the first real factor and end with the
last. Mechanics in ``core/factors/backup_codes.py``, the lifecycle of sets in
``core/flows/backup_codes.py``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sparekey.core.deps import Deps
from sparekey.core.flows import backup_codes
from sparekey.core.methods import Method, Notice
from sparekey.core.models import Account, Client, LoginFlow
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.base import CodeAttempt, Shape, TypedCode, Verified


class BackupCodes:
    kind = Method.BACKUP_CODE
    shapes = frozenset({Shape.BACKUP_CODE})

    def method_entry(
        self, tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
    ) -> dict[str, Any] | None:
        current = tx.backup_codes.current_set(account.id)
        if current is None:
            return None
        _total, remaining = tx.backup_codes.counts(current.id)
        return {"type": self.kind.value, "remaining": remaining, "set_number": current.set_number}

    def prepare(self, deps: Deps, account: Account, code: TypedCode) -> TypedCode:
        return replace(code, derived=backup_codes.derive(deps, account, code.value))

    def verify(
        self, tx: Transaction, deps: Deps, account: Account, code: TypedCode, attempt: CodeAttempt
    ) -> Verified:
        consumed = backup_codes.consume(
            tx, deps, account, code.value, code.derived, attempt.client, purpose=attempt.purpose
        )
        notices: list[dict[str, Any]] = [
            {"code": Notice.BACKUP_CODE_USED.value, "remaining": consumed.remaining}
        ]
        if consumed.remaining <= deps.policy.backup_codes_low_at:
            notices.append({"code": Notice.BACKUP_CODES_LOW.value, "remaining": consumed.remaining})
        return Verified(method=self.kind, notices=notices)

    def credentials(self, tx: Transaction, account_id: str) -> set[str]:
        return set()

    def remove_all(self, tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
        tx.backup_codes.end_current_set(account.id, at=deps.clock.now())
