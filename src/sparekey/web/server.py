"""``sparekey serve``: one or several server processes on one port.

The parent prepares once what every process shares (``prepare``: the configuration
checked, the encryption key generated on a first start, the migrations applied), then
uvicorn (httptools, uvloop) serves. With ``--workers N`` above 1 the parent binds the
port and supervises N worker processes, each of which imports this module and calls
``app_from_environment`` to build its own application from the same environment; the
kernel hands each new connection to one of them. A worker that dies is replaced; SIGTERM
or SIGINT stops them all.

Every process keeps only what may differ between them in memory (connection pools,
caches of immutable data); flows, replay guards, rate limits and sudo live in the
database (or Redis), so N processes behave as one (docs/architecture.md, "Serving stack").
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from sparekey.settings import Settings, load_settings

FACTORY = f"{__name__}:app_from_environment"
LOOP = "uvloop"
HTTP = "httptools"


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # readiness checks would log each probe


def prepare(settings: Settings) -> None:
    """Check the configuration by building the use cases, create the key on a first start
    and bring the schema up to date: once, before any worker starts. Raises ``ConfigError``."""
    from sparekey.bootstrap import build_deps
    from sparekey.store.migrate import upgrade

    deps = build_deps(settings)
    engine = deps.store.engine  # type: ignore[attr-defined]
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # workers open their own connections


def app_from_environment() -> FastAPI:
    """The application of one worker process, from the environment's settings; the
    parent has migrated already."""
    from sparekey.web.app import create_app

    configure_logging()
    return create_app(load_settings(), migrate=False)


def run(*, host: str, port: int, workers: int) -> None:
    """Serve until SIGTERM or SIGINT. The application is built in each worker, by import
    string, so that one process and N processes run the same code."""
    import uvicorn

    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop=LOOP,
        http=HTTP,
        # Forwarded headers are read by sparekey itself, only from SPAREKEY_TRUSTED_PROXIES.
        proxy_headers=False,
        server_header=False,
        log_level="warning",
    )
