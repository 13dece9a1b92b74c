"""Authenticator apps (TOTP) as a second factor. Mechanics in ``core/factors/totp.py``,
enrolment in ``core/flows/totp_enrolment.py``."""

from __future__ import annotations

from typing import Any

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import ClockDriftSuspected, CodeReplayed, InvalidCode
from sparekey.core.events import EventType
from sparekey.core.factors import totp
from sparekey.core.methods import Method
from sparekey.core.models import Account, Authenticator, Client, LoginFlow
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.base import CodeAttempt, Shape, TypedCode, Verified


def secret_of(deps: Deps, authenticator: Authenticator) -> str:
    return deps.box.decrypt(authenticator.secret_enc, aad=authenticator.id.encode()).decode()


class AuthenticatorApps:
    kind = Method.TOTP
    shapes = frozenset({Shape.SIX_DIGITS})

    def method_entry(
        self, tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
    ) -> dict[str, Any] | None:
        apps = tx.authenticators.for_account(account.id, confirmed_only=True)
        if not apps:
            return None
        return {"type": self.kind.value, "authenticators": [{"id": a.id, "name": a.name} for a in apps]}

    def prepare(self, deps: Deps, account: Account, code: TypedCode) -> TypedCode:
        return code  # nothing slow: checked in the transaction

    def verify(
        self, tx: Transaction, deps: Deps, account: Account, code: TypedCode, attempt: CodeAttempt
    ) -> Verified | None:
        apps = tx.authenticators.for_account(account.id, confirmed_only=True)
        if not apps:
            return None
        at = deps.clock.now()
        replayed = False
        drift: list[int] = []
        for authenticator in apps:
            outcome = totp.verify(
                secret=secret_of(deps, authenticator),
                code=code.value,
                at=at,
                last_used_step=authenticator.last_used_step,
                drift_steps=authenticator.drift_steps,
                last_offset_steps=authenticator.last_offset_steps,
            )
            if isinstance(outcome, totp.Accepted):
                if tx.authenticators.claim_step(
                    authenticator.id,
                    step=outcome.step,
                    at=at,
                    drift_steps=outcome.drift_steps,
                    offset_steps=outcome.offset_steps,
                ):
                    return Verified(method=self.kind)
                replayed = True  # another request took this time step a moment ago, or it was burned
            elif isinstance(outcome, totp.Replayed):
                replayed = True
            elif isinstance(outcome, totp.DriftSuspected):
                drift.append(outcome.offset_seconds)
                oldest_acceptable = totp.step_at(at) - totp.DRIFT_DIAGNOSIS_STEPS
                for step in outcome.steps:
                    tx.authenticators.refuse_step(authenticator.id, step, at=at, keep_after=oldest_acceptable)
        if replayed:
            events.record(tx, deps.clock, account.id, EventType.TOTP_REPLAY_REFUSED, attempt.client)
            raise CodeReplayed()
        if drift:
            raise ClockDriftSuspected(offset_seconds=min(drift, key=abs))
        raise InvalidCode()

    def credentials(self, tx: Transaction, account_id: str) -> set[str]:
        return {a.id for a in tx.authenticators.for_account(account_id, confirmed_only=True)}

    def remove_all(self, tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
        for authenticator in tx.authenticators.for_account(account.id):
            tx.authenticators.delete(authenticator.id)
            if authenticator.confirmed:
                events.record(
                    tx,
                    deps.clock,
                    account.id,
                    EventType.FACTOR_REMOVED,
                    client,
                    factor=self.kind.value,
                    name=authenticator.name,
                )
