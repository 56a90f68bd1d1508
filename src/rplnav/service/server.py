"""How `rplnav serve` runs uvicorn: bounded request heads, a header-read timeout, no secrets in the access log.

- h11 (not httptools, which reads a header of any size): a request line plus headers over `max_header_bytes`
  is refused with 400 before the application sees it.
- A client must finish sending its request line and headers within `header_timeout` seconds of starting
  (or of connecting); otherwise the connection is closed. uvicorn itself has no such timer, so one slow
  client could hold a connection open for ever.
- Forwarded headers (X-Forwarded-For/-Proto) are honoured only from the proxies listed in
  `forwarded_allow_ips` (none by default; uvicorn's own default trusts 127.0.0.1). The application does that
  itself (access.TrustedProxy), because it must also know whether the connection came from such a proxy
  before the client address is rewritten: only then is the proxy's user header believed.
- The access log never shows a query string (a token sent as `?access_token=...` would be written in full).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
MAX_HEADER_BYTES = 16 * 1024


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            if self._head_timer is None:
                self._arm()  # a new request has begun arriving: its head has `header_timeout` seconds
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()  # type: ignore[union-attr]
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.warning("closing a connection whose request head took over %.0f s", self.header_timeout)
            self.transport.close()


class NoQueryInAccessLog(logging.Filter):
    """Drops the query string from uvicorn's access-log lines (args: client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, NoQueryInAccessLog) for f in logger.filters):
        logger.addFilter(NoQueryInAccessLog())


def uvicorn_options(header_timeout: float, max_header_bytes: int) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config."""
    protocol = type("RplnavH11Protocol", (BoundedH11Protocol,), {"header_timeout": header_timeout})
    return {
        "http": protocol,
        "h11_max_incomplete_event_size": max_header_bytes,
        "proxy_headers": False,  # done inside the application (create_app), from `forwarded_allow_ips` only
        "forwarded_allow_ips": "",
        "server_header": False,
    }
