"""Audit log: every assessment and CDS Hooks call, recorded before the response leaves the server.

A row holds the time, the kind of call, the knowledge version, the SHA-256 of the input as received, the
output document and the caller (a JWT issuer, "web", "api" …). It never holds a name: inputs are stored only
as their hash, and outputs are assessments (pseudonymous ids) or CDS cards. Each row is committed in its own
transaction before the response is returned, so a record survives the server being killed mid-request.

SQLite (a file) by default; PostgreSQL or any SQLAlchemy 2 URL via RPLNAV_DATABASE_URL.

A hook's row also keeps the full assessment behind its cards (`detail`, for the report link), in parts: the
parts the engine shares between patients (guideline statements, evidence summaries, timing, regimens, the
source list: five sixths of a CDS assessment's 400 KB) are stored once each in `rplnav_report_part` under the
SHA-256 of their JSON, and the row keeps the rest with a reference per part (`PartStore`; `AuditLog.detail`
puts it together again). JSON is written with orjson and compressed with Zstandard (level 1). Rows written
before keep the whole document (Zstandard, or zlib in the oldest), and `AuditLog.detail` reads every form.

SQLite runs in WAL mode with synchronous=NORMAL: a commit is appended to the write-ahead log without an fsync,
which survives the process being killed (the log is in the OS's page cache and is replayed on the next open);
a power cut may lose the last commits. Copying the log into the database file (a checkpoint, which ends with
an fsync of 5 to 90 ms) is done by a background thread of each process, not by the request that happens to
cross the threshold; the request connections checkpoint themselves only if the log grows far past that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
import uuid
import zlib
from typing import Any

import orjson
import zstandard
from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

log = logging.getLogger("rplnav.audit")


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
    # the full assessment behind a hook's cards: compressed JSON (Zstandard; zlib in older rows)
    detail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # who may open the report this row backs: "cds:..." (the verified JWT), "user:..." (the proxy's user), or
    # none (no authentication configured: the link alone opens it)
    principal: Mapped[str | None] = mapped_column(Text, nullable=True)

    def detail_json(self) -> Any:
        return unpack_detail(self.detail)


_INSERT = AuditEvent.__table__.insert()


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


class SeenToken(Base):
    """A CDS Hooks JWT already presented (hash of iss and jti), kept until it would have expired."""

    __tablename__ = "rplnav_seen_token"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires: Mapped[float] = mapped_column(Float, index=True)  # Unix seconds


_SEEN_INSERT = SeenToken.__table__.insert()


class ServiceSecret(Base):
    """A key the service generated for itself (the report-link HMAC key), shared by every worker and restart."""

    __tablename__ = "rplnav_service_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
_SEEN_PRUNE_EVERY = 256  # claims between two deletions of expired tokens


class ReportPart(Base):
    """One part of the assessments behind hook cards, stored once under the SHA-256 of its JSON.

    Most of an assessment (the guideline statements for her, evidence summaries, timing, regimens, the source
    list) is shared by many patients' documents; a hook row keeps the rest and a reference per part. ``last_used``
    is the UTC day of the newest row that references the part, so `AuditLog.prune` can drop the parts no kept row
    still needs."""

    __tablename__ = "rplnav_report_part"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # Zstandard-compressed JSON
    last_used: Mapped[dt.date] = mapped_column(Date, index=True)


def sha256_of(data: bytes | str | Any) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes):
        data = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(o: Any) -> Any:
    """What json.dumps accepted and orjson does not by itself: float subclasses, other numpy scalars, and the
    typed assessment (stored as its JSON form)."""
    if hasattr(o, "to_dict") and callable(o.to_dict):
        return o.to_dict()
    if isinstance(o, float):
        return float(o)
    if isinstance(o, int):
        return int(o)
    if hasattr(o, "item") and callable(o.item):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _dumps(doc: Any) -> str:
    """JSON text for the JSON columns (orjson: an order of magnitude faster than json.dumps on cards)."""
    return orjson.dumps(doc, default=_default, option=_ORJSON).decode()


def pack_detail(doc: Any) -> bytes:
    """Compressed JSON of a document (the assessment behind a hook's cards)."""
    # a compressor object is not thread-safe and record() runs on worker threads: one per call (cheap)
    return zstandard.ZstdCompressor(level=1).compress(orjson.dumps(doc, default=_default, option=_ORJSON))


def unpack_detail(blob: bytes | None) -> Any:
    """A detail written whole (Zstandard or, in older rows, zlib); one written with parts needs
    `AuditLog.detail`, which reads them."""
    if not blob:
        return None
    if blob.startswith(_PARTS_MAGIC):
        raise ValueError("this detail is stored in parts: read it with AuditLog.detail(row)")
    if blob[:4] == _ZSTD_MAGIC:
        return orjson.loads(zstandard.ZstdDecompressor().decompress(blob))
    return json.loads(zlib.decompress(blob))  # rows written before Zstandard


_PARTS_MAGIC = b"rplnav-parts/1\n"  # then a Zstandard frame of the document with {"$part": sha256} for each part
_REF = "$part"


class PartStore:
    """Splits a document into the parts the engine shares (rplnav.assessment.map_shared_parts) and the rest.

    A part is serialised, hashed and compressed the first time this process sees that very object (the engine
    reuses its parts and never changes them; the entry holds the object, so its id is not reused), and sent to
    the database once per UTC day (the day's first use also renews ``last_used``). The per-request work is then
    the rest of the document: about a sixth of a CDS patient-view assessment. Held per process; a lost race only
    repeats a write."""

    def __init__(self, limit: int = 50_000):
        self.limit = limit
        self._by_id: dict[int, tuple[Any, str, bytes]] = {}
        self._sent: dict[str, dt.date] = {}

    def split(self, doc: dict[str, Any], day: dt.date) -> tuple[bytes, dict[str, bytes]]:
        """The packed document and the parts (sha256 -> compressed JSON) not yet sent today."""
        from rplnav.assessment import map_shared_parts

        fresh: dict[str, bytes] = {}
        by_id, sent = self._by_id, self._sent

        def ref(_kind: str, part: Any) -> dict[str, str]:
            hit = by_id.get(id(part))
            if hit is None or hit[0] is not part:
                data = orjson.dumps(part, default=_default, option=_ORJSON)
                hit = (part, hashlib.sha256(data).hexdigest(), zstandard.ZstdCompressor(level=1).compress(data))
                if len(by_id) >= self.limit:
                    by_id.clear()
                by_id[id(part)] = hit
            if sent.get(hit[1]) != day:
                fresh[hit[1]] = hit[2]
            return {_REF: hit[1]}

        rest = map_shared_parts(doc, ref)
        return _PARTS_MAGIC + pack_detail(rest), fresh

    def sent(self, shas: Any, day: dt.date) -> None:
        """Called once the row and its parts are committed."""
        if len(self._sent) >= self.limit:
            self._sent.clear()
        for sha in shas:
            self._sent[sha] = day


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        if len(node) == 1 and _REF in node:
            out.add(node[_REF])
            return
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def _fill(node: Any, parts: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if len(node) == 1 and _REF in node:
            return parts[node[_REF]]
        return {k: _fill(v, parts) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, parts) for v in node]
    return node


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _private(db_file: str) -> None:
    """Audit files readable by their owner only (0600; -wal and -shm too): they hold clinical outputs."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(db_file + suffix, 0o600)
        except FileNotFoundError:
            pass


# pages (4 KiB) the WAL may hold before a request connection checkpoints it itself: only when the background
# checkpointer is not keeping up (it normally empties the log every CHECKPOINT_SECONDS)
WAL_FALLBACK_PAGES = 16384
CHECKPOINT_SECONDS = 1.0


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")        # readers do not block the writer
        cur.execute("PRAGMA synchronous=NORMAL")      # durable across a killed process
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_FALLBACK_PAGES}")
        cur.close()


class _Checkpointer(threading.Thread):
    """Checkpoints an SQLite WAL database every few seconds (PASSIVE: never waits for readers or writers)."""

    def __init__(self, path: str, interval: float = CHECKPOINT_SECONDS):
        super().__init__(name="rplnav-audit-checkpoint", daemon=True)
        self.path, self.interval = path, interval
        self.halt = threading.Event()

    def run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self.halt.wait(self.interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, timeout=1, check_same_thread=False)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # another process checkpointing, a locked file: try again later
                    log.debug("audit checkpoint skipped: %s", e)
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(5)


class AuditLog:
    def __init__(self, url: str):
        self.url = url
        kw: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kw = {"connect_args": {"check_same_thread": False, "timeout": 5}}
        db_file = make_url(url).database if url.startswith("sqlite") else None
        if db_file and db_file != ":memory:" and not db_file.startswith("file:") and not os.path.exists(db_file):
            os.close(os.open(db_file, os.O_CREAT | os.O_WRONLY, 0o600))  # SQLite gives -wal/-shm the same mode
        self.engine = create_engine(url, json_serializer=_dumps, **kw)
        if url.startswith("sqlite"):
            _sqlite_pragmas(self.engine)
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        db = self.engine.url.database if self.dialect == "sqlite" else None
        self._wal_file = db if db and db != ":memory:" and not db.startswith("file:") else None
        self._checkpointer: _Checkpointer | None = None
        self._checkpointer_pid = 0
        self._lock = threading.Lock()
        self._claims = 0
        self.parts = PartStore()
        if self._wal_file:
            _private(self._wal_file)

    def _add_missing_columns(self) -> None:
        """Columns added after a database was created (create_all makes only missing tables)."""
        have = {c["name"] for c in inspect(self.engine).get_columns(AuditEvent.__tablename__)}
        if "principal" not in have:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {AuditEvent.__tablename__} ADD COLUMN principal TEXT"))
            except (OperationalError, ProgrammingError):  # another worker added it first
                if "principal" not in {c["name"] for c in inspect(self.engine).get_columns(AuditEvent.__tablename__)}:
                    raise

    def secret(self, name: str) -> bytes:
        """The service's own key called `name`: generated (32 random bytes) the first time, then read back."""
        with self.engine.begin() as conn:
            got = conn.execute(select(ServiceSecret.value).where(ServiceSecret.name == name)).scalar()
        if got:
            return bytes(got)
        try:
            with self.engine.begin() as conn:
                conn.execute(ServiceSecret.__table__.insert(), {"name": name, "value": secrets.token_bytes(32)})
        except IntegrityError:  # another worker generated it at the same moment: use theirs
            pass
        with self.engine.begin() as conn:
            return bytes(conn.execute(select(ServiceSecret.value).where(ServiceSecret.name == name)).scalar_one())

    @property
    def local(self) -> bool:
        """Writes go to a local SQLite file (no network round trip): cheap enough to make on the event loop."""
        return self.dialect == "sqlite"

    def _ensure_checkpointer(self) -> None:
        # started on first write, and again in a forked child (threads do not survive fork)
        if self._wal_file is None or (self._checkpointer_pid == os.getpid() and self._checkpointer is not None):
            return
        with self._lock:
            if self._checkpointer_pid != os.getpid() or self._checkpointer is None:
                self._checkpointer = _Checkpointer(self._wal_file)
                self._checkpointer_pid = os.getpid()
                self._checkpointer.start()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def record(self, *, kind: str, endpoint: str, caller: str, input_sha256: str, status: int,
               output: Any, knowledge_version: str | None, note: str | None = None,
               event_id: str | None = None, detail: Any = None, principal: str | None = None) -> str:
        """Write one row and commit it; returns its id (a random token, usable as a report id). `principal`
        is who may open that report (none: whoever holds the link)."""
        at = _now()
        day = at.date()
        parts: dict[str, bytes] = {}
        if detail is None:
            packed = None
        else:
            doc = detail.to_dict() if hasattr(detail, "to_dict") and callable(detail.to_dict) else detail
            packed, parts = self.parts.split(doc, day) if isinstance(doc, dict) else (pack_detail(doc), {})
        row = {
            "id": event_id or uuid.uuid4().hex, "at": at, "kind": kind, "endpoint": endpoint[:200],
            "caller": caller[:300], "knowledge_version": knowledge_version, "input_sha256": input_sha256,
            "status": status, "output": output, "note": note, "detail": packed, "principal": principal,
        }
        self._ensure_checkpointer()
        # Core statements in one transaction (the ORM unit of work cost more than the write itself): a row is
        # never committed without the parts it references
        with self.engine.begin() as conn:
            if parts:
                self._put_parts(conn, parts, day)
            conn.execute(_INSERT, row)
        if parts:
            self.parts.sent(parts, day)
        return row["id"]

    def _put_parts(self, conn: Any, parts: dict[str, bytes], day: dt.date) -> None:
        """Insert the parts, or renew ``last_used`` of those already stored (by this or another process)."""
        rows = [{"sha256": sha, "body": body, "last_used": day} for sha, body in parts.items()]
        if self.dialect in ("sqlite", "postgresql"):
            if self.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(ReportPart.__table__)
            conn.execute(stmt.on_conflict_do_update(index_elements=["sha256"],
                                                    set_={"last_used": stmt.excluded.last_used}), rows)
            return
        table = ReportPart.__table__
        for r in rows:  # other databases: update, else insert (a concurrent insert of the same part fails loudly)
            done = conn.execute(table.update().where(table.c.sha256 == r["sha256"]).values(last_used=day)).rowcount
            if not done:
                conn.execute(table.insert(), r)

    def detail(self, row: AuditEvent) -> Any:
        """The assessment behind a hook row's cards, whole again (None when the row has none, or when a part it
        references is gone)."""
        blob = row.detail
        if not blob or not blob.startswith(_PARTS_MAGIC):
            return unpack_detail(blob)
        rest = unpack_detail(blob[len(_PARTS_MAGIC):])
        wanted: set[str] = set()
        _refs(rest, wanted)
        table = ReportPart.__table__
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            listed = sorted(wanted)
            for i in range(0, len(listed), 500):
                for sha, body in conn.execute(select(table.c.sha256, table.c.body)
                                              .where(table.c.sha256.in_(listed[i:i + 500]))):
                    found[sha] = orjson.loads(zstandard.ZstdDecompressor().decompress(body))
        if len(found) < len(wanted):
            log.warning("audit row %s references %d missing report part(s)", row.id, len(wanted) - len(found))
            return None
        return _fill(rest, found)

    def record_feedback(self, service_id: str, items: list[dict[str, Any]], caller: str) -> int:
        self._ensure_checkpointer()
        with self._session() as s, s.begin():
            for it in items:
                s.add(Feedback(
                    at=_now(), service_id=service_id, card=str(it["card"]), outcome=it["outcome"],
                    accepted_suggestions=it.get("acceptedSuggestions"), override_reason=it.get("overrideReason"),
                    outcome_timestamp=str(it["outcomeTimestamp"]), caller=caller[:300],
                ))
        return len(items)

    def claim(self, key: str, expires: float) -> bool:
        """Replay store for CDS Hooks JWTs: True the first time `key` is seen, False after (until `expires`).
        One INSERT on the primary key; every few hundred claims the expired tokens are deleted."""
        self._ensure_checkpointer()
        try:
            with self.engine.begin() as conn:
                conn.execute(_SEEN_INSERT, {"key": key, "expires": expires})
        except IntegrityError:
            return False
        with self._lock:
            self._claims += 1
            prune = self._claims % _SEEN_PRUNE_EVERY == 0
        if prune:
            with self.engine.begin() as conn:
                conn.execute(delete(SeenToken).where(SeenToken.expires < time.time()))
        return True

    def prune(self, older_than: dt.timedelta) -> int:
        """Delete audit rows and card feedback older than `older_than` (the retention period); returns rows."""
        cut = _now() - older_than
        with self.engine.begin() as conn:
            n = conn.execute(delete(AuditEvent).where(AuditEvent.at < cut)).rowcount or 0
            n += conn.execute(delete(Feedback).where(Feedback.at < cut)).rowcount or 0
            conn.execute(delete(SeenToken).where(SeenToken.expires < time.time()))
            # a part is used by rows no older than its last_used day: those before the cut's day are unreferenced
            conn.execute(delete(ReportPart).where(ReportPart.last_used < cut.date()))
        return n

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
        if self._checkpointer is not None and self._checkpointer_pid == os.getpid():
            self._checkpointer.stop()
        self._checkpointer = None
        self.engine.dispose()
