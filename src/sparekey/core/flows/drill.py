"""The recovery drill (PRODUCT.md §7): the owner rehearses "my phone is gone".

1. ``start``: from a signed-in browser the owner opens a drill (event ``drill_started``).
   It stays open ``DRILL_SECONDS`` by the injected clock; starting again starts it over.
   The answer lists the steps (``Step``, stable ids that the pages and clients put in words):
   open a private window, sign in there with the password, pass the second step another
   way than the phone's app, come back.
2. ``sign_in_completed``: every successful sign-in calls it inside its own transaction. The
   drill passes when all of these hold:

   * a drill is open (started less than ``DRILL_SECONDS`` ago);
   * the client is a stranger to the account: no known client, and no trusted device that
     skipped the second step (a private window keeps neither), as a new phone or a borrowed
     computer would be;
   * the second step did not need the phone's authenticator app: a backup code, a code by
     SMS, call or e-mail, a security key, or a passkey (``WITHOUT_THE_APP``). A password
     alone, a trusted device or an authenticator code proves nothing about losing the phone.

   It passes once: a conditional update records when and how and closes the drill, and
   only the sign-in that closed it records ``recovery_drill_passed`` (with its method).
3. ``status``: whether a drill is open and until when, and when the last one passed and how
   (``Readiness.last_drill_at`` shows the same moment next to the checklist).

A drill that runs out is left as it was started (``status`` tells it from an open one), so
the owner can be told it ended without a sign-in that counts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events
from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated
from sparekey.core.events import EventType
from sparekey.core.flows.sessions import Current
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client
from sparekey.core.ports import Transaction

DRILL_SECONDS = 3600  # an open drill waits this long for the sign-in that passes it
DRILL = timedelta(seconds=DRILL_SECONDS)

# Second steps that work without the phone's authenticator app.
WITHOUT_THE_APP = frozenset(
    {Method.BACKUP_CODE, Method.SMS, Method.VOICE, Method.EMAIL, Method.WEBAUTHN, Method.PASSKEY}
)


class Step(enum.StrEnum):
    """What the owner does during a drill, in order (API: ``steps``)."""

    OPEN_PRIVATE_WINDOW = "open_private_window"  # a private/incognito window: no cookies of ours
    SIGN_IN_WITH_PASSWORD = "sign_in_with_password"  # at the server's own /login
    USE_BACKUP_CODE_OR_OTHER_WAY = "use_backup_code_or_other_way"  # "try another way", not the app
    COME_BACK_HERE = "come_back_here"  # the drill's page (or GET /api/v1/me/drill) shows the result


STEPS: tuple[Step, ...] = tuple(Step)


@dataclass(frozen=True)
class Drill:
    started_at: datetime
    expires_at: datetime
    steps: tuple[Step, ...] = STEPS


@dataclass(frozen=True)
class DrillStatus:
    open: bool
    started_at: datetime | None  # the drill that is open, or that ran out without passing
    expires_at: datetime | None
    last_passed_at: datetime | None
    last_method: str | None  # the ``Method`` the last drill passed with

    @property
    def ran_out(self) -> bool:
        """A drill was started and its hour passed without a sign-in that counts."""
        return not self.open and self.started_at is not None


def start(deps: Deps, current: Current, client: Client) -> Drill:
    """Open a drill for the signed-in account (an open one starts over)."""
    now = deps.clock.now()
    expires_at = now + DRILL
    with deps.store.transaction() as tx:
        account = tx.accounts.get(current.account.id)
        if account is None:
            raise NotAuthenticated()
        tx.accounts.start_drill(account.id, now)
        events.record(
            tx, deps.clock, account.id, EventType.DRILL_STARTED, client, expires_at=expires_at.isoformat()
        )
    return Drill(started_at=now, expires_at=expires_at)


def status_of(deps: Deps, account: Account) -> DrillStatus:
    """The drill state of ``account`` as it was read."""
    started_at = account.drill_started_at
    expires_at = started_at + DRILL if started_at is not None else None
    return DrillStatus(
        open=expires_at is not None and deps.clock.now() < expires_at,
        started_at=started_at,
        expires_at=expires_at,
        last_passed_at=account.last_drill_at,
        last_method=account.last_drill_method,
    )


def status(deps: Deps, account_id: str) -> DrillStatus:
    """The drill state of the account ``account_id``, in a transaction of its own."""
    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
        if account is None:
            raise NotAuthenticated()
    return status_of(deps, account)


def sign_in_completed(
    tx: Transaction,
    deps: Deps,
    account: Account,
    *,
    method: str,
    known_client_id: str | None,
    trusted_device_id: str | None,
    client: Client,
) -> bool:
    """Called by every successful sign-in, in its transaction: True when it passed the drill.

    The checks on what is at hand come first, so an ordinary sign-in writes nothing.

    A trusted device that let the client in stood for the second step: the sign-in's method
    is then ``trusted_device``, never one of ``WITHOUT_THE_APP``. With a real second step, a
    ``trusted_device_id`` is the device this very sign-in was asked to trust: a stranger
    until now, so it does not stop the drill."""
    if method not in WITHOUT_THE_APP or known_client_id is not None:
        return False
    if not status_of(deps, account).open:  # as read by this sign-in; the update below decides
        return False
    now = deps.clock.now()
    if not tx.accounts.pass_drill(account.id, at=now, method=method, started_after=now - DRILL):
        return False  # ran out, or another sign-in passed it first
    events.record(tx, deps.clock, account.id, EventType.RECOVERY_DRILL_PASSED, client, method=method)
    return True
