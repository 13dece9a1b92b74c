"""Sudo mode: password (and a second factor when the account has one) within the last minutes.

Attempts are limited per session (``throttle.sudo_key``), not per username: strangers failing
to sign in as the owner never keep the owner's own session out of sudo mode. Each attempt is
counted before the password is checked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sparekey.core import events, second_factors, throttle
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeError, InvalidCode, InvalidCredentials, SparekeyError
from sparekey.core.events import EventType
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows.sessions import Current, rotate
from sparekey.core.flows.sign_in import check_password
from sparekey.core.models import Client


def enter(
    deps: Deps, current: Current, *, password: str, code: str | None, client: Client, rotate_token: bool
) -> tuple[datetime, str | None]:
    """Returns ``(sudo_until, new_token)``; the token is rotated for cookie sessions."""
    account_id = current.account.id
    with deps.store.transaction() as tx:
        attempt = throttle.reserve(
            tx,
            deps,
            throttle.sudo_key(current.session.id),
            client,
            account_id=account_id,
            address_limited=False,
        )
        fresh = tx.accounts.get(account_id)
    ok = check_password(deps, fresh, normalise_password(password))
    failure: SparekeyError | None = None
    new_token = None
    with deps.store.transaction() as tx:
        if not ok or fresh is None:
            failure = InvalidCredentials()
        elif fresh.two_factor_enabled:
            try:
                if not code:
                    raise InvalidCode(missing=True)
                second_factors.verify(tx, deps, fresh, code, client, purpose="sudo")
            except CodeError as error:
                failure = error
        if failure is not None:
            throttle.failed(tx, deps, attempt, client)
        else:
            throttle.succeeded(tx, attempt)
            until = deps.clock.now() + timedelta(seconds=deps.policy.sudo_seconds)
            tx.sessions.set_sudo_until(current.session.id, until)
            current.session.sudo_until = until
            if rotate_token:
                new_token = rotate(tx, current.session)
            events.record(tx, deps.clock, account_id, EventType.SUDO, client)
    if failure is not None:
        raise failure
    return until, new_token
