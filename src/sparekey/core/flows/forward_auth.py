"""Forward-auth: may the browser that carries this session go into this application?

A reverse proxy in front of an application (nginx ``auth_request``, Traefik ``ForwardAuth``,
Caddy ``forward_auth``) asks before every request it passes on. The answer follows one rule,
chosen by the host the browser asked for, checked in this order:

1. **The rule.** The rule naming the host exactly, else the ``*.domain`` rule with the
   longest domain the host is under (at any depth), else the catch-all ``*``. With no rule
   configured at all, one implicit rule covers every host: any signed-in account, any level
   (API.md's baseline). Once the operator writes a rule, a host that no rule matches is
   refused to everyone (``UNKNOWN_HOST``): forgetting a host closes it rather than opens it.
2. **A session.** None, or one that ended: sign in (``NOT_SIGNED_IN``).
3. **Not restricted.** A session an organisation restricted to setting up a second factor
   enters nothing until one is set up (``TWO_FACTOR_REQUIRED``).
4. **Groups.** A rule that names groups lets in an account in at least one of them; others
   are refused (``NOT_IN_GROUP``). Checked before the level: signing in again cannot change
   an account's groups, so it would only be a loop.
5. **Level** (core/assurance.py). Below the rule's: sign in again (``STRONGER_SIGN_IN``), when
   the account can reach it (a second factor for ``two_factors``, a passkey or security key
   for ``phishing_resistant``); else refused, naming what to set up (``TWO_FACTOR_NEEDED``,
   ``SECURITY_KEY_NEEDED``).
6. **Allowed**: the username, a verified e-mail address (or none) and the groups.

Groups: an account that belongs to organisations has one group per organisation,
``org:<organisation id>``. Ids, not names: any account may create an organisation and name
it freely, so a name would let anyone into a group. An account in no organisation has the
groups the operator gave it (``sparekey admin group-add``): lower-case letters, digits and
``._-``, so no group name needs escaping in a header.

The check runs on every request to every protected application, so it stays cheap: one read
of the session by its token digest, with its account and the account's groups and addresses
(``Store.session_snapshot``: no transaction, no lock, nothing written), and no password
hashing. A session that ``sessions.authenticate`` would write to (expired or idle: ended; last
seen a minute ago or more: seen now) goes through it, the one place for those rules, so the
last-seen time is written no more often than for any other request. Restricted sessions and
sessions below the rule's level read a little more, on the way to a refusal or a new sign-in.
``check_quickly`` answers from the snapshot alone, or says that ``check`` must.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sparekey.core import usernames
from sparekey.core.assurance import Level
from sparekey.core.crypto import token_hash
from sparekey.core.deps import Deps
from sparekey.core.errors import NotAuthenticated, NotFound, ValidationFailed
from sparekey.core.flows import organisations, sessions
from sparekey.core.flows.sessions import _TOUCH_EVERY as TOUCH_EVERY
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Account, Session
from sparekey.core.ports import GroupFacts

ORGANISATION_PREFIX = "org:"
MAX_TOKEN = 200  # longer is no token of ours (sessions.authenticate refuses it too)
GROUP_MAX = 64
_GROUP = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ORGANISATION_GROUP = re.compile(r"org:[0-9a-f]{1,32}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_HOST_AND_PORT = re.compile(rf"(?P<name>{_HOST_NAME.pattern}\.?|{_IPV6.pattern})(?::[0-9]{{1,5}})?")
_RULE_KEYS = frozenset({"host", "require", "groups"})


class Reason(enum.StrEnum):
    """Why the answer is not "come in"; each is the API's error code for it."""

    NOT_SIGNED_IN = "not_authenticated"
    STRONGER_SIGN_IN = "stronger_sign_in_required"
    UNKNOWN_HOST = "unknown_host"
    NOT_IN_GROUP = "not_in_group"
    TWO_FACTOR_REQUIRED = "two_factor_required"  # an organisation's requirement, not yet met
    TWO_FACTOR_NEEDED = "two_factor_needed"  # the host's rule needs two factors; the account has one
    SECURITY_KEY_NEEDED = "security_key_needed"  # the host's rule needs a key; the account has none


# Rules -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may enter the hosts ``host`` names: at least ``require``, and, when ``groups`` is
    not empty, a member of one of them."""

    host: str  # "wiki.example.com", "*.example.com" or "*"
    require: Level = Level.ONE_FACTOR
    groups: frozenset[str] = frozenset()

    def admits(self, groups: Iterable[str]) -> bool:
        return not self.groups or not self.groups.isdisjoint(groups)


ANY_SIGNED_IN = Rule(host="*")  # the implicit rule while none is configured


class Rules:
    """The configured rules, looked up by host: exact, then the longest ``*.domain``, then ``*``."""

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self._exact = {r.host: r for r in rules if not r.host.startswith("*")}
        self._suffixes = sorted(
            ((r.host[1:], r) for r in rules if r.host.startswith("*.")), key=lambda pair: -len(pair[0])
        )
        catch_all = [r for r in rules if r.host == "*"]
        self._default = catch_all[0] if catch_all else (None if rules else ANY_SIGNED_IN)
        self.rules = tuple(rules)

    def rule_for(self, host: str | None) -> Rule | None:
        """The rule for a host as a browser or proxy wrote it (any case, a port, a final dot)."""
        name = host_name(host)
        if name is None:  # not a host name: refused once rules exist
            return None if self.rules else ANY_SIGNED_IN
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        for suffix, rule in self._suffixes:
            if name.endswith(suffix):
                return rule
        return self._default


def host_name(host: str | None) -> str | None:
    """``Wiki.Example.com:8443`` -> ``wiki.example.com``; None for what is not a host name."""
    match = _HOST_AND_PORT.fullmatch(host.strip().lower()) if host and len(host) <= 270 else None
    if match is None:
        return None
    name = match["name"].removesuffix(".")
    return name if len(name) <= 253 else None


def parse_rules(items: Iterable[Mapping[str, Any]]) -> Rules:
    """The rules from configuration, or ValueError naming the rule and what is wrong with it."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for number, item in enumerate(items, start=1):
        where = f"rule {number}"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: a table (host = ..., require = ..., groups = [...]) expected")
        if isinstance(item.get("host"), str):
            where = f"rule {number} ({item['host']})"
        unknown = sorted(set(item) - _RULE_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; the keys are host, require, groups")
        host = _host_pattern(item.get("host"), where)
        if host in seen:
            raise ValueError(f"{where}: a second rule for the same host")
        seen.add(host)
        rules.append(
            Rule(
                host=host,
                require=_level(item.get("require", "one_factor"), where),
                groups=_groups(item.get("groups", ()), where),
            )
        )
    return Rules(rules)


def _host_pattern(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: host is required: a host name, '*.example.com' or '*'")
    pattern = value.strip().lower().removesuffix(".")
    if pattern == "*":
        return pattern
    name = pattern[2:] if pattern.startswith("*.") else pattern
    if not (_HOST_NAME.fullmatch(name) or (_IPV6.fullmatch(name) and name == pattern)) or len(name) > 253:
        raise ValueError(
            f"{where}: host must be a host name without a port (wiki.example.com), "
            f"'*.example.com' for every host under a domain, or '*' for every other host"
        )
    return pattern


def _level(value: object, where: str) -> Level:
    if isinstance(value, str) and value in Level.__members__.values():
        return Level(value)
    known = ", ".join(level.value for level in Level)
    raise ValueError(f"{where}: require must be one of {known}, not {value!r}")


def _groups(value: object, where: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{where}: groups must be a list of group names")
    found = set()
    for item in value:
        name = item.strip().lower() if isinstance(item, str) else ""
        if not (_GROUP.fullmatch(name) or _ORGANISATION_GROUP.fullmatch(name)):
            raise ValueError(
                f"{where}: {item!r} is not a group name (lower-case letters, digits and . _ -, "
                f"or org:<organisation id>)"
            )
        found.add(name)
    return frozenset(found)


# Groups ----------------------------------------------------------------------------------------


def group_name(raw: str) -> str:
    """A group the operator gives an account: lower-cased; letters, digits, ``._-``, at most 64."""
    name = raw.strip().lower()
    if not _GROUP.fullmatch(name):
        raise ValidationFailed(field="group", max_length=GROUP_MAX)
    return name


def groups_of(facts: GroupFacts) -> tuple[str, ...]:
    """The account's organisations when it belongs to any, else the operator's list."""
    if facts.organisation_ids:
        return tuple(f"{ORGANISATION_PREFIX}{organisation_id}" for organisation_id in facts.organisation_ids)
    return facts.groups


# The decision ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """What the application is told about who came in."""

    username: str
    email: str | None
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Allowed:
    identity: Identity
    level: Level


@dataclass(frozen=True)
class SignIn:
    """Send the browser to sign in (again); it comes back to where it was going."""

    reason: Reason  # NOT_SIGNED_IN or STRONGER_SIGN_IN
    required: Level


@dataclass(frozen=True)
class Refused:
    """Signing in again would not help."""

    reason: Reason


Verdict = Allowed | SignIn | Refused


def judge(rule: Rule, *, level: Level, groups: Iterable[str], reachable: Level) -> SignIn | Refused | None:
    """Steps 4 and 5 for a signed-in, unrestricted session: None when it may enter.
    ``reachable`` is the strongest level the account could sign in at."""
    if not rule.admits(groups):
        return Refused(Reason.NOT_IN_GROUP)
    if level.at_least(rule.require):
        return None
    if reachable.at_least(rule.require):
        return SignIn(Reason.STRONGER_SIGN_IN, rule.require)
    if rule.require is Level.PHISHING_RESISTANT and reachable.at_least(Level.TWO_FACTORS):
        return Refused(Reason.SECURITY_KEY_NEEDED)
    return Refused(Reason.TWO_FACTOR_NEEDED)


def check(deps: Deps, *, token: str | None, host: str | None, rules: Rules) -> Verdict:
    """The whole answer for one request to a protected application (steps 1 to 6)."""
    verdict = _check(deps, token, host, rules, quick=False)
    assert verdict is not None
    return verdict


def check_quickly(deps: Deps, *, token: str | None, host: str | None, rules: Rules) -> Verdict | None:
    """``check``'s answer from reads that wait for nothing (``Store.session_snapshot``), or
    None when it needs a transaction: a session due for a write, a restricted one, one below
    the rule's level. The caller then asks ``check``; whatever this answers, ``check`` would."""
    return _check(deps, token, host, rules, quick=True)


def _check(deps: Deps, token: str | None, host: str | None, rules: Rules, *, quick: bool) -> Verdict | None:
    rule = rules.rule_for(host)
    if rule is None:
        return Refused(Reason.UNKNOWN_HOST)
    if not token or len(token) > MAX_TOKEN:
        return SignIn(Reason.NOT_SIGNED_IN, rule.require)
    snapshot = deps.store.session_snapshot(token_hash(token))
    if snapshot is None:
        return SignIn(Reason.NOT_SIGNED_IN, rule.require)
    current = Current(account=snapshot.account, session=snapshot.session)
    level = current.session.context.level
    if quick and (
        _due_for_a_write(current.session, deps)
        or current.session.restriction is not None
        or not level.at_least(rule.require)
    ):
        return None
    if _due_for_a_write(current.session, deps):
        try:  # ends an expired or idle session, or records that it was seen: the one place for that
            current = sessions.authenticate(deps, token)
        except NotAuthenticated:
            return SignIn(Reason.NOT_SIGNED_IN, rule.require)
        level = current.session.context.level
    if current.session.restriction is not None and organisations.enforced_requirements(deps, current):
        return Refused(Reason.TWO_FACTOR_REQUIRED)
    reachable = level
    if not level.at_least(rule.require):  # on the way to a refusal or a new sign-in only
        with deps.store.transaction() as tx:
            has_key = bool(tx.security_keys.for_account(current.account.id))
        reachable = _strongest(current.account, has_key=has_key)
    groups = groups_of(snapshot.facts)
    refusal = judge(rule, level=level, groups=groups, reachable=reachable)
    if refusal is not None:
        return refusal
    return Allowed(_identity(current, snapshot.facts, groups), level)


def _due_for_a_write(session: Session, deps: Deps) -> bool:
    """Whether ``sessions.authenticate`` would end the session or record that it was seen."""
    now = deps.clock.now()
    idle_limit = session.last_seen_at + timedelta(seconds=deps.policy.session_idle_seconds)
    return now >= session.expires_at or now >= idle_limit or now - session.last_seen_at >= TOUCH_EVERY


def _strongest(account: Account, *, has_key: bool) -> Level:
    if has_key:
        return Level.PHISHING_RESISTANT
    return Level.TWO_FACTORS if account.two_factor_enabled else Level.ONE_FACTOR


def _identity(current: Current, facts: GroupFacts, groups: tuple[str, ...]) -> Identity:
    emails = facts.verified_emails
    email = current.account.email if current.account.email in emails else (emails[0] if emails else None)
    return Identity(username=current.account.username, email=email, groups=groups)


# The operator's groups (sparekey admin group-add / group-remove / groups) -----------------------


@dataclass(frozen=True)
class AccountGroups:
    username: str
    groups: tuple[str, ...]  # the operator's list
    effective: tuple[str, ...]  # what forward-auth names: the organisations' groups when there are any
    organisation_ids: tuple[str, ...]


def _account(deps: Deps, username: str) -> Account:
    name = usernames.canonical(username)
    with deps.store.transaction() as tx:
        account = tx.accounts.by_username(name) if name else None
    if account is None:
        raise NotFound()
    return account


def _view(deps: Deps, account: Account) -> AccountGroups:
    with deps.store.transaction() as tx:
        facts = tx.groups.facts(account.id)
    return AccountGroups(account.username, facts.groups, groups_of(facts), facts.organisation_ids)


def add_group(deps: Deps, username: str, group: str) -> AccountGroups:
    """Give an account a group (again is no change). NotFound, ValidationFailed."""
    name = group_name(group)
    account = _account(deps, username)
    with deps.store.transaction() as tx:
        tx.groups.add(account.id, name, deps.clock.now())
    return _view(deps, account)


def remove_group(deps: Deps, username: str, group: str) -> AccountGroups:
    """Take a group from an account (one it does not have is no change). NotFound."""
    account = _account(deps, username)
    with deps.store.transaction() as tx:
        tx.groups.remove(account.id, group.strip().lower())
    return _view(deps, account)


def account_groups(deps: Deps, username: str) -> AccountGroups:
    return _view(deps, _account(deps, username))
