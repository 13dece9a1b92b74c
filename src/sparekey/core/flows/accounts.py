"""Registering an account and changing its password."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from sparekey.core import events
from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import UsernameTaken, ValidationFailed
from sparekey.core.factors.password import check_new_password
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Account, Client

USERNAME_MIN, USERNAME_MAX = 3, 64
_USERNAME = re.compile(r"[\w.@+-]+")


def normalise_username(raw: str) -> str:
    """NFKC and case-folded, so "Ａｌｉｃｅ" and "alice" are one account."""
    return unicodedata.normalize("NFKC", raw).strip().casefold()


def valid_username(raw: str) -> str:
    username = normalise_username(raw[: USERNAME_MAX * 4])
    if not (USERNAME_MIN <= len(username) <= USERNAME_MAX) or not _USERNAME.fullmatch(username):
        raise ValidationFailed(field="username", min_length=USERNAME_MIN, max_length=USERNAME_MAX)
    return username


def valid_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValidationFailed(field="email") from None


def register(deps: Deps, *, username: str, password: str, email: str | None = None) -> Account:
    name = valid_username(username)
    address = valid_email(email)
    clean = check_new_password(password, deps.policy.password, username=name)
    with deps.store.transaction() as tx:
        if tx.accounts.by_username(name) is not None:
            raise UsernameTaken()
    password_hash = deps.passwords.hash(clean)
    account = Account(
        id=new_id(), username=name, email=address, password_hash=password_hash, created_at=deps.clock.now()
    )
    try:
        with deps.store.transaction() as tx:
            if tx.accounts.by_username(name) is not None:
                raise UsernameTaken()
            tx.accounts.add(account)
    except UsernameTaken:
        raise
    except Exception as error:  # the unique index caught a concurrent registration
        if _is_unique_violation(error):
            raise UsernameTaken() from None
        raise
    return account


def change_password(deps: Deps, current: Current, *, new_password: str, client: Client) -> None:
    """Sudo mode; every other session of the account ends."""
    require_sudo(deps, current)
    clean = check_new_password(new_password, deps.policy.password, username=current.account.username)
    password_hash = deps.passwords.hash(clean)
    with deps.store.transaction() as tx:
        tx.accounts.set_password_hash(current.account.id, password_hash)
        tx.sessions.delete_for_account(current.account.id, except_id=current.session.id)
        events.record(tx, deps.clock, current.account.id, events.PASSWORD_CHANGED, client)


def _is_unique_violation(error: Exception) -> bool:
    text = str(getattr(error, "orig", error)).lower()
    return "unique" in text or "duplicate key" in text
