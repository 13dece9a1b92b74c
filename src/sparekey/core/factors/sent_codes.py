"""Codes sent by SMS, voice call or e-mail: six digits, stored as a keyed hash.

A code is drawn from the operating system's CSPRNG. Only an HMAC of ``id|code`` under a
key derived from the key ring is stored: six digits are too few for a plain hash to hide
them, and a keyed one binds the code to its row. Checking compares in constant time.
Pure: the caller stores, expires and uses up codes (``second_factors/sent_code.py``).
"""

from __future__ import annotations

import secrets

from sparekey.core.crypto import Signer

DIGITS = 6


def generate() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def tag(signer: Signer, code_id: str, code: str) -> str:
    return signer.sign(f"{code_id}|{code}")


def matches(signer: Signer, code_id: str, typed: str, stored: str) -> bool:
    return signer.verify(f"{code_id}|{typed}", stored)
