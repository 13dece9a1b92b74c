"""sparekey inside another Python program: the core over a database URL, without the web layer.

``Sparekey.open(database_url, encryption_keys=...)`` builds the same ``Deps`` as the server
(``settings.load_settings`` then ``bootstrap.build_deps``) and hands each call to the use
case in ``core/flows`` that the pages and the JSON API call. Nothing is decided here: the
answers are the core's own records and results, and every refusal is the core's
``SparekeyError`` subclass with its stable ``code`` (see docs/embedding.md).
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sparekey.bootstrap import build_deps
from sparekey.core.clock import Clock
from sparekey.core.delivery import Senders
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    ClockDriftSuspected,
    CodeAlreadyUsed,
    CodeError,
    CodeExpired,
    CodeFromReplacedSet,
    CodeReplayed,
    CodeTypo,
    FlowExpired,
    FlowNotFound,
    InvalidCode,
    InvalidCredentials,
    MalformedCode,
    NotAuthenticated,
    NotFound,
    PasswordTooWeak,
    RateLimited,
    SparekeyError,
    SudoRequired,
    TwoFactorDisabled,
    UsernameTaken,
    ValidationFailed,
    WrongConfirmationCode,
)
from sparekey.core.flows import (
    accounts,
    backup_codes,
    delivery,
    jobs,
    sessions,
    sign_in,
    sudo,
    totp_enrolment,
)
from sparekey.core.flows.backup_codes import IssuedSet, Status
from sparekey.core.flows.sessions import Current
from sparekey.core.flows.sign_in import Authenticated, SecondFactorRequired
from sparekey.core.flows.totp_enrolment import Confirmed, Enrolment
from sparekey.core.models import Account, Authenticator, Client, Session
from sparekey.settings import ConfigError, Settings, load_settings
from sparekey.store.migrate import is_current, upgrade
from sparekey.store.sql import SqlStore

__all__ = [
    "Account",
    "Authenticated",
    "Authenticator",
    "Client",
    "ClockDriftSuspected",
    "CodeAlreadyUsed",
    "CodeError",
    "CodeExpired",
    "CodeFromReplacedSet",
    "CodeReplayed",
    "CodeTypo",
    "ConfigError",
    "Confirmed",
    "Current",
    "Enrolment",
    "FlowExpired",
    "FlowNotFound",
    "InvalidCode",
    "InvalidCredentials",
    "IssuedSet",
    "MalformedCode",
    "NotAuthenticated",
    "NotFound",
    "PasswordTooWeak",
    "RateLimited",
    "SecondFactorRequired",
    "Session",
    "Sparekey",
    "SparekeyError",
    "Status",
    "SudoRequired",
    "TwoFactorDisabled",
    "UsernameTaken",
    "ValidationFailed",
    "WrongConfirmationCode",
]

ANYONE = Client()  # a caller that gives no address: no per-address limit, no address in the history


class Sparekey:
    """The use cases on one database. Safe to share between threads; one per process."""

    def __init__(self, deps: Deps, settings: Settings) -> None:
        self.deps = deps  # every other use case in sparekey.core.flows takes this
        self.settings = settings

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock | None = None, senders: Senders | None = None
    ) -> Sparekey:
        """The core as configured by ``settings``: what ``sparekey serve`` builds."""
        return cls(build_deps(settings, clock, senders=senders), settings)

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        encryption_keys: str,
        migrate: bool = True,
        clock: Clock | None = None,
        senders: Senders | None = None,
        **settings: Any,
    ) -> Sparekey:
        """The core over ``database_url`` (``sqlite:////abs/path.db``, ``postgresql://…``).

        ``encryption_keys`` is the key ring for authenticator secrets (docs/configuration.md,
        "The encryption key ring"); ``settings`` are any other settings by their names
        (``issuer="Example"``, ``sudo_minutes=5``), else ``SPAREKEY_*`` variables decide as
        for the server. ``migrate`` brings the schema up to date; without it a schema that
        is not current is a ``ConfigError``. Bad settings are a ``ConfigError`` too.
        """
        loaded = load_settings(database_url=database_url, encryption_keys=encryption_keys, **settings)
        core = cls.from_settings(loaded, clock=clock, senders=senders)
        try:
            if migrate:
                upgrade(core._engine())
            elif not is_current(core._engine()):
                raise ConfigError("the database schema is not up to date: open it with migrate=True")
        except BaseException:
            core.close()
            raise
        return core

    def _engine(self) -> Any:
        store = self.deps.store
        if not isinstance(store, SqlStore):
            raise TypeError(f"not a database store: {type(store).__name__}")
        return store.engine

    def close(self) -> None:
        """Close the database connections (a later call opens new ones)."""
        self._engine().dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # Accounts and sign-in --------------------------------------------------------------------

    def register(self, username: str, password: str, *, email: str | None = None) -> Account:
        """A new account (2FA off). ``UsernameTaken``, ``PasswordTooWeak``, ``ValidationFailed``."""
        return accounts.register(self.deps, username=username, password=password, email=email)

    def sign_in(
        self,
        username: str,
        password: str,
        *,
        client: Client = ANYONE,
        client_token: str | None = None,
        device_token: str | None = None,
        language: str | None = None,
    ) -> Authenticated | SecondFactorRequired:
        """The password step: a session at once, or a flow that waits for a second factor.

        ``client_token`` is the one an earlier ``Authenticated`` gave this client (it keeps
        strangers' failures from limiting it); ``device_token`` one of a trusted device.
        ``InvalidCredentials``, ``RateLimited``."""
        return sign_in.start(
            self.deps,
            username=username,
            password=password,
            client=client,
            client_tokens=[client_token] if client_token else [],
            device_tokens=[device_token] if device_token else [],
            lang=language,
        )

    def submit_code(
        self,
        flow_id: str,
        code: str,
        *,
        client: Client = ANYONE,
        method: str | None = None,
        trust_device: bool = False,
        language: str = "en",
    ) -> Authenticated:
        """The second step with any code: an authenticator app's, a backup code, a sent code.

        Without ``method`` the kind is read from the code's shape. Every refusal is a
        ``CodeError`` subclass (``InvalidCode``, ``CodeReplayed``, ``CodeAlreadyUsed``, ...),
        or ``FlowNotFound``, ``FlowExpired``, ``RateLimited``."""
        return sign_in.submit_code(
            self.deps,
            flow_id=flow_id,
            code=code,
            client=client,
            method=method,
            trust_device=trust_device,
            lang=language,
        )

    # Sessions ---------------------------------------------------------------------------------

    def session(self, session_token: str) -> Current:
        """The signed-in account and session of a token, or ``NotAuthenticated``."""
        return sessions.authenticate(self.deps, session_token)

    def sessions(self, current: Current) -> list[tuple[Session, bool]]:
        """The account's sessions, each with whether it is ``current``'s."""
        return sessions.list_sessions(self.deps, current)

    def revoke_session(self, current: Current, session_id: str, *, client: Client = ANYONE) -> None:
        """End one session of the account (``NotFound`` for anything else)."""
        sessions.revoke(self.deps, current, session_id, client)

    def revoke_other_sessions(self, current: Current, *, client: Client = ANYONE) -> int:
        """End every session of the account but ``current``; how many ended."""
        return sessions.revoke_others(self.deps, current, client)

    def sign_out(self, current: Current) -> None:
        sessions.log_out(self.deps, current)

    def enter_sudo(
        self, current: Current, *, password: str, code: str | None = None, client: Client = ANYONE
    ) -> datetime:
        """Re-authenticate ``current`` for the changes that need it; returns when sudo mode
        ends. With 2FA on, ``code`` is a second factor's (a backup code counts as used)."""
        until, _token = sudo.enter(
            self.deps, current, password=password, code=code, client=client, rotate_token=False
        )
        return until

    # Authenticator apps -------------------------------------------------------------------------

    def begin_totp(self, current: Current, *, name: str | None = None) -> Enrolment:
        """A new authenticator app's key, ``otpauth://`` URI and QR code, waiting for its
        first code. Needs sudo mode once 2FA is on (``SudoRequired``)."""
        return totp_enrolment.begin(self.deps, current, name=name)

    def confirm_totp(
        self, current: Current, authenticator_id: str, code: str, *, client: Client = ANYONE
    ) -> Confirmed:
        """The app's first code; the first confirmed factor turns 2FA on and brings the first
        backup-code set (``Confirmed.backup_codes``). ``WrongConfirmationCode``, ``MalformedCode``."""
        return totp_enrolment.confirm(self.deps, current, authenticator_id, code=code, client=client)

    def authenticators(self, current: Current) -> list[Authenticator]:
        """The account's confirmed authenticator apps."""
        return totp_enrolment.list_authenticators(self.deps, current.account.id)

    # Backup codes -------------------------------------------------------------------------------

    def backup_codes(self, current: Current) -> Status | None:
        """The current set's state (``remaining``, ``used``; never the codes), or None
        while 2FA is off."""
        return backup_codes.status(self.deps, current.account.id)

    def regenerate_backup_codes(self, current: Current, *, client: Client = ANYONE) -> IssuedSet:
        """A new set replacing the current one; needs sudo mode (``SudoRequired``)."""
        return backup_codes.regenerate(self.deps, current, client)

    def confirm_backup_codes_saved(self, current: Current, *, position: int, code: str) -> None:
        """The owner typed the code at ``position`` (1-based) of the sheet: it was saved.
        The code stays usable. ``WrongConfirmationCode``."""
        backup_codes.confirm_saved(self.deps, current.account, position=position, code=code)

    # Background work ------------------------------------------------------------------------------

    def run_jobs(self) -> dict[str, int]:
        """What ``sparekey jobs`` does once: notifications, reminders, forgetting what expired,
        then sending what is due. Call it every minute or so when no server runs beside."""
        report = jobs.run(self.deps).as_dict()
        report["delivered"] = delivery.deliver(self.deps)
        return report
