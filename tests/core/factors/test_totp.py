"""Tests for sparekey.core.factors.totp: pure TOTP mechanics, no web and no database."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparekey.core.factors import totp
from sparekey.core.factors.totp import (
    ACCEPT_WINDOW_STEPS,
    DIGITS,
    DRIFT_DIAGNOSIS_STEPS,
    MAX_LEARNED_DRIFT_STEPS,
    PERIOD,
    Accepted,
    DriftSuspected,
    NoMatch,
    Replayed,
    new_secret,
    normalise_code,
    provisioning_uri,
    qr_svg,
    step_at,
    verify,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)


def code_for(secret: str, step: int) -> str:
    """The code for a step, computed by pyotp directly (independently of the module's set-up)."""
    return pyotp.TOTP(secret).generate_otp(step)


def b32(seed: str) -> str:
    return base64.b32encode(seed.encode("ascii")).decode("ascii").rstrip("=")


class TestConstants:
    def test_the_defaults_every_authenticator_app_supports(self) -> None:
        assert (PERIOD, DIGITS, ACCEPT_WINDOW_STEPS) == (30, 6, 1)
        assert DRIFT_DIAGNOSIS_STEPS * PERIOD == 600
        assert MAX_LEARNED_DRIFT_STEPS * PERIOD == 120


class TOTPExampleValuesFromTheRFC:
    """RFC 6238 Appendix B: 8-digit codes for the three ASCII seeds."""

    SEEDS: dict[str, tuple[str, Callable[..., Any]]] = {
        "SHA1": ("12345678901234567890", hashlib.sha1),
        "SHA256": ("12345678901234567890123456789012", hashlib.sha256),
        "SHA512": ("1234567890123456789012345678901234567890123456789012345678901234", hashlib.sha512),
    }
    VECTORS = [
        (59, "0000000000000001", "94287082", "46119246", "90693936"),
        (1111111109, "00000000023523EC", "07081804", "68084774", "25091201"),
        (1111111111, "00000000023523ED", "14050471", "67062674", "99943326"),
        (1234567890, "000000000273EF07", "89005924", "91819424", "93441116"),
        (2000000000, "0000000003F940AA", "69279037", "90698825", "38618901"),
        (20000000000, "0000000027BC86AA", "65353130", "77737706", "47863826"),
    ]

    @pytest.mark.parametrize(("unix_time", "step_hex", "sha1", "sha256", "sha512"), VECTORS)
    def test_vector(self, unix_time: int, step_hex: str, sha1: str, sha256: str, sha512: str) -> None:
        at = datetime.fromtimestamp(unix_time, tz=UTC)
        step = step_at(at)
        assert step == int(step_hex, 16)
        for name, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
            seed, digest = self.SEEDS[name]
            assert totp._totp(b32(seed), digits=8, digest=digest).generate_otp(step) == expected, name

    def test_the_sha1_seed_through_verify_at_six_digits(self) -> None:
        # The 6-digit code is the last 6 digits of the 8-digit one (same truncated value mod 10^6).
        secret = b32(self.SEEDS["SHA1"][0])
        at = datetime.fromtimestamp(1111111109, tz=UTC)
        assert verify(secret=secret, code="081804", at=at, last_used_step=None) == Accepted(
            step=0x23523EC, offset_steps=0, drift_steps=0
        )


# pytest collects classes named Test*; the class name above is the one the brief asks for.
TestTOTPExampleValuesFromTheRFC = TOTPExampleValuesFromTheRFC


class TestStepAt:
    def test_boundaries(self) -> None:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert step_at(epoch) == 0
        assert step_at(epoch + timedelta(seconds=29, microseconds=999_999)) == 0
        assert step_at(epoch + timedelta(seconds=30)) == 1
        assert step_at(NOW) == 1793523600 // 30

    def test_time_zone_does_not_matter(self) -> None:
        tokyo = timezone(timedelta(hours=9))
        assert step_at(NOW.astimezone(tokyo)) == step_at(NOW)

    def test_naive_datetime_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            step_at(datetime(2026, 11, 1, 9, 0, 0))  # naive on purpose

    def test_before_the_epoch_is_refused(self) -> None:
        with pytest.raises(ValueError):
            step_at(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC))


class TestSecretAndEnrolment:
    def test_new_secret_is_160_random_bits_of_base32(self) -> None:
        secret = new_secret()
        assert len(secret) == 32
        assert len(base64.b32decode(secret)) == 20
        assert new_secret() != secret

    def test_provisioning_uri(self) -> None:
        uri = provisioning_uri(SECRET, account_name="alice@example.com", issuer="Example Co")
        assert uri.startswith("otpauth://totp/")
        assert "Example%20Co" in uri
        assert f"secret={SECRET}" in uri
        parsed = pyotp.parse_uri(uri)
        assert isinstance(parsed, pyotp.TOTP)
        assert (parsed.secret, parsed.name, parsed.issuer) == (SECRET, "alice@example.com", "Example Co")
        assert (parsed.digits, parsed.interval, parsed.digest().name) == (6, 30, "sha1")

    def test_provisioning_uri_with_japanese_names_round_trips(self) -> None:
        uri = provisioning_uri(SECRET, account_name="山田 花子", issuer="スペアキー")
        assert uri.isascii()
        parsed = pyotp.parse_uri(uri)
        assert (parsed.name, parsed.issuer) == ("山田 花子", "スペアキー")

    @pytest.mark.parametrize(("account", "issuer"), [("", "Example"), ("alice", " ")])
    def test_provisioning_uri_needs_names(self, account: str, issuer: str) -> None:
        with pytest.raises(ValueError):
            provisioning_uri(SECRET, account_name=account, issuer=issuer)

    def test_provisioning_uri_refuses_a_bad_secret(self) -> None:
        with pytest.raises(ValueError):
            provisioning_uri("not base32!", account_name="alice", issuer="Example")

    def test_qr_svg(self) -> None:
        uri = provisioning_uri(SECRET, account_name="alice@example.com", issuer="Example Co")
        svg = qr_svg(uri)
        assert svg.startswith("<svg")
        assert svg.endswith("</svg>")
        assert "<?xml" not in svg
        assert "<title>" in svg
        assert SECRET not in svg
        width = int(svg.split('width="', 1)[1].split('"', 1)[0])
        assert 150 <= width <= 260

    def test_qr_svg_escapes_a_title(self) -> None:
        svg = qr_svg("otpauth://totp/x?secret=" + SECRET, title="<b>QR</b> & co")
        assert "<title>&lt;b&gt;QR&lt;/b&gt; &amp; co</title>" in svg


class TestNormaliseCode:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("123456", "123456"),
            ("012345", "012345"),
            ("123 456", "123456"),
            ("123-456", "123456"),
            (" 123456\n", "123456"),
            ("１２３４５６", "123456"),  # full-width digits
            ("１２３\u3000４５６", "123456"),  # ideographic space
            ("１２３－４５６", "123456"),  # full-width hyphen-minus
            ("123ー456", "123456"),  # what a Japanese IME types for "-"
            ("123\u200b456", "123456"),  # zero-width space from a paste
        ],
    )
    def test_accepted(self, raw: str, expected: str) -> None:
        assert normalise_code(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "   ",
            "abcdef",
            "12345a",
            "●●●●●●",
            "١٢٣٤٥٦",  # Arabic-Indic digits
            "۱۲۳۴۵۶",  # Extended Arabic-Indic digits
            "१२३४५६",  # Devanagari digits
            "1234567",
            "12345",
            "123.456",
            "ABCD-EFGH",  # a backup code's shape
        ],
    )
    def test_refused(self, raw: str) -> None:
        assert normalise_code(raw) is None

    def test_huge_input_is_refused_cheaply(self) -> None:
        assert normalise_code("1" * 10_000_000) is None
        assert normalise_code(" " * 1_000_000 + "123456") is None

    def test_not_a_string(self) -> None:
        assert normalise_code(None) is None  # type: ignore[arg-type]

    @given(st.text())
    def test_never_raises(self, raw: str) -> None:
        result = normalise_code(raw)
        assert result is None or (len(result) == DIGITS and result.isascii() and result.isdigit())

    @given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.lists(st.integers(0, 6), max_size=4))
    def test_separators_and_full_width_are_forgiven(self, digits: str, cuts: list[int]) -> None:
        full_width = digits.translate({ord("0") + i: 0xFF10 + i for i in range(10)})
        for text in (digits, full_width):
            spaced = text
            for cut in sorted(cuts, reverse=True):
                spaced = spaced[:cut] + " - " + spaced[cut:]
            assert normalise_code(spaced) == digits


class TestVerifyWindow:
    server = step_at(NOW)

    @pytest.mark.parametrize("offset", [-1, 0, 1])
    def test_accepts_plus_minus_one_step(self, offset: int) -> None:
        step = self.server + offset
        result = verify(secret=SECRET, code=code_for(SECRET, step), at=NOW, last_used_step=None)
        assert result == Accepted(step=step, offset_steps=offset, drift_steps=0)

    @pytest.mark.parametrize("offset", [-2, 2, -10, 10, -20, 20])
    def test_further_away_is_refused_but_diagnosed(self, offset: int) -> None:
        code = code_for(SECRET, self.server + offset)
        result = verify(secret=SECRET, code=code, at=NOW, last_used_step=None)
        assert result == DriftSuspected(offset_seconds=offset * PERIOD, steps=(self.server + offset,))

    @pytest.mark.parametrize("offset", [-22, -21, 21, 22, 1000])
    def test_beyond_ten_minutes_is_no_match(self, offset: int) -> None:
        code = code_for(SECRET, self.server + offset)
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=None) == NoMatch()

    def test_wrong_code(self) -> None:
        candidates = {code_for(SECRET, self.server + d) for d in range(-20, 21)}
        wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in candidates)
        assert verify(secret=SECRET, code=wrong, at=NOW, last_used_step=None) == NoMatch()

    @pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "123 456", "１２３４５６", "١٢٣٤٥٦"])
    def test_unnormalised_code_is_no_match(self, code: str) -> None:
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=None) == NoMatch()

    def test_any_time_in_the_step_counts(self) -> None:
        step = self.server
        code = code_for(SECRET, step)
        for seconds in (0, 15, 29):
            at = NOW + timedelta(seconds=seconds)
            assert verify(secret=SECRET, code=code, at=at, last_used_step=None) == Accepted(step, 0, 0)

    def test_near_the_epoch(self) -> None:
        at = datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)
        assert verify(secret=SECRET, code=code_for(SECRET, 1), at=at, last_used_step=None) == Accepted(
            1, 1, 0
        )

    def test_naive_time_and_bad_secret_raise(self) -> None:
        with pytest.raises(ValueError):
            verify(secret=SECRET, code="123456", at=NOW.replace(tzinfo=None), last_used_step=None)
        with pytest.raises(ValueError):
            verify(secret="not base32!", code="123456", at=NOW, last_used_step=None)

    def test_a_fresh_random_secret(self) -> None:
        secret = new_secret()
        code = pyotp.TOTP(secret).at(NOW)
        assert verify(secret=secret, code=code, at=NOW, last_used_step=None) == Accepted(self.server, 0, 0)


class TestReplay:
    server = step_at(NOW)

    def test_same_step_twice(self) -> None:
        code = code_for(SECRET, self.server)
        first = verify(secret=SECRET, code=code, at=NOW, last_used_step=None)
        assert isinstance(first, Accepted)
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=first.step) == Replayed(self.server)

    def test_same_code_a_step_later_is_still_replayed(self) -> None:
        code = code_for(SECRET, self.server)
        later = NOW + timedelta(seconds=PERIOD)
        assert verify(secret=SECRET, code=code, at=later, last_used_step=self.server) == Replayed(self.server)

    def test_older_step_after_newer(self) -> None:
        newer = verify(secret=SECRET, code=code_for(SECRET, self.server + 1), at=NOW, last_used_step=None)
        assert newer == Accepted(step=self.server + 1, offset_steps=1, drift_steps=0)
        older = code_for(SECRET, self.server)
        assert verify(secret=SECRET, code=older, at=NOW, last_used_step=newer.step) == Replayed(self.server)

    def test_newer_step_after_older_is_fine(self) -> None:
        code = code_for(SECRET, self.server + 1)
        result = verify(secret=SECRET, code=code, at=NOW, last_used_step=self.server)
        assert result == Accepted(step=self.server + 1, offset_steps=1, drift_steps=0)


class TestDriftLearning:
    server = step_at(NOW)

    def sign_in(
        self, minutes: int, offset: int, *, last_used: int | None, drift: int, last_offset: int | None
    ) -> totp.Outcome:
        at = NOW + timedelta(minutes=minutes)
        server = step_at(at)
        code = code_for(SECRET, server + offset)
        return verify(
            secret=SECRET,
            code=code,
            at=at,
            last_used_step=last_used,
            drift_steps=drift,
            last_offset_steps=last_offset,
        )

    def test_two_successes_at_the_same_offset_learn_it(self) -> None:
        first = self.sign_in(0, 1, last_used=None, drift=0, last_offset=None)
        assert first == Accepted(step=self.server + 1, offset_steps=1, drift_steps=0)
        second = self.sign_in(5, 1, last_used=first.step, drift=first.drift_steps, last_offset=1)
        assert second == Accepted(step=self.server + 11, offset_steps=1, drift_steps=1)
        # The window is now centred one step ahead: two steps ahead is inside it.
        third = self.sign_in(10, 2, last_used=second.step, drift=second.drift_steps, last_offset=1)
        assert third == Accepted(step=self.server + 22, offset_steps=2, drift_steps=1)

    def test_without_learned_drift_two_steps_ahead_is_refused(self) -> None:
        result = self.sign_in(10, 2, last_used=None, drift=0, last_offset=None)
        assert result == DriftSuspected(offset_seconds=60, steps=(self.server + 22,))

    def test_one_odd_success_does_not_learn(self) -> None:
        result = self.sign_in(0, 1, last_used=None, drift=0, last_offset=0)
        assert result == Accepted(step=self.server + 1, offset_steps=1, drift_steps=0)

    def test_an_odd_success_keeps_the_learned_drift(self) -> None:
        result = self.sign_in(0, 0, last_used=None, drift=1, last_offset=1)
        assert result == Accepted(step=self.server, offset_steps=0, drift_steps=1)

    def test_slow_device(self) -> None:
        result = self.sign_in(0, -1, last_used=None, drift=0, last_offset=-1)
        assert result == Accepted(step=self.server - 1, offset_steps=-1, drift_steps=-1)
        further = self.sign_in(5, -2, last_used=None, drift=-1, last_offset=-1)
        assert further == Accepted(step=self.server + 10 - 2, offset_steps=-2, drift_steps=-1)

    def test_learned_drift_is_capped(self) -> None:
        edge = MAX_LEARNED_DRIFT_STEPS
        at_cap = self.sign_in(0, edge, last_used=None, drift=edge - 1, last_offset=edge)
        assert at_cap == Accepted(step=self.server + edge, offset_steps=edge, drift_steps=edge)
        beyond = self.sign_in(0, edge + 1, last_used=None, drift=edge, last_offset=edge + 1)
        assert beyond == Accepted(step=self.server + edge + 1, offset_steps=edge + 1, drift_steps=edge)

    def test_a_stored_drift_out_of_range_is_clamped(self) -> None:
        result = self.sign_in(0, 9, last_used=None, drift=50, last_offset=None)
        assert result == DriftSuspected(offset_seconds=9 * PERIOD, steps=(self.server + 9,))
        result = self.sign_in(0, 5, last_used=None, drift=50, last_offset=None)
        assert result == Accepted(step=self.server + 5, offset_steps=5, drift_steps=MAX_LEARNED_DRIFT_STEPS)

    def test_a_clock_put_right_is_still_accepted_and_relearned(self) -> None:
        drift = MAX_LEARNED_DRIFT_STEPS
        first = self.sign_in(0, 0, last_used=None, drift=drift, last_offset=drift)
        assert first == Accepted(step=self.server, offset_steps=0, drift_steps=drift)
        second = self.sign_in(5, 0, last_used=first.step, drift=drift, last_offset=0)
        assert second == Accepted(step=self.server + 10, offset_steps=0, drift_steps=0)

    def test_diagnosis_is_relative_to_the_server_clock(self) -> None:
        result = self.sign_in(0, 8, last_used=None, drift=2, last_offset=None)
        assert result == DriftSuspected(offset_seconds=8 * PERIOD, steps=(self.server + 8,))


OATHTOOL = shutil.which("oathtool")


def oathtool_code(secret: str, when: str, *, flag: str = "--now") -> str:
    assert OATHTOOL is not None
    done = subprocess.run(
        [OATHTOOL, "--totp", "-b", secret, flag, when], capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.mark.skipif(OATHTOOL is None, reason="oathtool (Debian package oathtool) is not installed")
class TestOathtoolInterop:
    TIMES = [
        NOW,
        NOW + timedelta(seconds=29),
        NOW + timedelta(seconds=30),
        datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC),
        datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC),
    ]

    @pytest.mark.parametrize("at", TIMES, ids=utc)
    @pytest.mark.parametrize("secret", [SECRET, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"])
    def test_oathtool_codes_are_accepted(self, at: datetime, secret: str) -> None:
        code = oathtool_code(secret, utc(at))
        assert verify(secret=secret, code=code, at=at, last_used_step=None) == Accepted(step_at(at), 0, 0)

    def test_unix_timestamp_and_short_flag(self) -> None:
        code = oathtool_code(SECRET, f"@{int(NOW.timestamp())}", flag="-N")
        assert code == oathtool_code(SECRET, "2026-11-01 09:00:00 UTC")
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=None) == Accepted(step_at(NOW), 0, 0)

    def test_new_secret_works_with_oathtool(self) -> None:
        secret = new_secret()
        code = oathtool_code(secret, utc(NOW))
        assert verify(secret=secret, code=code, at=NOW, last_used_step=None) == Accepted(step_at(NOW), 0, 0)

    @pytest.mark.parametrize("seconds", [30, -30])
    def test_a_step_off_is_accepted_in_the_window(self, seconds: int) -> None:
        code = oathtool_code(SECRET, utc(NOW + timedelta(seconds=seconds)))
        result = verify(secret=SECRET, code=code, at=NOW, last_used_step=None)
        assert result == Accepted(
            step=step_at(NOW) + seconds // PERIOD, offset_steps=seconds // PERIOD, drift_steps=0
        )

    @pytest.mark.parametrize("seconds", [60, -60, 300, -300, 600, -600])
    def test_clock_off_by_minutes_is_diagnosed(self, seconds: int) -> None:
        # 60 s is two steps: outside the ±1 window, so refused but diagnosed.
        code = oathtool_code(SECRET, utc(NOW + timedelta(seconds=seconds)))
        step = step_at(NOW) + seconds // PERIOD
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=None) == DriftSuspected(
            seconds, (step,)
        )

    @pytest.mark.parametrize("minutes", [11, -11, 60])
    def test_clock_off_by_more_than_ten_minutes_is_no_match(self, minutes: int) -> None:
        code = oathtool_code(SECRET, utc(NOW + timedelta(minutes=minutes)))
        assert verify(secret=SECRET, code=code, at=NOW, last_used_step=None) == NoMatch()


def test_last_accepted_code_typed_again_minutes_later_is_a_replay() -> None:
    secret = totp.new_secret()
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    code = totp._totp(secret).at(at)
    accepted = totp.verify(secret=secret, code=code, at=at, last_used_step=None)
    assert isinstance(accepted, totp.Accepted)
    later = totp.verify(secret=secret, code=code, at=at + timedelta(minutes=5), last_used_step=accepted.step)
    assert later == totp.Replayed(step=accepted.step)
