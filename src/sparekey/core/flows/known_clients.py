"""Known clients: browsers and apps that have signed in to an account before (OWASP "device
cookies"). They exist so that nobody can lock the owner out: a known client keeps its own
failure count (core/throttle.py), which strangers' failures never touch.

Every successful sign-in hands the client a ``client_token``: ``<id>.<tag>``, the id of a
stored row bound to the account and an HMAC tag of ``id|account`` under a key derived from
the key ring. Nothing secret is stored, so the same token can be handed out again at each
sign-in, and a token for one account means nothing for another. A token never skips a step
of the sign-in (that is what trusted devices are for); it only says which count to use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sparekey.core.crypto import new_id
from sparekey.core.deps import Deps
from sparekey.core.models import Account, KnownClient
from sparekey.core.ports import Transaction

MAX_TOKEN_LENGTH = 128
MAX_TOKENS = 5  # tokens looked at per sign-in (a browser may keep one per account)
PURPOSE = "client-token"
_TOUCH_EVERY = timedelta(days=1)


def token_for(deps: Deps, client_id: str, account_id: str) -> str:
    return f"{client_id}.{deps.box.signer(PURPOSE).sign(f'{client_id}|{account_id}')}"


def recognise(
    tx: Transaction, deps: Deps, account: Account | None, tokens: Sequence[str]
) -> KnownClient | None:
    """The account's known client among ``tokens``, if one of them is genuine and still
    fresh; else None (a stranger, or a token for another account)."""
    if account is None:
        return None
    claimed: dict[str, str] = {}
    for token in tokens[:MAX_TOKENS]:
        if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH:
            client_id, _, tag = token.partition(".")
            if deps.box.signer(PURPOSE).verify(f"{client_id}|{account.id}", tag):
                claimed[client_id] = token
    if not claimed:
        return None
    fresh_after = deps.clock.now() - timedelta(seconds=deps.policy.known_client_seconds)
    for known in tx.known_clients.find(account.id, list(claimed)):
        if known.last_used_at > fresh_after:
            return known
    return None


def seen(tx: Transaction, deps: Deps, known: KnownClient | None) -> None:
    """A known client gave the right password: it stays fresh (written at most once a day)."""
    now = deps.clock.now()
    if known is not None and now - known.last_used_at >= _TOUCH_EVERY:
        tx.known_clients.touch(known.id, now)


def remember(tx: Transaction, deps: Deps, account: Account, known_client_id: str | None) -> str:
    """After a successful sign-in: the client's token, for a new known client if it was none."""
    if known_client_id is not None:
        return token_for(deps, known_client_id, account.id)
    now = deps.clock.now()
    client = KnownClient(id=new_id(), account_id=account.id, created_at=now, last_used_at=now)
    tx.known_clients.add(client)
    tx.known_clients.keep_newest(account.id, deps.policy.known_clients_per_account)
    return token_for(deps, client.id, account.id)
