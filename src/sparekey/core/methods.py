"""The names of sign-in methods and notices, as the API spells them (one place for each)."""

from __future__ import annotations

import enum


class Method(enum.StrEnum):
    """A way through a sign-in step: ``methods[].type`` and ``method_used`` in the API."""

    PASSWORD = "password"
    TOTP = "totp"
    BACKUP_CODE = "backup_code"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    WEBAUTHN = "webauthn"  # a registered key, as the second step after a password
    PASSKEY = "passkey"  # a passkey on its own (user verification counts as the second factor)
    TRUSTED_DEVICE = "trusted_device"  # the right password on a device the owner trusted


class Notice(enum.StrEnum):
    """Advice that comes with a successful step (``notices[].code``)."""

    BACKUP_CODE_USED = "backup_code_used"
    BACKUP_CODES_LOW = "backup_codes_low"
