"""WebAuthn (passkeys and security keys): options to hand out, answers to check. Pure: no
database, no request. py_webauthn does the cryptography; this module adds what the API
promises on top of it: a ``reason`` for every refusal, and the sign count checked only once
the signature is known to be genuine.

Checking an answer (registration or sign-in) follows this list, and the first rule broken
is the reason given:

1. ``challenge``: the client data is of the right type and carries the challenge we issued.
2. ``origin``: the page that asked was one of the relying party's origins.
3. ``rp_id``: the authenticator signed for our RP ID (its SHA-256 is in the authenticator data).
4. ``user_presence``: the user touched the key (UP flag).
5. ``user_verification``: the user unlocked it (UV flag), where that is required.
6. ``signature``: the attestation or assertion verifies (an algorithm we offered, a signature
   that checks with the stored public key).
7. ``sign_count``: a key that counts its signatures counts up (``sign_count_grew``); the caller
   decides, since a count that does not grow may mean a cloned key.

``unknown_credential`` is the caller's: no registered key has the answer's credential id.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    ClientDataType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,  # ES256
    COSEAlgorithmIdentifier.EDDSA,  # Ed25519
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,  # RS256
]
CHALLENGE_BYTES = 32
TIMEOUT_MS = 5 * 60 * 1000
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}


class Reason(enum.StrEnum):
    CHALLENGE = "challenge"
    ORIGIN = "origin"
    RP_ID = "rp_id"
    USER_PRESENCE = "user_presence"
    USER_VERIFICATION = "user_verification"
    SIGNATURE = "signature"
    UNKNOWN_CREDENTIAL = "unknown_credential"
    SIGN_COUNT = "sign_count"


class Refused(Exception):
    """An answer that breaks a rule; ``reason`` names the first one broken."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Unreadable(ValueError):
    """Not a WebAuthn credential in its JSON form at all (missing fields, bad base64url, ...)."""


@dataclass(frozen=True)
class RelyingParty:
    id: str  # a host name, e.g. "login.example.com"
    name: str
    origins: tuple[str, ...]  # e.g. ("https://login.example.com",)


@dataclass(frozen=True)
class KeyRef:
    """A registered credential, as options name it."""

    credential_id: bytes
    transports: Sequence[str] = ()


def _descriptors(keys: Sequence[KeyRef]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=key.credential_id, transports=[_TRANSPORTS[t] for t in key.transports if t in _TRANSPORTS]
        )
        for key in keys
    ]


def registration_options(
    rp: RelyingParty,
    *,
    user_id: bytes,
    user_name: str,
    challenge: bytes,
    exclude: Sequence[KeyRef],
    passkey: bool,
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptionsJSON``. A passkey must be discoverable and verify its
    user; a security key is asked for neither (it is the second step after a password)."""
    selection = AuthenticatorSelectionCriteria(
        resident_key=ResidentKeyRequirement.REQUIRED if passkey else ResidentKeyRequirement.DISCOURAGED,
        require_resident_key=passkey,
        user_verification=(
            UserVerificationRequirement.REQUIRED if passkey else UserVerificationRequirement.DISCOURAGED
        ),
    )
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_id,
        user_name=user_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=selection,
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json_dict(options)


def authentication_options(
    rp: RelyingParty, *, challenge: bytes, allow: Sequence[KeyRef] | None, require_user_verification: bool
) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptionsJSON``. ``allow`` None: any discoverable credential
    for the RP (a passkey sign-in); else the account's keys."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(allow) if allow is not None else None,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if require_user_verification
            else UserVerificationRequirement.DISCOURAGED
        ),
    )
    return options_to_json_dict(options)


@dataclass(frozen=True)
class NewKey:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    backup_eligible: bool
    backed_up: bool
    user_verified: bool
    transports: list[str]


@dataclass(frozen=True)
class Claimed:
    """What an assertion says about itself before anything is checked: which key, whose."""

    credential_id: bytes
    user_handle: bytes | None
    credential: AuthenticationCredential


@dataclass(frozen=True)
class Asserted:
    new_sign_count: int
    backed_up: bool
    user_verified: bool


def read_registration(raw: Mapping[str, Any]) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(dict(raw))
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise Unreadable(str(error)) from None


def read_assertion(raw: Mapping[str, Any]) -> Claimed:
    try:
        credential = parse_authentication_credential_json(dict(raw))
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise Unreadable(str(error)) from None
    return Claimed(
        credential_id=credential.raw_id, user_handle=credential.response.user_handle, credential=credential
    )


def _check_client_data(
    raw: bytes, *, expected_type: ClientDataType, challenge: bytes, rp: RelyingParty
) -> None:
    try:
        client_data = parse_client_data_json(raw)
    except Exception:  # noqa: BLE001 - any unreadable client data is a wrong answer to our challenge
        raise Refused(Reason.CHALLENGE) from None
    if client_data.type != expected_type or not hmac.compare_digest(client_data.challenge, challenge):
        raise Refused(Reason.CHALLENGE)
    if client_data.origin not in rp.origins:
        raise Refused(Reason.ORIGIN)


def _checked_before_signature(
    client_data_json: bytes,
    read_auth_data: Callable[[], AuthenticatorData],
    *,
    expected_type: ClientDataType,
    challenge: bytes,
    rp: RelyingParty,
    require_uv: bool,
) -> AuthenticatorData:
    """Rules 1 to 5 of the list above, for a registration and a sign-in alike; the
    authenticator data they read."""
    _check_client_data(client_data_json, expected_type=expected_type, challenge=challenge, rp=rp)
    try:
        auth_data = read_auth_data()
    except Exception:  # noqa: BLE001 - authenticator data we cannot read proves nothing
        raise Refused(Reason.SIGNATURE) from None
    if not hmac.compare_digest(auth_data.rp_id_hash, hashlib.sha256(rp.id.encode()).digest()):
        raise Refused(Reason.RP_ID)
    if not auth_data.flags.up:
        raise Refused(Reason.USER_PRESENCE)
    if require_uv and not auth_data.flags.uv:
        raise Refused(Reason.USER_VERIFICATION)
    return auth_data


def verify_registration(
    *, credential: RegistrationCredential, challenge: bytes, rp: RelyingParty, require_user_verification: bool
) -> NewKey:
    """Check an answer to ``registration_options`` (attestation ``none`` or any format
    py_webauthn verifies; no attestation is required)."""
    response = credential.response
    auth_data = _checked_before_signature(
        response.client_data_json,
        lambda: parse_attestation_object(response.attestation_object).auth_data,
        expected_type=ClientDataType.WEBAUTHN_CREATE,
        challenge=challenge,
        rp=rp,
        require_uv=require_user_verification,
    )
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=require_user_verification,
            supported_pub_key_algs=ALGORITHMS,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise Refused(Reason.SIGNATURE) from None
    return NewKey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        backup_eligible=auth_data.flags.be,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
        transports=[t.value for t in response.transports or []],
    )


def verify_assertion(
    *,
    claimed: Claimed,
    challenge: bytes,
    rp: RelyingParty,
    public_key: bytes,
    require_user_verification: bool,
) -> Asserted:
    """Check an answer to ``authentication_options`` against the stored public key. The sign
    count is not judged here (see ``sign_count_grew``)."""
    credential = claimed.credential
    response = credential.response
    _checked_before_signature(
        response.client_data_json,
        lambda: parse_authenticator_data(response.authenticator_data),
        expected_type=ClientDataType.WEBAUTHN_GET,
        challenge=challenge,
        rp=rp,
        require_uv=require_user_verification,
    )
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=public_key,
            credential_current_sign_count=0,  # judged after the signature: see sign_count_grew
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        raise Refused(Reason.SIGNATURE) from None
    return Asserted(
        new_sign_count=verified.new_sign_count,
        backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def sign_count_grew(stored: int, new: int) -> bool:
    """Keys that count (either number above 0) must count up; keys that never count report 0."""
    return (stored == 0 and new == 0) or new > stored
