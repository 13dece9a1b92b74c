"""When credentials come and go, what else changes: the one place for these rules.

- The first confirmed factor turns 2FA on and issues the first backup-code set.
- Removing the last factor turns 2FA off and ends the set: an account never has backup
  codes without 2FA.
- Turning 2FA off removes every factor and ends the set.
- When credentials change (``credentials_changed``: the password changed, a factor was
  removed, 2FA turned off, secure-my-account, a completed recovery), every sign-in
  in progress ends (it was started under the old credentials) and every trusted device is
  revoked (it was trusted under them); the session that made the change may end the others.
  This is the one place for what follows a change of credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparekey.core import events, second_factors
from sparekey.core.deps import Deps
from sparekey.core.events import EventType
from sparekey.core.flows import trusted_devices
from sparekey.core.flows.backup_codes import IssuedSet, PreparedSet, issue_set
from sparekey.core.models import Account, Client
from sparekey.core.ports import Transaction


def two_factor_kept_on(tx: Transaction, account_id: str) -> bool:
    """Whether a factor that keeps two-step verification on is left (an app, a phone)."""
    return bool(second_factors.credentials(tx, account_id))


def factor_confirmed(
    tx: Transaction,
    deps: Deps,
    account: Account,
    client: Client,
    *,
    factor: str,
    name: str,
    prepared: PreparedSet | None,
) -> IssuedSet | None:
    """Record the new factor; the first one turns 2FA on and returns backup-code set #N, the
    set ``prepared`` before the transaction (``backup_codes.with_prepared_set``, expected
    while the account had 2FA off). ``account`` is read in ``tx`` with its row locked, so of
    two first factors confirmed at once, one issues the set and the other finds 2FA on.
    ``SetNotPrepared`` when a set is due and none fits."""
    events.record(tx, deps.clock, account.id, EventType.FACTOR_ADDED, client, factor=factor, name=name)
    tx.sessions.lift_restrictions(account.id)  # an organisation's "set up a second factor" is done
    if account.two_factor_enabled:
        return None  # a set prepared for it is not needed after all
    issued = issue_set(tx, deps, account, prepared, client=client)
    tx.accounts.set_two_factor(account.id, True)
    account.two_factor_enabled = True
    return issued


@dataclass(frozen=True)
class Ended:
    """What a change of credentials ended."""

    devices_revoked: int
    sessions_ended: int


def credentials_changed(
    tx: Transaction,
    deps: Deps,
    account_id: str,
    *,
    reason: str,
    client: Client | None = None,
    end_other_sessions_than: str | None = None,
) -> Ended:
    """Sign-ins in progress end (open flows and every code sent that is still pending),
    every trusted device is revoked (each recorded with ``reason``) and so is every token
    the OpenID Connect provider gave applications; given the session that made the change,
    every other session of the account ends too."""
    tx.flows.end_for_account(account_id)
    tx.sent_codes.end_for_account(account_id, deps.clock.now())
    tx.oidc.revoke_for_account(account_id, at=deps.clock.now())
    revoked = trusted_devices.revoke_all(tx, deps, account_id, client, reason=reason)
    ended = 0
    if end_other_sessions_than is not None:
        ended = tx.sessions.delete_for_account(account_id, except_id=end_other_sessions_than)
    return Ended(devices_revoked=revoked, sessions_ended=ended)


def replace_every_factor(
    tx: Transaction, deps: Deps, account: Account, client: Client, *, reason: str
) -> Ended:
    """Before new ways in replace the old ones (a completed recovery): every factor goes
    (each recording its removal) with the backup codes, 2FA is off until the caller
    confirms a new factor, and every sign-in in progress, trusted device and session ends."""
    for factor in second_factors.REGISTRY:
        factor.remove_all(tx, deps, account, client)
    tx.accounts.set_two_factor(account.id, False)
    account.two_factor_enabled = False
    ended = credentials_changed(tx, deps, account.id, reason=reason, client=client)
    return Ended(
        devices_revoked=ended.devices_revoked, sessions_ended=tx.sessions.delete_for_account(account.id)
    )


def factor_removed(
    tx: Transaction, deps: Deps, account: Account, client: Client, *, factor: str, name: str
) -> None:
    """Record the removal; without a factor left, 2FA turns off and the codes end."""
    events.record(tx, deps.clock, account.id, EventType.FACTOR_REMOVED, client, factor=factor, name=name)
    credentials_changed(tx, deps, account.id, reason="factor_removed", client=client)
    if account.two_factor_enabled and not two_factor_kept_on(tx, account.id):
        _turn_off(tx, deps, account, client)


def disable_two_factor(tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
    """Every second factor goes (each records its removal), then two-step verification."""
    for factor in second_factors.REGISTRY:
        factor.remove_all(tx, deps, account, client)
    credentials_changed(tx, deps, account.id, reason="two_factor_disabled", client=client)
    _turn_off(tx, deps, account, client)


def _turn_off(tx: Transaction, deps: Deps, account: Account, client: Client) -> None:
    """2FA off and the codes ended; the caller has ended the sign-ins in progress."""
    tx.accounts.set_two_factor(account.id, False)
    account.two_factor_enabled = False
    tx.backup_codes.end_current_set(account.id, at=deps.clock.now())
    events.record(tx, deps.clock, account.id, EventType.TWO_FACTOR_DISABLED, client)
