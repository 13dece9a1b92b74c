"""Forward-auth in the core, on SQLite and PostgreSQL: which rule a host gets, what a session
must be to enter, who the application is told came in, and that the check on every protected
request reads without writing (but for the once-a-minute last-seen time) and hashes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sparekey.core.assurance import Level
from sparekey.core.clock import FrozenClock
from sparekey.core.crypto import new_id, token_hash
from sparekey.core.deps import Deps
from sparekey.core.errors import NotFound, ValidationFailed
from sparekey.core.flows import forward_auth, organisations, sessions, sign_in, totp_enrolment
from sparekey.core.flows.forward_auth import (
    ANY_SIGNED_IN,
    Allowed,
    Reason,
    Refused,
    Rule,
    Rules,
    SignIn,
    judge,
    parse_rules,
)
from sparekey.core.flows.sessions import Current
from sparekey.core.models import Client, Contact
from tests.conftest import Argon2Runs, Person, build_deps, totp_now

HOME = Client(ip="198.51.100.7", user_agent="a browser")
RULES = parse_rules(
    [
        {"host": "wiki.example.com"},
        {"host": "admin.example.com", "require": "two_factors"},
        {"host": "vault.example.com", "require": "phishing_resistant"},
        {"host": "ops.example.com", "groups": ["ops", "oncall"]},
        {"host": "*.apps.example.com", "require": "two_factors"},
    ]
)


@pytest.fixture
def deps(database_url: str, clock: FrozenClock) -> Deps:
    return build_deps(database_url, clock)


# Rules, pure ------------------------------------------------------------------------------------


def test_a_host_gets_its_exact_rule_then_the_longest_wildcard_then_the_catch_all() -> None:
    rules = parse_rules(
        [
            {"host": "wiki.example.com"},
            {"host": "*.example.com", "require": "two_factors"},
            {"host": "*.eu.example.com", "require": "phishing_resistant"},
            {"host": "*", "groups": ["staff"]},
        ]
    )
    assert rules.rule_for("wiki.example.com") == Rule("wiki.example.com")
    assert rules.rule_for("Wiki.Example.COM.:8443") == Rule("wiki.example.com")  # case, final dot, port
    assert rules.rule_for("mail.example.com").host == "*.example.com"
    assert rules.rule_for("a.b.example.com").host == "*.example.com"  # any depth
    assert rules.rule_for("paris.eu.example.com").require is Level.PHISHING_RESISTANT
    assert rules.rule_for("eu.example.com").host == "*.example.com"  # the domain itself is not under it
    assert rules.rule_for("example.com").host == "*"
    assert rules.rule_for("badexample.com").host == "*"  # not a subdomain, whatever the suffix
    assert rules.rule_for("elsewhere.org") == Rule("*", groups=frozenset({"staff"}))


def test_once_a_rule_exists_an_unknown_or_unreadable_host_is_refused() -> None:
    assert RULES.rule_for("evil.example.org") is None
    assert RULES.rule_for("example.com") is None
    for unreadable in (
        None,
        "",
        "wiki.example.com/x",
        "wiki example.com",
        "wiki.example.com:99999999",
        "-a.com",
    ):
        assert RULES.rule_for(unreadable) is None, unreadable


def test_without_any_rule_every_host_needs_a_signed_in_account_at_any_level() -> None:
    for host in ("wiki.example.com", "anything.test:8080", None, "not a host"):
        assert Rules().rule_for(host) == ANY_SIGNED_IN == Rule("*", Level.ONE_FACTOR, frozenset())


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{"host": "wiki example.com"}],
            "rule 1 (wiki example.com): host must be a host name without a port",
        ),
        ([{"host": "wiki.example.com:443"}], "host must be a host name without a port"),
        ([{"host": "*example.com"}], "host must be a host name"),
        ([{"host": "a.*.example.com"}], "host must be a host name"),
        ([{"require": "two_factors"}], "rule 1: host is required"),
        ([{"host": "a.com"}, {"host": "A.com"}], "rule 2 (A.com): a second rule for the same host"),
        (
            [{"host": "a.com", "require": "2fa"}],
            "require must be one of one_factor, two_factors, phishing_resistant",
        ),
        ([{"host": "a.com", "groups": "ops"}], "groups must be a list of group names"),
        ([{"host": "a.com", "groups": ["ops,admins"]}], "'ops,admins' is not a group name"),
        ([{"host": "a.com", "groups": ["org:Acme"]}], "'org:Acme' is not a group name"),
        ([{"host": "a.com", "group": ["ops"]}], "unknown key 'group'; the keys are host, require, groups"),
        (["a.com"], "rule 1: a table"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_the_problem(items: list[object], message: str) -> None:
    with pytest.raises(ValueError, match="rule") as caught:
        parse_rules(items)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_groups_are_checked_before_the_level_and_a_level_the_account_cannot_reach_is_refused() -> None:
    ops = Rule("ops.example.com", Level.TWO_FACTORS, frozenset({"ops"}))
    low, two, key = Level.ONE_FACTOR, Level.TWO_FACTORS, Level.PHISHING_RESISTANT
    # Not in the group: refused, even when signing in again would raise the level.
    assert judge(ops, level=low, groups=["staff"], reachable=key) == Refused(Reason.NOT_IN_GROUP)
    assert judge(ops, level=two, groups=["ops"], reachable=two) is None
    assert judge(ops, level=low, groups=["ops"], reachable=two) == SignIn(Reason.STRONGER_SIGN_IN, two)
    assert judge(ops, level=low, groups=["ops"], reachable=low) == Refused(Reason.TWO_FACTOR_NEEDED)
    vault = Rule("vault.example.com", key)
    assert judge(vault, level=two, groups=[], reachable=key) == SignIn(Reason.STRONGER_SIGN_IN, key)
    assert judge(vault, level=two, groups=[], reachable=two) == Refused(Reason.SECURITY_KEY_NEEDED)
    assert judge(vault, level=low, groups=[], reachable=low) == Refused(Reason.TWO_FACTOR_NEEDED)
    assert judge(vault, level=key, groups=[], reachable=key) is None


# The check, on a real database --------------------------------------------------------------------


def register(deps: Deps, name: str, email: str | None = None) -> Person:
    from sparekey.core.flows import accounts

    someone = Person(username=name, password="correct horse battery staple")
    someone.id = accounts.register(deps, username=name, password=someone.password, email=email).id
    return someone


def sign_in_token(deps: Deps, person: Person) -> str:
    """A new session: the password, and the app's code when the account has one."""
    result = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    if isinstance(result, sign_in.SecondFactorRequired):
        clock: FrozenClock = deps.clock  # type: ignore[assignment]
        clock.advance(30)
        result = sign_in.submit_code(deps, flow_id=result.flow.id, code=totp_now(deps, person), client=HOME)
    return result.session_token


def enable_totp(deps: Deps, person: Person, token: str) -> None:
    current = sessions.authenticate(deps, token)
    enrolment = totp_enrolment.begin(deps, current, name="phone")
    person.totp_secret = enrolment.secret
    totp_enrolment.confirm(
        deps, current, enrolment.authenticator.id, code=totp_now(deps, person), client=HOME
    )


def check(deps: Deps, token: str | None, host: str | None, rules: Rules = RULES) -> forward_auth.Verdict:
    return forward_auth.check(deps, token=token, host=host, rules=rules)


def test_a_signed_in_account_enters_and_the_application_is_told_who(deps: Deps) -> None:
    alice = register(deps, "alice", email="alice@example.com")
    token = sign_in_token(deps, alice)
    verdict = check(deps, token, "wiki.example.com")
    assert verdict == Allowed(forward_auth.Identity("alice", None, ()), Level.ONE_FACTOR)
    # Only a verified address is told: the registration's one once verified, else the first verified.
    with deps.store.transaction() as tx:
        for address, minutes in (
            ("work@example.com", 1),
            ("alice@example.com", 2),
            ("old@example.com", None),
        ):
            verified = deps.clock.now() + timedelta(minutes=minutes) if minutes else None
            contact = Contact(new_id(), alice.id, "email", address, deps.clock.now(), verified_at=verified)
            tx.contacts.add(contact)
    assert isinstance(verdict := check(deps, token, "wiki.example.com"), Allowed)
    assert verdict.identity.email == "alice@example.com"
    bob = register(deps, "bob")
    with deps.store.transaction() as tx:
        tx.contacts.add(
            Contact(new_id(), bob.id, "email", "b@example.com", deps.clock.now(), deps.clock.now())
        )
        tx.contacts.add(
            Contact(new_id(), bob.id, "phone", "+819012345678", deps.clock.now(), deps.clock.now())
        )
    assert isinstance(verdict := check(deps, sign_in_token(deps, bob), "wiki.example.com"), Allowed)
    assert verdict.identity == forward_auth.Identity("bob", "b@example.com", ())


def test_no_session_an_unknown_token_or_an_ended_one_must_sign_in(deps: Deps) -> None:
    alice = register(deps, "alice")
    for token in (None, "", "not-a-token", "x" * 5000):
        assert check(deps, token, "wiki.example.com") == SignIn(Reason.NOT_SIGNED_IN, Level.ONE_FACTOR)
    token = sign_in_token(deps, alice)
    assert isinstance(check(deps, token, "wiki.example.com"), Allowed)
    sessions.log_out(deps, sessions.authenticate(deps, token))
    assert check(deps, token, "wiki.example.com") == SignIn(Reason.NOT_SIGNED_IN, Level.ONE_FACTOR)


def test_an_unknown_host_is_refused_to_everyone_even_signed_in(deps: Deps) -> None:
    token = sign_in_token(deps, register(deps, "alice"))
    assert check(deps, token, "intranet.example.org") == Refused(Reason.UNKNOWN_HOST)
    assert check(deps, None, "intranet.example.org") == Refused(Reason.UNKNOWN_HOST)
    assert isinstance(check(deps, token, "intranet.example.org", Rules()), Allowed)  # no rules: API.md


def test_a_host_that_needs_two_factors(deps: Deps, clock: FrozenClock) -> None:
    alice = register(deps, "alice")
    token = sign_in_token(deps, alice)
    # No second factor on the account: signing in again cannot help.
    assert check(deps, token, "admin.example.com") == Refused(Reason.TWO_FACTOR_NEEDED)
    assert check(deps, token, "x.apps.example.com") == Refused(Reason.TWO_FACTOR_NEEDED)
    # The app is set up from this one-factor session: now a new sign-in reaches the level.
    enable_totp(deps, alice, token)
    assert check(deps, token, "admin.example.com") == SignIn(Reason.STRONGER_SIGN_IN, Level.TWO_FACTORS)
    stronger = sign_in_token(deps, alice)
    assert isinstance(verdict := check(deps, stronger, "admin.example.com"), Allowed)
    assert verdict.level is Level.TWO_FACTORS
    # A security key is more than this account can give.
    assert check(deps, stronger, "vault.example.com") == Refused(Reason.SECURITY_KEY_NEEDED)
    assert isinstance(check(deps, stronger, "wiki.example.com"), Allowed)


def test_groups_come_from_the_operator_unless_the_account_is_in_organisations(deps: Deps) -> None:
    alice, bob = register(deps, "alice"), register(deps, "bob")
    token = sign_in_token(deps, alice)
    assert check(deps, token, "ops.example.com") == Refused(Reason.NOT_IN_GROUP)
    view = forward_auth.add_group(deps, "Alice", " OnCall ")
    assert (view.groups, view.effective) == (("oncall",), ("oncall",))
    assert forward_auth.add_group(deps, "alice", "oncall") == view  # again: no change
    assert isinstance(verdict := check(deps, token, "ops.example.com"), Allowed)
    assert verdict.identity.groups == ("oncall",)
    # An organisation (any account may create one and name it "ops"): its id, never its name.
    bobs = sessions.authenticate(deps, sign_in_token(deps, bob))
    named_ops = organisations.create(deps, bobs, name="ops", client=HOME)
    organisations.invite(deps, bobs, named_ops.organisation.id, username="alice", role="member", client=HOME)
    [pending] = organisations.invitations_for(deps, alice.id)
    organisations.answer(
        deps, sessions.authenticate(deps, token), pending.invitation.id, accept=True, client=HOME
    )
    verdict = check(deps, token, "ops.example.com")
    assert verdict == Refused(Reason.NOT_IN_GROUP)
    assert isinstance(verdict := check(deps, token, "wiki.example.com"), Allowed)
    assert verdict.identity.groups == (f"org:{named_ops.organisation.id}",)
    assert forward_auth.account_groups(deps, "alice").groups == ("oncall",)  # kept for later
    org_rule = parse_rules([{"host": "ops.example.com", "groups": [f"org:{named_ops.organisation.id}"]}])
    assert isinstance(check(deps, token, "ops.example.com", org_rule), Allowed)
    assert forward_auth.remove_group(deps, "alice", "oncall").groups == ()
    assert forward_auth.remove_group(deps, "alice", "oncall").groups == ()


def test_group_names_and_unknown_accounts(deps: Deps) -> None:
    register(deps, "alice")
    for bad in ("", "a,b", "a b", "-ops", "org:x", "é", "x" * 65):
        with pytest.raises(ValidationFailed):
            forward_auth.add_group(deps, "alice", bad)
    for call in (forward_auth.account_groups, lambda d, n: forward_auth.add_group(d, n, "ops")):
        with pytest.raises(NotFound):
            call(deps, "nobody")


def test_a_session_restricted_by_its_organisation_enters_nothing(deps: Deps, clock: FrozenClock) -> None:
    owner, bob = register(deps, "owner"), register(deps, "bob")
    current = sessions.authenticate(deps, sign_in_token(deps, owner))
    org = organisations.create(deps, current, name="Acme", client=HOME).organisation
    organisations.invite(deps, current, org.id, username="bob", role="member", client=HOME)
    [pending] = organisations.invitations_for(deps, bob.id)
    bobs = sessions.authenticate(deps, sign_in_token(deps, bob))
    organisations.answer(deps, bobs, pending.invitation.id, accept=True, client=HOME)
    enable_totp(deps, owner, sign_in_token(deps, owner))
    clock.advance(30)
    organisations.set_policy(
        deps,
        sessions.authenticate(deps, sign_in_token(deps, owner)),
        org.id,
        require_two_factor=True,
        grace_days=0,
    )
    restricted = sign_in_token(deps, bob)
    assert sessions.authenticate(deps, restricted).session.restriction is not None
    assert check(deps, restricted, "wiki.example.com") == Refused(Reason.TWO_FACTOR_REQUIRED)
    assert forward_auth.check_quickly(deps, token=restricted, host="wiki.example.com", rules=RULES) is None


def test_the_check_writes_only_the_once_a_minute_last_seen_and_ends_idle_sessions(
    deps: Deps, clock: FrozenClock
) -> None:
    alice = register(deps, "alice")
    token = sign_in_token(deps, alice)

    def last_seen() -> object:
        return sessions.authenticate(deps, token).session.last_seen_at

    seen = last_seen()
    clock.advance(59)
    assert isinstance(
        forward_auth.check_quickly(deps, token=token, host="wiki.example.com", rules=RULES), Allowed
    )
    assert isinstance(check(deps, token, "wiki.example.com"), Allowed)
    assert last_seen() == seen  # nothing written
    clock.advance(1)
    assert forward_auth.check_quickly(deps, token=token, host="wiki.example.com", rules=RULES) is None
    assert isinstance(check(deps, token, "wiki.example.com"), Allowed)
    with deps.store.transaction() as tx:
        stored = tx.sessions.by_token_hash(token_hash(token))
    assert stored is not None and stored.last_seen_at == clock.now()
    clock.advance(seconds=deps.policy.session_idle_seconds)
    assert check(deps, token, "wiki.example.com") == SignIn(Reason.NOT_SIGNED_IN, Level.ONE_FACTOR)
    with deps.store.transaction() as tx:
        assert tx.sessions.by_token_hash(token_hash(token)) is None  # ended


def test_the_quick_answer_is_the_full_one_when_there_is_one(deps: Deps) -> None:
    alice = register(deps, "alice")
    token = sign_in_token(deps, alice)
    forward_auth.add_group(deps, "alice", "ops")
    for host in ("wiki.example.com", "ops.example.com", "nowhere.example.org", "admin.example.com"):
        for given in (token, None, "nope"):
            quick = forward_auth.check_quickly(deps, token=given, host=host, rules=RULES)
            full = check(deps, given, host)
            assert quick is None or quick == full, (host, given)
    assert forward_auth.check_quickly(deps, token=token, host="admin.example.com", rules=RULES) is None


def test_a_check_hashes_nothing(deps: Deps, argon2_runs: Argon2Runs, clock: FrozenClock) -> None:
    alice = register(deps, "alice")
    token = sign_in_token(deps, alice)
    enable_totp(deps, alice, token)
    argon2_runs.reset()
    for _ in range(3):
        for host in ("wiki.example.com", "admin.example.com", "vault.example.com", "ops.example.com"):
            check(deps, token, host)
        clock.advance(61)
    assert argon2_runs.take() == {}


def test_current_is_what_a_signed_in_request_sees(deps: Deps) -> None:
    """The account and session the check reads are those ``sessions.authenticate`` gives."""
    alice = register(deps, "alice", email="a@example.com")
    token = sign_in_token(deps, alice)
    snapshot = deps.store.session_snapshot(token_hash(token))
    assert snapshot is not None
    assert Current(snapshot.account, snapshot.session) == sessions.authenticate(deps, token)
    assert deps.store.session_snapshot(token_hash("unknown")) is None
