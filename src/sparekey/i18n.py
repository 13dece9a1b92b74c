"""Japanese and English, for pages and messages alike, from Babel catalogues
(``sparekey/locale/<lang>/LC_MESSAGES/messages.po``).

English text is the message id. The language comes from ``?lang=``, then the ``lang``
cookie, then ``Accept-Language``, then the configured default.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime
from babel.messages.pofile import read_po

LANGUAGES = ("en", "ja")
LOCALE_DIR = files("sparekey") / "locale"


@cache
def catalogue(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=lang)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string and not m.fuzzy}


def translate(lang: str, message: str, /, **values: Any) -> str:
    text = catalogue(lang).get(message, message) if lang != "en" else message
    return text % values if values else text


def choose_language(query: str | None, cookie: str | None, accept_language: str | None, default: str) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for lang in _parse_accept_language(accept_language or ""):
        if lang in LANGUAGES:
            return lang
    return default


def _parse_accept_language(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((-quality, index, tag.split("-")[0].lower()))
    return [tag for quality, _, tag in sorted(weighted) if quality < 0]


def format_when_zoned(value: Any, lang: str, zone: str | None) -> str:
    """A moment with its time zone, for messages: in the account's zone (UTC when none)."""
    tz = zone_info(zone)
    zone = tz.key
    text = format_datetime(value, "long", tzinfo=tz, locale=Locale.parse(lang))
    return f"{text} ({zone})" if zone and zone != "UTC" else text


def zone_info(zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_when(value: Any, lang: str, zone: str | None = None) -> str:
    """A moment for the pages: date and time in ``zone`` (UTC when none), with its zone."""
    if value is None:
        return ""
    tz = zone_info(zone)
    locale = Locale.parse(lang)
    moment = format_datetime(value, "medium", tzinfo=tz, locale=locale)
    moment += " " + format_datetime(value, "zzz", tzinfo=tz, locale=locale)
    return moment if tz.key == "UTC" else f"{moment} ({tz.key})"
