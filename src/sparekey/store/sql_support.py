"""Repositories of the support console: staff roles and the recovery audit trail."""

from __future__ import annotations

from sparekey.store.repo import _Repo


class SqlRoles(_Repo):
    pass


class SqlRecoveryActions(_Repo):
    pass
