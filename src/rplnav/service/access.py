"""Who may open a report (`/reports/ID`): the principal stored with it, and signed report-link tokens.

A report is stored with the principal of the call that made it:

- CDS Hooks: `cds:` + the verified JWT's `iss`, `sub` and `tenant` (those present). The clinician who follows
  the card's link has no JWT, so the link carries a token: an HMAC-SHA256 over the report id, that principal
  and an expiry, under a key the service keeps (RPLNAV_REPORT_LINK_SECRET, or one generated once and kept in
  the audit database so every worker and restart shares it).
- Web app and REST API: `user:` + the user the reverse proxy names in RPLNAV_USER_HEADER; the header is
  believed only on connections from RPLNAV_FORWARDED_ALLOW_IPS. The same user must open the report.
- No principal when neither applies (no user header configured, or --insecure-dev): the link alone opens the
  report, as a bearer secret, until RPLNAV_REPORT_TTL_HOURS.

Any refusal is the same 404 as an unknown id, so a guessed or stolen id does not tell that a report exists.
Tokens travel only in the query string, which the access log never shows, and are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from rplnav.service.errors import ClientError

TOKEN_PARAM = "t"
VIA_PROXY = "rplnav.via_proxy"  # scope key: the connection came from a configured reverse proxy
_TOKEN = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{43})")  # matched whole (fullmatch)
_USER = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?")  # printable ASCII, no edge spaces
_DOMAIN = b"rplnav report link v1"


class TrustedProxy(ProxyHeadersMiddleware):
    """uvicorn's X-Forwarded-For/-Proto handling, plus a note in the scope of whether the connection itself
    came from a trusted proxy: the address is rewritten to the end client's, so it cannot be asked later."""

    def __init__(self, app: ASGIApp, trusted_hosts: list[str]):
        super().__init__(app, trusted_hosts=",".join(trusted_hosts))  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http":
            peer = scope.get("client")
            scope[VIA_PROXY] = bool(peer) and peer[0] in self.trusted_hosts
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]


def cds_principal(claims: dict[str, Any]) -> str:
    """The principal of a verified CDS Hooks JWT (JSON, so no issuer or subject can mimic another's)."""
    who = {k: claims[k] for k in ("iss", "sub", "tenant") if isinstance(claims.get(k), str) and claims[k]}
    return "cds:" + json.dumps(who, sort_keys=True, separators=(",", ":"))


def proxy_user(request: Request, header: str | None) -> str | None:
    """The user named by the trusted proxy, or None: header not configured, connection not from the proxy,
    header absent, repeated or not a plain printable name."""
    if not header or not request.scope.get(VIA_PROXY):
        return None
    values = request.headers.getlist(header)
    if len(values) != 1 or not _USER.fullmatch(values[0]):
        return None
    return values[0]


def user_principal(user: str | None) -> str | None:
    return None if user is None else "user:" + user


def report_principal(request: Request) -> str | None:
    """Who the report about to be made belongs to: the proxy's user, or none when no user header is
    configured. With one configured, a request without a believable user is refused (401)."""
    header = request.app.state.core.settings.user_header
    if header is None:
        return None
    user = proxy_user(request, header)
    if user is None:
        raise ClientError(401, "Not signed in", "this service takes the user from the reverse proxy's sign-on; "
                                                "open it through the proxy")
    return user_principal(user)


def _mac(key: bytes, report_id: str, principal: str, expires: int) -> str:
    msg = b"\x00".join((_DOMAIN, report_id.encode(), principal.encode(), str(expires).encode()))
    return base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).rstrip(b"=").decode()


@dataclass
class LinkSigner:
    """Makes and checks report-link tokens `EXPIRES.MAC` bound to report id + principal + expiry."""

    key: bytes = field(repr=False)  # never printed
    ttl_seconds: float = 3600.0

    def token(self, report_id: str, principal: str, not_after: float | None = None) -> str:
        expires = int(time.time() + self.ttl_seconds)
        if not_after is not None:
            expires = min(expires, int(not_after))
        return f"{expires}.{_mac(self.key, report_id, principal, expires)}"

    def valid(self, token: str | None, report_id: str, principal: str) -> bool:
        m = _TOKEN.fullmatch(token or "")
        if m is None:
            return False
        expires = int(m.group(1))
        good = hmac.compare_digest(_mac(self.key, report_id, principal, expires), m.group(2))
        return good and time.time() <= expires


def may_open(request: Request, report_id: str, principal: str | None, signer: LinkSigner,
             user_header: str | None) -> bool:
    """Whether this request may see the report stored with `principal`."""
    if principal is None:
        # made with no authentication configured; once a user header is required, such links stop working
        return user_header is None
    if principal.startswith("cds:"):
        return signer.valid(request.query_params.get(TOKEN_PARAM), report_id, principal)
    if principal.startswith("user:"):
        user = proxy_user(request, user_header)
        return user is not None and hmac.compare_digest(principal.encode(), ("user:" + user).encode())
    return False
