"""One root exception; each subclass carries the API's stable error code.

Only the web layer maps these to HTTP statuses and translated text. ``details`` are the
extra keys of the error envelope (``used_at``, ``offset_seconds``, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar


class SparekeyError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, **details: Any) -> None:
        super().__init__(self.code)
        self.details: dict[str, Any] = details


class ValidationFailed(SparekeyError):
    code = "validation_error"
    status = 422


class PasswordTooWeak(SparekeyError):
    """details: reason (too_short, too_long, common, contains_username), min_length / max_length."""

    code = "password_too_weak"
    status = 422


class UsernameTaken(SparekeyError):
    code = "username_taken"
    status = 409


class InvalidCredentials(SparekeyError):
    code = "invalid_credentials"
    status = 401


class NotAuthenticated(SparekeyError):
    code = "not_authenticated"
    status = 401


class SudoRequired(SparekeyError):
    code = "sudo_required"
    status = 403


class RateLimited(SparekeyError):
    """details: retry_after (whole seconds, at least 1)."""

    code = "rate_limited"
    status = 429


class NotFound(SparekeyError):
    code = "not_found"
    status = 404


class TwoFactorDisabled(SparekeyError):
    code = "two_factor_disabled"
    status = 404


class FlowNotFound(SparekeyError):
    code = "flow_not_found"
    status = 404


class FlowExpired(SparekeyError):
    code = "flow_expired"
    status = 410


class CodeError(SparekeyError):
    """A submitted second-factor code that did not work; every one counts as an attempt.

    ``method`` is what the code box took the code for (for the history, not the answer)."""

    status = 401
    method: str | None = None


class InvalidCode(CodeError):
    code = "invalid_code"


class WrongConfirmationCode(InvalidCode):
    """A wrong code where nothing is at stake yet (confirming an enrolment or a saved sheet): 400."""

    status = 400


class MalformedCode(CodeError):
    code = "malformed_code"
    status = 400


class CodeTypo(CodeError):
    code = "code_typo"
    status = 400


class CodeAlreadyUsed(CodeError):
    """details: used_at."""

    code = "code_already_used"


class CodeFromReplacedSet(CodeError):
    """details: set_number, replaced_at."""

    code = "code_from_replaced_set"


class CodeReplayed(CodeError):
    code = "code_replayed"


class ClockDriftSuspected(CodeError):
    """details: offset_seconds (device minus server, signed)."""

    code = "clock_drift_suspected"


class CodeExpired(CodeError):
    """A sent code (SMS, voice, e-mail) older than its validity."""

    code = "code_expired"


class InvalidEmail(SparekeyError):
    code = "invalid_email"
    status = 422


class InvalidPhoneNumber(SparekeyError):
    """details: reason (not_a_number, needs_country, unknown_region)."""

    code = "invalid_phone_number"
    status = 422


class ContactExists(SparekeyError):
    code = "contact_exists"
    status = 409


class WebAuthnFailed(CodeError):
    """A passkey or security key answer that did not work. details: reason (``challenge``,
    ``origin``, ``rp_id``, ``user_presence``, ``user_verification``, ``signature``,
    ``unknown_credential``, ``sign_count``); in a sign-in that goes on, fresh ``options``."""

    code = "webauthn_failed"


class KeyRegistrationFailed(WebAuthnFailed):
    """The same, while registering a key: nothing is at stake yet (400)."""

    status = 400


class RegistrationExpired(SparekeyError):
    code = "registration_expired"
    status = 410


class KeyExists(SparekeyError):
    """The key is already registered (to this account or another one)."""

    code = "key_exists"
    status = 409


class CannotMute(SparekeyError):
    """details: types (the critical ones named, which are always sent)."""

    code = "cannot_mute"
    status = 422


class RecoveryNotReady(SparekeyError):
    """Completing a recovery that is not ready (still collecting or waiting, or ended)."""

    code = "recovery_not_ready"
    status = 409


class OrgRoleRequired(SparekeyError):
    """A member of the organisation whose role does not allow this. details: role (the one needed)."""

    code = "org_role_required"
    status = 403


class OrgNeedsOwner(SparekeyError):
    """The change would leave the organisation without an owner."""

    code = "org_needs_owner"
    status = 409


class TwoFactorRequired(SparekeyError):
    """The session was made for an account that an organisation requires to use two-step
    verification: it may only set up a second factor. details: organisations, enrol_url."""

    code = "two_factor_required"
    status = 403


class StaffOnly(SparekeyError):
    """The support console: a signed-in staff member (role ``support``) whose session was
    made with two factors. Anyone else learns nothing about what they asked for."""

    code = "staff_only"
    status = 403


class RequestClosed(SparekeyError):
    """A decision on a recovery request that is no longer open (or, details ``reason``
    ``unknown_account``, that can never be approved)."""

    code = "request_closed"
    status = 409


class TooManyContacts(SparekeyError):
    """The owner already named the most recovery contacts allowed. details: maximum."""

    code = "too_many_contacts"
    status = 409
