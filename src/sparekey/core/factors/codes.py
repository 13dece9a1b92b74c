"""The text of a typed code: one input limit and one set of separators for every kind.

``compact`` is the one normaliser: what a person typed or pasted, in any form a phone or
an input method produces, becomes the same compact text for every factor.

* Input longer than ``MAX_LENGTH`` characters is refused without any Unicode work; the
  API schema and the pages' inputs use the same limit.
* NFKC: full-width digits and letters (what a Japanese input method types) become ASCII,
  the ideographic space a space.
* Upper case, then separators dropped: whitespace, dashes (Unicode category Pd and the
  look-alikes − ⁃ ˗ ➖ ー ─ ━ that remain after NFKC) and invisible format characters
  (category Cf: zero-width space, soft hyphen, a byte-order mark from a paste).

Each factor reads its own shape from the compact text (``totp.from_compact``,
``backup_codes.from_compact``); the code box does it once per submission for all of them.
Pure: no storage, no clock.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 64

_EXTRA_SEPARATORS = frozenset(
    "\u2212"  # − MINUS SIGN
    "\u2043"  # ⁃ HYPHEN BULLET
    "\u02d7"  # ˗ MODIFIER LETTER MINUS SIGN
    "\u2796"  # ➖ HEAVY MINUS SIGN
    "\u30fc"  # ー KATAKANA-HIRAGANA PROLONGED SOUND MARK (ｰ U+FF70 becomes this under NFKC)
    "\u2500"  # ─ BOX DRAWINGS LIGHT HORIZONTAL
    "\u2501"  # ━ BOX DRAWINGS HEAVY HORIZONTAL
)


def _is_separator(ch: str) -> bool:
    return ch.isspace() or ch in _EXTRA_SEPARATORS or unicodedata.category(ch) in ("Pd", "Cf")


def compact(raw: object) -> str | None:
    """NFKC, upper case, separators dropped; None for non-text or text over ``MAX_LENGTH``."""
    if not isinstance(raw, str) or len(raw) > MAX_LENGTH:
        return None
    return "".join(ch for ch in unicodedata.normalize("NFKC", raw).upper() if not _is_separator(ch))
