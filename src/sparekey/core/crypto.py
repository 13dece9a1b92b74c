"""Secrets at rest and random tokens.

``SecretBox`` encrypts small secrets (TOTP keys) with AES-GCM. Every ciphertext names the
key that made it, so keys can be rotated: new writes use the current key, old rows stay
readable while their key is configured, and ``reencrypt`` moves a row to the current key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_NONCE_BYTES = 12


class KeyRingError(ValueError):
    """A key string that cannot be used; the message never contains key material."""


def new_key_string(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def parse_keys(text: str) -> dict[str, bytes]:
    """``"k2:<base64>,k1:<base64>"`` -> ordered mapping, current key first."""
    keys: dict[str, bytes] = {}
    for index, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id.isalnum():
            raise KeyRingError(f"key #{index + 1} must look like '<id>:<base64 of 32 bytes>'")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode() + b"=" * (-len(encoded) % 4))
        except ValueError:
            raise KeyRingError(f"key {key_id!r} is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise KeyRingError(f"key {key_id!r} must decode to {KEY_BYTES} bytes")
        if key_id in keys:
            raise KeyRingError(f"key id {key_id!r} appears twice")
        keys[key_id] = raw
    if not keys:
        raise KeyRingError("no key given")
    return keys


class SecretBox:
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise KeyRingError("no key given")
        self._keys = {key_id: AESGCM(raw) for key_id, raw in keys.items()}
        self._raw = dict(keys)
        self._signers: dict[str, Signer] = {}
        self.current_key_id = next(iter(keys))

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext, aad)
        return f"{self.current_key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, aad: bytes) -> bytes:
        key_id, _, encoded = token.partition(":")
        aead = self._keys.get(key_id)
        if aead is None:
            raise KeyRingError(f"ciphertext uses key {key_id!r}, which is not configured")
        blob = base64.urlsafe_b64decode(encoded.encode())
        return aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)

    def needs_reencryption(self, token: str) -> bool:
        return token.partition(":")[0] != self.current_key_id

    def reencrypt(self, token: str, *, aad: bytes) -> str:
        return self.encrypt(self.decrypt(token, aad=aad), aad=aad)

    def signer(self, purpose: str) -> Signer:
        """Tags for one purpose ("client-token", "csrf", ...), under keys derived from this ring."""
        if purpose not in self._signers:
            info = f"sparekey {purpose}".encode()
            self._signers[purpose] = Signer(
                [
                    HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(raw)
                    for raw in self._raw.values()
                ]
            )
        return self._signers[purpose]


class Signer:
    """HMAC-SHA-256 tags for values the server hands out and must recognise later.

    Signs with the current key's subkey; a tag made under any configured key verifies, so a
    key rotation does not invalidate what is out there until the old key is dropped.
    """

    def __init__(self, keys: list[bytes]) -> None:
        self._keys = keys

    def sign(self, message: str) -> str:
        return self._tag(self._keys[0], message)

    def verify(self, message: str, tag: str) -> bool:
        given = tag.encode("ascii", "replace")
        return any(hmac.compare_digest(self._tag(key, message).encode(), given) for key in self._keys)

    @staticmethod
    def _tag(key: bytes, message: str) -> str:
        digest = hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token: 256 bits by default (at least 128 are required)."""
    return secrets.token_urlsafe(max(nbytes, 16))


def token_hash(token: str) -> str:
    """How a bearer token is stored and looked up: SHA-256, never the token itself.

    A plain digest suffices because the token has 256 bits of entropy; lookup by digest also
    means no comparison of secret material happens in Python.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_id() -> str:
    return secrets.token_hex(12)


def plausible_id(value: str, max_length: int = 64) -> bool:
    """Whether ``value`` could be one of our ids or tokens (printable ASCII, not too long):
    anything else is unknown without asking the database (which may refuse NUL bytes)."""
    return 0 < len(value) <= max_length and value.isascii() and value.isprintable()
