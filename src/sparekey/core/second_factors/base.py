"""The shape every second factor has, so that the code box, ``methods``, sudo and the
lifecycle rules loop over the registry instead of naming one factor."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from sparekey.core.assurance import Amr, amr_of
from sparekey.core.deps import Deps
from sparekey.core.factors.backup_codes import Derived
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, LoginFlow
from sparekey.core.ports import Transaction


class Shape(enum.StrEnum):
    """The shapes a typed code can have (``core/factors/codes.py`` reads the text)."""

    SIX_DIGITS = "six_digits"  # an authenticator app's code, or a code sent by SMS, call or e-mail
    BACKUP_CODE = "backup_code"  # ten backup-code symbols (the check character is not checked yet)


@dataclass(frozen=True)
class TypedCode:
    """A submitted code as the code box read it, once: its shape (None when it has none) and
    its canonical value (six ASCII digits, or the ten backup-code symbols); once prepared
    (``SecondFactor.prepare``), the slow work its check needs: a backup code's derivation
    under the account's salt."""

    shape: Shape | None
    value: str
    derived: Derived | None = None


@dataclass(frozen=True)
class CodeAttempt:
    """Where a code is being tried: the client, what for, and the sign-in flow if any."""

    client: Client
    purpose: str  # "sign_in" or "sudo"
    flow: LoginFlow | None = None


@dataclass(frozen=True)
class Verified:
    """A step that worked: how (``method``), what it proves (``amr``, RFC 8176; by default
    that of the method) and how many factors (a passkey with user verification: two)."""

    method: Method
    notices: list[dict[str, Any]] = field(default_factory=list)
    amr: tuple[Amr, ...] = ()
    factors: int = 1

    @property
    def methods(self) -> tuple[Amr, ...]:
        return self.amr or amr_of(self.method)


class SecondFactor(Protocol):
    """One kind of second factor.

    * ``kind``: its name in the API (``methods[].type``, ``method_used``).
    * ``shapes``: the code shapes it takes; the code box tries a code on every factor that
      takes its shape.
    * ``method_entry``: its entry in the account's ``methods``, or None when the account
      has none of it (or the operator switched it off). Given the sign-in ``flow``, what the
      client needs to use it there (a security key's WebAuthn options).
    * ``prepare``: the slow work checking a code needs (a backup code's argon2id derivation),
      done before the transaction that checks it, which must not hold the write lock that
      long; no storage. Returns the code with that work attached (most kinds have none).
    * ``verify``: check a prepared code; ``Verified``, a ``CodeError`` that explains the
      failure, or None when the factor has nothing to check the code against (no app, no
      code sent).
    * ``credentials``: the ids of what keeps two-step verification on (an app, a phone);
      backup codes and e-mail addresses keep nothing on by themselves.
    * ``remove_all``: remove every one of it, when two-step verification is turned off.
    """

    kind: Method
    shapes: frozenset[Shape]

    def method_entry(
        self, tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
    ) -> dict[str, Any] | None: ...

    def prepare(self, deps: Deps, account: Account, code: TypedCode) -> TypedCode: ...

    def verify(
        self, tx: Transaction, deps: Deps, account: Account, code: TypedCode, attempt: CodeAttempt
    ) -> Verified | None: ...

    def credentials(self, tx: Transaction, account_id: str) -> set[str]: ...

    def remove_all(self, tx: Transaction, deps: Deps, account: Account, client: Client) -> None: ...
