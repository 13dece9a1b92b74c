"""Backup codes: generation, forgiving input normalisation, check character, hashing.

A code is 10 symbols from a 29-symbol alphabet, shown as ``XXXXX-XXXXX``. The last symbol
is a check character over the first nine, so typos are caught before any hash is spent.
Codes are stored as argon2id derivations under ONE salt per account: checking a submitted
code costs exactly one derivation, then a constant-time comparison against every stored
hash (all codes of all sets). Pure module: no storage, no clock, no requests.

Alphabet (29 symbols, a prime)::

    0 1 2 3 4 5 6 7 8 9 A C D E F G H J K M N P Q R T V W X Y

The seven letters B I L O S U Z are left out because each is a look-alike of a symbol
that stays (B/8, I/1, L/1, O/0, S/5, U/V, Z/2). On input they are mapped to that symbol,
so every ASCII letter and digit, in either case, lands in the alphabet.

Check character: with values ``v_i`` (index in ALPHABET) and weights ``w_i = i`` for
positions 1..10, the check value makes ``sum(w_i * v_i) ≡ 0 (mod 29)``.

* Single substitution at position i (a -> b, a != b) changes the sum by ``w_i * (b - a)``.
  29 is prime, ``1 <= w_i <= 10`` and ``0 < |b - a| <= 28``, so neither factor is divisible
  by 29 and neither is their product: the sum is no longer 0, the error is detected.
* Adjacent transposition (a b -> b a, a != b) at positions i, i+1 changes the sum by
  ``(w_i - w_{i+1}) * (b - a) = -(b - a)``, not divisible by 29: detected. (Any
  transposition i, j is caught the same way since ``0 < |w_i - w_j| <= 9``; so is a twin
  error aa -> bb, since ``3 <= w_i + w_{i+1} <= 19``.)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from hmac import compare_digest

from argon2.low_level import Type, hash_secret_raw

from sparekey.core.factors import codes

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "DEFAULT_SET_SIZE",
    "LOOKALIKES",
    "MAX_SET_SIZE",
    "MIN_SET_SIZE",
    "SALT_LENGTH",
    "CodeHasher",
    "Derived",
    "check_character",
    "check_character_ok",
    "find_match",
    "format_code",
    "from_compact",
    "generate_code",
    "generate_set",
    "looks_like_backup_code",
    "new_salt",
    "normalise",
]

CODE_LENGTH = 10
"""Characters in a canonical code; the last one is the check character."""

ALPHABET = "0123456789ACDEFGHJKMNPQRTVWXY"
"""29 symbols (prime): digits and the letters without a look-alike among the digits/letters."""

LOOKALIKES: dict[str, str] = {
    "O": "0",
    "I": "1",
    "L": "1",
    "B": "8",
    "S": "5",
    "Z": "2",
    "U": "V",
}
"""Applied after upper-casing: letters outside ALPHABET -> the symbol they are mistaken for."""

MIN_SET_SIZE = 5
MAX_SET_SIZE = 20
DEFAULT_SET_SIZE = 10
SALT_LENGTH = 16

_BASE = len(ALPHABET)
_VALUE: dict[str, int] = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = tuple(range(1, CODE_LENGTH + 1))
_INV_LAST_WEIGHT = pow(_WEIGHTS[-1], -1, _BASE)
_GROUP = 5

_TRANSLATE = str.maketrans(LOOKALIKES)

# Sanity of the tables, checked once at import (cheap, and a wrong edit fails loudly).
assert len(set(ALPHABET)) == _BASE and all(_BASE % d for d in range(2, _BASE))
assert max(_WEIGHTS) < _BASE and all(t in ALPHABET for t in LOOKALIKES.values())
assert not set(LOOKALIKES) & set(ALPHABET)


def _is_canonical(value: object) -> bool:
    return isinstance(value, str) and len(value) == CODE_LENGTH and all(ch in _VALUE for ch in value)


def check_character(body: str) -> str:
    """The check character for the first nine symbols ``body`` (canonical symbols only).

    Raises ValueError if ``body`` is not ``CODE_LENGTH - 1`` alphabet symbols.
    """
    if not (isinstance(body, str) and len(body) == CODE_LENGTH - 1 and all(ch in _VALUE for ch in body)):
        raise ValueError("body must be 9 symbols of the backup-code alphabet")
    partial = sum(w * _VALUE[ch] for w, ch in zip(_WEIGHTS, body, strict=False))
    return ALPHABET[(-partial * _INV_LAST_WEIGHT) % _BASE]


def check_character_ok(canonical: str) -> bool:
    """True iff ``canonical`` is 10 alphabet symbols whose weighted sum is 0 mod 29.

    Never raises; anything that is not in canonical form is simply False.
    """
    if not _is_canonical(canonical):
        return False
    return sum(w * _VALUE[ch] for w, ch in zip(_WEIGHTS, canonical, strict=True)) % _BASE == 0


def generate_code() -> str:
    """A fresh code in canonical form (10 symbols, no hyphen), from ``secrets``."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH - 1))
    return body + check_character(body)


def generate_set(count: int = DEFAULT_SET_SIZE) -> list[str]:
    """``count`` distinct fresh codes, ``MIN_SET_SIZE <= count <= MAX_SET_SIZE``, else ValueError."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError("count must be an integer")
    if not MIN_SET_SIZE <= count <= MAX_SET_SIZE:
        raise ValueError(f"count must be between {MIN_SET_SIZE} and {MAX_SET_SIZE}")
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < count:
        code = generate_code()
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes


def format_code(canonical: str) -> str:
    """Display form ``XXXXX-XXXXX``. Raises ValueError if ``canonical`` is not canonical."""
    if not _is_canonical(canonical):
        raise ValueError("not a canonical backup code")
    return f"{canonical[:_GROUP]}-{canonical[_GROUP:]}"


def from_compact(text: str) -> str | None:
    """The canonical code in a compacted input (``codes.compact``): look-alikes mapped (O->0,
    I->1, L->1, B->8, S->5, Z->2, U->V), then exactly 10 alphabet symbols, else None.
    The check character is NOT verified here (see ``check_character_ok``): a wrong one
    means "typo", None means "malformed"."""
    kept = text.translate(_TRANSLATE)
    return kept if _is_canonical(kept) else None


def normalise(raw: str) -> str | None:
    """The canonical form of a typed code, or None if it is not the shape of a backup code.

    ``codes.compact`` first (length cap, NFKC, upper case, separators dropped), then
    ``from_compact``. Never raises for any ``str``; non-``str`` input also gives None.
    """
    text = codes.compact(raw)
    return from_compact(text) if text is not None else None


def looks_like_backup_code(raw: str) -> bool:
    """True iff ``normalise(raw)`` is not None (the check character may still be wrong)."""
    return normalise(raw) is not None


def new_salt() -> bytes:
    """16 random bytes. One salt per ACCOUNT, shared by all its codes and sets."""
    return secrets.token_bytes(SALT_LENGTH)


@dataclass(frozen=True)
class CodeHasher:
    """argon2id parameters (defaults: OWASP m=19 MiB, t=2, p=1) and the one derivation.

    Intended use for one attempt::

        canonical = normalise(raw)                    # None -> not a backup code
        if canonical is None or not check_character_ok(canonical): ...  # no hash spent
        index = find_match(hasher.derive(canonical, account_salt), all_stored_hashes)
    """

    time_cost: int = 2
    memory_cost: int = 19456  # KiB
    parallelism: int = 1
    hash_len: int = 32

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("time_cost and parallelism must be >= 1")
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("memory_cost must be >= 8 * parallelism KiB")
        if self.hash_len < 16:
            raise ValueError("hash_len must be >= 16 bytes")

    def derive(self, canonical: str, salt: bytes) -> bytes:
        """Exactly one argon2id derivation of the canonical code under ``salt``; raw bytes.

        Raises ValueError if ``canonical`` is not in canonical form (normalise first) or the
        salt is shorter than 8 bytes (argon2's minimum; ``new_salt`` gives 16).
        """
        if not _is_canonical(canonical):
            raise ValueError("derive() needs a canonical backup code; call normalise() first")
        if not isinstance(salt, bytes) or len(salt) < 8:
            raise ValueError("salt must be at least 8 bytes")
        return hash_secret_raw(
            secret=canonical.encode("ascii"),
            salt=salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=self.hash_len,
            type=Type.ID,
        )


@dataclass(frozen=True)
class Derived:
    """A typed code's one derivation and the salt it was made under.

    The derivation is the slow part of checking a code, so it is made before the caller opens
    the transaction that compares it; that transaction checks ``salt`` is still the account's.
    """

    salt: bytes
    key: bytes


def find_match(derived: bytes, stored: Sequence[bytes]) -> int | None:
    """Index of the (first) entry of ``stored`` equal to ``derived``, or None.

    Every entry is compared with ``hmac.compare_digest``; there is no early exit, so the
    time taken does not depend on where (or whether) the match is.
    """
    found: int | None = None
    for index, candidate in enumerate(stored):
        equal = compare_digest(derived, candidate)
        if equal and found is None:
            found = index
    return found
