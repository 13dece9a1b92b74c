"""Backup codes: issue, regenerate, check, confirm, report. The mechanics are in factors/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


def issue_set(tx: Transaction, deps: Deps, account: Account, *, client: Client | None = None) -> IssuedSet:
    """End the current set (if any) and create the next, inside the caller's transaction.

    The database allows one current set per account (a partial unique index), so a crash or
    a race at any point leaves either the old set or the new one valid, never none or two.
    """
    now = deps.clock.now()
    salt = account.backup_salt
    if salt is None:
        salt = mechanics.new_salt()
        tx.accounts.set_backup_salt(account.id, salt)
        account.backup_salt = salt
    codes = mechanics.generate_set(deps.policy.backup_code_count)
    hashes = [deps.code_hasher.derive(code, salt) for code in codes]
    number = tx.backup_codes.next_set_number(account.id)
    tx.backup_codes.end_current_set(account.id, at=now)
    tx.backup_codes.add_set(
        BackupCodeSet(id=new_id(), account_id=account.id, set_number=number, created_at=now), hashes
    )
    events.record(tx, deps.clock, account.id, EventType.BACKUP_CODES_GENERATED, client, set_number=number)
    return IssuedSet(set_number=number, created_at=now, codes=[mechanics.format_code(c) for c in codes])


def regenerate(deps: Deps, current: Current, client: Client) -> IssuedSet:
    require_sudo(deps, current)
    with deps.store.transaction() as tx:
        account = tx.accounts.get_for_update(current.account.id)
        if account is None or not account.two_factor_enabled:
            raise TwoFactorDisabled()
        return issue_set(tx, deps, account, client=client)


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
    """ "I saved them": the typed code must be the one at ``position``; it is not used up."""
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
        tx.backup_codes.mark_confirmed(current.id, at=deps.clock.now())
        events.record(
            tx, deps.clock, account.id, EventType.BACKUP_CODES_CONFIRMED, set_number=current.set_number
        )


def consume(
    tx: Transaction, deps: Deps, account: Account, canonical: str, client: Client, *, purpose: str
) -> Consumed:
    """Check one backup code (in canonical form: the code box read it) with one key
    derivation and use it up atomically.

    Raises the error that explains the failure: typo, already used, from a replaced set, or
    simply invalid. The caller counts the attempt.
    """
    if not mechanics.check_character_ok(canonical):
        raise CodeTypo()
    current = tx.backup_codes.current_set(account.id)
    if current is None or account.backup_salt is None:
        raise InvalidCode()
    replaced = tx.backup_codes.recent_replaced_sets(account.id, limit=deps.policy.backup_code_sets_recognised)
    sets = {s.id: s for s in [current, *replaced]}
    candidates = tx.backup_codes.codes(list(sets))
    derived = deps.code_hasher.derive(canonical, account.backup_salt)
    index = mechanics.find_match(derived, [c.code_hash for c in candidates])
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
