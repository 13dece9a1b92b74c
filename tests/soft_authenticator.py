"""A software WebAuthn authenticator and client, so the API tests can provoke every refusal without a browser.

``SoftAuthenticator`` plays both halves of a ceremony: the browser (it builds ``clientDataJSON``)
and the authenticator (authenticatorData, a "none" attestation object, assertion signatures). It
reads the WebAuthn Level 3 JSON forms of the options (``PublicKeyCredentialCreationOptionsJSON``,
``PublicKeyCredentialRequestOptionsJSON``) and answers with ``RegistrationResponseJSON`` and
``AuthenticationResponseJSON`` dicts, binary fields as base64url without padding.

Every check a relying party makes can be failed on purpose through a keyword: the origin, the RP ID
hashed into authenticatorData, the challenge, the client data type, the UP/UV/BE/BS flags, the
signature counter and the signature itself.

It is deliberately independent of py_webauthn (which the server verifies with): only the standard
library, ``cryptography`` and ``cbor2``, so that a shared misreading of the specification cannot make
both sides agree on something wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

COSE_ALGORITHMS: dict[str, int] = {"ES256": -7, "EdDSA": -8, "RS256": -257}

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    """Base64url without padding, as the WebAuthn JSON forms carry binary."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Decode base64url, with or without its padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredCredential:
    """What the authenticator keeps for one credential."""

    credential_id: bytes
    private_key: PrivateKey
    algorithm: str
    rp_id: str
    user_handle: bytes
    discoverable: bool
    sign_count: int = 0


def _new_key(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported algorithm {algorithm!r}; expected one of {sorted(COSE_ALGORITHMS)}")


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or (value.bit_length() + 7) // 8, "big")


def cose_public_key(key: PrivateKey) -> bytes:
    """The credential public key as a COSE_Key (RFC 9053, RFC 8230), CTAP2 canonical CBOR."""
    cose: dict[int, Any]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: _int_bytes(numbers.x, 32), -3: _int_bytes(numbers.y, 32)}
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        cose = {1: 1, 3: -8, -1: 6, -2: raw}
    else:
        rsa_numbers = key.public_key().public_numbers()
        cose = {1: 3, 3: -257, -1: _int_bytes(rsa_numbers.n), -2: _int_bytes(rsa_numbers.e)}
    return cbor2.dumps(cose, canonical=True)


def _sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER-encoded, as WebAuthn wants
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _wants_user_verification(requirement: str | None) -> bool:
    # An absent userVerification means "preferred" (WebAuthn's default).
    return (requirement or "preferred") in ("required", "preferred")


def _rp_id_from_origin(origin: str) -> str:
    return urlsplit(origin).hostname or ""


class SoftAuthenticator:
    """One authenticator of a given algorithm and flags, with a browser in front of it."""

    def __init__(
        self,
        *,
        origin: str,
        algorithm: str = "ES256",
        aaguid: bytes = bytes(16),
        backup_eligible: bool = False,
        backed_up: bool = False,
        can_verify_user: bool = True,
        counts_signatures: bool = True,
        transports: tuple[str, ...] = ("usb",),
    ) -> None:
        if algorithm not in COSE_ALGORITHMS:
            raise ValueError(
                f"unsupported algorithm {algorithm!r}; expected one of {sorted(COSE_ALGORITHMS)}"
            )
        if len(aaguid) != 16:
            raise ValueError("an AAGUID is 16 bytes")
        self.origin = origin
        self.algorithm = algorithm
        self.aaguid = aaguid
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        self.can_verify_user = can_verify_user
        self.counts_signatures = counts_signatures
        self.transports = transports
        self.credentials: dict[bytes, StoredCredential] = {}

    @property
    def attachment(self) -> str:
        return "platform" if "internal" in self.transports else "cross-platform"

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        challenge: bytes | None = None,
        client_data_type: str = "webauthn.create",
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.create()``: a new credential, as ``RegistrationResponseJSON``."""
        for descriptor in options.get("excludeCredentials") or []:
            if from_b64url(descriptor["id"]) in self.credentials:
                raise ValueError("an excluded credential is already on this authenticator")
        origin = origin or self.origin
        real_rp_id = options.get("rp", {}).get("id") or _rp_id_from_origin(origin)
        selection = options.get("authenticatorSelection") or {}
        resident = selection.get("residentKey")
        discoverable = resident in ("required", "preferred") or (
            resident is None and bool(selection.get("requireResidentKey"))
        )
        key = _new_key(self.algorithm)
        credential = StoredCredential(
            credential_id=secrets.token_bytes(32),
            private_key=key,
            algorithm=self.algorithm,
            rp_id=real_rp_id,
            user_handle=from_b64url(options["user"]["id"]),
            discoverable=discoverable,
        )
        self.credentials[credential.credential_id] = credential

        client_data = self._client_data(client_data_type, challenge, options["challenge"], origin)
        uv = self._uv(user_verified, selection.get("userVerification"))
        attested = self.aaguid + struct.pack(">H", len(credential.credential_id))
        attested += credential.credential_id + cose_public_key(key)
        auth_data = self._auth_data(rp_id or real_rp_id, user_present, uv, 0, attested)
        attestation_object = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": auth_data}, canonical=True
        )
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "authenticatorData": b64url(auth_data),
                "publicKey": b64url(spki),
                "publicKeyAlgorithm": COSE_ALGORITHMS[self.algorithm],
                "transports": list(self.transports),
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_present: bool = True,
        user_verified: bool | None = None,
        sign_count: int | None = None,
        challenge: bytes | None = None,
        client_data_type: str = "webauthn.get",
        bad_signature: bool = False,
    ) -> dict[str, Any]:
        """Answer ``navigator.credentials.get()``: an assertion, as ``AuthenticationResponseJSON``."""
        origin = origin or self.origin
        real_rp_id = options.get("rpId") or _rp_id_from_origin(origin)
        credential = self._pick(options, credential_id, real_rp_id)
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counts_signatures:
            credential.sign_count += 1
        else:
            credential.sign_count = 0

        client_data = self._client_data(client_data_type, challenge, options["challenge"], origin)
        uv = self._uv(user_verified, options.get("userVerification"))
        auth_data = self._auth_data(rp_id or real_rp_id, user_present, uv, credential.sign_count, b"")
        signature = _sign(credential.private_key, auth_data + hashlib.sha256(client_data).digest())
        if bad_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "authenticatorAttachment": self.attachment,
            "clientExtensionResults": {},
        }

    def _pick(self, options: dict[str, Any], credential_id: bytes | None, rp_id: str) -> StoredCredential:
        if credential_id is not None:
            return self.credentials[credential_id]  # KeyError: not one of ours
        allowed = options.get("allowCredentials") or []
        for descriptor in allowed:
            found = self.credentials.get(from_b64url(descriptor["id"]))
            if found is not None:
                return found
        if not allowed:
            for credential in self.credentials.values():
                if credential.discoverable and credential.rp_id == rp_id:
                    return credential
        raise LookupError(f"no credential on this authenticator fits (rp_id {rp_id!r})")

    def _uv(self, user_verified: bool | None, requirement: str | None) -> bool:
        if user_verified is not None:
            return user_verified
        return self.can_verify_user and _wants_user_verification(requirement)

    def _client_data(self, type_: str, challenge: bytes | None, options_challenge: str, origin: str) -> bytes:
        raw_challenge = challenge if challenge is not None else from_b64url(options_challenge)
        fields = {"type": type_, "challenge": b64url(raw_challenge), "origin": origin, "crossOrigin": False}
        return json.dumps(fields, separators=(",", ":")).encode("utf-8")

    def _auth_data(self, rp_id: str, up: bool, uv: bool, sign_count: int, attested: bytes) -> bytes:
        flags = (FLAG_UP if up else 0) | (FLAG_UV if uv else 0)
        flags |= (FLAG_BE if self.backup_eligible else 0) | (FLAG_BS if self.backed_up else 0)
        flags |= FLAG_AT if attested else 0
        rp_id_hash = hashlib.sha256(rp_id.encode("utf-8")).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count) + attested
