"""Service settings: from `rplnav serve` options or from RPLNAV_* environment variables.

| variable | meaning | default |
|---|---|---|
| RPLNAV_DATABASE_URL | SQLAlchemy URL of the audit database | SQLite file under RPLNAV_DATA_DIR |
| RPLNAV_DATA_DIR | folder for the embedded SQLite audit database | ~/.local/share/rplnav |
| RPLNAV_INSECURE_DEV | "1" turns CDS Hooks JWT verification off (local testing only) | off |
| RPLNAV_CDS_CLIENTS | JSON: trusted CDS clients `{"clients": [{"iss": ..., "jwks": {"keys": [...]}}]}` | none |
| RPLNAV_CDS_CLIENTS_FILE | the same JSON in a file | none |
| RPLNAV_PUBLIC_URL | the service's public base URL: the JWT `aud` is checked against it and card links use it; required when CDS clients are configured | none (then only with --insecure-dev or no clients: the request's URL) |
| RPLNAV_MAX_BODY_BYTES | largest request body accepted (413 above) | 2 MiB |
| RPLNAV_CORS_ORIGINS | comma-separated origins allowed by CORS on the API ("*" for any) | none (CORS off) |
| RPLNAV_FHIR_TIMEOUT | seconds allowed for each FHIR server query | 5 |
| RPLNAV_FHIR_SERVERS | comma-separated FHIR base URLs a CDS request's `fhirServer` may name | none (no FHIR queries) |
| RPLNAV_FORWARDED_ALLOW_IPS | comma-separated proxy addresses whose X-Forwarded-For/-Proto are trusted | none |
| RPLNAV_JWT_MAX_LIFETIME | longest accepted CDS Hooks JWT lifetime (`exp` - `iat`, and `exp` from now), seconds | 300 |
| RPLNAV_MAX_HEADER_BYTES | largest request line + headers (400 above) | 16384 |
| RPLNAV_HEADER_TIMEOUT | seconds a client has to send its request line and headers | 10 |
| RPLNAV_REPORT_TTL_HOURS | hours a report link (/reports/ID) keeps working (410 after) | 24 |
| RPLNAV_USER_HEADER | request header in which the reverse proxy names the authenticated user of the web app and REST API (honoured only from RPLNAV_FORWARDED_ALLOW_IPS); when set, creating a report needs it and a report opens only for its user | none (no user authentication: report links work for whoever holds them) |
| RPLNAV_REPORT_LINK_TTL_MINUTES | minutes the signed token in a CDS card's report link keeps working | 60 |
| RPLNAV_REPORT_LINK_SECRET | HMAC key (at least 32 characters) signing report-link tokens | generated once and kept in the audit database |
| RPLNAV_REPORT_LINK_SECRET_FILE | the same key in a file | none |
| RPLNAV_AUDIT_RETENTION_DAYS | default age for `rplnav audit-log prune` (rows older are deleted) | none |
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def default_database_url() -> str:
    data = Path(os.environ.get("RPLNAV_DATA_DIR") or Path.home() / ".local" / "share" / "rplnav")
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{data / 'audit.sqlite3'}"


@dataclass
class Settings:
    database_url: str = ""
    insecure_dev: bool = False
    cds_clients: list[dict[str, Any]] = field(default_factory=list)
    public_url: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    cors_origins: list[str] = field(default_factory=list)
    fhir_timeout: float = 5.0
    fhir_servers: list[str] = field(default_factory=list)
    forwarded_allow_ips: list[str] = field(default_factory=list)
    jwt_leeway_seconds: int = 5
    jwt_max_lifetime: int = 300
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    report_ttl_hours: float = 24.0
    user_header: str | None = None
    report_link_ttl_minutes: float = 60.0
    report_link_secret: str | None = field(default=None, repr=False)  # never printed with the settings
    audit_retention_days: float | None = None
    # Fault injection for the durability test only: pause after the audit row is committed and before the
    # response is sent, so a test can kill the server mid-request. Never set in production.
    pause_after_audit_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.database_url:
            self.database_url = default_database_url()
        if self.public_url is not None:
            self.public_url = base_url(self.public_url, "RPLNAV_PUBLIC_URL")
        self.fhir_servers = [base_url(u, "RPLNAV_FHIR_SERVERS") for u in self.fhir_servers]
        if self.user_header is not None:
            self.user_header = self.user_header.strip().lower()
            if not _HEADER_NAME.match(self.user_header) or self.user_header in _NOT_USER_HEADERS:
                raise ValueError(f"RPLNAV_USER_HEADER: '{self.user_header}' is not a header name the proxy can set "
                                 "for the user")
            if not self.forwarded_allow_ips:
                # the header is believed only from the proxy; with no proxy configured nobody could be believed
                raise ValueError("RPLNAV_USER_HEADER needs RPLNAV_FORWARDED_ALLOW_IPS: the user header is honoured "
                                 "only from the reverse proxy")
            if "*" in self.forwarded_allow_ips:
                raise ValueError("RPLNAV_USER_HEADER with RPLNAV_FORWARDED_ALLOW_IPS='*' would let anyone name "
                                 "themselves: list the proxy's own addresses")
        if self.report_link_secret is not None and len(self.report_link_secret.strip()) < 32:
            raise ValueError("RPLNAV_REPORT_LINK_SECRET: at least 32 characters (it signs report links)")
        if not self.report_link_ttl_minutes > 0:
            raise ValueError("RPLNAV_REPORT_LINK_TTL_MINUTES: a positive number of minutes")
        if self.cds_clients and not self.insecure_dev and not self.public_url:
            # without it the audience would follow the request's Host header, which the caller chooses
            raise ValueError("RPLNAV_PUBLIC_URL is required when CDS clients are configured: the JWT audience "
                             "is checked against it")

    @classmethod
    def from_env(cls, **over: Any) -> Settings:
        env = os.environ
        clients: list[dict[str, Any]] = []
        raw = env.get("RPLNAV_CDS_CLIENTS")
        path = env.get("RPLNAV_CDS_CLIENTS_FILE")
        if path:
            raw = Path(path).read_text(encoding="utf-8")
        if raw:
            clients = parse_clients(json.loads(raw))
        secret = env.get("RPLNAV_REPORT_LINK_SECRET") or None
        if env.get("RPLNAV_REPORT_LINK_SECRET_FILE"):
            secret = Path(env["RPLNAV_REPORT_LINK_SECRET_FILE"]).read_text(encoding="utf-8").strip()
        kw: dict[str, Any] = {
            "database_url": env.get("RPLNAV_DATABASE_URL", ""),
            "insecure_dev": env.get("RPLNAV_INSECURE_DEV", "") in ("1", "true", "yes"),
            "cds_clients": clients,
            "public_url": env.get("RPLNAV_PUBLIC_URL") or None,
            "max_body_bytes": int(env.get("RPLNAV_MAX_BODY_BYTES", 2 * 1024 * 1024)),
            "cors_origins": _list(env.get("RPLNAV_CORS_ORIGINS")),
            "fhir_timeout": float(env.get("RPLNAV_FHIR_TIMEOUT", 5)),
            "fhir_servers": _list(env.get("RPLNAV_FHIR_SERVERS")),
            "forwarded_allow_ips": _list(env.get("RPLNAV_FORWARDED_ALLOW_IPS")),
            "jwt_max_lifetime": int(env.get("RPLNAV_JWT_MAX_LIFETIME", 300)),
            "max_header_bytes": int(env.get("RPLNAV_MAX_HEADER_BYTES", 16 * 1024)),
            "header_timeout": float(env.get("RPLNAV_HEADER_TIMEOUT", 10)),
            "report_ttl_hours": float(env.get("RPLNAV_REPORT_TTL_HOURS", 24)),
            "user_header": env.get("RPLNAV_USER_HEADER") or None,
            "report_link_ttl_minutes": float(env.get("RPLNAV_REPORT_LINK_TTL_MINUTES", 60)),
            "report_link_secret": secret,
            "audit_retention_days": float(env["RPLNAV_AUDIT_RETENTION_DAYS"])
            if env.get("RPLNAV_AUDIT_RETENTION_DAYS") else None,
            "pause_after_audit_seconds": float(env.get("RPLNAV_TEST_PAUSE_AFTER_AUDIT", 0)),
        }
        kw.update({k: v for k, v in over.items() if v is not None})
        return cls(**kw)


_HEADER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
# headers a client or the protocol sets: never a user name
_NOT_USER_HEADERS = {"authorization", "cookie", "host", "content-type", "content-length", "x-forwarded-for",
                     "x-forwarded-proto", "x-forwarded-host", "forwarded", "user-agent", "referer", "origin"}


def _list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def base_url(url: str, name: str) -> str:
    """An absolute http(s) URL without credentials, query or fragment, with no trailing slash."""
    u = urlsplit(url.strip())
    if u.scheme not in ("http", "https") or not u.hostname or u.username or u.password or u.query or u.fragment:
        raise ValueError(f"{name}: '{url}' is not an absolute http(s) URL without credentials, query or fragment")
    return urlunsplit((u.scheme, u.netloc.lower(), u.path.rstrip("/"), "", ""))


def parse_clients(doc: Any) -> list[dict[str, Any]]:
    """`{"clients": [{"iss": "...", "jwks": {"keys": [...]}, "tenants": [...]?}]}` or a bare list."""
    items = doc.get("clients", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError("CDS client configuration: expected a list of clients")
    out = []
    for i, c in enumerate(items):
        if not isinstance(c, dict) or not isinstance(c.get("iss"), str):
            raise ValueError(f"CDS client configuration: clients[{i}] needs an 'iss'")
        jwks = c.get("jwks")
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ValueError(f"CDS client configuration: clients[{i}] needs 'jwks' with 'keys'")
        out.append(c)
    return out
