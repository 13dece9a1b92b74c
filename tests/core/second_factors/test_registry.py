"""The registry of second factors: every kind has the same shape, and nothing else names one."""

from __future__ import annotations

import inspect
import pkgutil
import re
from pathlib import Path

import pytest

from sparekey.core import second_factors
from sparekey.core.deps import Deps
from sparekey.core.methods import Method
from sparekey.core.second_factors.base import SecondFactor, Shape
from tests.conftest import Person, totp_now

PROTOCOL_METHODS = ("method_entry", "verify", "credentials", "remove_all")


def test_every_module_of_the_package_gives_a_registered_factor() -> None:
    package = Path(second_factors.__file__).parent
    modules = {m.name for m in pkgutil.iter_modules([str(package)])} - {"base"}
    registered = {type(factor).__module__.rsplit(".", 1)[-1] for factor in second_factors.REGISTRY}
    assert modules == registered == {"totp", "backup_code", "sent_code", "security_key"}


@pytest.mark.parametrize("factor", second_factors.REGISTRY, ids=lambda f: f.kind.value)
def test_every_factor_has_the_same_shape(factor: SecondFactor) -> None:
    assert isinstance(factor.kind, Method)
    assert all(isinstance(shape, Shape) for shape in factor.shapes)
    # Every factor but the keys takes a typed code; keys answer a challenge instead.
    assert bool(factor.shapes) == (factor.kind is not Method.WEBAUTHN)
    for name in PROTOCOL_METHODS:
        expected = inspect.signature(getattr(SecondFactor, name))
        actual = inspect.signature(getattr(type(factor), name))
        assert list(actual.parameters) == list(expected.parameters), (factor.kind, name)


def test_kinds_are_unique_and_in_the_order_a_page_offers_them() -> None:
    kinds = [factor.kind.value for factor in second_factors.REGISTRY]
    assert kinds == ["webauthn", "totp", "sms", "voice", "email", "backup_code"]
    assert all(second_factors.by_kind(kind) is not None for kind in kinds)


def test_the_rules_around_factors_name_none_of_them() -> None:
    """The code box, methods, sudo and the lifecycle rules loop over the registry."""
    flows = Path(second_factors.__file__).parent.parent / "flows"
    for name in ("sign_in.py", "sudo.py", "lifecycle.py", "two_factor.py"):
        source = (flows / name).read_text()
        assert not re.search(r"\bauthenticators\b|\bTOTP\b|\"totp\"", source), name


@pytest.mark.parametrize(
    ("typed", "shape", "value"),
    [
        ("123456", Shape.SIX_DIGITS, "123456"),
        ("１２３ ４５６", Shape.SIX_DIGITS, "123456"),
        ("123-456", Shape.SIX_DIGITS, "123456"),
        ("\u200b123456\ufeff", Shape.SIX_DIGITS, "123456"),
        ("k7qx2-m9prh", Shape.BACKUP_CODE, "K7QX2M9PRH"),
        ("ｋ７ｑｘ２ー ｍ９ｐｒｈ", Shape.BACKUP_CODE, "K7QX2M9PRH"),
        ("12345", None, "12345"),
        ("abcdef", None, "ABCDEF"),
        ("1" * 65, None, ""),
    ],
)
def test_a_code_is_read_once_into_its_shape(typed: str, shape: Shape | None, value: str) -> None:
    assert second_factors.read(typed) == second_factors.TypedCode(shape, value)


def test_a_submitted_code_is_read_once(
    deps: Deps, person_with_totp: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code box reads a submission once; every factor gets that reading, none reads again."""
    from sparekey.core.factors import codes
    from sparekey.core.flows import sign_in
    from tests.core.flows.test_sign_in import HOME, start_flow

    readings: list[object] = []
    real = codes.compact
    monkeypatch.setattr(codes, "compact", lambda raw: (readings.append(raw), real(raw))[1])
    for code in (totp_now(deps, person_with_totp), person_with_totp.backup_codes[0]):  # type: ignore[index]
        readings.clear()
        done = sign_in.submit_code(deps, flow_id=start_flow(deps, person_with_totp), code=code, client=HOME)
        assert done.method_used in {"totp", "backup_code"} and readings == [code]
