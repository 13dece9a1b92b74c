"""The backup-code lifecycle through the use cases, on a real SQLite store."""

from __future__ import annotations

import pytest

from sparekey.core.clock import FrozenClock
from sparekey.core.deps import Deps
from sparekey.core.errors import (
    CodeAlreadyUsed,
    CodeFromReplacedSet,
    CodeTypo,
    InvalidCode,
    InvalidCredentials,
    SudoRequired,
    TwoFactorDisabled,
)
from sparekey.core.events import EventType
from sparekey.core.factors import backup_codes as mechanics
from sparekey.core.flows import backup_codes, history, sign_in, sudo, totp_enrolment, two_factor
from sparekey.core.models import Client
from tests.conftest import Argon2Runs, Person, current_for

HOME = Client(ip="198.51.100.7", user_agent="pytest")


def flow_for(deps: Deps, person: Person) -> str:
    result = sign_in.start(deps, username=person.username, password=person.password, client=HOME)
    assert isinstance(result, sign_in.SecondFactorRequired)
    return result.flow.id


def sudo_current(deps: Deps, person: Person):  # type: ignore[no-untyped-def]
    current = current_for(deps, person)
    assert person.backup_codes
    deps.clock.advance(30)  # type: ignore[attr-defined]
    from tests.conftest import totp_now

    sudo.enter(
        deps,
        current,
        password=person.password,
        code=totp_now(deps, person),
        client=HOME,  # type: ignore[arg-type]
        rotate_token=False,
    )
    return current


def test_first_factor_issues_set_one(deps: Deps, person_with_totp: Person) -> None:
    codes = person_with_totp.backup_codes
    assert codes is not None and len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        canonical = mechanics.normalise(code)
        assert canonical is not None and mechanics.check_character_ok(canonical)
    status = backup_codes.require_status(deps, person_with_totp.id)
    assert (status.set_number, status.total, status.remaining, status.confirmed) == (1, 10, 10, False)


def test_only_hashes_are_stored(deps: Deps, person_with_totp: Person) -> None:
    with deps.store.transaction() as tx:
        current = tx.backup_codes.current_set(person_with_totp.id)
        assert current is not None
        stored = tx.backup_codes.codes([current.id])
    assert person_with_totp.backup_codes
    plain = {mechanics.normalise(c).encode() for c in person_with_totp.backup_codes}  # type: ignore[union-attr]
    for row in stored:
        assert len(row.code_hash) == 32 and row.code_hash not in plain
        assert not any(p in row.code_hash for p in plain)


def test_sign_in_with_backup_code_forgiving_input(deps: Deps, person_with_totp: Person) -> None:
    assert person_with_totp.backup_codes
    code = person_with_totp.backup_codes[2]
    wide_lower = "".join(chr(ord(c.lower()) + 0xFEE0) if c != "-" else "－" for c in code)
    done = sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=wide_lower, client=HOME)
    assert done.method_used == "backup_code"
    assert {"code": "backup_code_used", "remaining": 9} in done.notices
    used = [
        e for e in history.recent_events(deps, person_with_totp.id) if e.type == EventType.BACKUP_CODE_USED
    ][0]
    assert used.data == {
        "position": 3,
        "set_number": 1,
        "remaining": 9,
        "ip": HOME.ip,
        "user_agent": HOME.user_agent,
        "purpose": "sign_in",
    }
    status = backup_codes.require_status(deps, person_with_totp.id)
    assert status.remaining == 9 and [u.position for u in status.used] == [3]
    assert status.used[0].ip == HOME.ip


def test_used_code_says_when(deps: Deps, person_with_totp: Person, clock: FrozenClock) -> None:
    assert person_with_totp.backup_codes
    code = person_with_totp.backup_codes[0]
    used_at = clock.now()
    sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=code, client=HOME)
    clock.advance(3600)
    with pytest.raises(CodeAlreadyUsed) as caught:
        sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=code, client=HOME)
    assert caught.value.details == {"used_at": used_at}


def with_wrong_check_character(code: str) -> str:
    """``code`` (any form) in canonical form with its last symbol, the check character, changed."""
    canonical = mechanics.normalise(code)
    assert canonical is not None
    return canonical[:-1] + next(ch for ch in mechanics.ALPHABET if ch != canonical[-1])


def test_typo_costs_no_derivation_but_counts(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs
) -> None:
    """A mistyped backup code is caught by its check character before any argon2 run (so typing
    garbage costs the server nothing), yet it is a counted attempt like any other."""
    assert person_with_totp.backup_codes
    code = mechanics.normalise(person_with_totp.backup_codes[0])
    assert code is not None
    typo = code[:3] + next(ch for ch in mechanics.ALPHABET if ch != code[3]) + code[4:]
    flow_id = flow_for(deps, person_with_totp)
    for attempt, wrong in enumerate([typo, with_wrong_check_character(code)], start=1):
        argon2_runs.reset()
        with pytest.raises(CodeTypo):
            sign_in.submit_code(deps, flow_id=flow_id, code=wrong, client=HOME)
        assert argon2_runs.take() == {}
        flow, _, _ = sign_in.live_flow(deps, flow_id)
        assert flow.attempts == attempt


@pytest.mark.parametrize("replaced_sets", [0, 1, 4])
def test_one_derivation_per_attempt_whatever_the_sets(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs, replaced_sets: int
) -> None:
    """Checking a backup code costs exactly ONE argon2 run, however many sets are recognised
    (one salt per account: the derived value is compared with every stored hash), whether the
    code matches nothing, a replaced set, a set too old to be recognised, or the current one."""
    current = sudo_current(deps, person_with_totp)
    assert person_with_totp.backup_codes
    sheets: list[list[str]] = [person_with_totp.backup_codes]
    for _ in range(replaced_sets):
        sheets.append(backup_codes.regenerate(deps, current, HOME).codes)
    attempts: list[tuple[str, type[Exception]]] = [
        (mechanics.generate_code(), InvalidCode),  # well-formed, matches nothing in any set
    ]
    if replaced_sets >= 1:
        attempts.append((sheets[-2][1], CodeFromReplacedSet))
    if replaced_sets >= 4:
        attempts.append((sheets[1][1], CodeFromReplacedSet))  # the oldest set still recognised
        attempts.append((sheets[0][1], InvalidCode))  # four sets ago: no longer recognised
    for code, error in attempts:
        flow_id = flow_for(deps, person_with_totp)  # the password step is not what is measured
        argon2_runs.reset()
        with pytest.raises(error):
            sign_in.submit_code(deps, flow_id=flow_id, code=code, client=HOME)
        assert argon2_runs.take() == {"argon2_hash": 1}, (code, error)
    flow_id = flow_for(deps, person_with_totp)
    argon2_runs.reset()
    done = sign_in.submit_code(deps, flow_id=flow_id, code=sheets[-1][0], client=HOME)
    assert done.method_used == "backup_code"
    assert argon2_runs.take() == {"argon2_hash": 1}


def test_regenerate_needs_sudo_and_old_codes_explain_themselves(
    deps: Deps, person_with_totp: Person, clock: FrozenClock
) -> None:
    with pytest.raises(SudoRequired):
        backup_codes.regenerate(deps, current_for(deps, person_with_totp), HOME)  # type: ignore[arg-type]
    current = sudo_current(deps, person_with_totp)
    replaced_at = clock.now()
    new = backup_codes.regenerate(deps, current, HOME)
    assert new.set_number == 2
    assert person_with_totp.backup_codes
    with pytest.raises(CodeFromReplacedSet) as caught:
        sign_in.submit_code(
            deps, flow_id=flow_for(deps, person_with_totp), code=person_with_totp.backup_codes[5], client=HOME
        )
    assert caught.value.details == {"set_number": 1, "replaced_at": replaced_at}
    done = sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=new.codes[0], client=HOME)
    assert done.method_used == "backup_code"
    generated = [
        e.data["set_number"]
        for e in history.recent_events(deps, person_with_totp.id)
        if e.type == EventType.BACKUP_CODES_GENERATED
    ]
    assert generated == [2, 1]


def test_only_the_last_three_replaced_sets_are_recognised(deps: Deps, person_with_totp: Person) -> None:
    current = sudo_current(deps, person_with_totp)
    sheets = [person_with_totp.backup_codes]
    for _ in range(4):
        sheets.append(backup_codes.regenerate(deps, current, HOME).codes)
    # Set #1 is four sets ago: no longer recognised. Set #2 still is.
    with pytest.raises(InvalidCode):
        sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=sheets[0][0], client=HOME)  # type: ignore[index]
    with pytest.raises(CodeFromReplacedSet):
        sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=sheets[1][0], client=HOME)  # type: ignore[index]


def test_regeneration_failing_half_way_leaves_the_old_set(
    deps: Deps, person_with_totp: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparekey.store.sql import SqlBackupCodes

    current = sudo_current(deps, person_with_totp)

    def crash(self, code_set, hashes):  # type: ignore[no-untyped-def]
        raise RuntimeError("power cut between ending the old set and adding the new one")

    monkeypatch.setattr(SqlBackupCodes, "add_set", crash)
    with pytest.raises(RuntimeError):
        backup_codes.regenerate(deps, current, HOME)
    monkeypatch.undo()
    status = backup_codes.require_status(deps, person_with_totp.id)
    assert status.set_number == 1
    assert person_with_totp.backup_codes
    done = sign_in.submit_code(
        deps, flow_id=flow_for(deps, person_with_totp), code=person_with_totp.backup_codes[9], client=HOME
    )
    assert done.method_used == "backup_code"


def test_low_notice_at_three_left(deps: Deps, person_with_totp: Person) -> None:
    assert person_with_totp.backup_codes
    for code in person_with_totp.backup_codes[:7]:
        done = sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=code, client=HOME)
    assert {"code": "backup_codes_low", "remaining": 3} in done.notices


def test_confirm_saved_sheet_does_not_use_the_code(deps: Deps, person_with_totp: Person) -> None:
    assert person_with_totp.backup_codes
    account = current_for(deps, person_with_totp).account  # type: ignore[attr-defined]
    with pytest.raises(InvalidCode):
        backup_codes.confirm_saved(deps, account, position=7, code=person_with_totp.backup_codes[5])
    backup_codes.confirm_saved(deps, account, position=7, code=person_with_totp.backup_codes[6].lower())
    status = backup_codes.require_status(deps, person_with_totp.id)
    assert status.confirmed and status.remaining == 10


@pytest.mark.parametrize("typed", ["right", "another position's", "wrong check character"])
def test_confirming_the_saved_sheet_costs_one_derivation_at_most(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs, typed: str
) -> None:
    """ "I saved them" costs one argon2 run for a well-formed code, right or wrong, and none at
    all for a code whose check character shows a typo."""
    codes = person_with_totp.backup_codes
    assert codes
    account = current_for(deps, person_with_totp).account  # type: ignore[attr-defined]
    code = {
        "right": codes[6],
        "another position's": codes[5],
        "wrong check character": with_wrong_check_character(codes[6]),
    }[typed]
    argon2_runs.reset()
    if typed == "right":
        backup_codes.confirm_saved(deps, account, position=7, code=code)
        assert argon2_runs.take() == {"argon2_hash": 1}
        assert backup_codes.require_status(deps, person_with_totp.id).confirmed
        return
    with pytest.raises(InvalidCode):
        backup_codes.confirm_saved(deps, account, position=7, code=code)
    assert argon2_runs.take() == ({} if typed == "wrong check character" else {"argon2_hash": 1})
    assert not backup_codes.require_status(deps, person_with_totp.id).confirmed


# Sudo mode: what confirming your identity costs ------------------------------------------------


def test_sudo_with_the_password_alone_is_one_verify(
    deps: Deps, person: Person, argon2_runs: Argon2Runs
) -> None:
    """Without a second factor, the password alone enters sudo mode: one argon2 verification."""
    current = current_for(deps, person)
    argon2_runs.reset()
    sudo.enter(deps, current, password=person.password, code=None, client=HOME, rotate_token=False)  # type: ignore[arg-type]
    assert argon2_runs.take() == {"argon2_verify": 1}


def test_sudo_with_password_and_backup_code_is_one_verify_and_one_derivation(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs
) -> None:
    """Password and a backup code: one password verification and one code derivation, and the
    code is used up like at sign-in."""
    assert person_with_totp.backup_codes
    current = current_for(deps, person_with_totp)
    argon2_runs.reset()
    sudo.enter(
        deps,
        current,  # type: ignore[arg-type]
        password=person_with_totp.password,
        code=person_with_totp.backup_codes[0],
        client=HOME,
        rotate_token=False,
    )
    assert argon2_runs.take() == {"argon2_verify": 1, "argon2_hash": 1}
    assert backup_codes.require_status(deps, person_with_totp.id).remaining == 9


def test_sudo_with_a_wrong_password_derives_no_code(
    deps: Deps, person_with_totp: Person, argon2_runs: Argon2Runs
) -> None:
    """A wrong password stops sudo before the code: one verification, no derivation, and the
    backup code sent along is neither checked nor used up."""
    assert person_with_totp.backup_codes
    current = current_for(deps, person_with_totp)
    argon2_runs.reset()
    with pytest.raises(InvalidCredentials):
        sudo.enter(
            deps,
            current,  # type: ignore[arg-type]
            password="not the password",
            code=person_with_totp.backup_codes[0],
            client=HOME,
            rotate_token=False,
        )
    assert argon2_runs.take() == {"argon2_verify": 1}
    assert backup_codes.require_status(deps, person_with_totp.id).remaining == 10


def test_two_factor_off_ends_codes_and_on_again_issues_the_next_set(
    deps: Deps, person_with_totp: Person
) -> None:
    current = sudo_current(deps, person_with_totp)
    two_factor.disable(deps, current, HOME)
    with pytest.raises(TwoFactorDisabled):
        backup_codes.require_status(deps, person_with_totp.id)
    result = sign_in.start(
        deps, username=person_with_totp.username, password=person_with_totp.password, client=HOME
    )
    assert isinstance(result, sign_in.Authenticated)  # no second factor any more
    from tests.conftest import totp_now

    fresh = current_for(deps, Person(username=person_with_totp.username, password=person_with_totp.password))
    enrolment = totp_enrolment.begin(deps, fresh, name="new phone")  # type: ignore[arg-type]
    person_with_totp.totp_secret = enrolment.secret
    confirmed = totp_enrolment.confirm(
        deps,
        fresh,
        enrolment.authenticator.id,  # type: ignore[arg-type]
        code=totp_now(deps, person_with_totp),
        client=HOME,
    )
    assert confirmed.backup_codes is not None and confirmed.backup_codes.set_number == 2


def test_removing_the_last_factor_ends_the_codes(deps: Deps, person_with_totp: Person) -> None:
    current = sudo_current(deps, person_with_totp)
    assert person_with_totp.authenticator_id
    totp_enrolment.remove(deps, current, person_with_totp.authenticator_id, client=HOME)
    with pytest.raises(TwoFactorDisabled):
        backup_codes.require_status(deps, person_with_totp.id)
    assert not two_factor.overview(deps, person_with_totp.id).account.two_factor_enabled


def test_a_new_set_does_not_reset_the_failure_count(deps: Deps, person_with_totp: Person) -> None:
    from sparekey.core.errors import RateLimited

    current = sudo_current(deps, person_with_totp)
    flow_id = flow_for(deps, person_with_totp)
    for attempt in range(9):
        if attempt == 5:
            flow_id = flow_for(deps, person_with_totp)
        with pytest.raises(InvalidCode):
            sign_in.submit_code(deps, flow_id=flow_id, code=mechanics.generate_code(), client=HOME)
    new = backup_codes.regenerate(deps, current, HOME)
    with pytest.raises(InvalidCode):  # the tenth failure in a row, new sheet or not
        sign_in.submit_code(deps, flow_id=flow_id, code=mechanics.generate_code(), client=HOME)
    with pytest.raises(RateLimited):
        sign_in.submit_code(deps, flow_id=flow_for(deps, person_with_totp), code=new.codes[0], client=HOME)
