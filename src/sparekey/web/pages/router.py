"""Page routes: the HTML face of the same use cases the API calls."""

from __future__ import annotations

from fastapi import APIRouter

from sparekey.web.pages import auth, backup_codes, contacts, keys, security

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(security.router)
router.include_router(backup_codes.router)
router.include_router(contacts.router)
router.include_router(keys.router)
