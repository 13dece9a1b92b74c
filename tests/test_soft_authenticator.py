"""The software authenticator's output passes py_webauthn's checks, and each provoked fault fails them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import cbor2
import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tests.soft_authenticator import (
    FLAG_AT,
    FLAG_BE,
    FLAG_UP,
    FLAG_UV,
    SoftAuthenticator,
    b64url,
    cose_public_key,
    from_b64url,
)

RP_ID = "localhost"
ORIGIN = "http://localhost:8000"
USER_ID = b"user-handle-0001"


def registration_options(
    *, resident_key: str = "preferred", user_verification: str = "preferred", exclude: Sequence[bytes] = ()
) -> tuple[dict[str, Any], bytes]:
    options = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Sparekey",
        user_name="alice",
        user_id=USER_ID,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement(resident_key),
            user_verification=UserVerificationRequirement(user_verification),
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in exclude],
    )
    return json.loads(options_to_json(options)), options.challenge


def authentication_options(
    *, allow: Sequence[bytes] = (), user_verification: str = "preferred"
) -> tuple[dict[str, Any], bytes]:
    options = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=cid) for cid in allow],
        user_verification=UserVerificationRequirement(user_verification),
    )
    return json.loads(options_to_json(options)), options.challenge


def register(authenticator: SoftAuthenticator, **create_knobs: Any) -> tuple[bytes, bytes]:
    options, challenge = registration_options()
    response = authenticator.create(options, **create_knobs)
    verified = verify_registration_response(
        credential=response, expected_challenge=challenge, expected_rp_id=RP_ID, expected_origin=ORIGIN
    )
    return verified.credential_id, verified.credential_public_key


def authenticate(
    authenticator: SoftAuthenticator,
    public_key: bytes,
    current_count: int,
    *,
    allow: Sequence[bytes] = (),
    require_uv: bool = False,
    **get_knobs: Any,
) -> tuple[dict[str, Any], int]:
    options, challenge = authentication_options(
        allow=allow, user_verification="required" if require_uv else "preferred"
    )
    response = authenticator.get(options, **get_knobs)
    verified = verify_authentication_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=public_key,
        credential_current_sign_count=current_count,
        require_user_verification=require_uv,
    )
    return response, verified.new_sign_count


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256"])
def test_registers_and_authenticates_twice(algorithm: str) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, algorithm=algorithm)
    options, challenge = registration_options(resident_key="required", user_verification="required")
    response = authenticator.create(options)
    verified = verify_registration_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )
    assert verified.fmt == "none"
    assert verified.sign_count == 0
    assert verified.user_verified
    assert response["response"]["transports"] == ["usb"]
    assert authenticator.credentials[verified.credential_id].discoverable

    # Discoverable: no allowCredentials, the user handle comes back.
    first, count = authenticate(authenticator, verified.credential_public_key, 0, require_uv=True)
    assert count == 1
    assert from_b64url(first["response"]["userHandle"]) == USER_ID
    assert from_b64url(first["id"]) == verified.credential_id
    # Listed in allowCredentials.
    _, count = authenticate(authenticator, verified.credential_public_key, 1, allow=[verified.credential_id])
    assert count == 2


def test_attested_data_layout() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, aaguid=bytes(range(16)), backup_eligible=True)
    options, _ = registration_options(user_verification="discouraged")
    response = authenticator.create(options)
    auth_data = cbor2.loads(from_b64url(response["response"]["attestationObject"]))["authData"]
    assert auth_data[32] == FLAG_UP | FLAG_BE | FLAG_AT
    assert auth_data[33:37] == bytes(4)
    assert auth_data[37:53] == bytes(range(16))
    cid_len = int.from_bytes(auth_data[53:55], "big")
    assert auth_data[55 : 55 + cid_len] == from_b64url(response["rawId"])
    stored = authenticator.credentials[from_b64url(response["rawId"])]
    assert auth_data[55 + cid_len :] == cose_public_key(stored.private_key)


def test_client_data_is_compact_json_with_the_options_challenge() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, challenge = registration_options()
    client_data = from_b64url(authenticator.create(options)["response"]["clientDataJSON"])
    assert client_data == (
        b'{"type":"webauthn.create","challenge":"' + b64url(challenge).encode() + b'",'
        b'"origin":"http://localhost:8000","crossOrigin":false}'
    )


def test_refuses_an_excluded_credential_of_its_own() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    credential_id, _ = register(authenticator)
    options, _ = registration_options(exclude=[b"someone else's", credential_id])
    with pytest.raises(ValueError):
        authenticator.create(options)


def test_picks_only_its_own_credentials() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options, _ = registration_options(resident_key="discouraged")
    authenticator.create(options)
    with pytest.raises(LookupError):  # not discoverable, and nothing allowed
        authenticator.get(authentication_options()[0])
    with pytest.raises(LookupError):
        authenticator.get(authentication_options(allow=[b"not ours"])[0])
    with pytest.raises(KeyError):
        authenticator.get(authentication_options()[0], credential_id=b"not ours")


def test_without_a_counter_the_count_stays_zero() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, counts_signatures=False, can_verify_user=False)
    credential_id, public_key = register(authenticator)
    for _ in range(2):
        response, count = authenticate(authenticator, public_key, 0, allow=[credential_id])
        assert count == 0
        assert from_b64url(response["response"]["authenticatorData"])[32] & FLAG_UV == 0


@pytest.mark.parametrize(
    ("create_knobs", "message"),
    [
        ({"origin": "http://evil.example:8000"}, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, "Unexpected RP ID hash"),
        ({"challenge": b"not the challenge"}, "challenge was not expected"),
        ({"client_data_type": "webauthn.get"}, "Unexpected client data type"),
        ({"user_present": False}, "User presence was required"),
    ],
    ids=["origin", "rp_id", "challenge", "type", "user-present"],
)
def test_registration_refusals(create_knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRegistrationResponse, match=message):
        register(SoftAuthenticator(origin=ORIGIN), **create_knobs)


def test_registration_refused_without_user_verification_when_required() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, can_verify_user=False)
    options, challenge = registration_options(user_verification="required")
    with pytest.raises(InvalidRegistrationResponse, match="User verification is required"):
        verify_registration_response(
            credential=authenticator.create(options),
            expected_challenge=challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            require_user_verification=True,
        )


@pytest.mark.parametrize(
    ("get_knobs", "require_uv", "message"),
    [
        ({"origin": "http://evil.example:8000"}, False, "Unexpected client data origin"),
        ({"rp_id": "evil.example"}, False, "Unexpected RP ID hash"),
        ({"challenge": b"not the challenge"}, False, "challenge was not expected"),
        ({"client_data_type": "webauthn.create"}, False, "Unexpected client data type"),
        ({"bad_signature": True}, False, "Could not verify authentication signature"),
        ({"user_verified": False}, True, "User verification is required"),
        ({"user_present": False}, False, "User was not present"),
        ({"sign_count": 1}, False, "was not greater than current count of 2"),
    ],
    ids=["origin", "rp_id", "challenge", "type", "signature", "uv-required", "user-present", "counter"],
)
def test_authentication_refusals(get_knobs: dict[str, Any], require_uv: bool, message: str) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    credential_id, public_key = register(authenticator)
    _, count = authenticate(authenticator, public_key, 0, allow=[credential_id])
    _, count = authenticate(authenticator, public_key, count, allow=[credential_id])
    with pytest.raises(InvalidAuthenticationResponse, match=message):
        authenticate(
            authenticator, public_key, count, allow=[credential_id], require_uv=require_uv, **get_knobs
        )


def test_a_forced_count_is_kept() -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    credential_id, public_key = register(authenticator)
    _, count = authenticate(authenticator, public_key, 0, allow=[credential_id], sign_count=41)
    assert count == 41
    _, count = authenticate(authenticator, public_key, count, allow=[credential_id])
    assert count == 42


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "RS256"])
def test_bad_signature_is_refused_for_every_algorithm(algorithm: str) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN, algorithm=algorithm)
    credential_id, public_key = register(authenticator)
    with pytest.raises(InvalidAuthenticationResponse, match="Could not verify authentication signature"):
        authenticate(authenticator, public_key, 0, allow=[credential_id], bad_signature=True)
