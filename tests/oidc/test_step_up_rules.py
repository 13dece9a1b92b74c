"""The step-up rules alone (``oidc/step_up.py``): one negative case per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sparekey.core.assurance import Amr, Level, context
from sparekey.core.crypto import SecretBox
from sparekey.oidc import step_up
from sparekey.oidc.step_up import Asked, Verdict, judge

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ONE = context([Amr.PWD], NOW - timedelta(minutes=5), factors=1)
TWO = context([Amr.PWD, Amr.OTP], NOW - timedelta(minutes=5), factors=2)
KEY = context([Amr.PWD, Amr.HWK], NOW - timedelta(minutes=5), factors=2)


def test_acr_names_the_session_level() -> None:
    assert step_up.acr_of(Level.TWO_FACTORS) == "urn:sparekey:acr:two_factors"
    assert step_up.level_of("urn:sparekey:acr:phishing_resistant") is Level.PHISHING_RESISTANT
    assert step_up.level_of("urn:sparekey:acr:gold") is None and step_up.level_of("two_factors") is None


def test_what_a_request_asks() -> None:
    asked = step_up.asked(
        {
            "prompt": "login consent",
            "max_age": "60",
            "acr_values": "x urn:sparekey:acr:phishing_resistant urn:sparekey:acr:two_factors",
        }
    )
    assert asked == Asked(frozenset({"login", "consent"}), 60, Level.TWO_FACTORS)  # the weakest known one
    assert step_up.asked({"acr_values": "urn:example:silver"}).level is None
    for bad in ("-1", "1.5", "soon", "１２", "9" * 13):
        with pytest.raises(step_up.BadRequest):
            step_up.asked({"max_age": bad})


@pytest.mark.parametrize(
    ("asked", "session", "verdict"),
    [
        (Asked(), None, Verdict.SIGN_IN),
        (Asked(frozenset({"none"})), None, Verdict.LOGIN_REQUIRED),
        (Asked(), ONE, Verdict.PROCEED),
        (Asked(frozenset({"login"})), TWO, Verdict.SIGN_IN),
        (Asked(max_age=0), TWO, Verdict.SIGN_IN),
        (Asked(max_age=300), TWO, Verdict.PROCEED),
        (Asked(max_age=299), TWO, Verdict.SIGN_IN),
        (Asked(frozenset({"none"}), max_age=0), TWO, Verdict.LOGIN_REQUIRED),
        (Asked(level=Level.TWO_FACTORS), ONE, Verdict.SIGN_IN),
        (Asked(level=Level.TWO_FACTORS), TWO, Verdict.PROCEED),
        (Asked(level=Level.TWO_FACTORS), KEY, Verdict.PROCEED),
        (Asked(level=Level.PHISHING_RESISTANT), TWO, Verdict.SIGN_IN),
        (Asked(frozenset({"none"}), level=Level.PHISHING_RESISTANT), TWO, Verdict.LOGIN_REQUIRED),
    ],
)
def test_without_a_fresh_sign_in(asked: Asked, session, verdict: Verdict) -> None:  # type: ignore[no-untyped-def]
    assert judge(asked, session, now=NOW, fresh_since=None) is verdict


def test_a_sign_in_since_the_mark_is_fresh_and_ends_the_loop() -> None:
    since = NOW - timedelta(minutes=5)
    assert judge(Asked(frozenset({"login"})), TWO, now=NOW, fresh_since=since) is Verdict.PROCEED
    assert judge(Asked(max_age=0), TWO, now=NOW, fresh_since=since) is Verdict.PROCEED
    assert judge(Asked(level=Level.PHISHING_RESISTANT), TWO, now=NOW, fresh_since=since) is Verdict.UNMET
    later = since + timedelta(microseconds=1)  # signed in before the mark: not fresh
    assert judge(Asked(frozenset({"login"})), TWO, now=NOW, fresh_since=later) is Verdict.SIGN_IN


def test_marks_are_signed_exact_and_short_lived() -> None:
    signer = SecretBox({"k1": b"k" * 32}).signer("oidc-fresh")
    other = SecretBox({"k1": b"o" * 32}).signer("oidc-fresh")
    at = NOW - timedelta(microseconds=123457)
    mark = step_up.mark(signer, at)
    assert step_up.read_mark(signer, mark, now=NOW, within_seconds=600) == at
    assert step_up.read_mark(other, mark, now=NOW, within_seconds=600) is None
    micros, _, tag = mark.partition(".")
    assert step_up.read_mark(signer, f"{int(micros) - 1}.{tag}", now=NOW, within_seconds=600) is None
    assert step_up.read_mark(signer, mark, now=NOW + timedelta(seconds=601), within_seconds=600) is None
    for junk in (None, "", "x.y", ".", "1e9.abc", "-5.abc"):
        assert step_up.read_mark(signer, junk, now=NOW, within_seconds=600) is None
