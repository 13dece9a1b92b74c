"""Signing in: password first, then (with 2FA) a saved flow that waits for a second factor.

Flow states and transitions are drawn in docs/sign-in-flow.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sparekey.core import events, second_factors, throttle, usernames
from sparekey.core.crypto import new_token
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeError, FlowExpired, FlowNotFound, InvalidCredentials
from sparekey.core.events import EventType
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows import known_clients
from sparekey.core.flows.sessions import open_session
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, FlowState, LoginFlow, Session
from sparekey.core.ports import Transaction

PASSWORD = Method.PASSWORD
MAX_PASSWORD_INPUT = 4096


@dataclass(frozen=True)
class Authenticated:
    session_token: str
    session: Session
    account: Account
    method_used: str
    client_token: str  # this client is known to the account from now on (core/flows/known_clients.py)
    notices: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SecondFactorRequired:
    flow: LoginFlow
    methods: list[dict[str, Any]]


def check_password(deps: Deps, account: Account | None, password: str) -> bool:
    """Always one argon2 verify, for known and unknown usernames alike."""
    if account is None or len(password) > MAX_PASSWORD_INPUT:
        deps.passwords.verify_dummy(password[:MAX_PASSWORD_INPUT])
        return False
    return deps.passwords.verify(account.password_hash, password)


def start(
    deps: Deps, *, username: str, password: str, client: Client, client_tokens: Sequence[str] = ()
) -> Authenticated | SecondFactorRequired:
    """The password step. ``client_tokens`` are what the client kept from earlier sign-ins;
    the one that belongs to this account gives the client its own failure count."""
    name = usernames.canonical(username)
    with deps.store.transaction() as tx:
        account = tx.accounts.by_username(name) if name is not None else None
        known = known_clients.recognise(tx, deps, account, client_tokens)
        known_id = known.id if known else None
        key = throttle.password_key(name or usernames.throttle_name(username), known_id)
        attempt = throttle.reserve(
            tx, deps, key, client, account_id=account.id if account else None, address_limited=known is None
        )
    ok = check_password(deps, account, normalise_password(password))
    if not ok or account is None:
        with deps.store.transaction() as tx:
            throttle.failed(tx, deps, attempt, client)
            if account is not None:
                events.record(
                    tx,
                    deps.clock,
                    account.id,
                    EventType.SIGN_IN,
                    client,
                    result="failure",
                    method=PASSWORD,
                    error_code=InvalidCredentials.code,
                )
        raise InvalidCredentials()
    with deps.store.transaction() as tx:
        throttle.succeeded(tx, attempt)
        known_clients.seen(tx, deps, known)
        if deps.passwords.needs_rehash(account.password_hash):  # parameters were raised since
            tx.accounts.set_password_hash(account.id, deps.passwords.hash(normalise_password(password)))
        if account.two_factor_enabled:
            now = deps.clock.now()
            flow = LoginFlow(
                id=new_token(24),
                account_id=account.id,
                state=FlowState.AWAITING_SECOND_FACTOR,
                created_at=now,
                expires_at=now + timedelta(seconds=deps.policy.login_flow_seconds),
                ip=client.ip,
                user_agent=client.user_agent,
                known_client_id=known_id,
            )
            tx.flows.add(flow)
            return SecondFactorRequired(flow=flow, methods=second_factors.methods_of(tx, deps, account))
        token, session = open_session(tx, deps, account, client)
        client_token = known_clients.remember(tx, deps, account, known_id)
        events.record(
            tx, deps.clock, account.id, EventType.SIGN_IN, client, result="success", method=PASSWORD
        )
    return Authenticated(
        session_token=token, session=session, account=account, method_used=PASSWORD, client_token=client_token
    )


def live_flow(deps: Deps, flow_id: str) -> tuple[LoginFlow, Account, list[dict[str, Any]]]:
    """The flow, its account and its methods, or FlowNotFound / FlowExpired."""
    with deps.store.transaction() as tx:
        flow = live_flow_in(tx, deps, flow_id)
        account = tx.accounts.get(flow.account_id)
        if account is None:
            raise FlowNotFound()
        return flow, account, second_factors.methods_of(tx, deps, account)


def live_flow_in(tx: Transaction, deps: Deps, flow_id: str) -> LoginFlow:
    """The flow if it still awaits a code, inside the caller's transaction."""
    flow = tx.flows.get(flow_id) if 0 < len(flow_id) <= 64 else None
    if flow is None:
        raise FlowNotFound()
    if flow.state is not FlowState.AWAITING_SECOND_FACTOR or deps.clock.now() >= flow.expires_at:
        raise FlowExpired()
    return flow


def submit_code(
    deps: Deps, *, flow_id: str, code: str, client: Client, method: str | None = None
) -> Authenticated:
    """The second step. The attempt is counted on the flow and on the account's (or known
    client's) code key before the code is checked, in the same transaction; a failure's
    count is committed, then its error raised."""
    failure: CodeError | None = None
    with deps.store.transaction() as tx:
        flow = live_flow_in(tx, deps, flow_id)
        account = tx.accounts.get(flow.account_id)
        if account is None:
            raise FlowNotFound()
        max_attempts = deps.policy.flow_max_wrong_codes
        if not tx.flows.reserve_attempt(flow.id, max_attempts=max_attempts):
            raise FlowExpired()  # ended, completed or spent since it was read
        attempt = throttle.reserve(
            tx,
            deps,
            throttle.code_key(account.id, flow.known_client_id),
            client,
            account_id=account.id,
            address_limited=flow.known_client_id is None,
        )
        try:
            verified = second_factors.verify(tx, deps, account, code, client, method=method, flow=flow)
        except CodeError as error:
            failure = error
            tx.flows.fail_if_spent(flow.id, max_attempts=max_attempts)
            throttle.failed(tx, deps, attempt, client)
            events.record(
                tx,
                deps.clock,
                account.id,
                EventType.SIGN_IN,
                client,
                result="failure",
                method=error.method,
                error_code=error.code,
            )
        else:
            if not tx.flows.complete(flow.id):
                raise FlowExpired()  # rolls back: another request finished this flow first
            throttle.succeeded(tx, attempt)
            token, session = open_session(tx, deps, account, client)
            client_token = known_clients.remember(tx, deps, account, flow.known_client_id)
            events.record(
                tx,
                deps.clock,
                account.id,
                EventType.SIGN_IN,
                client,
                result="success",
                method=verified.method,
            )
    if failure is not None:
        raise failure
    return Authenticated(
        session_token=token,
        session=session,
        account=account,
        method_used=verified.method,
        client_token=client_token,
        notices=verified.notices,
    )
