"""``sparekey client add|list|remove`` and ``sparekey keys rotate-signing``, as the operator runs
them (a real ``sparekey`` process) beside a running application on the same database: a new
client works at once, without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from sparekey.core.clock import FrozenClock
from sparekey.oidc import clients
from sparekey.oidc.records import Client
from tests.conftest import TEST_KEYS
from tests.oidc.conftest import REDIRECT, Person, RelyingParty


def sparekey(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPAREKEY_")}
    environment.update(SPAREKEY_DATA_DIR=str(data_dir), SPAREKEY_ENCRYPTION_KEYS=TEST_KEYS)
    return subprocess.run(
        [sys.executable, "-m", "sparekey", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_client_add_list_remove(http: TestClient, tmp_path: Path, alice: Person, clock: FrozenClock) -> None:
    added = sparekey(tmp_path, "client", "add", "--name", "Wiki", "--redirect-uri", REDIRECT)
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)  # one JSON object, nothing else on stdout
    assert set(made) == {"client_id", "client_secret", "name", "redirect_uris", "public", "created_at"}
    assert made["redirect_uris"] == [REDIRECT] and made["public"] is False

    # The running application knows it at once.
    record = Client(made["client_id"], "Wiki", (REDIRECT,), clock.now())
    rp = RelyingParty(http, clients.Registered(record, made["client_secret"]))
    pending = rp.request()
    token = rp.redeem(rp.code(pending), pending.verifier)
    assert token.status_code == 200, token.text

    public = json.loads(
        sparekey(tmp_path, "client", "add", "--name", "App", "--redirect-uri", "http://127.0.0.1:5000/cb",
                 "--redirect-uri", "http://[::1]:5000/cb", "--public").stdout
    )  # fmt: skip
    assert "client_secret" not in public and public["public"] is True and len(public["redirect_uris"]) == 2

    listed = sparekey(tmp_path, "client", "list")
    assert listed.returncode == 0
    assert [(c["client_id"], c["name"]) for c in json.loads(listed.stdout)] == [
        (made["client_id"], "Wiki"),
        (public["client_id"], "App"),
    ]
    assert "client_secret" not in listed.stdout and made["client_secret"] not in listed.stdout

    removed = sparekey(tmp_path, "client", "remove", made["client_id"])
    assert removed.returncode == 0 and json.loads(removed.stdout) == {"removed": made["client_id"]}
    assert rp.userinfo(token.json()["access_token"]).status_code == 401
    assert rp.authorize(rp.request()).status_code == 400
    again = sparekey(tmp_path, "client", "remove", made["client_id"])
    assert again.returncode == 1 and again.stdout == "" and "no client" in again.stderr


def test_client_add_refuses_what_it_cannot_register(tmp_path: Path) -> None:
    assert sparekey(tmp_path, "migrate").returncode == 0
    bad = sparekey(
        tmp_path, "client", "add", "--name", "Wiki", "--redirect-uri", "http://wiki.example.com/cb"
    )
    assert bad.returncode == 1 and bad.stdout == "" and "https://" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = sparekey(tmp_path, "client", "add", "--name", "Wiki")
    assert missing.returncode == 2 and missing.stdout == ""
    assert json.loads(sparekey(tmp_path, "client", "list").stdout) == []


def test_keys_rotate_signing(http: TestClient, tmp_path: Path) -> None:
    first = http.get("/oauth/jwks").json()["keys"][0]["kid"]
    rotated = sparekey(tmp_path, "keys", "rotate-signing")
    assert rotated.returncode == 0, rotated.stderr
    done = json.loads(rotated.stdout)
    assert done["kid"] != first and [r["kid"] for r in done["retired"]] == [first]
    assert done["retired"][0]["published_until"]
    assert {k["kid"] for k in http.get("/oauth/jwks").json()["keys"]} == {first, done["kid"]}
