"""Tests for sparekey.core.factors.password (pure: no web, no database)."""

from __future__ import annotations

import importlib.resources
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparekey.core.errors import PasswordTooWeak, ValidationFailed
from sparekey.core.factors import password as pw
from sparekey.core.factors.password import (
    Argon2Parameters,
    PasswordHasher,
    PasswordPolicy,
    check_new_password,
    common_passwords,
    is_common,
    normalise,
)

FAST_PARAMS = Argon2Parameters(time_cost=1, memory_cost=8, parallelism=1)
FAST = PasswordHasher(FAST_PARAMS)
POLICY = PasswordPolicy()
# A long, uncommon base used where only the length matters.
FILLER = "zq9-Vx"


def reason_of(password: str, policy: PasswordPolicy = POLICY, username: str | None = None) -> str:
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password(password, policy, username=username)
    return str(info.value.details["reason"])


def of_length(n: int, last: str = "x") -> str:
    body = (FILLER * (n // len(FILLER) + 1))[: n - 1]
    return body + last


# --- policy --------------------------------------------------------------------------------


def test_policy_defaults() -> None:
    assert PasswordPolicy() == PasswordPolicy(min_length=8, max_length=1024)


@pytest.mark.parametrize(("min_length", "max_length"), [(0, 10), (-1, 10), (10, 9)])
def test_policy_rejects_nonsense(min_length: int, max_length: int) -> None:
    with pytest.raises(ValueError):
        PasswordPolicy(min_length=min_length, max_length=max_length)


# --- length --------------------------------------------------------------------------------


def test_min_length_boundary() -> None:
    assert reason_of(of_length(7)) == "too_short"
    assert check_new_password(of_length(8), POLICY) == of_length(8)


def test_too_short_details() -> None:
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password("short", POLICY)
    assert info.value.details == {"reason": "too_short", "min_length": 8}
    assert info.value.code == "password_too_weak"


def test_max_length_boundary() -> None:
    assert check_new_password(of_length(1024), POLICY) == of_length(1024)
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password(of_length(1025), POLICY)
    assert info.value.details == {"reason": "too_long", "max_length": 1024}


def test_configured_limits() -> None:
    policy = PasswordPolicy(min_length=12, max_length=20)
    assert reason_of(of_length(11), policy) == "too_short"
    assert check_new_password(of_length(12), policy)
    assert check_new_password(of_length(20), policy)
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password(of_length(21), policy)
    assert info.value.details == {"reason": "too_long", "max_length": 20}


def test_length_counts_code_points_after_nfkc() -> None:
    # U+FB03 "ﬃ" is one code point before NFKC and three ("ffi") after.
    assert len("ab\ufb03cd") == 5
    assert check_new_password("ab\ufb03cdq", POLICY) == "abfficdq"
    # Eight full-width letters are eight code points: long enough.
    assert check_new_password("ｚｑｘｖｋｗｊｍ", POLICY) == "zqxvkwjm"
    # A decomposed "é" (e + U+0301) composes to one code point: 8 code points in, 7 after.
    assert len("zqxvkw" + "e\u0301") == 8
    assert reason_of("zqxvkw" + "e\u0301") == "too_short"
    policy = PasswordPolicy(min_length=1, max_length=6)
    with pytest.raises(PasswordTooWeak):
        check_new_password("zq\ufb03ab", policy)  # 5 code points in, 7 after NFKC


def test_empty_and_blank_are_too_short_not_stripped() -> None:
    assert reason_of("") == "too_short"
    assert reason_of(" " * 7) == "too_short"
    # Spaces are ordinary characters: nothing is stripped, so eight spaces pass the length rule.
    assert check_new_password(" " * 8, POLICY) == " " * 8
    assert check_new_password("  zqxvkw  ", POLICY) == "  zqxvkw  "


def test_huge_input_is_too_long_without_normalising() -> None:
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password("a" * 10_000_000, POLICY)
    assert info.value.details == {"reason": "too_long", "max_length": 1024}


def test_nfkc_shrink_bound_holds() -> None:
    # The early too_long cut-off relies on no character composing from more than this many.
    longest = max(
        len(unicodedata.normalize("NFD", chr(c))) for c in range(0x110000) if not 0xD800 <= c < 0xE000
    )
    assert longest <= pw._NFKC_MAX_SHRINK


def test_no_composition_rules() -> None:
    for password in ("zqxvkwjmpt", "9482716350512", "ZQXVKWJMPT", "correct horse battery staple"):
        assert check_new_password(password, POLICY) == password


# --- unicode -------------------------------------------------------------------------------


def test_normalise_is_nfkc() -> None:
    assert normalise("ｐａｓｓｗｏｒｄ") == "password"
    assert normalise("ｶﾞ") == "ガ"
    assert normalise("e\u0301") == "\u00e9"
    assert normalise("  Mixed Case  ") == "  Mixed Case  "  # no case folding, no stripping


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


def test_unicode_passwords_accepted() -> None:
    for password in ("パスワードは長いほうがいい", "🔑🔒🗝️🚪🏠🌸🍣🗻", "Grüße aus Köln!", "пароль-надёжный"):
        assert check_new_password(password, POLICY) == normalise(password)


def test_lone_surrogate_is_invalid_input() -> None:
    with pytest.raises(ValidationFailed) as info:
        check_new_password("zqxvkwjm\ud800", POLICY)
    assert info.value.details == {"field": "password"}


# --- common list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["password", "Password1", "PASSWORD", "ｐａｓｓｗｏｒｄ１", "12345678", "qwertyuiop", "iloveyou"],
)
def test_common_passwords_refused(password: str) -> None:
    assert is_common(password)
    assert reason_of(password) == "common"


def test_common_details_do_not_echo_password() -> None:
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password("Password1", POLICY)
    assert info.value.details == {"reason": "common"}
    assert "Password1" not in str(info.value)


def test_uncommon_password_is_not_common() -> None:
    assert not is_common("zqxvkwjm-Ｔｉｇｅｒ-7731")
    assert not is_common("")


WELL_KNOWN = [
    *("password", "12345678", "123456789", "1234567890", "qwertyuiop", "iloveyou", "sunshine1"),
    *("football", "baseball", "princess", "passw0rd", "1q2w3e4r", "qwerty123", "11111111", "00000000"),
    *("abc12345", "password1", "letmein1", "sakura123", "trustno1", "1qaz2wsx", "asdfghjkl", "superman"),
    "starwars",
]


def test_list_holds_well_known_entries() -> None:
    entries = common_passwords()
    assert len(entries) >= 1000
    missing = [p for p in WELL_KNOWN if p not in entries]
    assert missing == []


def test_list_file_shape() -> None:
    resource = importlib.resources.files("sparekey") / "data" / "common-passwords.txt"
    text = resource.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("#")
    entries = [line for line in lines if not line.startswith("#")]
    assert entries == sorted(set(entries)), "sorted and deduplicated"
    for entry in entries:
        assert len(entry) >= 8, entry
        assert entry == entry.strip() and entry, entry
        assert normalise(entry).casefold() == entry, entry
    assert len(common_passwords()) == len(entries)


def test_list_is_loaded_once() -> None:
    assert common_passwords() is common_passwords()


# --- username ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("alice-zqxvkw", "alice"),
        ("zqALICEvkw", "alice"),
        ("zqxvkwAlice", "ALICE"),
        ("ａｌｉｃｅ-zqxvkw", "alice"),
        ("zqxv-alice-kw", "Ａｌｉｃｅ"),
        ("bob.smith2024", "bob.smith2024"),
    ],
)
def test_contains_username(password: str, username: str) -> None:
    assert reason_of(password, username=username) == "contains_username"


def test_contains_username_details_do_not_echo_it() -> None:
    with pytest.raises(PasswordTooWeak) as info:
        check_new_password("carolzqxvkw", POLICY, username="carol")
    assert info.value.details == {"reason": "contains_username"}


def test_short_usernames_are_not_checked() -> None:
    assert check_new_password("zqxvkw-al", POLICY, username="al")
    assert check_new_password("zqxvkwjm", POLICY, username="")
    assert check_new_password("zqxvkwjm", POLICY, username=None)
    assert check_new_password("zqxvkwjm", POLICY, username="dave")


def test_check_order_length_before_list_before_username() -> None:
    assert reason_of("alice", username="alice") == "too_short"
    assert reason_of("password1", username="password1") == "common"


# --- hashing -------------------------------------------------------------------------------


def test_hash_is_argon2id_phc_with_configured_parameters() -> None:
    params = Argon2Parameters(time_cost=3, memory_cost=64, parallelism=2)
    stored = PasswordHasher(params).hash("zqxvkwjm")
    assert stored.startswith("$argon2id$v=19$")
    assert "$m=64,t=3,p=2$" in stored
    assert FAST.hash("zqxvkwjm").startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_hash_round_trip_and_salted() -> None:
    first, second = FAST.hash("zqxvkwjm"), FAST.hash("zqxvkwjm")
    assert first != second
    assert FAST.verify(first, "zqxvkwjm")
    assert FAST.verify(second, "zqxvkwjm")
    assert not FAST.verify(first, "zqxvkwjn")
    assert not FAST.verify(first, "ZQXVKWJM")


def test_long_password_not_truncated() -> None:
    a, b = of_length(1024, "x"), of_length(1024, "y")
    assert len(a) == len(b) == 1024
    stored = FAST.hash(a)
    assert FAST.verify(stored, a)
    assert not FAST.verify(stored, b)
    assert not FAST.verify(FAST.hash(b), a)
    assert not FAST.verify(stored, a[:-1])
    assert not FAST.verify(stored, a[:72])


def test_nfkc_equivalence_for_hash_and_verify() -> None:
    assert FAST.verify(FAST.hash("ｐａｓｓｗｏｒｄ"), "password")
    assert FAST.verify(FAST.hash("password"), "ｐａｓｓｗｏｒｄ")
    assert FAST.verify(FAST.hash("caf\u00e9-zqxv"), "cafe\u0301-zqxv")


@pytest.mark.parametrize("password", ["パスワードは長いほうがいい", "🔑🔒🗝️🚪🏠🌸🍣🗻", "Ünïcödé-paß"])
def test_unicode_round_trip(password: str) -> None:
    stored = FAST.hash(password)
    assert FAST.verify(stored, password)
    assert not FAST.verify(stored, password[:-1])


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$notbase64!!",
        "$2b$12$abcdefghijklmnopqrstuuA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p",
        "$argon2id$v=19$m=8,t=1,p=1$ｓａｌｔ$ｈａｓｈ",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
def test_verify_false_for_malformed_stored(stored: str) -> None:
    assert FAST.verify(stored, "zqxvkwjm") is False
    assert FAST.needs_rehash(stored) is True


@settings(max_examples=200, deadline=None)
@given(stored=st.text(max_size=200), password=st.text(max_size=50))
def test_verify_never_raises(stored: str, password: str) -> None:
    assert FAST.verify(stored, password) in (True, False)
    assert FAST.needs_rehash(stored) in (True, False)


def test_verify_with_lone_surrogate_is_false_not_error() -> None:
    stored = FAST.hash("zqxvkwjm")
    assert FAST.verify(stored, "zqxvkwjm\ud800") is False
    FAST.verify_dummy("\udfff")


def test_verify_accepts_other_argon2_types() -> None:
    # Hashes of another argon2 variant still verify (and are flagged for rehash).
    import argon2

    legacy = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=argon2.Type.I)
    stored = legacy.hash("zqxvkwjm")
    assert FAST.verify(stored, "zqxvkwjm")
    assert FAST.needs_rehash(stored)


def test_needs_rehash() -> None:
    stored = FAST.hash("zqxvkwjm")
    assert not FAST.needs_rehash(stored)
    assert PasswordHasher(Argon2Parameters(time_cost=2, memory_cost=8)).needs_rehash(stored)
    assert PasswordHasher(Argon2Parameters(time_cost=1, memory_cost=16)).needs_rehash(stored)
    assert PasswordHasher(Argon2Parameters(time_cost=1, memory_cost=16, parallelism=2)).needs_rehash(stored)


def test_verify_dummy_runs_with_same_parameters() -> None:
    assert FAST.verify_dummy("zqxvkwjm") is None
    assert FAST.verify_dummy("") is None
    assert re.match(r"^\$argon2id\$v=19\$m=8,t=1,p=1\$", FAST._dummy)
    assert not FAST.needs_rehash(FAST._dummy)


def test_default_parameters_are_owasp() -> None:
    params = Argon2Parameters()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 19456, 1)
    hasher = PasswordHasher()
    assert hasher.params == params
    stored = hasher.hash("パスワードは長いほうがいい")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify(stored, "パスワードは長いほうがいい")
    assert not hasher.verify(stored, "パスワードは短いほうがいい")
    assert not hasher.needs_rehash(stored)
    hasher.verify_dummy("anything")


@pytest.mark.parametrize(
    "kwargs",
    [{"time_cost": 0}, {"parallelism": 0}, {"memory_cost": 7}, {"memory_cost": 15, "parallelism": 2}],
)
def test_argon2_parameters_reject_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Argon2Parameters(**kwargs)
