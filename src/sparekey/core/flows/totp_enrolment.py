"""Authenticator apps: enrol (QR + key), confirm with a first code, rename-free removal."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.errors import MalformedCode, NotFound, ValidationFailed, WrongConfirmationCode
from sparekey.core.factors import totp
from sparekey.core.flows import backup_codes, lifecycle
from sparekey.core.flows.backup_codes import IssuedSet
from sparekey.core.flows.sessions import Current, require_sudo
from sparekey.core.methods import Method
from sparekey.core.models import Authenticator, Client
from sparekey.core.names import clean_name
from sparekey.core.second_factors.totp import secret_of

MAX_AUTHENTICATORS = 10


@dataclass(frozen=True)
class Enrolment:
    authenticator: Authenticator
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Confirmed:
    authenticator: Authenticator
    backup_codes: IssuedSet | None


def begin(deps: Deps, current: Current, *, name: str | None) -> Enrolment:
    if current.account.two_factor_enabled:
        require_sudo(deps, current)
    secret = totp.new_secret()
    with deps.store.transaction() as tx:
        existing = tx.authenticators.for_account(current.account.id)
        # Unconfirmed enrolments are only drafts: a new one replaces them.
        for draft in (a for a in existing if not a.confirmed):
            tx.authenticators.delete(draft.id)
        confirmed = [a for a in existing if a.confirmed]
        if len(confirmed) >= MAX_AUTHENTICATORS:
            raise ValidationFailed(field="name", reason="too_many_authenticators", maximum=MAX_AUTHENTICATORS)
        authenticator_id = new_id()
        authenticator = Authenticator(
            id=authenticator_id,
            account_id=current.account.id,
            name=clean_name(name, f"Authenticator {len(confirmed) + 1}"),
            secret_enc=deps.box.encrypt(secret.encode(), aad=authenticator_id.encode()),
            created_at=deps.clock.now(),
        )
        tx.authenticators.add(authenticator)
    uri = totp.provisioning_uri(secret, account_name=current.account.username, issuer=deps.policy.issuer)
    return Enrolment(authenticator=authenticator, secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def confirm(deps: Deps, current: Current, authenticator_id: str, *, code: str, client: Client) -> Confirmed:
    """The first code from the new app confirms it. The code is checked against the app's
    key as read in a first transaction; for a first factor, backup-code set #1 is derived
    with no transaction open; then one transaction confirms the app once (conditional
    UPDATE) and, with the account's row locked, issues the set if 2FA is still off."""
    normalised = totp.normalise_code(code) if isinstance(code, str) else None
    with deps.store.transaction() as tx:
        authenticator = tx.authenticators.get(current.account.id, authenticator_id)
    if authenticator is None or authenticator.confirmed:
        raise NotFound()
    if normalised is None:
        raise MalformedCode()
    now = deps.clock.now()
    outcome = totp.verify(secret=secret_of(deps, authenticator), code=normalised, at=now, last_used_step=None)
    if isinstance(outcome, totp.DriftSuspected):
        raise WrongConfirmationCode(offset_seconds=outcome.offset_seconds)
    if not isinstance(outcome, totp.Accepted):
        raise WrongConfirmationCode()
    step = outcome.step

    def attempt(prepared: backup_codes.PreparedSet | None) -> Confirmed:
        with deps.store.transaction() as tx:
            # The confirming code counts as a use of its time step. Confirmed or removed
            # meanwhile (a new enrolment replaces a draft): not found.
            if not tx.authenticators.confirm(authenticator.id, at=now, step=step):
                raise NotFound()
            account = tx.accounts.get_for_update(current.account.id)
            assert account is not None
            issued = lifecycle.factor_confirmed(
                tx, deps, account, client, factor=Method.TOTP, name=authenticator.name, prepared=prepared
            )
        confirmed = replace(authenticator, confirmed_at=now, last_used_step=step)
        return Confirmed(authenticator=confirmed, backup_codes=issued)

    first = not current.account.two_factor_enabled
    return backup_codes.with_prepared_set(deps, current.account, attempt, expected=first)


def remove(deps: Deps, current: Current, authenticator_id: str, *, client: Client) -> None:
    require_sudo(deps, current)
    with deps.store.transaction() as tx:
        authenticator = tx.authenticators.get(current.account.id, authenticator_id)
        if authenticator is None:
            raise NotFound()
        tx.authenticators.delete(authenticator.id)
        if authenticator.confirmed:
            account = tx.accounts.get_for_update(current.account.id)
            assert account is not None
            lifecycle.factor_removed(tx, deps, account, client, factor=Method.TOTP, name=authenticator.name)


def list_authenticators(deps: Deps, account_id: str) -> list[Authenticator]:
    with deps.store.transaction() as tx:
        return tx.authenticators.for_account(account_id, confirmed_only=True)
