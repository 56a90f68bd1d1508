"""The FastAPI application: `create_app(settings)`; `app_from_env()` for `uvicorn --factory`."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rplnav import __version__
from rplnav.collector import Pacer, pace_for_a_warm_engine
from rplnav.service import api, cds, errors, web
from rplnav.service.access import TrustedProxy
from rplnav.service.config import Settings
from rplnav.service.core import Service
from rplnav.service.server import install_log_filter

log = logging.getLogger("rplnav.service")
STATIC = Path(__file__).parent / "static"
SWAGGER = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5 (OpenAPI 3.1) shipped as package data
INSECURE_HEADER = "X-RPLNav-Insecure-Dev"
INSECURE_TEXT = "JWT verification is OFF (--insecure-dev); never use with patient data"


# No network assets, no inline script, no framing, no referrer: the pages hold clinical reports.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>RPL Navigator API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script></body></html>"""


class CollectAfterEachRequest:
    """Pure ASGI middleware: the paced collector (rplnav.collector) runs once a request has been answered, on the
    event loop's next turn, when what the request and the server's frames around it held is garbage rather than
    live (a collection still inside the request would freeze it)."""

    def __init__(self, app: ASGIApp, pacer: Pacer) -> None:
        self.app, self.pacer = app, pacer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                asyncio.get_running_loop().call_soon(self.pacer.after_unit)


class AddHeaders:
    """Adds headers to every response (HTML pages, the PDF, JSON), unless a route set its own."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]):
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = list(msg.get("headers", [])) + [(k, v) for k, v in self.headers if k not in have]
            await send(msg)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    pacer = pace_for_a_warm_engine()  # a long-running engine: see rplnav.collector
    core = Service(settings)
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
        docs_url=None,  # served below from local files (Swagger UI was loaded from a public CDN)
        redoc_url=None,
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    app.state.core = core
    app.state.http = None
    errors.install(app)
    app.include_router(api.router)
    app.include_router(cds.router)
    app.include_router(web.router)
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(errors.BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AddHeaders, headers=SECURITY_HEADERS)
    if settings.insecure_dev:
        app.add_middleware(AddHeaders, headers=[(INSECURE_HEADER.lower().encode(), INSECURE_TEXT.encode())])
    if settings.cors_origins:  # off unless RPLNAV_CORS_ORIGINS names the browser origins (EHR apps) to allow
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept"], expose_headers=[INSECURE_HEADER],
            max_age=600,
        )
    if settings.forwarded_allow_ips:  # X-Forwarded-* and the user header only from these proxies
        app.add_middleware(TrustedProxy, trusted_hosts=settings.forwarded_allow_ips)
    app.add_middleware(CollectAfterEachRequest, pacer=pacer)  # outermost: runs when the whole request is done
    app.state.pacer = pacer
    return app


def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())
