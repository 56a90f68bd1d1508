"""Service settings: from `rplnav serve` options or from RPLNAV_* environment variables.

| variable | meaning | default |
|---|---|---|
| RPLNAV_DATABASE_URL | SQLAlchemy URL of the audit database | SQLite file under RPLNAV_DATA_DIR |
| RPLNAV_DATA_DIR | folder for the embedded SQLite audit database | ~/.local/share/rplnav |
| RPLNAV_INSECURE_DEV | "1" turns CDS Hooks JWT verification off (local testing only) | off |
| RPLNAV_CDS_CLIENTS | JSON: trusted CDS clients `{"clients": [{"iss": ..., "jwks": {"keys": [...]}}]}` | none |
| RPLNAV_CDS_CLIENTS_FILE | the same JSON in a file | none |
| RPLNAV_PUBLIC_URL | the service's public base URL (the JWT `aud` is checked against it) | the request's URL |
| RPLNAV_MAX_BODY_BYTES | largest request body accepted (413 above) | 2 MiB |
| RPLNAV_CORS_ORIGINS | comma-separated origins allowed by CORS ("*" for any) | * |
| RPLNAV_FHIR_TIMEOUT | seconds allowed for each FHIR server query | 5 |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_database_url() -> str:
    data = Path(os.environ.get("RPLNAV_DATA_DIR") or Path.home() / ".local" / "share" / "rplnav")
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'audit.sqlite3'}"


@dataclass
class Settings:
    database_url: str = ""
    insecure_dev: bool = False
    cds_clients: list[dict[str, Any]] = field(default_factory=list)
    public_url: str | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    fhir_timeout: float = 5.0
    jwt_leeway_seconds: int = 5
    # Fault injection for the durability test only: pause after the audit row is committed and before the
    # response is sent, so a test can kill the server mid-request. Never set in production.
    pause_after_audit_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.database_url:
            self.database_url = default_database_url()

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
        kw: dict[str, Any] = {
            "database_url": env.get("RPLNAV_DATABASE_URL", ""),
            "insecure_dev": env.get("RPLNAV_INSECURE_DEV", "") in ("1", "true", "yes"),
            "cds_clients": clients,
            "public_url": env.get("RPLNAV_PUBLIC_URL") or None,
            "max_body_bytes": int(env.get("RPLNAV_MAX_BODY_BYTES", 2 * 1024 * 1024)),
            "cors_origins": [o.strip() for o in env.get("RPLNAV_CORS_ORIGINS", "*").split(",") if o.strip()],
            "fhir_timeout": float(env.get("RPLNAV_FHIR_TIMEOUT", 5)),
            "pause_after_audit_seconds": float(env.get("RPLNAV_TEST_PAUSE_AFTER_AUDIT", 0)),
        }
        kw.update({k: v for k, v in over.items() if v is not None})
        return cls(**kw)


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
