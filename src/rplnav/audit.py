"""Audit log: every assessment and CDS Hooks call, recorded before the response leaves the server.

A row holds the time, the kind of call, the knowledge version, the SHA-256 of the input as received, the
output document and the caller (a JWT issuer, "web", "api" …). It never holds a name: inputs are stored only
as their hash, and outputs are assessments (pseudonymous ids) or CDS cards. Each row is committed in its own
transaction before the response is returned, so a record survives the server being killed mid-request.

SQLite (a file) by default; PostgreSQL or any SQLAlchemy 2 URL via RPLNAV_DATABASE_URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
import zlib
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class AuditEvent(Base):
    __tablename__ = "rplnav_audit_event"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # assess | hook | feedback | ...
    endpoint: Mapped[str] = mapped_column(String(200))
    caller: Mapped[str] = mapped_column(String(300))
    knowledge_version: Mapped[str | None] = mapped_column(String(80), nullable=True)
    input_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[int] = mapped_column(Integer)
    output: Mapped[Any] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the full assessment behind a hook's cards, zlib-compressed JSON (kept small so hooks stay fast)
    detail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    def detail_json(self) -> Any:
        return json.loads(zlib.decompress(self.detail)) if self.detail else None


class Feedback(Base):
    __tablename__ = "rplnav_cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    service_id: Mapped[str] = mapped_column(String(100), index=True)
    card: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    accepted_suggestions: Mapped[Any] = mapped_column(JSON, nullable=True)
    override_reason: Mapped[Any] = mapped_column(JSON, nullable=True)
    outcome_timestamp: Mapped[str] = mapped_column(String(40))
    caller: Mapped[str] = mapped_column(String(300))


def sha256_of(data: bytes | str | Any) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes):
        data = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")        # readers do not block the writer
        cur.execute("PRAGMA synchronous=NORMAL")      # durable across a killed process
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()


class AuditLog:
    def __init__(self, url: str):
        self.url = url
        kw: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kw = {"connect_args": {"check_same_thread": False, "timeout": 5}}
        self.engine = create_engine(url, **kw)
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def record(self, *, kind: str, endpoint: str, caller: str, input_sha256: str, status: int,
               output: Any, knowledge_version: str | None, note: str | None = None,
               event_id: str | None = None, detail: Any = None) -> str:
        """Write one row and commit it; returns its id (a random token, usable as a report id)."""
        row = AuditEvent(
            id=event_id or uuid.uuid4().hex, at=_now(), kind=kind, endpoint=endpoint[:200], caller=caller[:300],
            knowledge_version=knowledge_version, input_sha256=input_sha256, status=status, output=output,
            note=note,
            detail=zlib.compress(json.dumps(detail, separators=(",", ":")).encode(), 1) if detail is not None
            else None,
        )
        with self._session() as s, s.begin():
            s.add(row)
        return row.id

    def record_feedback(self, service_id: str, items: list[dict[str, Any]], caller: str) -> int:
        with self._session() as s, s.begin():
            for it in items:
                s.add(Feedback(
                    at=_now(), service_id=service_id, card=str(it["card"]), outcome=it["outcome"],
                    accepted_suggestions=it.get("acceptedSuggestions"), override_reason=it.get("overrideReason"),
                    outcome_timestamp=str(it["outcomeTimestamp"]), caller=caller[:300],
                ))
        return len(items)

    def get(self, event_id: str) -> AuditEvent | None:
        with self._session() as s:
            return s.get(AuditEvent, event_id)

    def recent(self, limit: int = 50, kind: str | None = None) -> list[AuditEvent]:
        with self._session() as s:
            q = select(AuditEvent).order_by(AuditEvent.at.desc()).limit(limit)
            if kind:
                q = q.where(AuditEvent.kind == kind)
            return list(s.scalars(q))

    def feedback(self, service_id: str | None = None) -> list[Feedback]:
        with self._session() as s:
            q = select(Feedback).order_by(Feedback.id)
            if service_id:
                q = q.where(Feedback.service_id == service_id)
            return list(s.scalars(q))

    def close(self) -> None:
        self.engine.dispose()
