"""Telling the owner: a notification for each event that calls for one, and the periodic
reminder to check the recovery sheet and phone numbers. Both run after the fact, from the
jobs (``core/flows/jobs.py``): the server's worker and ``sparekey jobs``.

Several processes may run them at once: each event is taken by one conditional UPDATE
(``take_notification``) and each reminder likewise (``take_reminder``), so nothing is sent
twice. A message is queued in the transaction that takes its event, so a crash between the
two never loses one or sends one twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sparekey.core import notifications
from sparekey.core.delivery import Channel, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.factors.contact_points import ContactKind, mask
from sparekey.core.flows import delivery
from sparekey.core.models import Account, Client, Event
from sparekey.core.notifications import NotificationType
from sparekey.core.ports import Transaction
from sparekey.core.user_agents import readable
from sparekey.i18n import LANGUAGES, format_when_zoned

BATCH = 50
# What of an event's data a notification may say (never a code, a token or a hash).
_SAYABLE = ("position", "set_number", "remaining", "factor", "name", "reason", "organisation", "contact")


def language_of(deps: Deps, account: Account, *, otherwise: str | None = None) -> str:
    """The language of messages to the owner: theirs, else ``otherwise`` (the language a
    request came in), else the operator's default."""
    chosen = account.language or otherwise
    return chosen if chosen in LANGUAGES else deps.policy.default_language


def links(deps: Deps) -> dict[str, str]:
    """Pages to look at; each asks for a sign-in first, none signs anyone in."""
    return {"secure_url": deps.policy.url("/security/secure"), "security_url": deps.policy.url("/security")}


def notify_pending(deps: Deps, *, limit: int = BATCH) -> int:
    """Take the pending events and queue their notifications; returns how many were taken."""
    with deps.store.transaction() as tx:
        pending = tx.events.pending_notifications(limit=limit)
    taken = 0
    message_ids: list[str | None] = []
    for event in pending:
        with deps.store.transaction() as tx:
            if event.id is None or not tx.events.take_notification(event.id, deps.clock.now()):
                continue  # another process took it
            taken += 1
            account = tx.accounts.get(event.account_id)
            kind = NotificationType(event.notification) if event.notification else None
            if account is None or kind is None or notifications.is_muted(kind, account.muted_notifications):
                continue
            message_ids += _queue_notice(tx, deps, account, event, kind)
    delivery.deliver(deps, message_ids)
    return taken


def tell_everywhere(
    tx: Transaction, deps: Deps, account: Account, kind: NotificationType, client: Client | None, **data: Any
) -> list[str | None]:
    """Queue ``kind`` now to every verified e-mail address AND phone of the account, inside
    the caller's transaction (before it removes the phones that must still hear of it); the
    caller delivers the returned ids after its commit. For ``notifications.EVERY_CHANNEL``."""
    if client is not None:
        data.setdefault("ip", client.ip)
        data.setdefault("user_agent", client.user_agent)
    event = Event(id=None, account_id=account.id, at=deps.clock.now(), type=kind.value, data=data)
    return _queue_notice(tx, deps, account, event, kind)


def _queue_notice(
    tx: Transaction, deps: Deps, account: Account, event: Event, kind: NotificationType
) -> list[str | None]:
    lang = language_of(deps, account)
    critical = kind in notifications.CRITICAL
    params: dict[str, Any] = {
        "notice": kind.value,
        "critical": critical,
        "username": account.username,
        "when": format_when_zoned(event.at, lang, account.time_zone),
        "device": readable(event.data.get("user_agent"), lang),
        "ip": event.data.get("ip") or "?",
        "seconds": event.data.get("retry_after", ""),
        **{key: event.data[key] for key in _SAYABLE if key in event.data},
        **links(deps),
    }
    contacts = tx.contacts.for_account(account.id, verified_only=True)
    emails = [c for c in contacts if c.kind == ContactKind.EMAIL]
    phones = [c for c in contacts if c.kind == ContactKind.PHONE]
    if kind not in notifications.EVERY_CHANNEL and not (critical and not emails):
        phones = []
    return [
        delivery.queue(
            tx,
            deps,
            MessageKind.NOTICE,
            channel=Channel.EMAIL if contact.kind == ContactKind.EMAIL else Channel.SMS,
            to=contact.address,
            language=lang,
            account_id=account.id,
            **params,
        )
        for contact in [*emails, *phones]
    ]


def remind_due(deps: Deps, *, limit: int = BATCH) -> int:
    """The periodic reminder, to accounts with two-step verification whose last one (or whose
    creation) is older than ``reminder_seconds``; returns how many were taken."""
    now = deps.clock.now()
    before = now - timedelta(seconds=deps.policy.reminder_seconds)
    with deps.store.transaction() as tx:
        due = tx.accounts.due_for_reminder(before, limit=limit)
    taken = 0
    message_ids: list[str | None] = []
    for account in due:
        with deps.store.transaction() as tx:
            if not tx.accounts.take_reminder(account.id, before=before, at=now):
                continue
            taken += 1
            lang = language_of(deps, account)
            contacts = tx.contacts.for_account(account.id, verified_only=True)
            current = tx.backup_codes.current_set(account.id)
            params: dict[str, Any] = {
                "username": account.username,
                "phones": ", ".join(mask(c.kind, c.address) for c in contacts if c.kind == ContactKind.PHONE),
                **links(deps),
            }
            if current is not None:
                params.update(
                    set_number=current.set_number,
                    set_date=format_when_zoned(current.created_at, lang, account.time_zone),
                    remaining=tx.backup_codes.counts(current.id)[1],
                )
            for contact in (c for c in contacts if c.kind == ContactKind.EMAIL):
                message_ids.append(
                    delivery.queue(
                        tx,
                        deps,
                        MessageKind.REMINDER,
                        channel=Channel.EMAIL,
                        to=contact.address,
                        language=lang,
                        account_id=account.id,
                        **params,
                    )
                )
    delivery.deliver(deps, message_ids)
    return taken
