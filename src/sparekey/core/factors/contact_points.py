"""Contact points: e-mail addresses and phone numbers, checked, stored in one form, masked.

Phone numbers are parsed with ``phonenumbers``: international form (``+81 90-1234-5678``)
always, national form (``090-1234-5678``) with a region (ISO 3166 alpha-2, ``JP``), and
stored in E.164 (``+819012345678``). E-mail addresses are checked with
``email-validator`` (syntax only: no network) and stored in its normalised form.
Pure: no storage, no network.
"""

from __future__ import annotations

import enum
from functools import cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from sparekey.core.errors import InvalidEmail, InvalidPhoneNumber, ValidationFailed

MAX_INPUT = 320


class ContactKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"


def parse_phone(raw: str, region: str | None = None) -> str:
    """E.164 form of a typed phone number, or ``InvalidPhoneNumber`` (with a ``reason``)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise InvalidPhoneNumber(reason="not_a_number")
    if region is not None and (len(region) != 2 or not region.isascii() or not region.isalpha()):
        raise InvalidPhoneNumber(reason="unknown_region")
    text = raw.strip()
    if not text.startswith("+") and region is None:
        raise InvalidPhoneNumber(reason="needs_country")
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(reason="not_a_number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(reason="not_a_number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_email(raw: str) -> str:
    """The normalised address, or ``InvalidEmail``."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT:
        raise InvalidEmail()
    try:
        return str(validate_email(raw.strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        raise InvalidEmail() from None


def parse(kind: str, raw: str, region: str | None = None) -> tuple[ContactKind, str]:
    if kind == ContactKind.PHONE:
        return ContactKind.PHONE, parse_phone(raw, region)
    if kind == ContactKind.EMAIL:
        return ContactKind.EMAIL, parse_email(raw)
    raise ValidationFailed(field="kind")


@cache  # parsing a number costs more than the rest of a sign-in's bookkeeping
def mask(kind: str, address: str) -> str:
    """What a sign-in page may show of a contact point: ``+81 ** **** 5678``, ``t***@example.com``."""
    if kind == ContactKind.EMAIL:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    number = phonenumbers.parse(address)
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    country, _, rest = shown.partition(" ")
    digits_left = sum(ch.isdigit() for ch in rest)
    masked = []
    for ch in rest:
        if ch.isdigit():
            masked.append(ch if digits_left <= 4 else "*")
            digits_left -= 1
        else:
            masked.append(" ")
    return f"{country} {''.join(masked)}"
