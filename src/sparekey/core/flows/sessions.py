"""Server-side sessions: opened at sign-in, looked up by token digest, rotated, revoked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events
from sparekey.core.assurance import AuthContext, store_methods
from sparekey.core.crypto import new_id, new_token, token_hash
from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated, NotFound, SudoRequired
from sparekey.core.events import EventType
from sparekey.core.models import Account, Client, Session
from sparekey.core.ports import Transaction

# Writing last_seen_at on every request would make each read a write; once a minute is enough
# for the idle timeout and for "last seen" on the sessions list.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Current:
    """The signed-in account and its session, as one request sees them."""

    account: Account
    session: Session

    def in_sudo(self, now: datetime) -> bool:
        return self.session.sudo_until is not None and self.session.sudo_until > now


def open_session(
    tx: Transaction,
    deps: Deps,
    account: Account,
    client: Client,
    context: AuthContext,
    *,
    trusted_device_id: str | None = None,
) -> tuple[str, Session]:
    """A new session that records how it was made (``context``, see core/assurance.py)."""
    now = deps.clock.now()
    token = new_token()
    session = Session(
        id=new_id(),
        account_id=account.id,
        token_hash=token_hash(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=deps.policy.session_absolute_seconds),
        ip=client.ip,
        user_agent=client.user_agent,
        auth_methods=store_methods(context.methods),
        auth_level=context.level.value,
        auth_time=context.auth_time,
        trusted_device_id=trusted_device_id,
    )
    tx.sessions.add(session)
    return token, session


def authenticate(deps: Deps, token: str | None) -> Current:
    if not token or len(token) > 200:
        raise NotAuthenticated()
    now = deps.clock.now()
    with deps.store.transaction() as tx:
        session = tx.sessions.by_token_hash(token_hash(token))
        if session is None:
            raise NotAuthenticated()
        idle_limit = session.last_seen_at + timedelta(seconds=deps.policy.session_idle_seconds)
        if now >= session.expires_at or now >= idle_limit:
            tx.sessions.delete(session.id)
            expired = True
        else:
            expired = False
            if now - session.last_seen_at >= _TOUCH_EVERY:
                tx.sessions.touch(session.id, now)
                session.last_seen_at = now
            account = tx.accounts.get(session.account_id)
    if expired or account is None:
        raise NotAuthenticated()
    return Current(account=account, session=session)


def rotate(tx: Transaction, session: Session) -> str:
    """A new token for the same session: the old one stops working at once."""
    token = new_token()
    tx.sessions.set_token_hash(session.id, token_hash(token))
    session.token_hash = token_hash(token)
    return token


def require_sudo(deps: Deps, current: Current) -> None:
    if not current.in_sudo(deps.clock.now()):
        raise SudoRequired()


def list_sessions(deps: Deps, current: Current) -> list[tuple[Session, bool]]:
    with deps.store.transaction() as tx:
        sessions = tx.sessions.for_account(current.account.id)
    return [(s, s.id == current.session.id) for s in sessions]


def revoke(deps: Deps, current: Current, session_id: str, client: Client) -> None:
    with deps.store.transaction() as tx:
        if tx.sessions.get(current.account.id, session_id) is None:
            raise NotFound()
        tx.sessions.delete(session_id)
        events.record(
            tx, deps.clock, current.account.id, EventType.SESSION_REVOKED, client, session_id=session_id
        )


def revoke_others(deps: Deps, current: Current, client: Client) -> int:
    """Every other session of the account ends (one event); how many there were."""
    with deps.store.transaction() as tx:
        count = tx.sessions.delete_for_account(current.account.id, except_id=current.session.id)
        events.record(
            tx, deps.clock, current.account.id, EventType.SESSION_REVOKED, client, others=True, count=count
        )
    return count


def log_out(deps: Deps, current: Current) -> None:
    with deps.store.transaction() as tx:
        tx.sessions.delete(current.session.id)
