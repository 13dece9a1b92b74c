"""Repositories implementing ``core.ports`` over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from sparekey.core.delivery import OUTBOX
from sparekey.core.models import (
    Account,
    Authenticator,
    BackupCode,
    BackupCodeSet,
    CeremonyPurpose,
    Contact,
    Event,
    FlowKind,
    FlowState,
    KeyCeremony,
    KnownClient,
    LoginFlow,
    QueuedMessage,
    RecoveryRequest,
    RecoveryState,
    SecurityKey,
    SentCode,
    Session,
    Throttle,
    TrustedDevice,
)
from sparekey.core.ports import SendTime, SessionSnapshot
from sparekey.store import tables as t
from sparekey.store.repo import OPEN_RECOVERIES, _Repo, _row, recovery_request
from sparekey.store.sql_groups import SqlGroups, session_snapshot
from sparekey.store.sql_oidc import SqlOidc
from sparekey.store.sql_organisations import SqlOrganisations
from sparekey.store.sql_recovery_contacts import SqlRecoveryContacts
from sparekey.store.sql_support import SqlRecoveryActions, SqlRoles


def _count_attempt(dialect_insert: Any) -> Any:
    return (
        dialect_insert(t.throttles)
        .values(key=bindparam("p_key"), failures=1, lockouts=0)
        .on_conflict_do_update(
            index_elements=[t.throttles.c.key], set_={"failures": t.throttles.c.failures + 1}
        )
        .returning(*t.throttles.c)
    )


class _Q:
    """Statements on the sign-in path, built once: building a statement costs more than running it."""

    accounts, authenticators, flows, codes, sets = (
        t.accounts,
        t.authenticators,
        t.login_flows,
        t.backup_codes,
        t.backup_code_sets,
    )
    account_by_id = select(accounts).where(accounts.c.id == bindparam("p_id"))
    account_for_update = account_by_id.with_for_update()
    account_by_username = select(accounts).where(accounts.c.username == bindparam("p_username"))
    authenticators_of = (
        select(authenticators)
        .where(authenticators.c.account_id == bindparam("p_account"))
        .order_by(authenticators.c.created_at, authenticators.c.id)
    )
    confirmed_authenticators_of = authenticators_of.where(authenticators.c.confirmed_at.is_not(None))
    refused = t.totp_refused_steps
    claim_step = (
        update(authenticators)
        .where(
            authenticators.c.id == bindparam("p_id"),
            authenticators.c.last_used_step.is_(None)
            | (authenticators.c.last_used_step < bindparam("p_step")),
            ~select(refused.c.step)
            .where(refused.c.authenticator_id == bindparam("p_id"), refused.c.step == bindparam("p_step"))
            .exists(),
        )
        .values(
            last_used_step=bindparam("p_step"),
            last_used_at=bindparam("p_at"),
            drift_steps=bindparam("p_drift"),
            last_offset_steps=bindparam("p_offset"),
        )
    )
    insert_session = insert(t.sessions)
    insert_flow = insert(flows)
    flow_by_id = select(flows).where(flows.c.id == bindparam("p_id"))
    awaiting = flows.c.state == FlowState.AWAITING_SECOND_FACTOR.value
    complete_flow = (
        update(flows).where(flows.c.id == bindparam("p_id"), awaiting).values(state=FlowState.COMPLETED.value)
    )
    reserve_flow_attempt = (
        update(flows)
        .where(flows.c.id == bindparam("p_id"), awaiting, flows.c.attempts < bindparam("p_max"))
        .values(attempts=flows.c.attempts + 1)
    )
    insert_event = insert(t.events)
    current_set = select(sets).where(
        sets.c.account_id == bindparam("p_account"), sets.c.replaced_at.is_(None)
    )
    codes_of = (
        select(codes)
        .where(codes.c.set_id.in_(bindparam("p_sets", expanding=True)))
        .order_by(codes.c.set_id, codes.c.position)
    )
    replaced_sets = (
        select(sets)
        .where(sets.c.account_id == bindparam("p_account"), sets.c.replaced_at.is_not(None))
        .order_by(sets.c.set_number.desc())
        .limit(bindparam("p_limit"))
    )
    consume_code = (
        update(codes)
        .where(
            codes.c.set_id == bindparam("p_set"),
            codes.c.position == bindparam("p_position"),
            codes.c.used_at.is_(None),
            codes.c.set_id.in_(
                select(sets.c.id).where(sets.c.id == bindparam("p_set"), sets.c.replaced_at.is_(None))
            ),
        )
        .values(used_at=bindparam("p_at"), used_ip=bindparam("p_ip"), used_user_agent=bindparam("p_agent"))
    )
    code_counts = select(func.count(), func.count().filter(codes.c.used_at.is_(None))).where(
        codes.c.set_id == bindparam("p_set")
    )
    throttle_by_key = select(t.throttles).where(t.throttles.c.key == bindparam("p_key"))
    delete_throttle = delete(t.throttles).where(t.throttles.c.key == bindparam("p_key"))
    count_attempt = {"postgresql": _count_attempt(postgresql.insert), "sqlite": _count_attempt(sqlite.insert)}
    contacts = t.contacts
    insert_contact = insert(contacts)
    contacts_of = (
        select(contacts)
        .where(contacts.c.account_id == bindparam("p_account"))
        .order_by(contacts.c.created_at, contacts.c.id)
    )
    sent = t.sent_codes
    insert_sent_code = insert(sent)
    live_code_of_flow = (
        select(sent)
        .where(sent.c.flow_id == bindparam("p_flow"), sent.c.used_at.is_(None), sent.c.ended_at.is_(None))
        .order_by(sent.c.created_at.desc(), sent.c.id.desc())
        .limit(1)
    )
    extend_flow = (
        update(flows)
        .where(flows.c.id == bindparam("p_id"), flows.c.expires_at < bindparam("p_until"))
        .values(expires_at=bindparam("p_until"))
    )
    contact_by_id = select(contacts).where(
        contacts.c.id == bindparam("p_id"), contacts.c.account_id == bindparam("p_account")
    )
    newest_code_of_flow = (
        select(sent)
        .where(sent.c.flow_id == bindparam("p_flow"))
        .order_by(sent.c.created_at.desc(), sent.c.id.desc())
        .limit(1)
    )
    _pending = (sent.c.used_at.is_(None), sent.c.ended_at.is_(None))
    end_codes_of_flow = (
        update(sent)
        .where(sent.c.flow_id == bindparam("p_flow"), *_pending)
        .values(ended_at=bindparam("p_at"))
    )
    consume_sent_code = (
        update(sent).where(sent.c.id == bindparam("p_id"), *_pending).values(used_at=bindparam("p_at"))
    )
    messages = t.messages
    _free = messages.c.claimed_until.is_(None) | (messages.c.claimed_until < bindparam("p_now"))
    claim_message = (
        update(messages)
        .where(messages.c.id == bindparam("p_id"), messages.c.state == "queued", _free)
        .values(claimed_until=bindparam("p_until"))
    )
    _sent_values = {
        "state": "sent",
        "sent_at": bindparam("p_at"),
        "sender": bindparam("p_sender"),
        "attempts": messages.c.attempts + 1,
        "claimed_until": None,
        "last_error": None,
    }
    mark_sent_keeping_body = update(messages).where(messages.c.id == bindparam("p_id")).values(**_sent_values)
    mark_sent_dropping_body = (
        update(messages).where(messages.c.id == bindparam("p_id")).values(**_sent_values, body_enc=None)
    )
    sends_since = (
        select(
            sent.c.created_at,
            sent.c.destination == bindparam("p_destination"),
            sent.c.account_id == bindparam("p_account"),
            func.coalesce(sent.c.ip == bindparam("p_ip"), False),
        )
        .where(
            sent.c.created_at >= bindparam("p_since"),
            (sent.c.destination == bindparam("p_destination"))
            | (sent.c.account_id == bindparam("p_account"))
            | (sent.c.ip == bindparam("p_ip")),
        )
        .order_by(sent.c.created_at)
    )
    known = t.known_clients
    insert_known_client = insert(known)
    find_known_clients = select(known).where(
        known.c.account_id == bindparam("p_account"), known.c.id.in_(bindparam("p_ids", expanding=True))
    )
    touch_known_client = (
        update(known).where(known.c.id == bindparam("p_id")).values(last_used_at=bindparam("p_at"))
    )
    forget_old_known_clients = delete(known).where(
        known.c.account_id == bindparam("p_account"),
        known.c.id.not_in(
            select(known.c.id)
            .where(known.c.account_id == bindparam("p_account"))
            .order_by(known.c.last_used_at.desc(), known.c.id.desc())
            .limit(bindparam("p_keep"))
            .scalar_subquery()
        ),
    )

    keys_of = (
        select(t.security_keys)
        .where(t.security_keys.c.account_id == bindparam("p_account"))
        .order_by(t.security_keys.c.created_at, t.security_keys.c.id)
    )
    cancel_open_recoveries = (
        update(t.recovery_requests)
        .where(
            t.recovery_requests.c.account_id == bindparam("p_account"),
            t.recovery_requests.c.state.in_((RecoveryState.COLLECTING.value, RecoveryState.WAITING.value)),
        )
        .values(state=RecoveryState.CANCELLED.value)
    )


class SqlAccounts(_Repo):
    def add(self, account: Account) -> None:
        self.conn.execute(insert(t.accounts).values(**vars(account)))

    def get(self, account_id: str) -> Account | None:
        row = self.conn.execute(_Q.account_by_id, {"p_id": account_id}).first()
        return Account(**_row(row)) if row else None

    def get_for_update(self, account_id: str) -> Account | None:
        row = self.conn.execute(_Q.account_for_update, {"p_id": account_id}).first()
        return Account(**_row(row)) if row else None

    def by_username(self, username: str) -> Account | None:
        row = self.conn.execute(_Q.account_by_username, {"p_username": username}).first()
        return Account(**_row(row)) if row else None

    def by_skeleton(self, skeleton: str) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.username_skeleton == skeleton)).first()
        return Account(**_row(row)) if row else None

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self.conn.execute(
            update(t.accounts).where(t.accounts.c.id == account_id).values(password_hash=password_hash)
        )

    def set_two_factor(self, account_id: str, enabled: bool) -> None:
        self.conn.execute(
            update(t.accounts).where(t.accounts.c.id == account_id).values(two_factor_enabled=enabled)
        )

    def set_backup_salt(self, account_id: str, salt: bytes) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(backup_salt=salt))

    _PREFERENCES = frozenset({"chosen_language", "sign_in_language", "time_zone", "muted_notifications"})

    def set_preferences(self, account_id: str, **values: str | None) -> None:
        if not values or not set(values) <= self._PREFERENCES:
            raise ValueError(f"not a preference: {sorted(set(values) - self._PREFERENCES)}")
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(**values))

    def _reminder_due(self, before: datetime) -> Any:
        c = t.accounts.c
        return c.two_factor_enabled.is_(True) & (
            (c.last_reminded_at.is_(None) & (c.created_at < before)) | (c.last_reminded_at < before)
        )

    def due_for_reminder(self, before: datetime, *, limit: int) -> list[Account]:
        rows = self.conn.execute(
            select(t.accounts).where(self._reminder_due(before)).order_by(t.accounts.c.id).limit(limit)
        )
        return [Account(**_row(r)) for r in rows]

    def take_reminder(self, account_id: str, *, before: datetime, at: datetime) -> bool:
        result = self.conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id == account_id, self._reminder_due(before))
            .values(last_reminded_at=at)
        )
        return result.rowcount == 1

    def start_drill(self, account_id: str, at: datetime) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(drill_started_at=at))

    def pass_drill(self, account_id: str, *, at: datetime, method: str, started_after: datetime) -> bool:
        c = t.accounts.c
        result = self.conn.execute(
            update(t.accounts)
            .where(c.id == account_id, c.drill_started_at.is_not(None), c.drill_started_at > started_after)
            .values(last_drill_at=at, last_drill_method=method, drill_started_at=None)
        )
        return result.rowcount == 1


class SqlAuthenticators(_Repo):
    def add(self, authenticator: Authenticator) -> None:
        self.conn.execute(insert(t.authenticators).values(**vars(authenticator)))

    def get(self, account_id: str, authenticator_id: str) -> Authenticator | None:
        row = self.conn.execute(
            select(t.authenticators).where(
                t.authenticators.c.id == authenticator_id, t.authenticators.c.account_id == account_id
            )
        ).first()
        return Authenticator(**_row(row)) if row else None

    def for_account(self, account_id: str, *, confirmed_only: bool = False) -> list[Authenticator]:
        query = _Q.confirmed_authenticators_of if confirmed_only else _Q.authenticators_of
        rows = self.conn.execute(query, {"p_account": account_id})
        return [Authenticator(**_row(r)) for r in rows]

    def confirm(self, authenticator_id: str, *, at: datetime, step: int) -> bool:
        result = self.conn.execute(
            update(t.authenticators)
            .where(t.authenticators.c.id == authenticator_id, t.authenticators.c.confirmed_at.is_(None))
            .values(confirmed_at=at, last_used_step=step, last_used_at=at, last_offset_steps=None)
        )
        return result.rowcount == 1

    def claim_step(
        self, authenticator_id: str, *, step: int, at: datetime, drift_steps: int, offset_steps: int
    ) -> bool:
        parameters = {
            "p_id": authenticator_id,
            "p_step": step,
            "p_at": at,
            "p_drift": drift_steps,
            "p_offset": offset_steps,
        }
        return self.conn.execute(_Q.claim_step, parameters).rowcount == 1

    def refuse_step(self, authenticator_id: str, step: int, *, at: datetime, keep_after: int) -> None:
        refused = t.totp_refused_steps
        self.conn.execute(
            delete(refused).where(
                refused.c.authenticator_id == authenticator_id, refused.c.step <= keep_after
            )
        )
        dialect_insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        self.conn.execute(
            dialect_insert(refused)
            .values(authenticator_id=authenticator_id, step=step, refused_at=at)
            .on_conflict_do_nothing()
        )

    def delete(self, authenticator_id: str) -> None:
        self.conn.execute(delete(t.authenticators).where(t.authenticators.c.id == authenticator_id))

    def delete_for_account(self, account_id: str) -> None:
        self.conn.execute(delete(t.authenticators).where(t.authenticators.c.account_id == account_id))

    def set_secret(self, authenticator_id: str, secret_enc: str) -> None:
        self.conn.execute(
            update(t.authenticators)
            .where(t.authenticators.c.id == authenticator_id)
            .values(secret_enc=secret_enc)
        )

    def all_secrets(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(select(t.authenticators.c.id, t.authenticators.c.secret_enc))
        return [(r.id, r.secret_enc) for r in rows]


class SqlSessions(_Repo):
    def add(self, session: Session) -> None:
        self.conn.execute(_Q.insert_session, vars(session))

    def by_token_hash(self, token_hash: str) -> Session | None:
        row = self.conn.execute(select(t.sessions).where(t.sessions.c.token_hash == token_hash)).first()
        return Session(**_row(row)) if row else None

    def get(self, account_id: str, session_id: str) -> Session | None:
        row = self.conn.execute(
            select(t.sessions).where(t.sessions.c.id == session_id, t.sessions.c.account_id == account_id)
        ).first()
        return Session(**_row(row)) if row else None

    def for_account(self, account_id: str) -> list[Session]:
        rows = self.conn.execute(
            select(t.sessions)
            .where(t.sessions.c.account_id == account_id)
            .order_by(t.sessions.c.last_seen_at.desc())
        )
        return [Session(**_row(r)) for r in rows]

    def touch(self, session_id: str, at: datetime) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(last_seen_at=at))

    def set_token_hash(self, session_id: str, token_hash: str) -> None:
        self.conn.execute(
            update(t.sessions).where(t.sessions.c.id == session_id).values(token_hash=token_hash)
        )

    def set_sudo_until(self, session_id: str, until: datetime | None) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(sudo_until=until))

    def delete(self, session_id: str) -> None:
        self.conn.execute(delete(t.sessions).where(t.sessions.c.id == session_id))

    def delete_for_account(self, account_id: str, *, except_id: str | None = None) -> int:
        query = delete(t.sessions).where(t.sessions.c.account_id == account_id)
        if except_id is not None:
            query = query.where(t.sessions.c.id != except_id)
        return int(self.conn.execute(query).rowcount)

    def set_restriction(self, session_id: str, restriction: str | None) -> None:
        self.conn.execute(
            update(t.sessions).where(t.sessions.c.id == session_id).values(restriction=restriction)
        )

    def lift_restrictions(self, account_id: str) -> int:
        c = t.sessions.c
        query = update(t.sessions).where(c.account_id == account_id, c.restriction.is_not(None))
        return int(self.conn.execute(query.values(restriction=None)).rowcount)


class SqlLoginFlows(_Repo):
    def add(self, flow: LoginFlow) -> None:
        values = {**vars(flow), "state": flow.state.value, "kind": flow.kind.value}
        self.conn.execute(_Q.insert_flow, values)

    def get(self, flow_id: str) -> LoginFlow | None:
        row = self.conn.execute(_Q.flow_by_id, {"p_id": flow_id}).first()
        if row is None:
            return None
        data = _row(row)
        data["state"] = FlowState(data["state"])
        data["kind"] = FlowKind(data["kind"])
        data["context"] = data["context"] or {}
        return LoginFlow(**data)

    def set_context(self, flow_id: str, context: dict[str, Any]) -> None:
        self.conn.execute(update(t.login_flows).where(t.login_flows.c.id == flow_id).values(context=context))

    def set_challenge(self, flow_id: str, challenge: str) -> None:
        c = t.login_flows.c
        self.conn.execute(update(t.login_flows).where(c.id == flow_id).values(webauthn_challenge=challenge))

    def take_challenge(self, flow_id: str, challenge: str) -> bool:
        c = t.login_flows.c
        result = self.conn.execute(
            update(t.login_flows)
            .where(c.id == flow_id, c.webauthn_challenge == challenge)
            .values(webauthn_challenge=None)
        )
        return result.rowcount == 1

    def prune(self, before: datetime) -> int:
        result = self.conn.execute(delete(t.login_flows).where(t.login_flows.c.expires_at < before))
        return int(result.rowcount)

    def bind_account(self, flow_id: str, account_id: str) -> None:
        c = t.login_flows.c
        self.conn.execute(
            update(t.login_flows).where(c.id == flow_id, c.account_id.is_(None)).values(account_id=account_id)
        )

    def reserve_attempt(self, flow_id: str, *, max_attempts: int) -> bool:
        parameters = {"p_id": flow_id, "p_max": max_attempts}
        return self.conn.execute(_Q.reserve_flow_attempt, parameters).rowcount == 1

    def fail_if_spent(self, flow_id: str, *, max_attempts: int) -> None:
        c = t.login_flows.c
        self.conn.execute(
            update(t.login_flows)
            .where(c.id == flow_id, c.attempts >= max_attempts, _Q.awaiting)
            .values(state=FlowState.FAILED.value)
        )

    def complete(self, flow_id: str) -> bool:
        return self.conn.execute(_Q.complete_flow, {"p_id": flow_id}).rowcount == 1

    def extend(self, flow_id: str, until: datetime) -> None:
        self.conn.execute(_Q.extend_flow, {"p_id": flow_id, "p_until": until})

    def end_for_account(self, account_id: str) -> int:
        c = t.login_flows.c
        result = self.conn.execute(
            update(t.login_flows)
            .where(c.account_id == account_id, _Q.awaiting)
            .values(state=FlowState.ENDED.value)
        )
        return int(result.rowcount)


class SqlEvents(_Repo):
    def add(self, event: Event) -> None:
        values = {
            "account_id": event.account_id,
            "at": event.at,
            "type": event.type,
            "data": event.data,
            "notification": event.notification,
        }
        self.conn.execute(_Q.insert_event, values)

    def pending_notifications(self, *, limit: int) -> list[Event]:
        c = t.events.c
        rows = self.conn.execute(
            select(t.events)
            .where(c.notification.is_not(None), c.notified_at.is_(None))
            .order_by(c.id)
            .limit(limit)
        )
        return [Event(**_row(r)) for r in rows]

    def take_notification(self, event_id: int, at: datetime) -> bool:
        c = t.events.c
        result = self.conn.execute(
            update(t.events).where(c.id == event_id, c.notified_at.is_(None)).values(notified_at=at)
        )
        return result.rowcount == 1

    def for_account(
        self, account_id: str, *, limit: int = 100, types: Sequence[str] | None = None
    ) -> list[Event]:
        query = select(t.events).where(t.events.c.account_id == account_id)
        if types is not None:
            query = query.where(t.events.c.type.in_(list(types)))
        rows = self.conn.execute(query.order_by(t.events.c.id.desc()).limit(limit))
        return [Event(**_row(r)) for r in rows]


class SqlBackupCodes(_Repo):
    def current_set(self, account_id: str) -> BackupCodeSet | None:
        row = self.conn.execute(_Q.current_set, {"p_account": account_id}).first()
        return BackupCodeSet(**_row(row)) if row else None

    def recent_replaced_sets(self, account_id: str, *, limit: int) -> list[BackupCodeSet]:
        rows = self.conn.execute(_Q.replaced_sets, {"p_account": account_id, "p_limit": limit})
        return [BackupCodeSet(**_row(r)) for r in rows]

    def next_set_number(self, account_id: str) -> int:
        c = t.backup_code_sets.c
        highest = self.conn.execute(select(func.max(c.set_number)).where(c.account_id == account_id)).scalar()
        return (highest or 0) + 1

    def end_current_set(self, account_id: str, *, at: datetime) -> BackupCodeSet | None:
        current = self.current_set(account_id)
        if current is None:
            return None
        c = t.backup_code_sets.c
        self.conn.execute(
            update(t.backup_code_sets)
            .where(c.id == current.id, c.replaced_at.is_(None))
            .values(replaced_at=at)
        )
        current.replaced_at = at
        return current

    def add_set(self, code_set: BackupCodeSet, hashes: Sequence[bytes]) -> None:
        self.conn.execute(insert(t.backup_code_sets).values(**vars(code_set)))
        self.conn.execute(
            insert(t.backup_codes),
            [{"set_id": code_set.id, "position": i, "code_hash": h} for i, h in enumerate(hashes, start=1)],
        )

    def codes(self, set_ids: Sequence[str]) -> list[BackupCode]:
        if not set_ids:
            return []
        rows = self.conn.execute(_Q.codes_of, {"p_sets": list(set_ids)})
        return [BackupCode(*row) for row in rows]  # the columns are in the dataclass's order

    def counts(self, set_id: str) -> tuple[int, int]:
        total, unused = self.conn.execute(_Q.code_counts, {"p_set": set_id}).one()
        return int(total), int(unused)

    def consume(
        self, set_id: str, position: int, *, at: datetime, ip: str | None, user_agent: str | None
    ) -> bool:
        parameters = {"p_set": set_id, "p_position": position, "p_at": at, "p_ip": ip, "p_agent": user_agent}
        return self.conn.execute(_Q.consume_code, parameters).rowcount == 1

    def mark_confirmed(self, set_id: str, *, at: datetime) -> None:
        c = t.backup_code_sets.c
        self.conn.execute(
            update(t.backup_code_sets).where(c.id == set_id, c.confirmed_at.is_(None)).values(confirmed_at=at)
        )


class SqlKnownClients(_Repo):
    def add(self, client: KnownClient) -> None:
        self.conn.execute(_Q.insert_known_client, vars(client))

    def find(self, account_id: str, client_ids: Sequence[str]) -> list[KnownClient]:
        if not client_ids:
            return []
        rows = self.conn.execute(_Q.find_known_clients, {"p_account": account_id, "p_ids": list(client_ids)})
        return [KnownClient(**_row(r)) for r in rows]

    def touch(self, client_id: str, at: datetime) -> None:
        self.conn.execute(_Q.touch_known_client, {"p_id": client_id, "p_at": at})

    def any_for(self, account_id: str) -> bool:
        c = t.known_clients.c
        return self.conn.execute(select(c.id).where(c.account_id == account_id).limit(1)).first() is not None

    def keep_newest(self, account_id: str, count: int) -> None:
        self.conn.execute(_Q.forget_old_known_clients, {"p_account": account_id, "p_keep": count})


class SqlContacts(_Repo):
    """Contact points. An account's list is read once per transaction (every sent-code
    factor asks for it while a sign-in lists its methods); a write forgets it."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._of_account: dict[str, list[Contact]] = {}

    def add(self, contact: Contact) -> None:
        self._of_account.clear()
        self.conn.execute(_Q.insert_contact, vars(contact))

    def get(self, account_id: str, contact_id: str) -> Contact | None:
        row = self.conn.execute(_Q.contact_by_id, {"p_id": contact_id, "p_account": account_id}).first()
        return Contact(**_row(row)) if row else None

    def for_account(self, account_id: str, *, verified_only: bool = False) -> list[Contact]:
        if account_id not in self._of_account:
            rows = self.conn.execute(_Q.contacts_of, {"p_account": account_id})
            self._of_account[account_id] = [Contact(**_row(r)) for r in rows]
        found = self._of_account[account_id]
        return [c for c in found if c.verified] if verified_only else list(found)

    def find(self, account_id: str, kind: str, address: str) -> Contact | None:
        c = t.contacts.c
        row = self.conn.execute(
            select(t.contacts).where(c.account_id == account_id, c.kind == kind, c.address == address)
        ).first()
        return Contact(**_row(row)) if row else None

    def mark_verified(self, contact_id: str, at: datetime) -> bool:
        self._of_account.clear()
        c = t.contacts.c
        result = self.conn.execute(
            update(t.contacts).where(c.id == contact_id, c.verified_at.is_(None)).values(verified_at=at)
        )
        return result.rowcount == 1

    def delete(self, contact_id: str) -> None:
        self._of_account.clear()
        self.conn.execute(delete(t.contacts).where(t.contacts.c.id == contact_id))

    def delete_for_account(self, account_id: str, *, kind: str | None = None) -> None:
        self._of_account.clear()
        query = delete(t.contacts).where(t.contacts.c.account_id == account_id)
        if kind is not None:
            query = query.where(t.contacts.c.kind == kind)
        self.conn.execute(query)


class SqlSentCodes(_Repo):
    def prune(self, before: datetime) -> int:
        result = self.conn.execute(delete(t.sent_codes).where(t.sent_codes.c.created_at < before))
        return int(result.rowcount)

    def add(self, code: SentCode) -> None:
        self.conn.execute(_Q.insert_sent_code, vars(code))

    def _newest(self, *conditions: Any) -> SentCode | None:
        c = t.sent_codes.c
        row = self.conn.execute(
            select(t.sent_codes).where(*conditions).order_by(c.created_at.desc(), c.id.desc()).limit(1)
        ).first()
        return SentCode(**_row(row)) if row else None

    def live_for_flow(self, flow_id: str) -> SentCode | None:
        row = self.conn.execute(_Q.live_code_of_flow, {"p_flow": flow_id}).first()
        return SentCode(**_row(row)) if row else None

    def live_for_contact(self, contact_id: str) -> SentCode | None:
        c = t.sent_codes.c
        return self._newest(
            c.contact_id == contact_id, c.flow_id.is_(None), c.used_at.is_(None), c.ended_at.is_(None)
        )

    def newest_for(self, *, flow_id: str | None = None, contact_id: str | None = None) -> SentCode | None:
        c = t.sent_codes.c
        if flow_id is not None:
            row = self.conn.execute(_Q.newest_code_of_flow, {"p_flow": flow_id}).first()
            return SentCode(**_row(row)) if row else None
        return self._newest(c.contact_id == contact_id, c.flow_id.is_(None))

    def _end(self, at: datetime, *conditions: Any) -> None:
        c = t.sent_codes.c
        self.conn.execute(
            update(t.sent_codes)
            .where(*conditions, c.used_at.is_(None), c.ended_at.is_(None))
            .values(ended_at=at)
        )

    def end_for_flow(self, flow_id: str, at: datetime) -> None:
        self.conn.execute(_Q.end_codes_of_flow, {"p_flow": flow_id, "p_at": at})

    def end_for_contact(self, contact_id: str, at: datetime) -> None:
        c = t.sent_codes.c
        self._end(at, c.contact_id == contact_id, c.flow_id.is_(None))

    def end_for_account(self, account_id: str, at: datetime) -> None:
        self._end(at, t.sent_codes.c.account_id == account_id)

    def consume(self, code_id: str, at: datetime) -> bool:
        return self.conn.execute(_Q.consume_sent_code, {"p_id": code_id, "p_at": at}).rowcount == 1

    def sends_since(
        self, since: datetime, *, destination: str, account_id: str, ip: str | None
    ) -> list[SendTime]:
        parameters = {"p_since": since, "p_destination": destination, "p_account": account_id, "p_ip": ip}
        return [SendTime(*row) for row in self.conn.execute(_Q.sends_since, parameters)]


class SqlLocks(_Repo):
    def hold(self, name: str) -> None:
        if self._dialect == "postgresql":
            self.conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
            )
        # SQLite: every transaction here began with BEGIN IMMEDIATE and holds the write lock.


class SqlMessages(_Repo):
    def add(self, message: QueuedMessage) -> None:
        self.conn.execute(insert(t.messages), vars(message))

    def claim_due(
        self,
        now: datetime,
        *,
        until: datetime,
        limit: int,
        ids: Sequence[str] | None = None,
        created_before: datetime | None = None,
    ) -> list[QueuedMessage]:
        c = t.messages.c
        free = c.claimed_until.is_(None) | (c.claimed_until < now)
        due = select(t.messages).where(c.state == "queued", c.next_attempt_at <= now, free)
        if ids is not None:
            due = due.where(c.id.in_(list(ids)))
        if created_before is not None:
            due = due.where(c.created_at <= created_before)
        rows = self.conn.execute(due.order_by(c.next_attempt_at, c.id).limit(limit)).all()
        claimed = []
        for row in rows:
            won = self.conn.execute(_Q.claim_message, {"p_id": row.id, "p_now": now, "p_until": until})
            if won.rowcount == 1:
                claimed.append(QueuedMessage(**{**_row(row), "claimed_until": until}))
        return claimed

    def mark_sent(self, message_id: str, *, at: datetime, sender: str, keep_body: bool) -> None:
        statement = _Q.mark_sent_keeping_body if keep_body else _Q.mark_sent_dropping_body
        self.conn.execute(statement, {"p_id": message_id, "p_at": at, "p_sender": sender})

    def mark_retry(self, message_id: str, *, error: str, next_attempt_at: datetime) -> None:
        c = t.messages.c
        self.conn.execute(
            update(t.messages)
            .where(c.id == message_id)
            .values(
                attempts=c.attempts + 1,
                last_error=error[:500],
                next_attempt_at=next_attempt_at,
                claimed_until=None,
            )
        )

    def mark_failed(self, message_id: str, *, error: str) -> None:
        c = t.messages.c
        self.conn.execute(
            update(t.messages)
            .where(c.id == message_id)
            .values(
                state="failed",
                attempts=c.attempts + 1,
                last_error=error[:500],
                claimed_until=None,
                body_enc=None,
            )
        )

    def kept_by_outbox(self, *, limit: int, after: datetime | None = None) -> list[QueuedMessage]:
        c = t.messages.c
        query = select(t.messages).where(c.state == "sent", c.sender == OUTBOX)
        if after is not None:
            query = query.where(c.created_at > after)
        rows = self.conn.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        return [QueuedMessage(**_row(r)) for r in rows]


class SqlThrottles(_Repo):
    def get(self, key: str) -> Throttle | None:
        row = self.conn.execute(_Q.throttle_by_key, {"p_key": key}).first()
        return Throttle(**_row(row)) if row else None

    def count_attempt(self, key: str) -> Throttle:
        # INSERT ... ON CONFLICT DO UPDATE waits for a concurrent writer of the row and then
        # works on its committed version, so RETURNING shows every earlier attempt and lock.
        row = self.conn.execute(_Q.count_attempt[self._dialect], {"p_key": key}).one()
        return Throttle(**_row(row))

    def set_lock(self, key: str, *, locked_until: datetime, lockouts: int) -> None:
        self.conn.execute(
            update(t.throttles)
            .where(t.throttles.c.key == key)
            .values(locked_until=locked_until, lockouts=lockouts)
        )

    def reset(self, key: str) -> None:
        self.conn.execute(_Q.delete_throttle, {"p_key": key})


class SqlSecurityKeys(_Repo):
    @staticmethod
    def _key(row: Any) -> SecurityKey:
        data = _row(row)
        data["transports"] = data["transports"].split()
        return SecurityKey(**data)

    def add(self, key: SecurityKey) -> None:
        self.conn.execute(
            insert(t.security_keys).values(**{**vars(key), "transports": " ".join(key.transports)})
        )

    def get(self, account_id: str, key_id: str) -> SecurityKey | None:
        c = t.security_keys.c
        row = self.conn.execute(
            select(t.security_keys).where(c.id == key_id, c.account_id == account_id)
        ).first()
        return self._key(row) if row else None

    def by_credential_id(self, credential_id: bytes) -> SecurityKey | None:
        c = t.security_keys.c
        row = self.conn.execute(select(t.security_keys).where(c.credential_id == credential_id)).first()
        return self._key(row) if row else None

    def for_account(self, account_id: str) -> list[SecurityKey]:
        rows = self.conn.execute(_Q.keys_of, {"p_account": account_id})
        return [self._key(r) for r in rows]

    def rename(self, key_id: str, name: str) -> None:
        self.conn.execute(update(t.security_keys).where(t.security_keys.c.id == key_id).values(name=name))

    def record_use(self, key_id: str, *, sign_count: int, backed_up: bool, at: datetime) -> bool:
        c = t.security_keys.c
        grows = (c.sign_count < sign_count) | ((c.sign_count == 0) & (sign_count == 0))
        result = self.conn.execute(
            update(t.security_keys)
            .where(c.id == key_id, grows)
            .values(sign_count=sign_count, backed_up=backed_up, last_used_at=at)
        )
        return result.rowcount == 1

    def delete(self, key_id: str) -> None:
        self.conn.execute(delete(t.security_keys).where(t.security_keys.c.id == key_id))


class SqlKeyCeremonies(_Repo):
    def add(self, ceremony: KeyCeremony) -> None:
        self.conn.execute(
            insert(t.key_ceremonies).values(**{**vars(ceremony), "purpose": ceremony.purpose.value})
        )

    def get(self, ceremony_id: str) -> KeyCeremony | None:
        row = self.conn.execute(select(t.key_ceremonies).where(t.key_ceremonies.c.id == ceremony_id)).first()
        if row is None:
            return None
        data = _row(row)
        data["purpose"] = CeremonyPurpose(data["purpose"])
        return KeyCeremony(**data)

    def prune(self, before: datetime) -> int:
        result = self.conn.execute(delete(t.key_ceremonies).where(t.key_ceremonies.c.expires_at < before))
        return int(result.rowcount)

    def spend(self, ceremony_id: str, at: datetime) -> bool:
        c = t.key_ceremonies.c
        result = self.conn.execute(
            update(t.key_ceremonies).where(c.id == ceremony_id, c.used_at.is_(None)).values(used_at=at)
        )
        return result.rowcount == 1


class SqlTrustedDevices(_Repo):
    def add(self, device: TrustedDevice) -> None:
        self.conn.execute(insert(t.trusted_devices).values(**vars(device)))

    def by_token_hashes(self, account_id: str, token_hashes: Sequence[str]) -> list[TrustedDevice]:
        if not token_hashes:
            return []
        c = t.trusted_devices.c
        rows = self.conn.execute(
            select(t.trusted_devices).where(c.account_id == account_id, c.token_hash.in_(list(token_hashes)))
        )
        return [TrustedDevice(**_row(r)) for r in rows]

    def get(self, account_id: str, device_id: str) -> TrustedDevice | None:
        c = t.trusted_devices.c
        row = self.conn.execute(
            select(t.trusted_devices).where(c.id == device_id, c.account_id == account_id)
        ).first()
        return TrustedDevice(**_row(row)) if row else None

    def for_account(self, account_id: str) -> list[TrustedDevice]:
        c = t.trusted_devices.c
        rows = self.conn.execute(
            select(t.trusted_devices).where(c.account_id == account_id).order_by(c.last_used_at.desc(), c.id)
        )
        return [TrustedDevice(**_row(r)) for r in rows]

    def touch(self, device_id: str, at: datetime) -> None:
        c = t.trusted_devices.c
        self.conn.execute(update(t.trusted_devices).where(c.id == device_id).values(last_used_at=at))

    def rename(self, device_id: str, name: str) -> None:
        self.conn.execute(
            update(t.trusted_devices).where(t.trusted_devices.c.id == device_id).values(name=name)
        )

    def delete(self, device_id: str) -> bool:
        result = self.conn.execute(delete(t.trusted_devices).where(t.trusted_devices.c.id == device_id))
        return result.rowcount == 1

    def prune(self, before: datetime) -> int:
        result = self.conn.execute(delete(t.trusted_devices).where(t.trusted_devices.c.expires_at < before))
        return int(result.rowcount)

    def delete_for_account(self, account_id: str) -> list[TrustedDevice]:
        rows = self.conn.execute(
            delete(t.trusted_devices)
            .where(t.trusted_devices.c.account_id == account_id)
            .returning(*t.trusted_devices.c)
        )
        return [TrustedDevice(**_row(r)) for r in rows]


class SqlRecoveryRequests(_Repo):
    _open = OPEN_RECOVERIES

    @staticmethod
    def _request(row: Any) -> RecoveryRequest:
        return recovery_request(_row(row))

    def add(self, request: RecoveryRequest) -> None:
        self.conn.execute(
            insert(t.recovery_requests).values(**{**vars(request), "state": request.state.value})
        )

    def get(self, request_id: str) -> RecoveryRequest | None:
        c = t.recovery_requests.c
        row = self.conn.execute(select(t.recovery_requests).where(c.id == request_id)).first()
        return self._request(row) if row else None

    def by_cancel_token_hash(self, cancel_token_hash: str) -> RecoveryRequest | None:
        c = t.recovery_requests.c
        row = self.conn.execute(
            select(t.recovery_requests).where(c.cancel_token_hash == cancel_token_hash)
        ).first()
        return self._request(row) if row else None

    def started_since(self, since: datetime, *, ip: str | None) -> list[datetime]:
        c = t.recovery_requests.c
        where = c.ip.is_(None) if ip is None else c.ip == ip
        query = select(c.created_at).where(where, c.created_at > since).order_by(c.created_at)
        rows = self.conn.execute(query)
        return [row[0] for row in rows]

    def count_for_account(self, account_id: str, *, since: datetime) -> int:
        c = t.recovery_requests.c
        query = select(func.count()).where(c.account_id == account_id, c.created_at >= since)
        return int(self.conn.execute(query).scalar_one())

    def take_dispatch(self, request_id: str, at: datetime) -> bool:
        c = t.recovery_requests.c
        result = self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.dispatched_at.is_(None))
            .values(dispatched_at=at)
        )
        return result.rowcount == 1

    def set_secrets(
        self, request_id: str, *, email_token_hash: str, code_hash: str, cancel_token_hash: str
    ) -> None:
        c = t.recovery_requests.c
        self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id)
            .values(
                email_token_hash=email_token_hash, code_hash=code_hash, cancel_token_hash=cancel_token_hash
            )
        )

    def reserve_answer(self, request_id: str, *, max_wrong: int) -> bool:
        c = t.recovery_requests.c
        result = self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.wrong_answers < max_wrong)
            .values(wrong_answers=c.wrong_answers + 1)
        )
        return result.rowcount == 1

    def release_answer(self, request_id: str) -> None:
        c = t.recovery_requests.c
        self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.wrong_answers > 0)
            .values(wrong_answers=c.wrong_answers - 1)
        )

    def set_progress(
        self,
        request_id: str,
        *,
        state: str,
        evidence: dict[str, Any],
        score: int,
        ready_at: datetime | None,
    ) -> None:
        c = t.recovery_requests.c
        self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id)
            .values(state=state, evidence=evidence, score=score, ready_at=ready_at)
        )

    def cancel(self, request_id: str) -> bool:
        c = t.recovery_requests.c
        result = self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.state.in_(self._open))
            .values(state=RecoveryState.CANCELLED.value)
        )
        return result.rowcount == 1

    def cancel_open_for_account(self, account_id: str) -> int:
        # On every sign-in's path: a statement built once (_Q), like the sign-in's own.
        return int(self.conn.execute(_Q.cancel_open_recoveries, {"p_account": account_id}).rowcount)

    def deny(self, request_id: str) -> bool:
        c = t.recovery_requests.c
        result = self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.state.in_(self._open))
            .values(state=RecoveryState.DENIED.value)
        )
        return result.rowcount == 1

    def set_support(self, request_id: str, **values: Any) -> None:
        allowed = {"support_requested_at", "support_statement", "support_question"}
        if not values or set(values) - allowed:
            raise ValueError(f"not support columns: {sorted(set(values) - allowed)}")
        c = t.recovery_requests.c
        self.conn.execute(update(t.recovery_requests).where(c.id == request_id).values(**values))

    def set_completion_token(self, request_id: str, token_hash: str, at: datetime) -> None:
        c = t.recovery_requests.c
        self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id)
            .values(completion_token_hash=token_hash, completion_started_at=at)
        )

    def complete(self, request_id: str, at: datetime) -> bool:
        c = t.recovery_requests.c
        result = self.conn.execute(
            update(t.recovery_requests)
            .where(c.id == request_id, c.state == RecoveryState.WAITING.value, c.completed_at.is_(None))
            .values(state=RecoveryState.COMPLETED.value, completed_at=at)
        )
        return result.rowcount == 1

    def undispatched(self, *, before: datetime, limit: int) -> list[str]:
        c = t.recovery_requests.c
        query = (
            select(c.id)
            .where(c.dispatched_at.is_(None), c.account_id.is_not(None), c.created_at < before)
            .order_by(c.created_at)
            .limit(limit)
        )
        return [row[0] for row in self.conn.execute(query)]

    def prune(self, before: datetime) -> int:
        """Forget requests created before ``before`` (the jobs call it with a long margin)."""
        c = t.recovery_requests.c
        return int(self.conn.execute(delete(t.recovery_requests).where(c.created_at < before)).rowcount)


class SqlAddressFailures(_Repo):
    # On every sign-in's path (the limit is read before each attempt): built once.
    _f = t.address_failures
    _nth_newest = (
        select(_f.c.at)
        .where(_f.c.ip == bindparam("p_ip"), _f.c.at > bindparam("p_since"))
        .order_by(_f.c.at.desc())
        .offset(bindparam("p_skip"))
        .limit(1)
    )
    _add = insert(_f).values(ip=bindparam("p_ip"), at=bindparam("p_at"))
    _forget = delete(_f).where(_f.c.at < bindparam("p_before"))

    def add(self, ip: str, at: datetime) -> None:
        self.conn.execute(self._add, {"p_ip": ip, "p_at": at})

    def nth_newest_since(self, ip: str, since: datetime, n: int) -> datetime | None:
        found: datetime | None = self.conn.execute(
            self._nth_newest, {"p_ip": ip, "p_since": since, "p_skip": n - 1}
        ).scalar()
        return found

    def forget(self, before: datetime) -> int:
        return int(self.conn.execute(self._forget, {"p_before": before}).rowcount)


class SqlTransaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.accounts = SqlAccounts(conn)
        self.authenticators = SqlAuthenticators(conn)
        self.sessions = SqlSessions(conn)
        self.flows = SqlLoginFlows(conn)
        self.events = SqlEvents(conn)
        self.backup_codes = SqlBackupCodes(conn)
        self.throttles = SqlThrottles(conn)
        self.known_clients = SqlKnownClients(conn)
        self.contacts = SqlContacts(conn)
        self.sent_codes = SqlSentCodes(conn)
        self.messages = SqlMessages(conn)
        self.locks = SqlLocks(conn)
        self.security_keys = SqlSecurityKeys(conn)
        self.key_ceremonies = SqlKeyCeremonies(conn)
        self.trusted_devices = SqlTrustedDevices(conn)
        self.recovery_requests = SqlRecoveryRequests(conn)
        self.recovery_actions = SqlRecoveryActions(conn)
        self.roles = SqlRoles(conn)
        self.organisations = SqlOrganisations(conn)
        self.recovery_contacts = SqlRecoveryContacts(conn)
        self.address_failures = SqlAddressFailures(conn)
        self.groups = SqlGroups(conn)
        self.oidc = SqlOidc(conn)


class SqlStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self.engine.begin() as conn:
            yield SqlTransaction(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def session_snapshot(self, token_hash: str) -> SessionSnapshot | None:
        return session_snapshot(self.engine, token_hash)
