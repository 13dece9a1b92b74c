"""What a recovery request can prove without a message (core/flows/recovery.py):

* **the device**: the request comes from a browser the account trusts (a trusted device's
  cookie) or one that signed in to it before (a known client's token). Looked up with the
  same queries whatever the username, so a request for an unknown name does the same work.
* **facts about the account**: roughly when it was made (the month, one month either way)
  and a device it signed in from lately (a word of its browser's name and one of its
  system's, as the pages name them: "Chrome on Android"). Both must be right; nothing
  says which one was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sparekey.core.crypto import token_hash
from sparekey.core.deps import Deps
from sparekey.core.events import EventType
from sparekey.core.flows import known_clients, trusted_devices
from sparekey.core.models import Account
from sparekey.core.ports import Transaction
from sparekey.core.user_agents import describe

RECENT = timedelta(days=90)  # "a device it signed in from lately"
MONTH = re.compile(r"(\d{4})-(\d{1,2})")
MAX_ANSWER = 200
NO_ACCOUNT = "-"  # the id the look-ups use for an unknown username: they find nothing


def from_known_device(
    tx: Transaction,
    deps: Deps,
    account_id: str | None,
    *,
    client_tokens: Sequence[str],
    device_tokens: Sequence[str],
) -> bool:
    """Whether the request came from a browser the account trusts or that signed in before."""
    owner = account_id or NO_ACCOUNT
    hashes = [
        token_hash(t)
        for t in device_tokens[: trusted_devices.MAX_TOKENS]
        if isinstance(t, str) and 0 < len(t) <= trusted_devices.MAX_TOKEN_LENGTH
    ]
    now = deps.clock.now()
    trusted = any(d.expires_at > now for d in tx.trusted_devices.by_token_hashes(owner, hashes))
    signer = deps.box.signer(known_clients.PURPOSE)
    claimed = []
    for token in client_tokens[: known_clients.MAX_TOKENS]:
        if isinstance(token, str) and len(token) <= known_clients.MAX_TOKEN_LENGTH:
            client_id, _, tag = token.partition(".")
            if signer.verify(f"{client_id}|{owner}", tag):
                claimed.append(client_id)
    known = bool(tx.known_clients.find(owner, claimed))
    return account_id is not None and (trusted or known)


def _month(text: str) -> tuple[int, int] | None:
    found = MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        return None
    return int(found.group(1)), int(found.group(2))


def _made_around(account: Account, answer: str) -> bool:
    month = _month(answer)
    if month is None:
        return False
    made = account.created_at
    return abs((month[0] * 12 + month[1]) - (made.year * 12 + made.month)) <= 1


# Words that name no particular browser or system ("Chrome Mobile", "Mobile Safari").
_GENERIC = frozenset({"mobile", "browser", "webview", "other", "for", "the"})


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"\w+", text.casefold()) if len(w) >= 3 and w not in _GENERIC)


def _recent_devices(
    tx: Transaction, account_id: str, now: datetime
) -> set[tuple[frozenset[str], frozenset[str]]]:
    agents = [s.user_agent for s in tx.sessions.for_account(account_id)]
    agents += [
        e.data.get("user_agent")
        for e in tx.events.for_account(account_id, limit=200, types=[EventType.SIGN_IN])
        if e.at > now - RECENT and e.data.get("result") == "success"
    ]
    found = set()
    for agent in agents:
        browser, system = describe(agent)
        if browser and system and _words(browser) and _words(system):
            found.add((_words(browser), _words(system)))
    return found


def facts_match(
    tx: Transaction, deps: Deps, account: Account | None, *, created_month: str, recent_device: str
) -> bool:
    """Both facts right (see the module's docstring); False for an unknown account."""
    answer = _words(recent_device[:MAX_ANSWER])
    devices = _recent_devices(tx, account.id if account else NO_ACCOUNT, deps.clock.now())
    device_right = any(browser & answer and system & answer for browser, system in devices)
    return account is not None and _made_around(account, created_month[:MAX_ANSWER]) and device_right
