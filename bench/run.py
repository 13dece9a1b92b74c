"""Run every benchmark once: ``.venv/bin/python -m bench`` from the repository root.

Speed is measured, never asserted: each line compares sparekey with the bare argon2id work
it cannot avoid (the passkey line, which has none, with the password+TOTP sign-in), both timed
in this run, interleaved (A, B, A, B, ...), as medians.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from bench.common import PARAMS, build, line
from bench.sign_in import backup_code_step, password_and_totp
from bench.sms import password_and_sms

ROUNDS = 50


def main() -> None:
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
        (root / "core").mkdir()
        (root / "http").mkdir()
        deps = build(root / "core")
        password_and_totp(deps, ROUNDS)
        backup_code_step(deps, replaced_sets=1, rounds=ROUNDS)
        backup_code_step(deps, replaced_sets=4, rounds=ROUNDS)
        password_and_sms(deps, ROUNDS)
        try:  # the software authenticator (tests/) needs cbor2, a test extra
            from bench.passkey import passkey_sign_in
        except ImportError as error:
            line("e) sign-in passkey (use cases)", f"skipped: {error}")
        else:
            passkey_sign_in(deps, ROUNDS)
        try:  # TestClient needs the test extras, which scripts/test installs
            from bench.http import sign_in_over_http
        except ImportError as error:
            line("c) sign-in password+TOTP over HTTP", f"skipped: {error}")
        else:
            sign_in_over_http(root / "http", ROUNDS)
    print(f"\n(done in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
