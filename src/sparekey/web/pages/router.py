"""Page routes: the HTML face of the same use cases the API calls."""

from __future__ import annotations

from fastapi import APIRouter

from sparekey.web.pages import (
    auth,
    backup_codes,
    change_phone,
    contacts,
    drill,
    keys,
    organisations,
    recovery_contacts,
    secure,
    security,
    support,
)
from sparekey.web.pages import recovery as recovery_pages

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(security.router)
router.include_router(backup_codes.router)
router.include_router(contacts.router)
router.include_router(keys.router)
router.include_router(secure.router)
router.include_router(drill.router)
router.include_router(change_phone.router)
router.include_router(recovery_pages.router)
router.include_router(support.router)
router.include_router(organisations.router)
router.include_router(recovery_contacts.router)
