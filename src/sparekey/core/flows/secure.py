"""Secure my account (PRODUCT.md §7): one action for a leaked sheet or a lost phone.

* Sudo mode first; the new password is checked and hashed, and the new backup codes
  derived, before anything is written (the slow part, done with no transaction open; a
  weak password changes nothing).
* Then, in one transaction, so that a failure anywhere leaves nothing half done:
  a new backup-code set (only while two-step verification is on: the old sheet stops
  working), every other session ended (counted first), every sign-in in progress ended and
  every trusted device revoked (``lifecycle.credentials_changed``, reason ``secured``), the
  password replaced (recorded as ``password_changed``, as any change is), and one
  ``account_secured`` event with the numbers.
* The result says what was done and what to look at next (``Check``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated
from sparekey.core.events import EventType
from sparekey.core.factors.password import check_new_password
from sparekey.core.flows import lifecycle
from sparekey.core.flows.backup_codes import IssuedSet, PreparedSet, issue_set, with_prepared_set
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Client

REASON = "secured"  # recorded with each trusted device revoked


class Check(enum.StrEnum):
    """What the owner should review after securing the account (stable ids for the API).

    * ``store_sheet``: keep the new backup-code sheet somewhere safe, away from the phone
      (only when a new sheet was made).
    * ``review_activity``: look through the recent activity for sign-ins you do not recognise.
    * ``review_ways_in``: remove the authenticator apps, keys and phone numbers you no
      longer control (a stolen phone is still a way in until it is removed).
    * ``check_email``: secure your e-mail account itself: whoever reads it can ask for
      recovery links.
    """

    STORE_SHEET = "store_sheet"
    REVIEW_ACTIVITY = "review_activity"
    REVIEW_WAYS_IN = "review_ways_in"
    CHECK_EMAIL = "check_email"


@dataclass(frozen=True)
class Secured:
    backup_codes: IssuedSet | None  # None when two-step verification is off
    sessions_ended: int
    devices_revoked: int
    checklist: list[str]  # ``Check`` ids, most urgent first


def secure_account(deps: Deps, current: Current, *, new_password: str, client: Client) -> Secured:
    """New backup codes, other sessions ended, trusted devices revoked, new password: all or
    nothing. Raises ``SudoRequired`` or ``PasswordTooWeak`` before anything changes."""
    require_sudo(deps, current)
    clean = check_new_password(new_password, deps.policy.password, username=current.account.username)
    password_hash = deps.passwords.hash(clean)
    account_id = current.account.id

    def attempt(prepared: PreparedSet | None) -> tuple[IssuedSet | None, lifecycle.Ended]:
        with deps.store.transaction() as tx:
            account = tx.accounts.get_for_update(account_id)
            if account is None or tx.sessions.get(account_id, current.session.id) is None:
                raise NotAuthenticated()  # this session was ended meanwhile
            issued = (
                issue_set(tx, deps, account, prepared, client=client) if account.two_factor_enabled else None
            )
            ended = lifecycle.credentials_changed(
                tx, deps, account_id, reason=REASON, client=client, end_other_sessions_than=current.session.id
            )
            tx.accounts.set_password_hash(account_id, password_hash)
            # Recorded as any password change is, so the owner is told (a critical notification).
            events.record(tx, deps.clock, account_id, EventType.PASSWORD_CHANGED, client, via=REASON)
            events.record(
                tx,
                deps.clock,
                account_id,
                EventType.ACCOUNT_SECURED,
                client,
                sessions_ended=ended.sessions_ended,
                devices_revoked=ended.devices_revoked,
                set_number=issued.set_number if issued is not None else None,
            )
        return issued, ended

    # The new sheet is derived before the transaction, while 2FA is on (checked again there).
    issued, ended = with_prepared_set(
        deps, current.account, attempt, expected=current.account.two_factor_enabled
    )
    sessions_ended, devices_revoked = ended.sessions_ended, ended.devices_revoked
    checks = [Check.STORE_SHEET] if issued is not None else []
    checks += [Check.REVIEW_ACTIVITY, Check.REVIEW_WAYS_IN, Check.CHECK_EMAIL]
    return Secured(
        backup_codes=issued,
        sessions_ended=sessions_ended,
        devices_revoked=devices_revoked,
        checklist=[check.value for check in checks],
    )
