"""The FastAPI application: `create_app(settings)`; `app_from_env()` for `uvicorn --factory`."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rplnav import __version__
from rplnav.service import api, cds, errors, web
from rplnav.service.config import Settings
from rplnav.service.core import Core
from rplnav.service.server import install_log_filter

log = logging.getLogger("rplnav.service")
STATIC = Path(__file__).parent / "static"
INSECURE_HEADER = "X-RPLNav-Insecure-Dev"
INSECURE_TEXT = "JWT verification is OFF (--insecure-dev); never use with patient data"


class InsecureDevHeader:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg.setdefault("headers", [])
                msg["headers"] = list(msg["headers"]) + [(INSECURE_HEADER.lower().encode(), INSECURE_TEXT.encode())]
            await send(msg)

        await self.app(scope, receive, send_with_header)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    core = Core(settings)
    install_log_filter()  # also under `uvicorn --factory`: no query strings (tokens) in the access log

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.insecure_dev:
            log.warning("RPL Navigator: %s", INSECURE_TEXT)
        elif not settings.cds_clients:
            log.warning("RPL Navigator: no trusted CDS clients configured (RPLNAV_CDS_CLIENTS[_FILE]); "
                        "every CDS Hooks call will get 401")
        # The knowledge base and engine (~100k long-lived objects) are built: move them out of the collector's
        # reach so full collections, triggered by each assessment's allocations, stop re-scanning them
        # (a 30-100 ms pause every ~1000 requests otherwise). Unfrozen at shutdown, so an app that is stopped
        # (tests start many) can still be collected.
        gc.collect()
        gc.freeze()
        try:
            async with httpx.AsyncClient(follow_redirects=False) as http:
                app.state.http = http
                yield
        finally:
            gc.unfreeze()
        core.audit.close()

    app = FastAPI(
        title="RPL Navigator",
        version=__version__,
        description="Cited, guideline-by-guideline decision support for recurrent pregnancy loss: REST API, "
                    "CDS Hooks 2.0 services and a web app. For clinicians; not a prescription.",
        lifespan=lifespan,
    )
    app.state.core = core
    app.state.http = None
    errors.install(app)
    app.include_router(api.router)
    app.include_router(cds.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.insecure_dev:
        app.add_middleware(InsecureDevHeader)
    if settings.cors_origins:  # off unless RPLNAV_CORS_ORIGINS names the browser origins (EHR apps) to allow
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept"], expose_headers=[INSECURE_HEADER],
            max_age=600,
        )
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())
