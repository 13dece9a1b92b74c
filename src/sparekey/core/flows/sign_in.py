"""Signing in: password first, then (with 2FA) a saved flow that waits for a second factor;
or a passkey on its own. A trusted device skips the second step after the right password.

Every session opened here records how it was made (``core/assurance.py``). Flow states and
transitions are drawn in docs/sign-in-flow.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sparekey.core import assurance, events, second_factors, throttle, usernames
from sparekey.core.assurance import Amr, AuthContext
from sparekey.core.crypto import new_token, plausible_id
from sparekey.core.deps import Deps
from sparekey.core.errors import CodeError, FlowExpired, FlowNotFound, InvalidCredentials, WebAuthnFailed
from sparekey.core.events import EventType
from sparekey.core.factors.password import normalise as normalise_password
from sparekey.core.flows import drill, known_clients, organisations, trusted_devices
from sparekey.core.flows.recovery import cancel_open_for_account
from sparekey.core.flows.sessions import open_session
from sparekey.core.methods import Method
from sparekey.core.models import Account, Client, FlowKind, FlowState, KnownClient, LoginFlow, Session
from sparekey.core.ports import Transaction
from sparekey.core.second_factors import SECURITY_KEYS, Verified
from sparekey.core.second_factors.security_key import decode

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
    device_token: str | None = None  # when the owner asked to trust this device


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
    deps: Deps,
    *,
    username: str,
    password: str,
    client: Client,
    client_tokens: Sequence[str] = (),
    device_tokens: Sequence[str] = (),
    lang: str | None = None,
) -> Authenticated | SecondFactorRequired:
    """The password step. ``client_tokens`` are what the client kept from earlier sign-ins;
    the one that belongs to this account gives the client its own failure count. A live
    ``device_tokens`` entry of the account skips the second step (only after the password)."""
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
    rehashed = None
    if ok and account is not None and deps.passwords.needs_rehash(account.password_hash):
        # The parameters were raised since: the new hash, made with no transaction open.
        rehashed = deps.passwords.hash(normalise_password(password))
    with deps.store.transaction() as tx:
        # Read again, row locked: the password may have changed, or 2FA come on, meanwhile.
        fresh = tx.accounts.get_for_update(account.id) if ok and account is not None else None
        if account is None or fresh is None or fresh.password_hash != account.password_hash:
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
        else:
            throttle.succeeded(tx, attempt)
            return _password_accepted(
                tx, deps, fresh, client, known, rehashed, device_tokens=device_tokens, lang=lang
            )
    raise InvalidCredentials()


def _password_accepted(
    tx: Transaction,
    deps: Deps,
    account: Account,
    client: Client,
    known: KnownClient | None,
    rehashed: str | None,
    *,
    device_tokens: Sequence[str],
    lang: str | None,
) -> Authenticated | SecondFactorRequired:
    """The right password: the rest of the step, in its transaction, with the account as read
    there (and a new hash of the password, when the parameters were raised)."""
    known_clients.seen(tx, deps, known)
    if rehashed is not None:
        tx.accounts.set_password_hash(account.id, rehashed)
    known_id = known.id if known else None
    now = deps.clock.now()
    if not account.two_factor_enabled:
        context = assurance.context((Amr.PWD,), now, factors=1)
        return _signed_in(tx, deps, account, client, PASSWORD, context, known_id, lang=lang)
    device = trusted_devices.recognise(tx, deps, account, device_tokens)
    if device is not None:  # it was trusted after a second factor, which it stands for
        context = assurance.context((Amr.PWD,), now, factors=2)
        return _signed_in(
            tx,
            deps,
            account,
            client,
            Method.TRUSTED_DEVICE,
            context,
            known_id,
            trusted_device_id=device.id,
            lang=lang,
        )
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
    return SecondFactorRequired(flow=flow, methods=second_factors.methods_of(tx, deps, account, flow))


def start_passkey(deps: Deps, *, client: Client) -> tuple[LoginFlow, dict[str, Any]]:
    """``POST /login/passkey``: a flow that waits for any passkey of this site. Refused while
    the client address is limited for its failures."""
    with deps.store.transaction() as tx:
        throttle.check_address(tx, deps, client)
    now = deps.clock.now()
    flow = LoginFlow(
        id=new_token(24),
        account_id=None,
        state=FlowState.AWAITING_SECOND_FACTOR,
        created_at=now,
        expires_at=now + timedelta(seconds=deps.policy.login_flow_seconds),
        ip=client.ip,
        user_agent=client.user_agent,
        kind=FlowKind.PASSKEY,
    )
    with deps.store.transaction() as tx:
        tx.flows.add(flow)
        options = SECURITY_KEYS.flow_options(tx, deps, flow, None)
    return flow, options


def live_flow(deps: Deps, flow_id: str) -> tuple[LoginFlow, Account, list[dict[str, Any]]]:
    """A flow waiting for a second factor, its account and its methods (with what each needs
    in this flow), or FlowNotFound / FlowExpired."""
    with deps.store.transaction() as tx:
        flow = live_flow_in(tx, deps, flow_id)
        account = tx.accounts.get(flow.account_id) if flow.account_id else None
        if account is None:
            raise FlowNotFound()
        return flow, account, second_factors.methods_of(tx, deps, account, flow)


def live_flow_in(
    tx: Transaction, deps: Deps, flow_id: str, *, kind: FlowKind | None = FlowKind.SECOND_FACTOR
) -> LoginFlow:
    """The flow if it still awaits a step (and is of ``kind``; None: any), inside the
    caller's transaction."""
    flow = tx.flows.get(flow_id) if plausible_id(flow_id) else None
    if flow is None or (kind is not None and flow.kind is not kind):
        raise FlowNotFound()
    if flow.state is not FlowState.AWAITING_SECOND_FACTOR or deps.clock.now() >= flow.expires_at:
        raise FlowExpired()
    return flow


# A second step's check: given the flow and its account (None in a passkey flow), the
# account that signed in and how, or a CodeError.
_Check = Callable[[Transaction, LoginFlow, Account | None], tuple[Account, Verified]]
# What makes it, given the account as read when the attempt was counted: any slow work the
# check needs (a backup code's derivation) is done here, with no transaction open.
_Prepare = Callable[[Account | None], _Check]


def submit_code(
    deps: Deps,
    *,
    flow_id: str,
    code: str,
    client: Client,
    method: str | None = None,
    trust_device: bool = False,
    lang: str = "en",
) -> Authenticated:
    """The second step with a code (the one code box)."""
    second_factors.require_known_method(method)

    def prepare(account: Account | None) -> _Check:
        assert account is not None
        typed = second_factors.prepare(deps, account, code, method=method)

        def check(tx: Transaction, flow: LoginFlow, account: Account | None) -> tuple[Account, Verified]:
            assert account is not None
            verified = second_factors.verify(tx, deps, account, typed, client, method=method, flow=flow)
            return account, verified

        return check

    return _second_step(
        deps, flow_id, client, prepare, kind=FlowKind.SECOND_FACTOR, trust_device=trust_device, lang=lang
    )


def submit_key(
    deps: Deps,
    *,
    flow_id: str,
    credential: Mapping[str, Any],
    client: Client,
    trust_device: bool = False,
    lang: str = "en",
    client_tokens: Sequence[str] = (),
) -> Authenticated:
    """A security key's answer as the second step, or a passkey's in a passkey flow (whose
    account the key names). The flow's challenge is spent by the first answer, right or
    wrong; a wrong answer in a flow that goes on brings fresh ``options``."""

    def check(tx: Transaction, flow: LoginFlow, account: Account | None) -> tuple[Account, Verified]:
        challenge = flow.webauthn_challenge
        if challenge is None or not tx.flows.take_challenge(flow.id, challenge):
            failure = WebAuthnFailed(reason="challenge")
            failure.method = (Method.WEBAUTHN if account else Method.PASSKEY).value
            raise failure
        flow.webauthn_challenge = None
        answer = SECURITY_KEYS.check_answer(
            tx,
            deps,
            credential=credential,
            challenge=decode(challenge),
            account=account,
            client=client,
            purpose="sign_in",
        )
        return answer.account, answer.verified

    return _second_step(
        deps,
        flow_id,
        client,
        lambda _account: check,
        kind=None,
        trust_device=trust_device,
        lang=lang,
        client_tokens=client_tokens,
    )


def _second_step(
    deps: Deps,
    flow_id: str,
    client: Client,
    prepare: _Prepare,
    *,
    kind: FlowKind | None,
    trust_device: bool,
    lang: str,
    client_tokens: Sequence[str] = (),
) -> Authenticated:
    """The attempt is counted on the flow and on the account's (or known client's) code key
    in a first short transaction, before it is checked; in a passkey flow, whose account is
    not known yet, on the flow and the client address. The slow work the check needs runs
    with no transaction open. A second transaction reads the flow and the account again (a
    flow ended, completed or expired meanwhile is ``flow_expired``, and the attempt stays
    counted), checks, and writes the outcome: a failure's count is committed, then its error
    raised; a success completes the flow once (conditional UPDATE)."""
    with deps.store.transaction() as tx:
        flow = live_flow_in(tx, deps, flow_id, kind=kind)
        account = tx.accounts.get(flow.account_id) if flow.account_id else None
        if flow.kind is FlowKind.SECOND_FACTOR and account is None:
            raise FlowNotFound()
        max_attempts = deps.policy.flow_max_wrong_codes
        if not tx.flows.reserve_attempt(flow.id, max_attempts=max_attempts):
            raise FlowExpired()  # ended, completed or spent since it was read
        if account is not None:
            attempt: throttle.Attempt | None = throttle.reserve(
                tx,
                deps,
                throttle.code_key(account.id, flow.known_client_id),
                client,
                account_id=account.id,
                address_limited=flow.known_client_id is None,
            )
        else:
            throttle.check_address(tx, deps, client)
            attempt = None
    check = prepare(account)
    failure: CodeError | None = None
    with deps.store.transaction() as tx:
        flow = live_flow_in(tx, deps, flow_id, kind=kind)
        account = tx.accounts.get(flow.account_id) if flow.account_id else None
        if flow.kind is FlowKind.SECOND_FACTOR and account is None:
            raise FlowNotFound()
        try:
            signed_in_account, verified = check(tx, flow, account)
        except CodeError as error:
            failure = error
            tx.flows.fail_if_spent(flow.id, max_attempts=max_attempts)
            if attempt is not None:
                throttle.failed(tx, deps, attempt, client)
            else:
                throttle.address_failed(tx, deps, client)
            if account is not None:
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
            if isinstance(error, WebAuthnFailed) and flow.attempts < max_attempts:  # this one counted
                keys = tx.security_keys.for_account(account.id) if account is not None else None
                flow.webauthn_challenge = None
                error.details["options"] = SECURITY_KEYS.flow_options(tx, deps, flow, keys)
        else:
            if not tx.flows.complete(flow.id):
                raise FlowExpired()  # rolls back: another request finished this flow first
            if attempt is not None:
                throttle.succeeded(tx, attempt)
            known_id = flow.known_client_id
            if flow.kind is FlowKind.PASSKEY:
                tx.flows.bind_account(flow.id, signed_in_account.id)
                known = known_clients.recognise(tx, deps, signed_in_account, client_tokens)
                known_id = known.id if known else None
                context = assurance.context(verified.methods, deps.clock.now(), factors=verified.factors)
            else:
                context = assurance.context((Amr.PWD, *verified.methods), deps.clock.now(), factors=2)
            device_token = device_id = None
            if trust_device:
                device_token, device = trusted_devices.trust(tx, deps, signed_in_account, client, lang=lang)
                device_id = device.id
            result = _signed_in(
                tx,
                deps,
                signed_in_account,
                client,
                verified.method,
                context,
                known_id,
                trusted_device_id=device_id,
                notices=verified.notices,
                device_token=device_token,
                lang=lang,
            )
    if failure is not None:
        raise failure
    return result


def _signed_in(
    tx: Transaction,
    deps: Deps,
    account: Account,
    client: Client,
    method: str,
    context: AuthContext,
    known_client_id: str | None,
    *,
    trusted_device_id: str | None = None,
    notices: list[dict[str, Any]] | None = None,
    device_token: str | None = None,
    lang: str | None = None,
) -> Authenticated:
    """A session made, the client remembered, the sign-in recorded. A client the account has
    not seen (neither a known client nor a trusted device) is a new device, once the account
    has any: the owner is told (core/notifications.py). The request's language is the one
    the owner's messages are written in, unless they chose one."""
    token, session = open_session(tx, deps, account, client, context, trusted_device_id=trusted_device_id)
    organisations.restrict_at_sign_in(tx, deps, account, session)
    new_device = (
        known_client_id is None and trusted_device_id is None and tx.known_clients.any_for(account.id)
    )
    client_token = known_clients.remember(tx, deps, account, known_client_id)
    if lang is not None and lang != account.sign_in_language:
        tx.accounts.set_preferences(account.id, sign_in_language=lang)
    events.record(
        tx,
        deps.clock,
        account.id,
        EventType.SIGN_IN,
        client,
        result="success",
        method=method,
        new_device=new_device,
    )
    drill.sign_in_completed(
        tx,
        deps,
        account,
        method=method,
        known_client_id=known_client_id,
        trusted_device_id=trusted_device_id,
        client=client,
    )
    cancel_open_for_account(tx, deps, account.id)  # the owner is not locked out: any recovery ends
    return Authenticated(
        session_token=token,
        session=session,
        account=account,
        method_used=method,
        client_token=client_token,
        notices=notices or [],
        device_token=device_token,
    )
