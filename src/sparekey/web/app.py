"""``create_app``: wires settings, storage and use cases into one FastAPI application."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from sparekey import __version__
from sparekey.core.clock import Clock
from sparekey.delivery.worker import DeliveryWorker
from sparekey.embedded import Sparekey
from sparekey.settings import Settings
from sparekey.store.migrate import is_current, upgrade
from sparekey.web import errors
from sparekey.web.api import auth, contacts, devices, drill, keys, me, preferences, secure
from sparekey.web.api import forward_auth as forward_auth_api
from sparekey.web.api import oidc as oidc_api
from sparekey.web.api import organisations as organisations_api
from sparekey.web.api import recovery as recovery_api
from sparekey.web.api import recovery_contacts as recovery_contacts_api
from sparekey.web.api import support as support_api
from sparekey.web.middleware import BodyLimit, CrossSiteGuard, HeadAsGet, SecurityHeaders
from sparekey.web.pages import router as pages
from sparekey.web.pages.rendering import CsrfFailed, csrf_failed
from sparekey.web.proxies import TrustedProxies
from sparekey.web.return_to import FormTargets, ReturnTargets

log = logging.getLogger("sparekey")
STATIC = Path(__file__).with_name("static")


def create_app(settings: Settings, *, clock: Clock | None = None, migrate: bool = False) -> FastAPI:
    deps = Sparekey.from_settings(settings, clock=clock).deps  # the embedding API's own builder
    if migrate:
        upgrade(deps.store.engine)  # type: ignore[attr-defined]

    # Sends what is due from start-up to shutdown: retries, and messages queued before a stop.
    worker = DeliveryWorker(
        deps, interval_seconds=settings.delivery_interval_seconds, jobs_seconds=settings.jobs_interval_seconds
    )
    app = FastAPI(
        title="sparekey", version=__version__, docs_url=None, redoc_url=None, lifespan=worker.lifespan
    )
    app.state.settings = settings
    app.state.deps = deps
    app.state.delivery_worker = worker
    app.state.return_targets = ReturnTargets(settings.public_url, settings.allowed_return_hosts)
    app.state.form_targets = FormTargets(app.state.return_targets.csp_sources())
    errors.install(app)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.include_router(auth.router)
    app.include_router(me.router)
    app.include_router(contacts.router)
    app.include_router(keys.router)
    app.include_router(devices.router)
    app.include_router(preferences.router)
    app.include_router(secure.router)
    app.include_router(drill.router)
    app.include_router(recovery_api.router)
    app.include_router(support_api.router)
    app.include_router(organisations_api.router)
    app.include_router(recovery_contacts_api.router)
    forward_auth_api.install(app)  # GET /api/v1/forward-auth, answered before routing
    oidc_api.install(app)  # the OpenID Connect provider: its routes and its redirect URIs in form-action
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            deps.store.ping()
            checks["database"] = "ok" if is_current(deps.store.engine) else "migrations pending"  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            checks["database"] = "unreachable"
        if settings.redis_url:
            try:
                checks["redis"] = "ok" if deps.addresses.ping() else "unreachable"  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001
                checks["redis"] = "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    # Added innermost first: a request meets TrustedProxies, SecurityHeaders, BodyLimit,
    # CrossSiteGuard, HeadAsGet, then the routes.
    app.add_middleware(HeadAsGet)
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, form_targets=app.state.form_targets)
    app.add_middleware(TrustedProxies, networks=settings.trusted_proxies)
    return app
