"""Encryption key rotation: move every stored secret to the current key."""

from __future__ import annotations

from sparekey.core.deps import Deps


def reencrypt_secrets(deps: Deps) -> int:
    """Re-encrypt each authenticator secret not yet under the current key; returns how many.

    After this, keys other than the current one can be removed from the configuration.
    """
    moved = 0
    with deps.store.transaction() as tx:
        for authenticator_id, secret_enc in tx.authenticators.all_secrets():
            if deps.box.needs_reencryption(secret_enc):
                aad = authenticator_id.encode()
                tx.authenticators.set_secret(authenticator_id, deps.box.reencrypt(secret_enc, aad=aad))
                moved += 1
    return moved
