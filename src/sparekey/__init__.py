"""sparekey: self-hosted two-factor authentication and account recovery.

``from sparekey import Sparekey`` is the embedding API (``sparekey/embedded.py``,
docs/embedding.md). Its names are loaded on first use, so ``import sparekey.core...`` and
the console command do not pay for the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sparekey.embedded import (
        Account,
        Authenticated,
        Authenticator,
        Client,
        ClockDriftSuspected,
        CodeAlreadyUsed,
        CodeError,
        CodeExpired,
        CodeFromReplacedSet,
        CodeReplayed,
        CodeTypo,
        ConfigError,
        Confirmed,
        Current,
        Enrolment,
        FlowExpired,
        FlowNotFound,
        InvalidCode,
        InvalidCredentials,
        IssuedSet,
        MalformedCode,
        NotAuthenticated,
        NotFound,
        PasswordTooWeak,
        RateLimited,
        SecondFactorRequired,
        Session,
        Sparekey,
        SparekeyError,
        Status,
        SudoRequired,
        TwoFactorDisabled,
        UsernameTaken,
        ValidationFailed,
        WrongConfirmationCode,
    )

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
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sparekey import embedded

        return getattr(embedded, name)
    raise AttributeError(f"module 'sparekey' has no attribute {name!r}")
