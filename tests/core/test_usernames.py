"""Usernames: one canonical form (PRECIS, RFC 8265) and no look-alikes (UTS #39 skeleton)."""

from __future__ import annotations

import pytest

from sparekey.core import usernames
from sparekey.core.deps import Deps
from sparekey.core.errors import UsernameTaken, ValidationFailed
from sparekey.core.flows import accounts, sign_in
from sparekey.core.models import Client

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ＡＬＩＣＥ", "alice"),
        ("x.y@z+1-2_3", "x.y@z+1-2_3"),
        ("Zoë", "zoë"),
    ],
)
def test_canonical_forms(typed: str, canonical: str) -> None:
    assert usernames.new_username(typed) == canonical


@pytest.mark.parametrize("typed", ["a b", "ﬁx", "al\u200bice", "ab", "x" * 65, "alice\u202e", "", "al/ce"])
def test_names_that_cannot_be_usernames(typed: str) -> None:
    with pytest.raises(ValidationFailed):
        usernames.new_username(typed)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "\u0430lice"),  # Cyrillic а
        ("alice", "a1ice"),  # digit one for l
        ("mary", "rnary"),  # r n for m
        ("paypal", "\u0440aypal"),  # Cyrillic р
        ("oko", "\u03bfko"),  # Greek omicron
    ],
)
def test_look_alikes_share_a_skeleton(one: str, other: str) -> None:
    assert usernames.skeleton(usernames.new_username(one)) == usernames.skeleton(
        usernames.new_username(other)
    )


@pytest.mark.parametrize(("one", "other"), [("alice", "alicia"), ("bob", "b0b"), ("taro", "jiro")])
def test_different_names_have_different_skeletons(one: str, other: str) -> None:
    assert usernames.skeleton(one) != usernames.skeleton(other)


def test_a_name_confusable_with_an_existing_one_is_refused(deps: Deps) -> None:
    accounts.register(deps, username="alice", password=PASSWORD)
    for look_alike in ("\u0430lice", "a1ice", "AL\u0406CE", "al\u0131ce"):
        with pytest.raises(UsernameTaken) as taken:
            accounts.register(deps, username=look_alike, password=PASSWORD)
        assert taken.value.details == {"reason": "looks_like_another"}
    with pytest.raises(UsernameTaken) as same:
        accounts.register(deps, username="ALICE", password=PASSWORD)
    assert same.value.details == {}
    accounts.register(deps, username="alicia", password=PASSWORD)


def test_sign_in_takes_any_form_of_the_name(deps: Deps) -> None:
    accounts.register(deps, username="Zoë", password=PASSWORD)
    for typed in ("zoë", "ZOË", "ｚｏë"):
        result = sign_in.start(deps, username=typed, password=PASSWORD, client=Client("192.0.2.1"))
        assert isinstance(result, sign_in.Authenticated) and result.account.username == "zoë"
