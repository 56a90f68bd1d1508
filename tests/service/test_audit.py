"""Audit log: every assessment and hook call recorded (SQLite and PostgreSQL); rows survive a killed server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rplnav.audit import AuditLog
from rplnav.service.app import create_app
from rplnav.service.config import Settings
from tests.service.conftest import example, start_server


def test_assessments_and_failures_are_recorded(db_url):
    app = create_app(Settings(database_url=db_url, insecure_dev=True))
    body = json.dumps(example("03")).encode()
    with TestClient(app) as c:
        assert c.post("/api/v1/assess", content=body, headers={"Content-Type": "application/json",
                                                                "X-RPLNav-Caller": "clinic-7"}).status_code == 200
        assert c.post("/api/v1/assess", json={"schema": "rplnav.patient/v1", "id": "x", "age": 3}).status_code == 422
        log: AuditLog = app.state.core.audit
        assert log.dialect == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
        rows = log.recent(10, kind="assess")
        assert len(rows) == 2
        ok = next(r for r in rows if r.status == 200)
        assert ok.input_sha256 == hashlib.sha256(body).hexdigest()
        assert ok.knowledge_version == app.state.core.kb.version
        assert ok.caller == "api"  # a client-chosen label (X-RPLNav-Caller) is not the caller
        assert ok.output["patient_id"] == "demo-aps-obstetric"
        assert ok.at is not None
        bad = next(r for r in rows if r.status == 422)
        assert any("age" in p for p in bad.output["problems"])


def test_hook_calls_and_feedback_are_recorded(db_url):
    from tests.service.test_cds import pv_request

    app = create_app(Settings(database_url=db_url, insecure_dev=True))
    with TestClient(app) as c:
        r = c.post("/cds-services/rplnav-patient-view", json=pv_request())
        assert r.status_code == 200
        card = r.json()["cards"][0]["uuid"]
        fb = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-01T10:00:00Z",
                            "overrideReason": {"userComment": "discussed with patient"}}]}
        assert c.post("/cds-services/rplnav-patient-view/feedback", json=fb).status_code == 200
        log: AuditLog = app.state.core.audit
        hooks = log.recent(10, kind="hook")
        assert len(hooks) == 1 and hooks[0].caller == "insecure-dev"
        assert hooks[0].output["cards"][0]["uuid"] == card
        stored = log.feedback("rplnav-patient-view")
        assert len(stored) == 1 and stored[0].card == card and stored[0].outcome == "overridden"


def test_no_names_in_the_audit_log(db_url):
    from tests.service.test_fhir import aps_bundle

    app = create_app(Settings(database_url=db_url, insecure_dev=True))
    with TestClient(app) as c:
        assert c.post("/api/v1/assess", json=aps_bundle()).status_code == 200
        row = app.state.core.audit.recent(1)[0]
        assert "Jane" not in json.dumps(row.output) and "Doe" not in json.dumps(row.output)


@pytest.mark.parametrize("kind", ["assess", "hook"])
def test_record_survives_server_killed_mid_request(tmp_path: Path, kind: str):
    """The audit row is committed before the response is sent: kill -9 the server while it holds the reply."""
    db = tmp_path / "kill.sqlite3"
    srv = start_server(tmp_path, {"RPLNAV_DATABASE_URL": f"sqlite:///{db}", "RPLNAV_TEST_PAUSE_AFTER_AUDIT": "30"})
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            if kind == "assess":
                outcome["r"] = httpx.post(srv.url + "/api/v1/assess", json=example("03"), timeout=60)
            else:
                from tests.service.test_cds import pv_request

                outcome["r"] = httpx.post(srv.url + "/cds-services/rplnav-patient-view", json=pv_request(),
                                          timeout=60)
        except httpx.HTTPError as e:
            outcome["error"] = e

    t = threading.Thread(target=call)
    t.start()
    log = AuditLog(f"sqlite:///{db}")
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not log.recent(1, kind=kind):
            time.sleep(0.05)
        assert log.recent(1, kind=kind), "the audit row never appeared"
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(10)
        t.join(30)
        assert "error" in outcome and "r" not in outcome, "the client got a response: the kill was not mid-request"
        log.close()
        log = AuditLog(f"sqlite:///{db}")  # reopen after the crash
        rows = log.recent(5, kind=kind)
        assert len(rows) == 1 and rows[0].status == 200
        assert rows[0].output
    finally:
        log.close()
        srv.stop()


def test_hook_report_is_served_from_the_stored_assessment(db_url):
    """The card's report link reads the assessment kept (compressed) in the hook's audit row."""
    from tests.service.test_cds import pv_request

    app = create_app(Settings(database_url=db_url, insecure_dev=True))
    with TestClient(app) as c:
        r = c.post("/cds-services/rplnav-patient-view", json=pv_request())
        assert r.status_code == 200
        links = [lk["url"] for card in r.json()["cards"] for lk in card.get("links", [])]
        report = next(u for u in links if "/reports/" in u)
        event_id = report.rsplit("/", 1)[1]
        row = app.state.core.audit.get(event_id)
        assert row is not None and row.detail.startswith(b"rplnav-parts/1\n")  # shared parts stored apart
        a = app.state.core.audit.detail(row)
        assert a["patient_id"] and a["options"] and a["knowledge_version"] == app.state.core.kb.version
        page = c.get("/reports/" + event_id)
        assert page.status_code == 200 and a["patient_id"] in page.text


def test_detail_round_trip_and_rows_written_with_zlib_still_read(tmp_path: Path):
    import zlib

    import numpy as np

    from rplnav.audit import AuditEvent, pack_detail, unpack_detail

    doc = {"a": [1, 2.5, "é", None, True], "b": {"c": np.float64(0.25), "d": np.int64(3)}, 4: "four"}
    assert unpack_detail(pack_detail(doc)) == {"a": [1, 2.5, "é", None, True], "b": {"c": 0.25, "d": 3}, "4": "four"}
    legacy = zlib.compress(json.dumps({"patient_id": "p1"}, separators=(",", ":")).encode(), 1)
    assert AuditEvent(detail=legacy).detail_json() == {"patient_id": "p1"}
    assert AuditEvent(detail=None).detail_json() is None


def test_sqlite_wal_is_checkpointed_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Requests only append to the WAL; a background thread copies it into the database file."""
    import rplnav.audit as audit

    detail = {"blob": os.urandom(20000).hex()}  # incompressible: ~10 pages a row

    def write_and_measure(name: str, interval: float) -> tuple[int, AuditLog]:
        monkeypatch.setattr(audit, "CHECKPOINT_SECONDS", interval)
        db = tmp_path / name
        log = AuditLog(f"sqlite:///{db}")
        start = db.stat().st_size
        for i in range(30):
            log.record(kind="hook", endpoint="POST /x", caller="t", input_sha256=f"{i:064x}", status=200,
                       output={"i": i}, knowledge_version="k", detail=detail)
        deadline = time.time() + 10
        while interval < 10 and time.time() < deadline and db.stat().st_size < start + 30 * 20000:
            time.sleep(0.05)
        return db.stat().st_size - start, log

    grown, log = write_and_measure("bg.sqlite3", 0.05)
    checkpointer = log._checkpointer
    try:
        assert grown >= 30 * 20000, "the background checkpointer did not copy the WAL into the database"
        assert len(log.recent(50)) == 30
    finally:
        log.close()
    assert checkpointer is not None and not checkpointer.is_alive(), "close() stops the checkpointer"
    grown, log = write_and_measure("none.sqlite3", 3600)  # checkpointer asleep: the requests did not checkpoint
    try:
        assert grown < 30 * 20000
        assert len(log.recent(50)) == 30
    finally:
        log.close()


def _assessed(*names: str) -> list:
    from rplnav.assess import Engine
    from rplnav.examples import example_files
    from rplnav.knowledge.load import default_knowledge
    from rplnav.usecase import read_input

    kb = default_knowledge()
    engine = Engine(kb)
    files = {f.stem: f for f in example_files()}
    return [engine.assess(read_input(files[n].read_text(), None, kb, n).parsed) for n in names]


def _json(doc) -> object:
    import orjson

    return orjson.loads(orjson.dumps(doc))


def _part_count(log: AuditLog) -> int:
    from sqlalchemy import func, select

    from rplnav.audit import ReportPart

    with log.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ReportPart)).scalar_one()


def test_report_parts_are_stored_once_and_the_document_is_whole_again(db_url):
    """A hook row keeps what is particular to the patient and a reference per shared part; the part store gives
    back exactly the document written, whatever process wrote the parts first."""
    from rplnav.audit import pack_detail

    a, b = _assessed("03-obstetric-aps", "06-hereditary-thrombophilia")
    log = AuditLog(db_url)
    other = AuditLog(db_url)  # a second worker process on the same database
    try:
        rows = {}
        for name, doc, writer in (("a1", a, log), ("a2", a, log), ("b", b, log), ("a3", a, other)):
            before = _part_count(log)
            rows[name] = writer.record(kind="hook", endpoint="POST /x", caller="t", input_sha256="0" * 64,
                                       status=200, output={"cards": []}, knowledge_version="v", detail=doc)
            rows[name + ".new_parts"] = _part_count(log) - before
        assert rows["a1.new_parts"] > 20
        assert rows["a2.new_parts"] == 0 and rows["a3.new_parts"] == 0  # the same parts: nothing stored again
        assert 0 < rows["b.new_parts"] < rows["a1.new_parts"]  # another patient shares most of them
        for name, doc in (("a1", a), ("a2", a), ("b", b), ("a3", a)):
            row = log.get(rows[name])
            assert log.detail(row) == _json(doc.to_dict())
            assert len(row.detail) * 2 < len(pack_detail(doc))  # the row itself is a fraction of the whole
    finally:
        log.close()
        other.close()


def test_prune_keeps_the_parts_a_kept_row_references(db_url, monkeypatch: pytest.MonkeyPatch):
    import datetime as dt

    import rplnav.audit as audit

    a, b = _assessed("03-obstetric-aps", "06-hereditary-thrombophilia")
    log = AuditLog(db_url)
    now = dt.datetime.now(dt.UTC)
    try:
        def record(doc, at):
            monkeypatch.setattr(audit, "_now", lambda: at)
            return log.record(kind="hook", endpoint="POST /x", caller="t", input_sha256="0" * 64, status=200,
                              output={"cards": []}, knowledge_version="v", detail=doc)

        old_a = record(a, now - dt.timedelta(days=10))
        only_a = _part_count(log)
        old_b = record(b, now - dt.timedelta(days=10))
        new_b = record(b, now)  # the same parts on a later day: their last use moves on
        monkeypatch.setattr(audit, "_now", lambda: now)
        with_both = _part_count(log)
        log.prune(dt.timedelta(days=5))
        assert log.get(old_a) is None and log.get(old_b) is None
        assert log.detail(log.get(new_b)) == _json(b.to_dict())
        kept = _part_count(log)
        assert kept < with_both and kept >= with_both - only_a  # a's own parts went, b's stayed
        # a part gone (pruned by hand here) is reported, not papered over
        from sqlalchemy import delete

        with log.engine.begin() as conn:
            conn.execute(delete(audit.ReportPart))
        assert log.detail(log.get(new_b)) is None
        # and the next row stores its parts again, although this process had sent them today
        log.parts = audit.PartStore()
        again = record(b, now)
        assert log.detail(log.get(again)) == _json(b.to_dict())
    finally:
        log.close()


def test_rows_with_the_whole_document_still_read(tmp_path: Path):
    from rplnav.audit import AuditEvent, pack_detail

    log = AuditLog(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    try:
        doc = {"patient_id": "p1", "options": [{"therapy": "x", "stances": [{"id": "s"}]}]}
        assert log.detail(AuditEvent(detail=pack_detail(doc))) == doc
        assert log.detail(AuditEvent(detail=None)) is None
        with pytest.raises(ValueError, match="AuditLog.detail"):
            AuditEvent(detail=b"rplnav-parts/1\n" + pack_detail({})).detail_json()
    finally:
        log.close()
