"""Sudo mode: password (and a second factor when the account has one) within the last minutes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sparekey.core import events, throttle
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeError, InvalidCode, InvalidCredentials, SparekeyError
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows import second_factor
from sparekey.core.flows.sessions import Current, rotate
from sparekey.core.flows.sign_in import check_password
from sparekey.core.models import Client


def enter(
    deps: Deps, current: Current, *, password: str, code: str | None, client: Client, rotate_token: bool
) -> tuple[datetime, str | None]:
    """Returns ``(sudo_until, new_token)``; the token is rotated for cookie sessions."""
    account = current.account
    password_key = throttle.password_key(account.username)
    code_key = throttle.code_key(account.id)
    with deps.store.transaction() as tx:
        throttle.check(tx, deps, password_key, client)
        throttle.check(tx, deps, code_key, client)
        fresh = tx.accounts.get(account.id)
    if fresh is None:
        raise InvalidCredentials()
    ok = check_password(deps, fresh, normalise_password(password))
    failure: SparekeyError | None = None
    new_token = None
    with deps.store.transaction() as tx:
        if not ok:
            throttle.record_failure(tx, deps, password_key, client, account_id=account.id)
            failure = InvalidCredentials()
        elif fresh.two_factor_enabled:
            try:
                if not code:
                    raise InvalidCode(missing=True)
                second_factor.verify(tx, deps, fresh, code, client, purpose="sudo")
            except CodeError as error:
                throttle.record_failure(tx, deps, code_key, client, account_id=account.id)
                failure = error
        if failure is None:
            throttle.record_success(tx, password_key)
            if fresh.two_factor_enabled:
                throttle.record_success(tx, code_key)
            until = deps.clock.now() + timedelta(seconds=deps.policy.sudo_seconds)
            tx.sessions.set_sudo_until(current.session.id, until)
            current.session.sudo_until = until
            if rotate_token:
                new_token = rotate(tx, current.session)
            events.record(tx, deps.clock, account.id, events.SUDO, client)
    if failure is not None:
        raise failure
    return until, new_token
