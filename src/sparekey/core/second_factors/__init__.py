"""The registry of second factors, and the one code box that tries a code on them.

Every kind is one module of the same shape (``base.SecondFactor``): authenticator apps
(``totp``), backup codes (``backup_code``), codes sent by SMS, voice call or e-mail
(``sent_code``), passkeys and security keys (``security_key``, which answer a challenge
instead of taking a code). The code box, a flow's ``methods``, sudo and the lifecycle rules
loop over ``REGISTRY`` and name no factor.

The code box (``verify``): a submitted code is read once (``core/factors/codes.py``: one
input limit, one set of separators), its shape decides which factors it is tried on (a
six-digit code: the flow's sent code and the authenticator apps; a backup-code shape: the
backup codes), and it counts as one attempt whatever the number of factors tried (the
caller counts it). The first factor that accepts it wins; if none does, the most telling
failure is raised (a replayed, expired or drifted code says more than "invalid").

It works in two steps, so that no slow work runs while a transaction holds the write lock:
``prepare`` reads the code and does what its check needs beforehand, with no transaction
open (a backup code's one derivation), then ``verify`` checks the prepared code inside the
caller's transaction, against what is stored at that moment.
"""

from __future__ import annotations

from typing import Any

from sparekey.core.delivery import Channel
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeError, InvalidCode, MalformedCode, ValidationFailed
from sparekey.core.factors import backup_codes as backup_mechanics
from sparekey.core.factors import codes
from sparekey.core.factors import totp as totp_mechanics
from sparekey.core.factors.contact_points import ContactKind
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, LoginFlow
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.backup_code import BackupCodes
from sparekey.core.second_factors.base import CodeAttempt, SecondFactor, Shape, TypedCode, Verified
from sparekey.core.second_factors.security_key import SecurityKeys
from sparekey.core.second_factors.sent_code import SentCodes
from sparekey.core.second_factors.totp import AuthenticatorApps

__all__ = [
    "REGISTRY",
    "CodeAttempt",
    "SecondFactor",
    "Shape",
    "TypedCode",
    "Verified",
    "by_kind",
    "credentials",
    "methods_of",
    "prepare",
    "read",
    "require_known_method",
    "verify",
]

SECURITY_KEYS = SecurityKeys()
AUTHENTICATOR_APPS = AuthenticatorApps()
SMS = SentCodes(Method.SMS, Channel.SMS, ContactKind.PHONE, keeps_2fa_on=True)
VOICE = SentCodes(Method.VOICE, Channel.VOICE, ContactKind.PHONE, keeps_2fa_on=True)
EMAIL = SentCodes(Method.EMAIL, Channel.EMAIL, ContactKind.EMAIL, keeps_2fa_on=False)
BACKUP_CODES = BackupCodes()

# In the order a sign-in page offers them: keys (phishing-resistant) first; backup codes,
# the last spare key, come last.
REGISTRY: tuple[SecondFactor, ...] = (SECURITY_KEYS, AUTHENTICATOR_APPS, SMS, VOICE, EMAIL, BACKUP_CODES)


def by_kind(kind: str) -> SecondFactor | None:
    return next((factor for factor in REGISTRY if factor.kind == kind), None)


def read(raw: object) -> TypedCode:
    """A submitted code's shape and canonical value: the one reading of it. Never raises."""
    text = codes.compact(raw)
    if text is None:
        return TypedCode(None, "")
    digits = totp_mechanics.from_compact(text)
    if digits is not None:
        return TypedCode(Shape.SIX_DIGITS, digits)
    canonical = backup_mechanics.from_compact(text)
    if canonical is not None:
        return TypedCode(Shape.BACKUP_CODE, canonical)
    return TypedCode(None, text)


def methods_of(
    tx: Transaction, deps: Deps, account: Account, flow: LoginFlow | None = None
) -> list[dict[str, Any]]:
    """The ways this account can finish signing in ("try another way"); given the flow, with
    what each needs there."""
    entries = (factor.method_entry(tx, deps, account, flow) for factor in REGISTRY)
    return [entry for entry in entries if entry is not None]


def credentials(tx: Transaction, account_id: str) -> set[str]:
    """Everything that keeps two-step verification on (apps, phones): empty means off."""
    found: set[str] = set()
    for factor in REGISTRY:
        found |= factor.credentials(tx, account_id)
    return found


# A failure that says more than "invalid" wins when several factors were tried.
_LESS_TELLING = (InvalidCode,)


def require_known_method(method: str | None) -> None:
    """``ValidationFailed`` for a ``method`` that names no kind (None: any kind)."""
    if method is not None and method not in Method.__members__.values():
        raise ValidationFailed(field="method")


def _tried_on(code: TypedCode, method: str | None) -> list[SecondFactor]:
    return [f for f in REGISTRY if code.shape in f.shapes and (method is None or f.kind == method)]


def prepare(deps: Deps, account: Account, raw_code: object, *, method: str | None = None) -> TypedCode:
    """Read a submitted code once and do the slow work its check will need (a backup code's
    one derivation, under ``account``'s salt). No storage: call it with no transaction open,
    then hand the result to ``verify``."""
    require_known_method(method)
    code = read(raw_code)
    for factor in _tried_on(code, method):
        code = factor.prepare(deps, account, code)
    return code


def verify(
    tx: Transaction,
    deps: Deps,
    account: Account,
    code: TypedCode,
    client: Client,
    *,
    method: str | None = None,
    purpose: str = "sign_in",
    flow: LoginFlow | None = None,
) -> Verified:
    """Check one code as ``prepare`` made it; raise the ``CodeError`` that explains a
    failure. The error carries ``method``: what the code box took the code for (for the
    history). ``account`` is read in ``tx``."""
    require_known_method(method)
    candidates = _tried_on(code, method)
    if code.shape is None or not candidates:
        raise _tagged(MalformedCode(), method or None)
    attempt = CodeAttempt(client=client, purpose=purpose, flow=flow)
    failures: list[tuple[SecondFactor, CodeError]] = []
    for factor in candidates:
        try:
            verified = factor.verify(tx, deps, account, code, attempt)
        except CodeError as error:
            failures.append((factor, error))
        else:
            if verified is not None:
                return verified
    telling = [(f, e) for f, e in failures if not isinstance(e, _LESS_TELLING)] or failures
    if telling:
        factor, failure = telling[0]
        raise _tagged(failure, factor.kind)
    raise _tagged(InvalidCode(), method or candidates[0].kind)


def _tagged(error: CodeError, method: str | None) -> CodeError:
    error.method = method or "unrecognised"
    return error
