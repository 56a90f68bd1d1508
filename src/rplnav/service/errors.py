"""Errors as RFC 9457 `application/problem+json`, every problem with its field path; never a 500 for input.

A catch-all turns anything a request can provoke into a 4xx: malformed JSON or YAML (400), bodies over the
limit (413), unsupported media types (415), invalid patients (422, one entry per problem). An unexpected
exception still gets a problem+json body with an incident id (logged), never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rplnav.patient import InputError
from rplnav.problems import Problem

log = logging.getLogger("rplnav.service")
PROBLEM = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "problems": {"type": "array", "items": {
            "type": "object", "required": ["message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"},
                           "hint": {"type": "string"}}}},
    },
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"description": HTTPStatus(c).phrase, "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}}}
            for c in codes}


def problem(status: int, title: str | None = None, detail: str | None = None,
            problems: list[Problem] | list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    if problems is not None:
        body["problems"] = [p.as_body() if isinstance(p, Problem) else p for p in problems]
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class ClientError(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, problems: list[Any] | None = None):
        super().__init__(title)
        self.status, self.title, self.detail, self.problems = status, title, detail, problems


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ClientError)
    async def _client(_: Request, e: ClientError) -> JSONResponse:
        return problem(e.status, e.title, e.detail, e.problems)

    @app.exception_handler(InputError)
    async def _input(_: Request, e: InputError) -> JSONResponse:
        return problem(422, "Invalid patient input", f"{len(e.items)} problem(s) in the input", e.items)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        items = [{"field": _loc(tuple(err.get("loc", ()))), "message": str(err.get("msg", ""))} for err in e.errors()]
        return problem(422, "Invalid request", None, items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return problem(e.status_code, None, e.detail if isinstance(e.detail, str) else None,
                       headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", incident, request.method, request.url.path)
        return problem(500, "Internal error", f"incident {incident}; the input was not the cause, please report")


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies over the limit, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    if int(v) > self.max_bytes:
                        await self._reject(scope, receive, send)
                        return
                except ValueError:
                    pass
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = problem(413, "Request body too large", f"the limit is {self.max_bytes} bytes")
        await resp(scope, receive, send)
