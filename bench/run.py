"""Run every benchmark once: ``.venv/bin/python -m bench`` from the repository root;
``.venv/bin/python -m bench contention`` (or any of ``NAMES``) runs only those named.

Speed is measured, never asserted: each line compares sparekey with the bare argon2id work
it cannot avoid (the passkey line, which has none, with the password+TOTP sign-in), both timed
in this run, interleaved (A, B, A, B, ...), as medians.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bench.common import PARAMS, build, line
from bench.contention import sign_ins_beside_enrolments
from bench.forward_auth import forward_auth_over_http
from bench.sign_in import backup_code_step, password_and_totp
from bench.sms import password_and_sms
from bench.workers import workers_over_http

ROUNDS = 50


NAMES = ("sign_in", "sms", "passkey", "http", "contention", "forward_auth", "workers")


def main(argv: list[str] | None = None) -> None:
    chosen = set(sys.argv[1:] if argv is None else argv) or set(NAMES)
    if unknown := chosen - set(NAMES):
        raise SystemExit(f"unknown benchmark {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    started = time.perf_counter()
    print(
        f"sparekey benchmarks: medians of {ROUNDS} interleaved rounds per side\n"
        f"argon2id m={PARAMS.memory_cost} KiB t={PARAMS.time_cost} p={PARAMS.parallelism} "
        f"(argon2-cffi {version('argon2-cffi')}), SQLite in a temporary directory, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s)\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="sparekey-bench-") as directory:
        root = Path(directory)
        for name in ("core", "http", "contention"):
            (root / name).mkdir()
        deps = build(root / "core")
        if "sign_in" in chosen:
            password_and_totp(deps, ROUNDS)
            backup_code_step(deps, replaced_sets=1, rounds=ROUNDS)
            backup_code_step(deps, replaced_sets=4, rounds=ROUNDS)
        if "sms" in chosen:
            password_and_sms(deps, ROUNDS)
        if "passkey" in chosen:
            try:  # the software authenticator (tests/) needs cbor2, a test extra
                from bench.passkey import passkey_sign_in
            except ImportError as error:
                line("e) sign-in passkey (use cases)", f"skipped: {error}")
            else:
                passkey_sign_in(deps, ROUNDS)
        if "http" in chosen:
            try:  # TestClient needs the test extras, which scripts/test installs
                from bench.http import sign_in_over_http
            except ImportError as error:
                line("c) sign-in password+TOTP over HTTP", f"skipped: {error}")
            else:
                sign_in_over_http(root / "http", ROUNDS)
        if "contention" in chosen:  # a database of its own: the others' accounts stay out of it
            sign_ins_beside_enrolments(build(root / "contention"))
        if "forward_auth" in chosen:  # server processes of their own, on a database of their own
            (root / "forward_auth").mkdir()
            forward_auth_over_http(root / "forward_auth")
        if "workers" in chosen:  # sparekey serve --workers 2 and the stacks it was chosen against
            (root / "workers").mkdir()
            workers_over_http(root / "workers")
    print(f"\n(done in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
