"""Which events the owner is told about, and which of those cannot be muted (API.md,
"Security center"). Pure: ``core/flows/notify.py`` sends them.

An event calls for a notification when it is recorded (``type_of``); the notifier takes
each such event once, after its transaction committed, and writes to every verified e-mail
address of the account (for the critical ones, by SMS when no e-mail address is verified),
in the account's language. A notification says what happened, when, from which device and
address, and what to do if it was not the owner; it never carries a code, nor a link that
signs anyone in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any


class NotificationType(enum.StrEnum):
    NEW_DEVICE_SIGN_IN = "new_device_sign_in"
    BACKUP_CODE_USED = "backup_code_used"
    BACKUP_CODES_GENERATED = "backup_codes_generated"
    FACTOR_ADDED = "factor_added"
    FACTOR_REMOVED = "factor_removed"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    PASSWORD_CHANGED = "password_changed"
    RATE_LIMITED = "rate_limited"
    RECOVERY_REQUESTED = "recovery_requested"
    RECOVERY_APPROVED = "recovery_approved"
    RECOVERY_CONTACT_ASKED = "recovery_contact_asked"
    RECOVERY_CONTACT_ANSWERED = "recovery_contact_answered"
    # Told at once on every channel by the flow itself (notify.tell_everywhere), before the
    # phones it removes are gone: never through the notifier.
    RECOVERY_COMPLETED = "recovery_completed"
    TWO_FACTOR_RESET = "two_factor_reset"


CRITICAL = frozenset(
    {
        NotificationType.BACKUP_CODES_GENERATED,
        NotificationType.FACTOR_REMOVED,
        NotificationType.TWO_FACTOR_DISABLED,
        NotificationType.PASSWORD_CHANGED,
        NotificationType.RECOVERY_REQUESTED,
        NotificationType.RECOVERY_APPROVED,
        NotificationType.RECOVERY_CONTACT_ASKED,
        NotificationType.RECOVERY_CONTACT_ANSWERED,
        NotificationType.RECOVERY_COMPLETED,
        NotificationType.TWO_FACTOR_RESET,
    }
)
EVERY_CHANNEL = frozenset({NotificationType.RECOVERY_COMPLETED, NotificationType.TWO_FACTOR_RESET})
_SAME_NAME = (
    {t.value for t in NotificationType}
    - {NotificationType.NEW_DEVICE_SIGN_IN.value}
    - {t.value for t in EVERY_CHANNEL}
)
_SIGN_IN = "sign_in"  # EventType.SIGN_IN (core/events.py records events and asks this module)


def type_of(event_type: str, data: Mapping[str, Any]) -> NotificationType | None:
    """The notification an event calls for: a sign-in from a device the account has not
    seen before (``new_device``, set by the sign-in), or an event of the same name."""
    if event_type == _SIGN_IN and data.get("result") == "success" and data.get("new_device"):
        return NotificationType.NEW_DEVICE_SIGN_IN
    if event_type in _SAME_NAME:
        return NotificationType(event_type)
    return None


def parse_muted(text: str) -> set[NotificationType]:
    known = {t.value for t in NotificationType}
    return {NotificationType(word) for word in text.split() if word in known}


def store_muted(types: Iterable[NotificationType]) -> str:
    return " ".join(sorted(t.value for t in types))


def is_muted(notification: NotificationType, muted: str) -> bool:
    return notification not in CRITICAL and notification in parse_muted(muted)
