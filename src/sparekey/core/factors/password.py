"""Passwords: NIST SP 800-63B checks for new passwords, and argon2id hashing.

Pure module: no storage, no requests.

Rules for a new password (``check_new_password``), in the order they are checked:

* The password is normalised with Unicode NFKC first (``normalise``), and every length and
  list check, as well as hashing, works on that form. So the full-width ``ｐａｓｓｗｏｒｄ``
  *is* ``password``, and a password typed on a different keyboard or input method still
  matches.
* Length counts code points of the normalised form: fewer than ``min_length`` is
  ``too_short``, more than ``max_length`` is ``too_long``. Nothing is ever stripped or
  truncated: spaces (leading, trailing, or only spaces) are ordinary characters, and an
  empty or all-blank password is refused only because it is short.
* No composition rules: no "one digit, one symbol". Any Unicode text is accepted, except
  unpaired surrogates (not text, and not encodable as UTF-8), which raise
  ``ValidationFailed(field="password")``.
* ``common``: the case-folded password is in the bundled list of common and breached
  passwords (``sparekey/data/common-passwords.txt``).
* ``contains_username``: the case-folded password equals or contains the case-folded
  username, for usernames of at least three characters.

Errors never carry the password or the username, only the reason and the limits.

Hashing is argon2id through argon2-cffi, on the UTF-8 bytes of the NFKC form, so
``hash``/``verify`` agree with ``check_new_password`` whatever form the caller passes.
``verify`` returns ``False`` instead of raising for a wrong password *or* a malformed
stored hash, and ``verify_dummy`` spends one verification's worth of work so that an
unknown username costs the same time as a wrong password.
"""

from __future__ import annotations

import functools
import importlib.resources
import secrets
import unicodedata
from dataclasses import dataclass

import argon2
from argon2.exceptions import Argon2Error

from sparekey.core.errors import PasswordTooWeak, ValidationFailed

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MIN_LENGTH",
    "HASH_LENGTH",
    "SALT_LENGTH",
    "Argon2Parameters",
    "PasswordHasher",
    "PasswordPolicy",
    "check_new_password",
    "common_passwords",
    "is_common",
    "normalise",
]

DEFAULT_MIN_LENGTH = 8
DEFAULT_MAX_LENGTH = 1024
USERNAME_CHECK_MIN = 3
HASH_LENGTH = 32
SALT_LENGTH = 16

# NFKC never makes text shorter than a quarter of its length: every input code point adds at
# least one code point to the compatibility decomposition, and one composed character stands
# for at most four decomposed ones (e.g. U+1F82). Input longer than this many times
# max_length is therefore too long without being normalised at all.
_NFKC_MAX_SHRINK = 4

_LIST_RESOURCE = ("data", "common-passwords.txt")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = DEFAULT_MIN_LENGTH
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ValueError("min_length must be at least 1")
        if self.max_length < self.min_length:
            raise ValueError("max_length must not be below min_length")


def normalise(password: str) -> str:
    """The NFKC form of ``password``; nothing stripped, nothing case-folded."""
    return unicodedata.normalize("NFKC", password)


def _fold(text: str) -> str:
    return normalise(text).casefold()


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_new_password(password: str, policy: PasswordPolicy, *, username: str | None = None) -> str:
    """Return the normalised password, or raise ``PasswordTooWeak(reason=...)``.

    Reasons: ``too_short`` (detail ``min_length``), ``too_long`` (detail ``max_length``),
    ``common``, ``contains_username``. Lengths are code points after NFKC.
    """
    if len(password) > policy.max_length * _NFKC_MAX_SHRINK:
        raise PasswordTooWeak(reason="too_long", max_length=policy.max_length)
    if _has_surrogate(password):
        raise ValidationFailed(field="password")
    clean = normalise(password)
    if len(clean) < policy.min_length:
        raise PasswordTooWeak(reason="too_short", min_length=policy.min_length)
    if len(clean) > policy.max_length:
        raise PasswordTooWeak(reason="too_long", max_length=policy.max_length)
    folded = clean.casefold()
    if folded in common_passwords():
        raise PasswordTooWeak(reason="common")
    if username is not None:
        name = _fold(username).strip()
        if len(name) >= USERNAME_CHECK_MIN and name in folded:
            raise PasswordTooWeak(reason="contains_username")
    return clean


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, read once: one lower-case password a line, ``#`` lines skipped."""
    resource = importlib.resources.files("sparekey").joinpath(*_LIST_RESOURCE)
    entries: set[str] = set()
    for line in resource.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.add(_fold(entry))
    return frozenset(entries)


def is_common(password: str) -> bool:
    """Whether the case-folded NFKC form of ``password`` is in the bundled list."""
    return _fold(password) in common_passwords()


@dataclass(frozen=True)
class Argon2Parameters:
    """argon2id cost; defaults are OWASP's m=19 MiB, t=2, p=1."""

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1

    def __post_init__(self) -> None:
        if self.time_cost < 1:
            raise ValueError("time_cost must be at least 1")
        if self.parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("memory_cost must be at least 8 KiB per lane (8 * parallelism)")


def _secret(password: str) -> bytes:
    # surrogatepass: a lone surrogate cannot be stored (check_new_password refuses it), but a
    # sign-in attempt carrying one must still cost one ordinary, failing verification.
    return normalise(password).encode("utf-8", "surrogatepass")


class PasswordHasher:
    """argon2id hashes in PHC string form (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)."""

    def __init__(self, params: Argon2Parameters = Argon2Parameters()) -> None:
        self.params = params
        self._hasher = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=HASH_LENGTH,
            salt_len=SALT_LENGTH,
            type=argon2.Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_bytes(HASH_LENGTH))

    def hash(self, password: str) -> str:
        """Hash the NFKC form of ``password`` (call ``check_new_password`` first)."""
        return self._hasher.hash(_secret(password))

    def verify(self, stored: str, password: str) -> bool:
        """True if ``password`` matches ``stored``; False on mismatch or a malformed hash."""
        try:
            return self._hasher.verify(stored, _secret(password))
        except (Argon2Error, ValueError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True if ``stored`` was made with other parameters (or type, or is malformed)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (Argon2Error, ValueError):
            return True

    def verify_dummy(self, password: str) -> None:
        """One full verification against a throw-away hash with the current parameters."""
        self.verify(self._dummy, password)
