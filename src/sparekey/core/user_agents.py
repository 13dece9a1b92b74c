"""A readable name for a browser or app from its User-Agent ("Chrome on Android"), for the
lists of trusted devices and sessions. ua-parser reads the header; this only words it."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from ua_parser import parse_os, parse_user_agent

from sparekey.i18n import translate

_UNKNOWN = "Other"


@lru_cache(maxsize=512)
def describe(user_agent: str | None) -> tuple[str | None, str | None]:
    """``(browser, system)``; either is None when the header does not say."""
    if not user_agent:
        return None, None
    browser = parse_user_agent(user_agent)
    system = parse_os(user_agent)
    name = _printable(browser.family) if browser is not None and browser.family != _UNKNOWN else None
    os_name = _printable(system.family) if system is not None and system.family != _UNKNOWN else None
    return name, os_name


def _printable(text: str) -> str | None:
    """Some patterns copy part of the header (an app's name): keep letters, not controls."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    return " ".join(kept.split())[:40] or None


def readable(user_agent: str | None, lang: str) -> str:
    browser, system = describe(user_agent)
    if browser and system:
        return translate(lang, "%(browser)s on %(system)s", browser=browser, system=system)
    if browser or system:
        return str(browser or system)
    return translate(lang, "Unknown device")
