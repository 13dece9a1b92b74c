"""Backup codes: issue, regenerate, check, confirm, report. The mechanics are in factors/.

No argon2 derivation runs while a transaction is open: on SQLite every transaction holds the
database's write lock, and a set's ten derivations inside one would make every other sign-in
wait for them. So each use case reads what it needs in a short transaction, derives with
none open, and writes in a second short transaction that checks nothing it relied on
changed meanwhile:

* Issuing a set: the codes are derived first (``prepare_set``) under the account's salt
  (a new one when it has none yet); ``issue_set`` then runs in the caller's transaction,
  with the account's row locked, and refuses (``SetNotPrepared``, which rolls that
  transaction back) when the account now needs a set that was not prepared, or has a salt
  other than the one the codes were derived under. ``with_prepared_set`` then prepares a set
  under the salt now stored (a salt never changes once set) and runs the transaction once
  more, which then cannot be refused again.
* Checking a code: ``derive`` makes the attempt's one derivation before the transaction;
  ``consume`` compares it with the codes as they are now and uses the code up with one
  conditional UPDATE, so a code used or a set replaced meanwhile is seen there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sparekey.core import events
from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeAlreadyUsed,
    CodeFromReplacedSet,
    CodeTypo,
    InvalidCode,
    TwoFactorDisabled,
    WrongConfirmationCode,
)
from sparekey.core.events import EventType
from sparekey.core.factors import backup_codes as mechanics
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.models import Account, BackupCodeSet, Client
from sparekey.core.ports import Transaction


@dataclass(frozen=True)
class IssuedSet:
    """A new set, the only time its codes exist outside the hasher."""

    set_number: int
    created_at: datetime
    codes: list[str]  # display form, XXXXX-XXXXX


@dataclass(frozen=True)
class UsedPosition:
    position: int
    used_at: datetime
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Status:
    set_number: int
    created_at: datetime
    total: int
    remaining: int
    confirmed: bool
    used: list[UsedPosition]


@dataclass(frozen=True)
class Consumed:
    position: int
    set_number: int
    remaining: int


@dataclass(frozen=True)
class PreparedSet:
    """A set's codes and their derivations, made before the transaction that issues it."""

    salt: bytes
    codes: list[str]  # canonical
    hashes: list[bytes]


class SetNotPrepared(Exception):
    """The transaction must issue a set and holds none prepared under the account's salt: the
    account changed since it was read. Raised to roll that transaction back; never leaves
    ``with_prepared_set``."""


T = TypeVar("T")


def prepare_set(deps: Deps, salt: bytes | None) -> PreparedSet:
    """New codes, each derived under ``salt`` (a new salt when the account has none yet).

    The slow part of issuing a set: no storage, so run it with no transaction open.
    """
    salt = salt or mechanics.new_salt()
    codes = mechanics.generate_set(deps.policy.backup_code_count)
    return PreparedSet(salt=salt, codes=codes, hashes=[deps.code_hasher.derive(c, salt) for c in codes])


def with_prepared_set(
    deps: Deps, account: Account, attempt: Callable[[PreparedSet | None], T], *, expected: bool
) -> T:
    """Run ``attempt``, which opens the transaction that may issue a set, with a set prepared
    beforehand when ``expected`` (what ``account``, as read before, says will happen).

    If the transaction finds the account changed so that it needs a set it was not given, or
    one under another salt, it raises ``SetNotPrepared`` (rolling itself back); ``attempt``
    then runs once more with a set prepared under the salt now stored, which fits whatever
    happens meanwhile: a salt never changes once set, and a set not needed is left unused.
    """
    prepared = prepare_set(deps, account.backup_salt) if expected else None
    try:
        return attempt(prepared)
    except SetNotPrepared:
        pass
    return attempt(prepare_set(deps, _stored_salt(deps, account.id)))


def _stored_salt(deps: Deps, account_id: str) -> bytes:
    """The account's salt, stored first when it has none (a salt without codes is harmless)."""
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(account_id)
        if account is None:
            return mechanics.new_salt()  # gone: the attempt will find that out itself
        if account.backup_salt is None:
            account.backup_salt = mechanics.new_salt()
            tx.accounts.set_backup_salt(account_id, account.backup_salt)
        return account.backup_salt


def issue_set(
    tx: Transaction,
    deps: Deps,
    account: Account,
    prepared: PreparedSet | None,
    *,
    client: Client | None = None,
) -> IssuedSet:
    """End the current set (if any) and make ``prepared`` the next, inside the caller's
    transaction, which holds the account's row (``get_for_update``) and read ``account`` there.

    Raises ``SetNotPrepared`` when nothing was prepared, or it was derived under a salt other
    than the account's (another request stored one meanwhile). The database allows one current
    set per account (a partial unique index), so a crash or a race at any point leaves either
    the old set or the new one valid, never none or two.
    """
    if prepared is None or account.backup_salt not in (None, prepared.salt):
        raise SetNotPrepared()
    if account.backup_salt is None:
        tx.accounts.set_backup_salt(account.id, prepared.salt)
        account.backup_salt = prepared.salt
    now = deps.clock.now()
    number = tx.backup_codes.next_set_number(account.id)
    tx.backup_codes.end_current_set(account.id, at=now)
    tx.backup_codes.add_set(
        BackupCodeSet(id=new_id(), account_id=account.id, set_number=number, created_at=now),
        prepared.hashes,
    )
    events.record(tx, deps.clock, account.id, EventType.BACKUP_CODES_GENERATED, client, set_number=number)
    return IssuedSet(
        set_number=number, created_at=now, codes=[mechanics.format_code(c) for c in prepared.codes]
    )


def regenerate(deps: Deps, current: Current, client: Client) -> IssuedSet:
    """A new sheet; the old one stops working. Two regenerations at once both succeed, one
    after the other (the account's row is locked): the later sheet is the current one."""
    require_sudo(deps, current)
    if not current.account.two_factor_enabled:
        raise TwoFactorDisabled()

    def attempt(prepared: PreparedSet | None) -> IssuedSet:
        with deps.store.transaction() as tx:
            account = tx.accounts.get_for_update(current.account.id)
            if account is None or not account.two_factor_enabled:
                raise TwoFactorDisabled()  # turned off since
            return issue_set(tx, deps, account, prepared, client=client)

    return with_prepared_set(deps, current.account, attempt, expected=True)


def status(deps: Deps, account_id: str) -> Status | None:
    with deps.store.transaction() as tx:
        return status_in(tx, account_id)


def status_in(tx: Transaction, account_id: str) -> Status | None:
    current = tx.backup_codes.current_set(account_id)
    if current is None:
        return None
    codes = tx.backup_codes.codes([current.id])
    used = [
        UsedPosition(c.position, c.used_at, c.used_ip, c.used_user_agent)
        for c in codes
        if c.used_at is not None
    ]
    return Status(
        set_number=current.set_number,
        created_at=current.created_at,
        total=len(codes),
        remaining=len(codes) - len(used),
        confirmed=current.confirmed_at is not None,
        used=used,
    )


def require_status(deps: Deps, account_id: str) -> Status:
    found = status(deps, account_id)
    if found is None:
        raise TwoFactorDisabled()
    return found


def confirm_saved(deps: Deps, account: Account, *, position: int, code: str) -> None:
    """ "I saved them": the typed code must be the one at ``position``; it is not used up.

    The code is derived between two transactions; the second marks the set confirmed only if
    it is still the current one (a sheet replaced meanwhile is not the one that was saved).
    """
    canonical = mechanics.normalise(code)
    if canonical is None or not mechanics.check_character_ok(canonical):
        raise WrongConfirmationCode()
    with deps.store.transaction() as tx:
        current = tx.backup_codes.current_set(account.id)
        fresh = tx.accounts.get(account.id)
        if current is None or fresh is None or fresh.backup_salt is None:
            raise TwoFactorDisabled()
        by_position = {c.position: c for c in tx.backup_codes.codes([current.id])}
    target = by_position.get(position)
    if target is None:
        raise WrongConfirmationCode()
    derived = deps.code_hasher.derive(canonical, fresh.backup_salt)
    if mechanics.find_match(derived, [target.code_hash]) is None:
        raise WrongConfirmationCode()
    with deps.store.transaction() as tx:
        now_current = tx.backup_codes.current_set(account.id)
        if now_current is None:
            raise TwoFactorDisabled()
        if now_current.id != current.id:
            raise WrongConfirmationCode()
        tx.backup_codes.mark_confirmed(current.id, at=deps.clock.now())
        events.record(
            tx, deps.clock, account.id, EventType.BACKUP_CODES_CONFIRMED, set_number=current.set_number
        )


def derive(deps: Deps, account: Account, canonical: str) -> mechanics.Derived | None:
    """An attempt's one derivation, made before the transaction that checks it (``consume``).

    None, and no hash spent, for a wrong check character (a typo) or an account without
    codes (nothing to compare with).
    """
    salt = account.backup_salt
    if salt is None or not mechanics.check_character_ok(canonical):
        return None
    return mechanics.Derived(salt=salt, key=deps.code_hasher.derive(canonical, salt))


def consume(
    tx: Transaction,
    deps: Deps,
    account: Account,
    canonical: str,
    derived: mechanics.Derived | None,
    client: Client,
    *,
    purpose: str,
) -> Consumed:
    """Check one backup code (in canonical form: the code box read it) against the codes as
    they are now, given its derivation (``derive``, made before this transaction), and use it
    up atomically.

    Raises the error that explains the failure: typo, already used, from a replaced set, or
    simply invalid. The caller counts the attempt. ``account`` is read in this transaction:
    a derivation under any salt but its own (it had none when the code was derived) is
    simply invalid.
    """
    if not mechanics.check_character_ok(canonical):
        raise CodeTypo()
    current = tx.backup_codes.current_set(account.id)
    if current is None or derived is None or derived.salt != account.backup_salt:
        raise InvalidCode()
    replaced = tx.backup_codes.recent_replaced_sets(account.id, limit=deps.policy.backup_code_sets_recognised)
    sets = {s.id: s for s in [current, *replaced]}
    candidates = tx.backup_codes.codes(list(sets))
    index = mechanics.find_match(derived.key, [c.code_hash for c in candidates])
    if index is None:
        raise InvalidCode()
    match = candidates[index]
    matched_set = sets[match.set_id]
    if matched_set.id != current.id:
        raise CodeFromReplacedSet(set_number=matched_set.set_number, replaced_at=matched_set.replaced_at)
    if match.used_at is not None:
        raise CodeAlreadyUsed(used_at=match.used_at)
    now = deps.clock.now()
    if not tx.backup_codes.consume(
        current.id, match.position, at=now, ip=client.ip, user_agent=client.user_agent
    ):
        raise _lost_race(tx, deps, account, current, match.position)
    remaining = sum(1 for c in candidates if c.set_id == current.id and c.used_at is None) - 1
    events.record(
        tx,
        deps.clock,
        account.id,
        EventType.BACKUP_CODE_USED,
        client,
        position=match.position,
        set_number=current.set_number,
        remaining=remaining,
        purpose=purpose,
    )
    return Consumed(position=match.position, set_number=current.set_number, remaining=remaining)


def _lost_race(
    tx: Transaction, deps: Deps, account: Account, code_set: BackupCodeSet, position: int
) -> CodeAlreadyUsed | CodeFromReplacedSet:
    """Why the conditional UPDATE changed no row, read again after it.

    Under READ COMMITTED (PostgreSQL) the UPDATE sees commits made after our first reads:
    another request used the code a moment ago, or a regeneration replaced the set.
    """
    replaced = tx.backup_codes.recent_replaced_sets(account.id, limit=deps.policy.backup_code_sets_recognised)
    ended = next((s for s in replaced if s.id == code_set.id), None)
    if ended is not None:
        return CodeFromReplacedSet(set_number=ended.set_number, replaced_at=ended.replaced_at)
    used = next(c for c in tx.backup_codes.codes([code_set.id]) if c.position == position)
    return CodeAlreadyUsed(used_at=used.used_at or deps.clock.now())
