"""Repository of organisations, their members and invitations."""

from __future__ import annotations

from sparekey.store.repo import _Repo


class SqlOrganisations(_Repo):
    pass
