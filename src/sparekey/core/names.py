"""Names people give things (an authenticator app, a security key, a trusted device): one rule."""

from __future__ import annotations

import unicodedata

from sparekey.core.errors import ValidationFailed

NAME_MAX = 64


def clean_name(raw: str | None, fallback: str, *, field: str = "name") -> str:
    """NFKC, trimmed, no control or format characters, at most ``NAME_MAX``; empty -> fallback."""
    name = " ".join(unicodedata.normalize("NFKC", raw or "").split())
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in name):
        raise ValidationFailed(field=field)
    if len(name) > NAME_MAX:
        raise ValidationFailed(field=field, max_length=NAME_MAX)
    return name or fallback


def required_name(raw: str) -> str:
    """A new name for something that has one (a rename): the same rule, and not empty."""
    name = clean_name(raw, "")
    if not name:
        raise ValidationFailed(field="name")
    return name
