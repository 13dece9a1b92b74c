"""Which sign-in an authorization request needs, judged from the browser's session.

The session records how it was made (``core/assurance.py``: amr, auth_time, level). A
request may ask for more:

- ``prompt=login``, or ``max_age=0``: a sign-in made for this request;
- ``max_age=N``: a sign-in at most N seconds old;
- ``acr_values``: a level (``urn:sparekey:acr:two_factors``,
  ``urn:sparekey:acr:phishing_resistant``); unknown values are ignored, as OpenID Connect
  says of this voluntary claim, and of several known ones the weakest is enough.

When the session does not do, the browser is sent to sign in again, and the request it comes
back to carries a signed mark (``MARK``) with the moment it was sent: a sign-in made since
then is fresh, which ends the loop. A fresh sign-in that still falls short of the level asked
(an account without a security key asked for a phishing-resistant one) is answered with
``unmet_authentication_requirements``; ``prompt=none`` never shows a page and is answered
``login_required`` instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sparekey.core.assurance import AuthContext, Level
from sparekey.core.crypto import Signer

ACR_PREFIX = "urn:sparekey:acr:"
MARK = "sparekey_fresh"  # the query parameter that carries the mark
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def acr_of(level: Level) -> str:
    """The ``acr`` a session of this level reaches: ``urn:sparekey:acr:<level>``."""
    return f"{ACR_PREFIX}{level.value}"


ACR_VALUES = tuple(acr_of(level) for level in sorted(Level, key=lambda level: level.rank))


def level_of(acr: str) -> Level | None:
    if not acr.startswith(ACR_PREFIX):
        return None
    name = acr.removeprefix(ACR_PREFIX)
    return Level(name) if name in Level.__members__.values() else None


@dataclass(frozen=True)
class Asked:
    """What a request asks of the sign-in."""

    prompts: frozenset[str] = frozenset()
    max_age: int | None = None
    level: Level | None = None


class BadRequest(ValueError):
    """A parameter that cannot be read (``max_age`` that is not a whole number of seconds)."""


def asked(params: Mapping[str, str]) -> Asked:
    max_age: int | None = None
    raw = params.get("max_age")
    if raw is not None and raw != "":
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            raise BadRequest("max_age must be a whole number of seconds")
        max_age = int(raw)
    levels = [level for level in map(level_of, (params.get("acr_values") or "").split()) if level]
    return Asked(
        prompts=frozenset((params.get("prompt") or "").split()),
        max_age=max_age,
        level=min(levels, key=lambda level: level.rank) if levels else None,
    )


class Verdict(enum.Enum):
    PROCEED = "proceed"
    SIGN_IN = "sign_in"  # send the browser to sign in, then back with the mark
    LOGIN_REQUIRED = "login_required"  # prompt=none, and a sign-in is needed
    UNMET = "unmet_authentication_requirements"  # signed in afresh, and still short of the level


def judge(
    request: Asked, context: AuthContext | None, *, now: datetime, fresh_since: datetime | None
) -> Verdict:
    """The one decision; ``fresh_since`` is the moment a valid mark carries, if any."""
    silent = "none" in request.prompts
    if context is None:
        return Verdict.LOGIN_REQUIRED if silent else Verdict.SIGN_IN
    weak = request.level is not None and not context.level.at_least(request.level)
    if fresh_since is not None and context.auth_time >= fresh_since:
        return Verdict.UNMET if weak else Verdict.PROCEED
    age = (now - context.auth_time).total_seconds()
    stale = "login" in request.prompts or (
        request.max_age is not None and (request.max_age == 0 or age > request.max_age)
    )
    if stale or weak:
        return Verdict.LOGIN_REQUIRED if silent else Verdict.SIGN_IN
    return Verdict.PROCEED


def mark(signer: Signer, at: datetime) -> str:
    """The mark for a request sent to sign in at ``at``: the moment in microseconds, signed."""
    micros = str((at - _EPOCH) // timedelta(microseconds=1))
    return f"{micros}.{signer.sign(f'oidc-fresh|{micros}')}"


def read_mark(signer: Signer, text: str | None, *, now: datetime, within_seconds: int) -> datetime | None:
    """The moment a genuine mark carries, if it is younger than ``within_seconds``."""
    micros, _, tag = (text or "").partition(".")
    if not micros.isascii() or not micros.isdigit() or len(micros) > 20:
        return None
    if not signer.verify(f"oidc-fresh|{micros}", tag):
        return None
    at = _EPOCH + timedelta(microseconds=int(micros))
    if not now - timedelta(seconds=within_seconds) <= at <= now + timedelta(seconds=1):
        return None
    return at
