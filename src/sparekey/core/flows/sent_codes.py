"""Sending a six-digit code to a contact point: for a sign-in flow, or to verify the contact.

Rules, in the order they are checked (API.md, "Other ways in"):

* The operator allows the method (``SPAREKEY_SMS_CODES`` ...), and the destination is the
  account's (a verified one, for a sign-in).
* Cool-down: one code per flow (or per contact being verified) every ``resend_seconds``.
* Caps, so that sparekey cannot be made to flood a number or a mailbox: per destination
  (``sends_per_destination_hour`` and ``_day``, counted across all accounts), per account
  (``sends_per_account_day``) and per client address (``sends_per_address_day``). Each
  refusal is ``429 rate_limited`` with the seconds until a send is allowed again.
* The checks and the send are serialised per account, destination and client address
  (``tx.locks``), so parallel requests cannot pass a limit together.
* A new code ends the previous one of the same flow or contact; the failure counts of the
  flow and the account are untouched by it. Only a keyed hash of the code is stored.
* The message is queued in the same transaction and sent after the commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sparekey.core import events, second_factors
from sparekey.core.crypto import new_id
from sparekey.core.delivery import Channel, MessageKind
from sparekey.core.deps import Deps
from sparekey.core.errors import FlowNotFound, RateLimited, ValidationFailed
from sparekey.core.events import EventType
from sparekey.core.factors import sent_codes as mechanics
from sparekey.core.factors.contact_points import mask
from sparekey.core.flows import delivery, sign_in
from sparekey.core.models import Client, Contact, SentCode
from sparekey.core.ports import Transaction
from sparekey.core.second_factors.sent_code import SIGNER_PURPOSE, SentCodes

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Sent:
    sent_to: str  # masked destination
    resend_after: int  # seconds until another code may be sent for the same flow or contact


def channel_factor(method: str, deps: Deps) -> SentCodes:
    """The sent-code factor for ``method`` ("sms", "voice", "email"), if the operator allows it."""
    factor = second_factors.by_kind(method)
    if not isinstance(factor, SentCodes) or not factor.allowed(deps):
        raise ValidationFailed(field="method", reason="not_available")
    return factor


def send_for_flow(
    deps: Deps,
    *,
    flow_id: str,
    method: str,
    destination_id: str | None,
    client: Client,
    language: str,
) -> Sent:
    """``POST /login/{flow_id}/send``: a code for this sign-in to one of the account's
    verified destinations of that kind (the first one when none is named)."""
    factor = channel_factor(method, deps)
    with deps.store.transaction() as tx:
        flow = sign_in.live_flow_in(tx, deps, flow_id)
        account = tx.accounts.get_for_update(flow.account_id or "")  # one send at a time per account
        if account is None:
            raise FlowNotFound()
        choices = factor.destinations(tx, account.id)
        contact = next((c for c in choices if destination_id in (None, c.id)), None)
        if contact is None:
            raise ValidationFailed(
                field="destination_id" if destination_id else "method", reason="not_available"
            )
        newest = tx.sent_codes.newest_for(flow_id=flow.id)
        message_id = _send(
            tx,
            deps,
            factor.channel,
            contact,
            client,
            language,
            MessageKind.SIGN_IN_CODE,
            newest,
            flow_id=flow.id,
        )
        # The flow's server-side context remembers where its code went (never sent back).
        sent = {"channel": factor.channel.value, "contact_id": contact.id, "at": deps.clock.now().isoformat()}
        tx.flows.set_context(flow.id, {**flow.context, "sent": sent})
    delivery.deliver(deps, [message_id])
    return Sent(sent_to=mask(contact.kind, contact.address), resend_after=deps.policy.resend_seconds)


def send_for_contact(
    tx: Transaction, deps: Deps, contact: Contact, client: Client, language: str
) -> str | None:
    """Inside the caller's transaction: a code to verify ``contact``; returns what
    ``delivery.queue`` returns (hand it to ``delivery.deliver`` after the commit)."""
    channel = Channel.EMAIL if contact.kind == "email" else Channel.SMS
    newest = tx.sent_codes.newest_for(contact_id=contact.id)
    return _send(tx, deps, channel, contact, client, language, MessageKind.CONTACT_CODE, newest, flow_id=None)


def _send(
    tx: Transaction,
    deps: Deps,
    channel: Channel,
    contact: Contact,
    client: Client,
    language: str,
    kind: MessageKind,
    newest: SentCode | None,
    *,
    flow_id: str | None,
) -> str | None:
    now = deps.clock.now()
    policy = deps.policy
    if newest is not None:
        _wait_until(newest.created_at + timedelta(seconds=policy.resend_seconds), now)
    tx.locks.hold(f"sends:destination:{contact.address}")
    if client.ip:
        tx.locks.hold(f"sends:address:{client.ip}")
    sends = tx.sent_codes.sends_since(
        now - DAY, destination=contact.address, account_id=contact.account_id, ip=client.ip
    )
    to_destination = [s.at for s in sends if s.to_destination]
    _cap([at for at in to_destination if at >= now - HOUR], policy.sends_per_destination_hour, HOUR, now)
    _cap(to_destination, policy.sends_per_destination_day, DAY, now)
    _cap([s.at for s in sends if s.for_account], policy.sends_per_account_day, DAY, now)
    _cap([s.at for s in sends if s.from_address], policy.sends_per_address_day, DAY, now)

    expires_at = now + timedelta(seconds=policy.sent_code_seconds)
    if flow_id is not None:
        tx.sent_codes.end_for_flow(flow_id, now)
        tx.flows.extend(flow_id, expires_at)  # a code asked for late still gets its minutes
    else:
        tx.sent_codes.end_for_contact(contact.id, now)
    code = mechanics.generate()
    code_id = new_id()
    tx.sent_codes.add(
        SentCode(
            id=code_id,
            account_id=contact.account_id,
            contact_id=contact.id,
            channel=channel.value,
            destination=contact.address,
            code_hash=mechanics.tag(deps.box.signer(SIGNER_PURPOSE), code_id, code),
            created_at=now,
            expires_at=expires_at,
            flow_id=flow_id,
            ip=client.ip,
        )
    )
    message_id = delivery.queue(
        tx,
        deps,
        kind,
        channel=channel,
        to=contact.address,
        language=language,
        account_id=contact.account_id,
        code=code,
        minutes=policy.sent_code_seconds // 60,
    )
    events.record(
        tx,
        deps.clock,
        contact.account_id,
        EventType.CODE_SENT,
        client,
        channel=channel.value,
        destination=mask(contact.kind, contact.address),
        purpose="sign_in" if flow_id else "verify_contact",
    )
    return message_id


def _wait_until(allowed_at: datetime, now: datetime) -> None:
    if allowed_at > now:
        raise RateLimited(retry_after=max(1, math.ceil((allowed_at - now).total_seconds())))


def _cap(sent: list[datetime], limit: int, window: timedelta, now: datetime) -> None:
    """At most ``limit`` sends in any ``window``: the next is allowed when the oldest of the
    last ``limit`` leaves the window."""
    if len(sent) >= limit:
        _wait_until(sent[-limit] + window, now)
