"""How a session was made: the methods used (RFC 8176 ``amr`` values), when, and the level
of assurance they reach. Sudo mode and the OpenID Connect provider read this from the
session; nothing reads it back from the event log.

Levels, from weakest to strongest:

- ``one_factor``: a password alone (an account without two-step verification).
- ``two_factors``: a password and a second factor (an app, a sent code, a backup code, a
  trusted device that was itself trusted after a second factor), or a passkey with user
  verification (the device holds the key, and unlocking it is the second factor).
- ``phishing_resistant``: any sign-in that used a WebAuthn key. Its signature is bound to
  our origin, so a look-alike site cannot relay it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sparekey.core.methods import Method


class Amr(enum.StrEnum):
    """Authentication method reference values (RFC 8176)."""

    PWD = "pwd"  # a password
    OTP = "otp"  # a one-time code: an authenticator app, a backup code, an e-mailed code
    SMS = "sms"  # a code by text message
    TEL = "tel"  # a code read by a telephone call
    HWK = "hwk"  # a hardware-bound key: a security key, a passkey that never leaves its device
    SWK = "swk"  # a software key: a passkey that can be synced (backup-eligible)
    MFA = "mfa"  # more than one factor


class Level(enum.StrEnum):
    ONE_FACTOR = "one_factor"
    TWO_FACTORS = "two_factors"
    PHISHING_RESISTANT = "phishing_resistant"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Level) -> bool:
        return self.rank >= other.rank


_RANK = {Level.ONE_FACTOR: 1, Level.TWO_FACTORS: 2, Level.PHISHING_RESISTANT: 3}

# What each way through a sign-in step proves; keys answer per key (hwk or swk), see ``of_key``.
_AMR_OF = {
    Method.PASSWORD: Amr.PWD,
    Method.TOTP: Amr.OTP,
    Method.BACKUP_CODE: Amr.OTP,
    Method.EMAIL: Amr.OTP,
    Method.SMS: Amr.SMS,
    Method.VOICE: Amr.TEL,
}


def amr_of(method: Method) -> tuple[Amr, ...]:
    """The ``amr`` values of a step done with a code or a password."""
    return (_AMR_OF[method],) if method in _AMR_OF else ()


def of_key(*, backup_eligible: bool) -> tuple[Amr, ...]:
    """A WebAuthn key: software-secured when it can be synced to other devices."""
    return (Amr.SWK,) if backup_eligible else (Amr.HWK,)


@dataclass(frozen=True)
class AuthContext:
    """What a session records about its sign-in."""

    methods: tuple[Amr, ...]
    auth_time: datetime
    level: Level

    @property
    def amr(self) -> list[str]:
        return [m.value for m in self.methods]


def context(methods: Iterable[Amr], at: datetime, *, factors: int) -> AuthContext:
    """The context of a sign-in that used ``methods`` and proved ``factors`` independent
    factors (a passkey with user verification proves two by itself)."""
    unique: tuple[Amr, ...] = tuple(dict.fromkeys(m for m in methods if m is not Amr.MFA))
    if factors >= 2:
        unique = (*unique, Amr.MFA)
    if Amr.HWK in unique or Amr.SWK in unique:
        level = Level.PHISHING_RESISTANT
    elif factors >= 2:
        level = Level.TWO_FACTORS
    else:
        level = Level.ONE_FACTOR
    return AuthContext(methods=unique, auth_time=at, level=level)


def parse_methods(text: str) -> tuple[Amr, ...]:
    """The stored form (``"pwd otp mfa"``) back to values; unknown words are dropped."""
    known = set(Amr.__members__.values())
    return tuple(Amr(word) for word in text.split() if word in known)


def store_methods(methods: Iterable[Amr]) -> str:
    return " ".join(m.value for m in methods)
