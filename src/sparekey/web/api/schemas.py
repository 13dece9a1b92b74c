"""Request bodies. Unknown fields are ignored; missing or mistyped ones are 422 validation_error."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sparekey.core.factors.codes import MAX_LENGTH as CODE_MAX_LENGTH  # the one limit for every code


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    return value


# Text that is looked up in the database as it is: PostgreSQL refuses NUL in text (a 500).
LookupText = Annotated[str, AfterValidator(_no_nul)]


class RegisterBody(_Body):
    username: str = Field(max_length=1000)
    password: str = Field(max_length=10_000)
    email: str | None = Field(default=None, max_length=1000)


class LoginBody(_Body):
    username: LookupText = Field(max_length=1000)
    password: str = Field(max_length=10_000)
    client_token: str | None = Field(default=None, max_length=200)
    device_token: str | None = Field(default=None, max_length=200)


class CodeBody(_Body):
    code: str = Field(max_length=CODE_MAX_LENGTH)
    method: str | None = Field(default=None, max_length=32)
    trust_device: bool | None = None


class SendBody(_Body):
    method: str = Field(max_length=32)
    destination_id: str | None = Field(default=None, max_length=64)


class SudoBody(_Body):
    """``{password, code?}``, or ``{webauthn: true}`` (then a password sent is ignored)."""

    password: str | None = Field(default=None, max_length=10_000)
    code: str | None = Field(default=None, max_length=CODE_MAX_LENGTH)
    webauthn: bool | None = None


# A WebAuthn credential in its JSON form (RegistrationResponseJSON, AuthenticationResponseJSON);
# the request's size is bounded by the body limit, its fields are read by core/factors/webauthn.py.
Credential = dict[str, Any]


class CredentialBody(_Body):
    credential: Credential


class KeyLoginBody(_Body):
    credential: Credential
    trust_device: bool | None = None


class SudoKeyBody(_Body):
    sudo_flow_id: LookupText = Field(max_length=64)
    credential: Credential


class NewKeyBody(_Body):
    name: str | None = Field(default=None, max_length=1000)
    passkey: bool | None = None


class NameBody(_Body):
    name: str = Field(max_length=1000)


class NewTotpBody(_Body):
    name: str | None = Field(default=None, max_length=1000)


class ConfirmTotpBody(_Body):
    code: str = Field(max_length=CODE_MAX_LENGTH)


class ConfirmBackupBody(_Body):
    position: int = Field(ge=1, le=100)
    code: str = Field(max_length=CODE_MAX_LENGTH)


class PasswordBody(_Body):
    new_password: str = Field(max_length=10_000)


class NewContactBody(_Body):
    kind: str = Field(max_length=16)
    address: str = Field(max_length=1000)
    region: str | None = Field(default=None, max_length=8)


class ContactCodeBody(_Body):
    code: str = Field(max_length=CODE_MAX_LENGTH)
