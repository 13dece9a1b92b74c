"""Repository of recovery contacts and the asks made of them."""

from __future__ import annotations

from sparekey.store.repo import _Repo


class SqlRecoveryContacts(_Repo):
    pass
