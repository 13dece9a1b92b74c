"""Security events: one function records them, so every event carries the same keys, and
each one that calls for a notification is marked for the notifier (core/notifications.py)."""

from __future__ import annotations

import enum
from typing import Any

from sparekey.core import notifications
from sparekey.core.clock import Clock
from sparekey.core.models import Client, Event
from sparekey.core.ports import Transaction


class EventType(enum.StrEnum):
    """The kinds of event in an account's history (API.md, "Events", and docs/api.md)."""

    SIGN_IN = "sign_in"
    BACKUP_CODE_USED = "backup_code_used"
    BACKUP_CODES_GENERATED = "backup_codes_generated"
    BACKUP_CODES_CONFIRMED = "backup_codes_confirmed"
    FACTOR_ADDED = "factor_added"
    FACTOR_REMOVED = "factor_removed"
    SUDO = "sudo"
    PASSWORD_CHANGED = "password_changed"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    TOTP_REPLAY_REFUSED = "totp_replay_refused"
    RATE_LIMITED = "rate_limited"
    SESSION_REVOKED = "session_revoked"
    CONTACT_ADDED = "contact_added"
    CONTACT_VERIFIED = "contact_verified"
    CONTACT_REMOVED = "contact_removed"
    CODE_SENT = "code_sent"
    FACTOR_RENAMED = "factor_renamed"
    KEY_USED = "key_used"
    KEY_CLONE_SUSPECTED = "key_clone_suspected"
    DEVICE_TRUSTED = "device_trusted"
    DEVICE_RENAMED = "device_renamed"
    DEVICE_REVOKED = "device_revoked"
    NOTIFICATIONS_CHANGED = "notifications_changed"
    ACCOUNT_SECURED = "account_secured"
    DRILL_STARTED = "drill_started"
    RECOVERY_DRILL_PASSED = "recovery_drill_passed"
    RECOVERY_REQUESTED = "recovery_requested"
    RECOVERY_CANCELLED = "recovery_cancelled"
    RECOVERY_EVIDENCE_ADDED = "recovery_evidence_added"
    RECOVERY_APPROVED = "recovery_approved"  # by support
    RECOVERY_DENIED = "recovery_denied"  # by support
    RECOVERY_COMPLETED = "recovery_completed"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    ORGANISATION_JOINED = "organisation_joined"
    ORGANISATION_LEFT = "organisation_left"
    TWO_FACTOR_RESET = "two_factor_reset"  # by an organisation's admin or the operator
    RECOVERY_CONTACT_ADDED = "recovery_contact_added"
    RECOVERY_CONTACT_ACCEPTED = "recovery_contact_accepted"
    RECOVERY_CONTACT_REMOVED = "recovery_contact_removed"
    RECOVERY_CONTACT_ASKED = "recovery_contact_asked"
    RECOVERY_CONTACT_ANSWERED = "recovery_contact_answered"


def record(
    tx: Transaction,
    clock: Clock,
    account_id: str,
    type_: EventType,
    client: Client | None = None,
    **data: Any,
) -> None:
    if client is not None:
        data.setdefault("ip", client.ip)
        data.setdefault("user_agent", client.user_agent)
    notification = notifications.type_of(type_, data)
    tx.events.add(
        Event(
            id=None,
            account_id=account_id,
            at=clock.now(),
            type=type_,
            data=data,
            notification=notification.value if notification else None,
        )
    )
