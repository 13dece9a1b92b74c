"""Tests for sparekey.core.factors.backup_codes (pure: no web, no database)."""

from __future__ import annotations

import string
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparekey.core.factors import backup_codes as bc
from sparekey.core.factors.backup_codes import (
    ALPHABET,
    CODE_LENGTH,
    LOOKALIKES,
    CodeHasher,
    check_character,
    check_character_ok,
    find_match,
    format_code,
    generate_code,
    generate_set,
    looks_like_backup_code,
    new_salt,
    normalise,
)

FAST = CodeHasher(time_cost=1, memory_cost=8, parallelism=1)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet=ALPHABET, min_size=CODE_LENGTH - 1, max_size=CODE_LENGTH - 1))
    return body + check_character(body)


# --- alphabet and look-alike tables -------------------------------------------------------


def test_alphabet_shape() -> None:
    assert len(ALPHABET) == 29
    assert len(set(ALPHABET)) == len(ALPHABET)
    assert all(ch in string.digits + string.ascii_uppercase for ch in ALPHABET)
    assert all(len(ALPHABET) % d for d in range(2, len(ALPHABET)))  # prime


def test_lookalikes_map_into_alphabet_and_are_not_symbols() -> None:
    assert LOOKALIKES == {"O": "0", "I": "1", "L": "1", "B": "8", "S": "5", "Z": "2", "U": "V"}
    for source, target in LOOKALIKES.items():
        assert source not in ALPHABET
        assert target in ALPHABET


def test_every_ascii_alphanumeric_lands_in_alphabet() -> None:
    for ch in string.ascii_letters + string.digits:
        up = ch.upper()
        assert up in ALPHABET or LOOKALIKES[up] in ALPHABET


# --- generation ---------------------------------------------------------------------------


def test_generated_code_shape() -> None:
    for _ in range(200):
        code = generate_code()
        assert len(code) == CODE_LENGTH
        assert all(ch in ALPHABET for ch in code)
        assert check_character_ok(code)
        assert normalise(code) == code


@pytest.mark.parametrize("count", [5, 10, 20])
def test_generate_set_distinct(count: int) -> None:
    codes = generate_set(count)
    assert len(codes) == count
    assert len(set(codes)) == count
    assert all(check_character_ok(c) for c in codes)


def test_generate_set_default_is_ten() -> None:
    assert len(generate_set()) == 10


@pytest.mark.parametrize("count", [-1, 0, 4, 21, 100, True, 10.0, "10"])
def test_generate_set_bounds(count: object) -> None:
    with pytest.raises(ValueError):
        generate_set(count)  # type: ignore[arg-type]


def test_generate_set_retries_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = iter(
        [
            "000000000",
            "000000000",
            "111111111",
            "111111111",
            "222222222",
            "333333333",
            "444444444",
            "555555555",
        ]
    )
    monkeypatch.setattr(bc, "generate_code", lambda: (b := next(bodies)) + check_character(b))
    codes = generate_set(5)
    assert len(codes) == 5 and len(set(codes)) == 5
    assert [c[:9] for c in codes] == ["000000000", "111111111", "222222222", "333333333", "444444444"]


# --- check character ----------------------------------------------------------------------


def test_check_character_known_value() -> None:
    # sum of i * v_i for "K7QX2M9PR" plus 10 * v(check) must be 0 mod 29
    code = "K7QX2M9PR" + check_character("K7QX2M9PR")
    total = sum((i + 1) * ALPHABET.index(ch) for i, ch in enumerate(code))
    assert total % 29 == 0
    assert check_character_ok(code)


@pytest.mark.parametrize("bad", ["", "123456789", "12345678901", "0000-00000", "000000000O", "00000 0000"])
def test_check_character_ok_rejects_non_canonical(bad: str) -> None:
    assert check_character_ok(bad) is False


@pytest.mark.parametrize("bad", ["", "12345678", "1234567890", "12345678O"])
def test_check_character_rejects_bad_body(bad: str) -> None:
    with pytest.raises(ValueError):
        check_character(bad)


@given(valid_codes())
def test_every_single_substitution_detected(code: str) -> None:
    assert check_character_ok(code)
    for pos in range(CODE_LENGTH):
        for sym in ALPHABET:
            if sym != code[pos]:
                assert not check_character_ok(code[:pos] + sym + code[pos + 1 :]), (code, pos, sym)


@given(valid_codes())
def test_every_adjacent_transposition_detected(code: str) -> None:
    for pos in range(CODE_LENGTH - 1):
        a, b = code[pos], code[pos + 1]
        if a != b:
            swapped = code[:pos] + b + a + code[pos + 2 :]
            assert not check_character_ok(swapped), (code, pos)


def test_adjacent_transpositions_exhaustive_over_pairs() -> None:
    # Every pair (a, b) at every adjacent position, with the other symbols fixed at 0.
    for pos in range(CODE_LENGTH - 1):
        for a in ALPHABET:
            for b in ALPHABET:
                if a == b:
                    continue
                body = list("0" * CODE_LENGTH)
                body[pos], body[pos + 1] = a, b
                # fix the check character at the last position unless it is one of the swapped
                if pos + 1 < CODE_LENGTH - 1:
                    nine = "".join(body[:-1])
                    code = nine + check_character(nine)
                else:
                    # last pair: find a valid code by choosing position 0 to balance the sum
                    code = _valid_with_tail(pos, a, b)
                assert check_character_ok(code)
                swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
                assert not check_character_ok(swapped)


def _valid_with_tail(pos: int, a: str, b: str) -> str:
    for first in ALPHABET:
        candidate = first + "0" * (pos - 1) + a + b
        if check_character_ok(candidate):
            return candidate
    raise AssertionError("weight 1 at position 0 always lets the sum be balanced")


# --- formatting and normalisation ---------------------------------------------------------


@given(valid_codes())
def test_format_code(code: str) -> None:
    shown = format_code(code)
    assert len(shown) == 11 and shown[5] == "-"
    assert shown.replace("-", "") == code
    assert normalise(shown) == code


@pytest.mark.parametrize("bad", ["", "K7QX2-M9PRT", "k7qx2m9prt", "K7QX2M9PR", "OOOOOOOOOO"])
def test_format_code_rejects_non_canonical(bad: str) -> None:
    with pytest.raises(ValueError):
        format_code(bad)


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# Reverse look-alike map: symbol -> letters that should normalise to it.
_REVERSE: dict[str, list[str]] = {}
for _src, _dst in LOOKALIKES.items():
    _REVERSE.setdefault(_dst, []).append(_src)


@given(valid_codes(), st.data())
def test_forgiving_input_normalises_back(code: str, data: st.DataObject) -> None:
    assert normalise(code) == code
    assert normalise(normalise(code) or "") == code
    assert normalise(format_code(code)) == code
    assert normalise(code.lower()) == code
    assert normalise(_full_width(code)) == code
    assert normalise(_full_width(format_code(code).lower())) == code
    assert normalise("\u3000" + _full_width(code[:5]) + "\uff0d" + _full_width(code[5:]) + "\u3000") == code

    # random spaces / hyphens / dash-likes inserted anywhere (kept within the 64-char cap)
    seps = st.sampled_from(
        [
            " ",
            "-",
            "\u2010",
            "\u2011",
            "\u2013",
            "\u2014",
            "\u30fc",
            "\uff0d",
            "\uff70",
            "\u3000",
            "\t",
            "\u2212",
            "\u00a0",
            "\u200b",
            "\u00ad",
        ]
    )
    pieces = [data.draw(st.lists(seps, max_size=3)) for _ in range(CODE_LENGTH + 1)]
    messy = "".join("".join(pieces[i]) + (code[i] if i < CODE_LENGTH else "") for i in range(CODE_LENGTH + 1))
    assert normalise(messy) == code

    # look-alikes (either case) for every symbol that has one
    swapped = "".join(
        data.draw(st.sampled_from([ch, *_REVERSE[ch], *(s.lower() for s in _REVERSE[ch])]))
        if ch in _REVERSE
        else ch
        for ch in code
    )
    assert normalise(swapped) == code
    assert normalise(_full_width(swapped)) == code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ob1sz-u0ill", "08152-V0111"),
        ("OB1SZ UOILL", "08152V0111"),
        ("K7QX2-M9PRT", "K7QX2M9PRT"),
        ("ｋ７ｑｘ２－ｍ９ｐｒｔ", "K7QX2M9PRT"),
        ("K7QX2ーM9PRT", "K7QX2M9PRT"),
        ("K7QX2\u3000M9PRT", "K7QX2M9PRT"),
        ("  k7qx2 — m9prt  ", "K7QX2M9PRT"),
    ],
)
def test_normalise_examples(raw: str, expected: str) -> None:
    assert normalise(raw) == expected.replace("-", "")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "K7QX2",
        "K7QX2-M9PRTT",
        "K7QX2.M9PRT",
        "K7QX2_M9PRT",
        "123456",
        "1234-5678-9012",
        "K" * 65,
        "K7QX2-M9PRT" + " " * 60,
        "K7QX2-M9PR!",
        "K7QX2-M9PRÉ",
        "😀" * 10,
    ],
)
def test_normalise_rejects(raw: str) -> None:
    assert normalise(raw) is None
    assert looks_like_backup_code(raw) is False


def test_normalise_caps_length_before_work() -> None:
    assert normalise("0" * 64 * 1000) is None
    assert normalise(" " * 54 + "0000000000") == "0000000000"  # exactly 64 is still accepted
    assert normalise(" " * 55 + "0000000000") is None


def test_normalise_non_str_is_none() -> None:
    assert normalise(None) is None  # type: ignore[arg-type]
    assert normalise(b"K7QX2M9PRT") is None  # type: ignore[arg-type]


@settings(max_examples=500)
@given(st.text(max_size=80))
def test_normalise_never_raises_on_arbitrary_text(raw: str) -> None:
    result = normalise(raw)
    assert result is None or (len(result) == CODE_LENGTH and all(ch in ALPHABET for ch in result))
    assert normalise(result or "") == result or result is None
    assert looks_like_backup_code(raw) is (result is not None)


@given(st.text(alphabet=ALPHABET + "oilbszuOILBSZU -\u3000", min_size=1, max_size=30))
def test_normalise_idempotent(raw: str) -> None:
    once = normalise(raw)
    if once is not None:
        assert normalise(once) == once


def test_looks_like_backup_code() -> None:
    assert looks_like_backup_code("k7qx2-m9prt")
    assert not looks_like_backup_code("123456")  # a TOTP code is not a backup code


# --- hashing and matching -----------------------------------------------------------------


def test_default_parameters() -> None:
    h = CodeHasher()
    assert (h.time_cost, h.memory_cost, h.parallelism, h.hash_len) == (2, 19456, 1, 32)


@pytest.mark.parametrize(
    "kwargs",
    [{"time_cost": 0}, {"parallelism": 0}, {"memory_cost": 4}, {"hash_len": 8}],
)
def test_hasher_rejects_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        CodeHasher(**kwargs)


def test_new_salt() -> None:
    a, b = new_salt(), new_salt()
    assert isinstance(a, bytes) and len(a) == 16
    assert a != b


def test_derive_deterministic_and_salted() -> None:
    code = generate_code()
    salt = new_salt()
    d1 = FAST.derive(code, salt)
    assert isinstance(d1, bytes) and len(d1) == 32
    assert FAST.derive(code, salt) == d1
    assert FAST.derive(code, new_salt()) != d1
    other = generate_set(5)[0]
    if other != code:
        assert FAST.derive(other, salt) != d1
    assert CodeHasher(time_cost=2, memory_cost=8).derive(code, salt) != d1


def test_derive_default_parameters_once() -> None:
    # one real derivation with the production parameters (19 MiB) still works
    assert len(CodeHasher().derive("K7QX2M9PRT", b"\x00" * 16)) == 32


@pytest.mark.parametrize("bad", ["k7qx2m9prt", "K7QX2-M9PRT", "K7QX2M9PR", "OOOOOOOOOO"])
def test_derive_requires_canonical(bad: str) -> None:
    with pytest.raises(ValueError):
        FAST.derive(bad, new_salt())


def test_derive_rejects_short_salt() -> None:
    with pytest.raises(ValueError):
        FAST.derive("K7QX2M9PRT", b"short")


class _Counting:
    """Counts calls to the module-level argon2 function used by CodeHasher.derive."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = bc.hash_secret_raw

        def wrapper(*args: object, **kwargs: object) -> bytes:
            self.calls += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(bc, "hash_secret_raw", wrapper)


def _check_attempt(raw: str, salt: bytes, stored: Sequence[bytes], hasher: CodeHasher) -> int | None:
    """The intended caller flow: normalise, check character (free), ONE derive, find_match over all."""
    canonical = normalise(raw)
    if canonical is None or not check_character_ok(canonical):
        return None
    return find_match(hasher.derive(canonical, salt), stored)


def test_one_derivation_per_attempt_over_many_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    salt = new_salt()  # one salt per account, shared by every set
    old_sets = [generate_set(20), generate_set(20)]  # 40 stored codes across two sets
    stored = [FAST.derive(c, salt) for s in old_sets for c in s]
    assert len(stored) == 40

    counter = _Counting(monkeypatch)
    target = old_sets[1][13]
    assert _check_attempt(format_code(target).lower(), salt, stored, FAST) == 20 + 13
    assert counter.calls == 1

    assert _check_attempt(generate_code(), salt, stored, FAST) is None
    assert counter.calls == 2

    # a typo is caught by the check character: no derivation spent
    typo = target[:3] + ("0" if target[3] != "0" else "1") + target[4:]
    assert _check_attempt(typo, salt, stored, FAST) is None
    # malformed input: no derivation either
    assert _check_attempt("hello", salt, stored, FAST) is None
    assert counter.calls == 2


def test_find_match_index_and_none() -> None:
    stored = [bytes([i]) * 32 for i in range(10)]
    assert find_match(bytes([7]) * 32, stored) == 7
    assert find_match(bytes([0]) * 32, stored) == 0
    assert find_match(bytes([9]) * 32, stored) == 9
    assert find_match(b"\xff" * 32, stored) is None
    assert find_match(b"\x01" * 32, []) is None
    assert find_match(b"\x01" * 16, stored) is None  # different length never matches
    assert find_match(b"\x05" * 32, [b"\x05" * 32, b"\x05" * 32]) == 0  # first of duplicates


@pytest.mark.parametrize("position", [0, 17, 39, None])
def test_find_match_compares_every_entry(monkeypatch: pytest.MonkeyPatch, position: int | None) -> None:
    calls: list[int] = []
    real = bc.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(bc, "compare_digest", counting)
    stored = [bytes([i]) * 32 for i in range(40)]
    derived = stored[position] if position is not None else b"\xee" * 32
    assert find_match(derived, stored) == position
    assert len(calls) == 40
