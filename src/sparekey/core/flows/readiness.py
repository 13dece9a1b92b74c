"""Recovery readiness: if you lost your phone today, could you get back in?

The checklist, in the order the owner should read it; each item says whether it holds and
which page fixes it:

1. ``two_ways_in`` — at least two independent ways through the second step, so that losing
   one device is not losing the account. Each confirmed authenticator app, each passkey or
   security key and each verified phone number counts as one; a current backup-code sheet
   with a code left counts as one more. An e-mail address does not count: it never keeps
   two-step verification on by itself (``second_factors.credentials`` is the list).
2. ``backup_codes_present`` — there is a current sheet with at least one unused code.
3. ``backup_codes_confirmed`` — the owner confirmed that the sheet was saved (by typing one
   of its codes back), so it is not a sheet that only ever existed on a screen.
4. ``backup_codes_enough`` — at least ``policy.backup_codes_enough_at`` codes are left.
5. ``backup_codes_fresh`` — the sheet is younger than ``policy.backup_codes_max_age_seconds``
   (by the injected clock): an old sheet is more likely lost, or seen by others.
6. ``recovery_email_verified`` — a verified e-mail address, where recovery links and the
   warnings of a recovery request go when every factor is lost.

The account is ready exactly when every item holds. Next to the checklist, not part of it,
``last_drill_at`` says when the owner last proved it by a recovery drill (core/flows/drill.py).
Nothing here changes anything: it reads the account inside the caller's transaction
(``check``) or its own (``readiness``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import second_factors
from sparekey.core.deps import Deps
from sparekey.core.factors.contact_points import ContactKind
from sparekey.core.flows import backup_codes
from sparekey.core.models import Account
from sparekey.core.ports import Transaction


class ItemId(enum.StrEnum):
    """The stable ids of the checklist (API: ``readiness.items[].id``), in their order."""

    TWO_WAYS_IN = "two_ways_in"
    BACKUP_CODES_PRESENT = "backup_codes_present"
    BACKUP_CODES_CONFIRMED = "backup_codes_confirmed"
    BACKUP_CODES_ENOUGH = "backup_codes_enough"
    BACKUP_CODES_FRESH = "backup_codes_fresh"
    RECOVERY_EMAIL_VERIFIED = "recovery_email_verified"


class Action(enum.StrEnum):
    """The pages that fix an item (API: ``readiness.items[].action``)."""

    ADD_WAY_IN = "/security#two-step"  # an app, a key, a phone (and, without 2FA, the first sheet)
    NEW_SHEET = "/security#backup-codes"  # make a new set of backup codes
    CONFIRM_SHEET = "/security/backup-codes/confirm"  # type one code of the sheet back
    ADD_EMAIL = "/security#contacts"  # add and verify an e-mail address


WAYS_IN_NEEDED = 2


@dataclass(frozen=True)
class Item:
    id: ItemId
    ok: bool
    action: Action  # the path of a page on this server, starting with "/"


@dataclass(frozen=True)
class Readiness:
    ready: bool  # every item is ok
    items: list[Item]
    last_drill_at: datetime | None = None  # when the last recovery drill passed; not an item


def check(tx: Transaction, deps: Deps, account: Account) -> Readiness:
    """The checklist for ``account``, read inside ``tx``."""
    sheet = backup_codes.status_in(tx, account.id)
    has_codes = sheet is not None and sheet.remaining > 0
    ways_in = len(second_factors.credentials(tx, account.id)) + (1 if has_codes else 0)
    # The backup-code part of the security page exists only while there is a sheet; without
    # one (2FA off), the first sheet comes with the first way in.
    new_sheet = Action.NEW_SHEET if account.two_factor_enabled and sheet is not None else Action.ADD_WAY_IN
    max_age = timedelta(seconds=deps.policy.backup_codes_max_age_seconds)
    emails = [
        c for c in tx.contacts.for_account(account.id, verified_only=True) if c.kind == ContactKind.EMAIL
    ]
    items = [
        Item(ItemId.TWO_WAYS_IN, ways_in >= WAYS_IN_NEEDED, Action.ADD_WAY_IN),
        Item(ItemId.BACKUP_CODES_PRESENT, has_codes, new_sheet),
        Item(
            ItemId.BACKUP_CODES_CONFIRMED,
            sheet is not None and sheet.confirmed,
            Action.CONFIRM_SHEET if sheet is not None else new_sheet,
        ),
        Item(
            ItemId.BACKUP_CODES_ENOUGH,
            sheet is not None and sheet.remaining >= deps.policy.backup_codes_enough_at,
            new_sheet,
        ),
        Item(
            ItemId.BACKUP_CODES_FRESH,
            sheet is not None and deps.clock.now() - sheet.created_at < max_age,
            new_sheet,
        ),
        Item(ItemId.RECOVERY_EMAIL_VERIFIED, bool(emails), Action.ADD_EMAIL),
    ]
    return Readiness(ready=all(item.ok for item in items), items=items, last_drill_at=account.last_drill_at)


def readiness(deps: Deps, account_id: str) -> Readiness:
    """The checklist for the account ``account_id``, in a transaction of its own."""
    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
        return check(tx, deps, account)
