"""Authenticator-app codes (TOTP, RFC 6238): secrets, enrolment QR, code checking.

Pure: no storage, no requests, and no system clock. The time is always passed in as
a timezone-aware datetime. pyotp does the OTP arithmetic and segno draws the QR.

Parameters are the ones every authenticator app supports: HMAC-SHA-1, 6 digits,
30-second steps.

``verify`` returns one of four outcomes. The caller must persist the bookkeeping
(``last_used_step``, ``drift_steps``, ``last_offset_steps``) atomically,
with a compare-and-set on ``last_used_step``, so that the replay guard holds
across server processes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import segno

from sparekey.core.factors import codes

PERIOD = 30
DIGITS = 6
ACCEPT_WINDOW_STEPS = 1  # ±1 step around (server step + learned drift)
DRIFT_DIAGNOSIS_STEPS = 20  # ±10 minutes: a match this far away is REFUSED but diagnosed
MAX_LEARNED_DRIFT_STEPS = 4  # learned drift never exceeds ±2 minutes

_SECRET_CHARS = 32  # base32 characters: 32 * 5 = 160 bits
_QR_TARGET_PX = 200
_QR_BORDER = 4  # the quiet zone that the QR standard asks for, in modules
_QR_TITLE = "QR code for adding this account to an authenticator app"

# timecode() only needs the period, not the key, so any valid key will do here.
_STEP_CLOCK = pyotp.TOTP("A" * _SECRET_CHARS, digits=DIGITS, digest=hashlib.sha1, interval=PERIOD)


@dataclass(frozen=True)
class Accepted:
    """The code is good. Store ``step`` as last_used_step and ``offset_steps`` as last_offset_steps."""

    step: int  # the matched time step; the caller stores it as last_used_step atomically
    offset_steps: int  # matched step minus server step
    drift_steps: int  # the drift value the caller should now store


@dataclass(frozen=True)
class Replayed:
    """The code is right, but its time step was already used (or an older one was)."""

    step: int


@dataclass(frozen=True)
class DriftSuspected:
    """The code belongs to a time step up to ±10 minutes away: refused, the clock is the likely cause.

    The caller must remember ``steps`` as refused for this authenticator, so that this very
    code is not accepted when its time comes: otherwise a guess answered "your clock is off"
    would be a guess at a future code that later works.
    """

    offset_seconds: int  # device clock minus server clock: positive means the device is fast
    steps: tuple[int, ...] = ()  # every step the code matched


@dataclass(frozen=True)
class NoMatch:
    """The code matches no time step near now (typo, wrong account, or very wrong clock)."""


Outcome = Accepted | Replayed | DriftSuspected | NoMatch


def _totp(secret: str, *, digits: int = DIGITS, digest: Callable[..., Any] = hashlib.sha1) -> pyotp.TOTP:
    """The pyotp generator for a secret, set up the way this module uses it."""
    return pyotp.TOTP(secret, digits=digits, digest=digest, interval=PERIOD)


def new_secret() -> str:
    """A fresh base32 secret of 160 random bits (from the operating system's CSPRNG)."""
    return pyotp.random_base32(_SECRET_CHARS)


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that an authenticator app reads from the QR code.

    Raises ValueError for an invalid secret or an empty account name or issuer.
    """
    if not account_name.strip() or not issuer.strip():
        raise ValueError("account_name and issuer must not be empty")
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str, *, title: str = _QR_TITLE) -> str:
    """Inline SVG markup (no XML declaration) of a QR code for ``uri``, about 200 px wide.

    Dark modules on a white background, with a white quiet zone, so it scans on dark pages
    too. ``title`` becomes the SVG's ``<title>`` (its accessible name); pass a translated
    one if needed. It must not contain the secret.
    """
    qr = segno.make(uri, error="m", micro=False)
    modules, _ = qr.symbol_size(scale=1, border=_QR_BORDER)
    scale = max(1, round(_QR_TARGET_PX / modules))
    svg: str = qr.svg_inline(scale=scale, border=_QR_BORDER, dark="#000", light="#fff", title=title)
    return svg.strip()


def from_compact(text: str) -> str | None:
    """The code in a compacted input (``codes.compact``) if it is exactly ``DIGITS`` ASCII digits."""
    return text if len(text) == DIGITS and text.isascii() and text.isdigit() else None


def normalise_code(raw: str) -> str | None:
    """The code as exactly ``DIGITS`` ASCII digits, or None if it is not that shape.

    ``codes.compact`` first (length cap, NFKC so that full-width digits become ASCII,
    separators dropped), then ``from_compact``. Other scripts' digits, masking bullets,
    letters and wrong lengths give None. Never raises.
    """
    text = codes.compact(raw)
    return from_compact(text) if text is not None else None


def step_at(at: datetime) -> int:
    """The RFC 6238 time step (counter) at ``at``, which must be timezone-aware.

    Raises ValueError for a naive datetime (it would silently be read as local time) and
    for times before 1970 or from year 10000 on.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    return _STEP_CLOCK.timecode(at)


def _is_normalised(code: str) -> bool:
    return isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()


def _matching_steps(generator: pyotp.TOTP, code: str, steps: list[int]) -> list[int]:
    """The steps in ``steps`` whose code equals ``code``; every step is computed and compared."""
    expected = code.encode("ascii")
    return [
        step for step in steps if hmac.compare_digest(generator.generate_otp(step).encode("ascii"), expected)
    ]


def verify(
    *,
    secret: str,
    code: str,
    at: datetime,
    last_used_step: int | None,
    drift_steps: int = 0,
    last_offset_steps: int | None = None,
) -> Outcome:
    """Check a normalised authenticator code at time ``at``.

    Acceptance window: ``ACCEPT_WINDOW_STEPS`` (±1) around ``server step + drift_steps``,
    and always also ±1 around the server step itself, so a phone whose clock has been put
    right is never locked out by a drift learned earlier.

    * A match in the window at a step newer than ``last_used_step`` is ``Accepted``
      (the newest such step). A match only at steps ``<= last_used_step`` is ``Replayed``.
    * Otherwise a match up to ``DRIFT_DIAGNOSIS_STEPS`` (±10 minutes) from the server step
      is ``DriftSuspected`` with the device's clock offset (the match nearest the server
      step). It is never accepted: it only lets the caller say "your clock is N minutes
      fast/slow" instead of "wrong code", and the caller burns the matched steps. The
      exact step last accepted, seen again out here, is ``Replayed`` instead: the code is
      old, not the clock.
    * Otherwise ``NoMatch``; also for a code that is not exactly ``DIGITS`` ASCII digits.

    Drift learning (RFC 6238 §6 resynchronisation, "small consistent drift"): the caller
    stores ``Accepted.offset_steps`` as the next call's ``last_offset_steps``. When a
    success lands at the same offset as the previous success, and that offset is at most
    ``MAX_LEARNED_DRIFT_STEPS`` (±2 minutes), it becomes ``drift_steps``, which centres
    the window from then on. One odd success keeps the old drift, so a single lucky code
    at the window's edge cannot move it. A clock that is put right relearns 0 the same way.

    Raises ValueError for an invalid secret or a naive ``at``.
    """
    generator = _totp(secret)
    server = step_at(at)
    if not _is_normalised(code):
        return NoMatch()
    drift = max(-MAX_LEARNED_DRIFT_STEPS, min(MAX_LEARNED_DRIFT_STEPS, drift_steps))

    window = {
        centre + delta
        for centre in (server, server + drift)
        for delta in range(-ACCEPT_WINDOW_STEPS, ACCEPT_WINDOW_STEPS + 1)
    }
    in_window = _matching_steps(generator, code, sorted(step for step in window if step >= 0))
    if in_window:
        fresh = [step for step in in_window if last_used_step is None or step > last_used_step]
        if not fresh:
            return Replayed(step=max(in_window))
        step = max(fresh)
        offset = step - server
        learned = offset if offset == last_offset_steps and abs(offset) <= MAX_LEARNED_DRIFT_STEPS else drift
        return Accepted(step=step, offset_steps=offset, drift_steps=learned)

    nearby = [
        step
        for step in range(server - DRIFT_DIAGNOSIS_STEPS, server + DRIFT_DIAGNOSIS_STEPS + 1)
        if step >= 0 and step not in window
    ]
    far_matches = _matching_steps(generator, code, nearby)
    if last_used_step is not None and last_used_step in far_matches:
        # The very code that was last accepted, typed again minutes later: that is a
        # replay, not a clock that is off.
        return Replayed(step=last_used_step)
    if far_matches:
        nearest = min(far_matches, key=lambda step: (abs(step - server), step))
        return DriftSuspected(offset_seconds=(nearest - server) * PERIOD, steps=tuple(far_matches))
    return NoMatch()
