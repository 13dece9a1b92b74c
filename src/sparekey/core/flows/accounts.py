"""Registering an account and changing its password."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from sparekey.core import events, usernames
from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated, UsernameTaken, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.factors.password import check_new_password
from sparekey.core.flows import lifecycle
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Account, Client
from sparekey.core.ports import Transaction


def valid_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationFailed(field="email") from None


def register(deps: Deps, *, username: str, password: str, email: str | None = None) -> Account:
    name = usernames.new_username(username)
    skeleton = usernames.skeleton(name)
    address = valid_email(email)
    clean = check_new_password(password, deps.policy.password, username=name)
    with deps.store.transaction() as tx:
        _refuse_taken(tx, name, skeleton)
    password_hash = deps.passwords.hash(clean)
    account = Account(
        id=new_id(),
        username=name,
        username_skeleton=skeleton,
        email=address,
        password_hash=password_hash,
        created_at=deps.clock.now(),
    )
    try:
        with deps.store.transaction() as tx:
            _refuse_taken(tx, name, skeleton)
            tx.accounts.add(account)
    except UsernameTaken:
        raise
    except Exception as error:  # a unique index caught a concurrent registration
        if _is_unique_violation(error):
            raise UsernameTaken() from None
        raise
    return account


def _refuse_taken(tx: Transaction, name: str, skeleton: str) -> None:
    if tx.accounts.by_username(name) is not None:
        raise UsernameTaken()
    if tx.accounts.by_skeleton(skeleton) is not None:  # "аlice" (Cyrillic а) beside "alice"
        raise UsernameTaken(reason="looks_like_another")


def change_password(deps: Deps, current: Current, *, new_password: str, client: Client) -> None:
    """Sudo mode; every other session and every sign-in in progress of the account ends.

    The new password is hashed with no transaction open; the transaction that stores it
    refuses if the session asking was ended meanwhile (by another change, say)."""
    require_sudo(deps, current)
    clean = check_new_password(new_password, deps.policy.password, username=current.account.username)
    password_hash = deps.passwords.hash(clean)
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(current.account.id)
        if account is None or tx.sessions.get(account.id, current.session.id) is None:
            raise NotAuthenticated()
        tx.accounts.set_password_hash(current.account.id, password_hash)
        lifecycle.credentials_changed(
            tx,
            deps,
            current.account.id,
            reason="password_changed",
            client=client,
            end_other_sessions_than=current.session.id,
        )
        events.record(tx, deps.clock, current.account.id, EventType.PASSWORD_CHANGED, client)


def _is_unique_violation(error: Exception) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return "unique" in text or "duplicate key" in text
