"""Every message a person can see exists in Japanese and English."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2.ext import babel_extract

from sparekey.delivery import composer
from sparekey.i18n import catalogue, choose_language, translate
from sparekey.web import messages
from sparekey.web.pages import security
from sparekey.web.pages.rendering import TEMPLATES

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def visible_messages() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        with template.open("rb") as handle:
            for _line, _func, message, _comments in babel_extract(handle, ["_"], [], {}):
                # _("text") gives the text; _("text %(x)s", x=...) gives (text, None, ...).
                text = message[0] if isinstance(message, tuple) else message
                if isinstance(text, str):
                    found.add(text)
    found |= set(messages.ERROR_MESSAGES.values()) | set(messages.PASSWORD_REASONS.values())
    found |= set(messages.CLOCK_DIRECTION.values())
    found |= set(messages.USERNAME_REASONS.values()) | set(messages.WEBAUTHN_REASONS.values())
    found |= composer.texts()
    found |= {name for _code, name in security.REGIONS}
    found |= set(security.EVENT_NAMES.values()) | set(security.DONE_MESSAGES.values())
    found |= set(security.METHOD_NAMES.values()) | set(security.FAILURE_REASONS.values())
    found |= set(security.SHEET_INSTRUCTIONS)
    found |= set(security.READINESS_ITEMS.values()) | set(security.NOTIFICATION_NAMES.values())
    package = Path(security.__file__).parents[2]
    for module in package.rglob("*.py"):
        found |= set(re.findall(r'translate\(\s*lang,\s*"([^"]+)"', module.read_text()))
    return found


def test_there_is_much_to_translate() -> None:
    assert len(visible_messages()) > 100


def test_every_visible_message_has_japanese_with_the_same_placeholders() -> None:
    japanese = catalogue("ja")
    missing = sorted(m for m in visible_messages() if not japanese.get(m))
    assert missing == []
    for message in visible_messages():
        assert sorted(PLACEHOLDER.findall(japanese[message])) == sorted(PLACEHOLDER.findall(message)), message
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese[message]), message


def test_translate_and_choose_language() -> None:
    assert translate("ja", "Sign in") == "サインイン"
    assert translate("en", "Sign in") == "Sign in"
    assert translate("ja", "Code #%(position)s", position=7) == "コード #7"
    assert choose_language(None, None, "ja,en-US;q=0.8", "en") == "ja"
    assert choose_language(None, None, "fr-CH, en;q=0.9, ja;q=0.8", "en") == "en"
    assert choose_language("en", "ja", "ja", "ja") == "en"
    assert choose_language(None, "ja", "en", "en") == "ja"
    assert choose_language(None, None, "x;q=abc,,;", "en") == "en"
