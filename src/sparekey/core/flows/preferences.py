"""What the owner chose: which informational notifications to mute, the language messages
are written in (the pages' language switch), the time zone times are shown in."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import available_timezones

from sparekey.core import events, notifications
from sparekey.core.deps import Deps
from sparekey.core.errors import CannotMute, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client
from sparekey.core.notifications import NotificationType
from sparekey.i18n import LANGUAGES


def muted(deps: Deps, account_id: str) -> list[str]:
    with deps.store.transaction() as tx:
        account = tx.accounts.get(account_id)
    return sorted(t.value for t in notifications.parse_muted(account.muted_notifications if account else ""))


def set_muted(deps: Deps, current: Current, types: Sequence[str], client: Client) -> list[str]:
    """Mute exactly ``types`` (informational ones only: naming a critical one is refused)."""
    known = {t.value for t in NotificationType}
    unknown = sorted(set(types) - known)
    if unknown:
        raise ValidationFailed(field="muted", unknown=unknown)
    critical = sorted(t for t in set(types) if NotificationType(t) in notifications.CRITICAL)
    if critical:
        raise CannotMute(types=critical)
    stored = notifications.store_muted(NotificationType(t) for t in set(types))
    with deps.store.transaction() as tx:
        tx.accounts.set_preferences(current.account.id, muted_notifications=stored)
        events.record(
            tx, deps.clock, current.account.id, EventType.NOTIFICATIONS_CHANGED, client, muted=stored.split()
        )
    return stored.split()


def choose_language(deps: Deps, account_id: str, lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValidationFailed(field="language")
    with deps.store.transaction() as tx:
        tx.accounts.set_preferences(account_id, chosen_language=lang)


def set_time_zone(deps: Deps, account_id: str, zone: str | None) -> None:
    """An IANA zone name ("Asia/Tokyo"), or None for UTC."""
    if zone is not None and zone not in available_timezones():
        raise ValidationFailed(field="time_zone")
    with deps.store.transaction() as tx:
        tx.accounts.set_preferences(account_id, time_zone=zone)
