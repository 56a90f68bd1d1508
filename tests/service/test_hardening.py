"""Issue 13: hostile inputs to the service are refused early, with a small 4xx naming the problem."""

from __future__ import annotations

import json
import time

from benchmarks.alias_bomb import bomb

from tests.service.conftest import csrf
from tests.service.test_cds import PV

YAML = {"content-type": "application/yaml"}


def _audit_sizes(client) -> list[int]:
    return [len(json.dumps(r.output)) for r in client.app.state.core.audit.recent(100)]


def test_alias_bomb_on_the_api_is_a_fast_small_400(client):
    t = time.perf_counter()
    r = client.post("/api/v1/assess", content=bomb(6).encode(), headers=YAML)
    took = time.perf_counter() - t
    assert r.status_code == 400 and took < 1.0
    assert r.headers["content-type"] == "application/problem+json" and len(r.content) < 1000
    assert "anchors and aliases" in r.json()["problems"][0]["message"]
    assert all(n < 10_000 for n in _audit_sizes(client))


def test_alias_bomb_on_the_upload_form(client):
    t = time.perf_counter()
    r = client.post("/upload", files={"file": ("bomb.yaml", bomb(6).encode(), "application/yaml")},
                    data={"csrf": csrf(client)})
    assert r.status_code == 400 and time.perf_counter() - t < 1.0
    assert "anchors and aliases" in r.text and len(r.content) < 200_000


def test_cds_endpoints_take_json_only(client):
    r = client.post(PV + "/feedback", content=bomb(6).encode(), headers=YAML)
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post(PV, content=b"hook: patient-view\n", headers=YAML)
    assert r.status_code == 415
    assert all(n < 10_000 for n in _audit_sizes(client))


def test_strict_media_types(client):
    body = json.dumps({"schema": "rplnav.patient/v1", "id": "a", "age": 33}).encode()
    for ctype in ("application/evil+json", "text/plain", "application/x-www-form-urlencoded"):
        r = client.post("/api/v1/assess", content=body, headers={"content-type": ctype})
        assert r.status_code == 415, ctype
    assert client.post("/api/v1/assess", content=body, headers={"content-type": "application/json; charset=utf-8"}
                       ).status_code == 200


def test_duplicate_keys_and_huge_numbers_are_400_naming_the_field(client):
    r = client.post("/api/v1/assess", content=b'{"schema": "rplnav.patient/v1", "id": "a", "age": 200, "age": 33}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["problems"] == [{"field": "age", "message": "duplicate key"}]
    r = client.post("/api/v1/assess", content=b'{"age": ' + b"9" * 5000 + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "5000 characters" in r.text
    r = client.post("/api/v1/assess", content=b"[" * 100_000 + b"]" * 100_000,
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "nested deeper" in r.text


def test_web_form_refuses_non_finite_and_fullwidth_numbers(client):
    base = {"id": "f1", "age": "33", "pregnancies.0.outcome": "miscarriage", "labs.0.test": "tsh",
            "labs.0.unit": "mIU/L", "csrf": csrf(client)}
    for bad in ("nan", "inf", "1e400", "２"):
        r = client.post("/assess", data={**base, "labs.0.value": bad}, follow_redirects=False)
        assert r.status_code == 422, bad
        assert "labs[0].value" in r.text
    r = client.post("/assess", data={**base, "age": "３３", "labs.0.value": "2"}, follow_redirects=False)
    assert r.status_code == 422 and "age" in r.text
    r = client.post("/assess", data={**base, "labs.0.value": "2,5"}, follow_redirects=False)
    assert r.status_code == 303


def test_api_nan_is_a_400_and_never_audited_as_200(client):
    doc = b'{"schema": "rplnav.patient/v1", "id": "n1", "age": 33, "labs": [{"test": "tsh", "value": NaN, ' \
          b'"unit": "mIU/L"}]}'
    r = client.post("/api/v1/assess", content=doc, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not a finite number" in r.text
    assert all(row.status != 200 for row in client.app.state.core.audit.recent(10))
    r = client.post("/api/v1/assess", content=b"schema: rplnav.patient/v1\nid: n1\nage: 33\nlabs:\n"
                    b"  - {test: platelet_count, value: .inf, unit: 10^9/L}\n", headers=YAML)
    assert r.status_code == 400 and "not a finite number" in r.text


# ------------------------------------------------------------------ hole 3: the EHR's FHIR token stays on its server
FHIR = "https://fhir.example.org/r4"


def _mock_fhir(client, next_url: str | None = None) -> list[tuple[str, str | None]]:
    """Replaces the service's HTTP client by one answering FHIR queries; returns the (url, Authorization) seen."""
    import httpx

    from tests.service.test_fhir import aps_bundle

    seen: list[tuple[str, str | None]] = []
    resources = [e["resource"] for e in aps_bundle()["entry"]]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.host != "fhir.example.org":
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        if "/Patient/" in request.url.path:
            return httpx.Response(200, json=next(r for r in resources if r["resourceType"] == "Patient"))
        body = {"resourceType": "Bundle", "type": "searchset", "entry": []}
        if next_url:
            body["link"] = [{"relation": "next", "url": next_url}]
        return httpx.Response(200, json=body)

    client.app.state.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return seen


def _hook(fhir_server: str, patient: str = "pat-aps") -> dict:
    return {"hook": "patient-view", "hookInstance": "h-1", "fhirServer": fhir_server,
            "fhirAuthorization": {"access_token": "EHR-SECRET", "token_type": "Bearer", "expires_in": 300,
                                  "scope": "patient/*.read", "subject": "rplnav"},
            "context": {"userId": "Practitioner/1", "patientId": patient}}


def test_fhir_server_must_be_on_the_configured_list(client):
    seen = _mock_fhir(client)
    r = client.post(PV, json=_hook("https://attacker.example/fhir"))
    assert r.status_code == 412 and "RPLNAV_FHIR_SERVERS" in r.text
    assert seen == []  # nothing sent anywhere, so no token either


def test_next_links_never_leave_the_fhir_server(client):
    client.app.state.core.settings.fhir_servers.append(FHIR)
    for away in ("https://evil.example/steal", "http://fhir.example.org/r4/Observation", "https://fhir.example.org:444/r4/x",
                 "https://fhir.example.org/other/x", "https://u:p@fhir.example.org/r4/x"):
        seen = _mock_fhir(client, next_url=away)
        r = client.post(PV, json=_hook(FHIR))
        assert r.status_code == 412 and "next link points away" in r.text, away
        assert all(u.startswith(FHIR + "/") for u, _ in seen) and seen
        assert all(a == "Bearer EHR-SECRET" for _, a in seen)


def test_invalid_fhir_server_is_a_400(client):
    for bad in ("not a url", "ftp://fhir.example.org/r4", "http://user:pw@fhir.example.org/r4", "http://[::1/fhir",
                "https://fhir.example.org/r4?x=1", "http:///r4"):
        r = client.post(PV, json=_hook(bad))
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome", bad


def test_context_values_cannot_change_the_query_target(client):
    client.app.state.core.settings.fhir_servers.append(FHIR)
    seen = _mock_fhir(client)
    client.post(PV, json=_hook(FHIR, patient="x?_include=*&a=@evil.example#"))
    import httpx

    urls = [httpx.URL(u) for u, _ in seen]
    assert urls and all(u.host == "fhir.example.org" and u.path.startswith("/r4/") for u in urls)
    assert all(set(u.params) <= {"patient", "category", "code"} for u in urls)  # no _include smuggled in
    assert any("/Patient/x%3F_include%3D%2A%26a%3D%40evil.example%23" in u for u, _ in seen)


# ------------------------------------------------------------------ hole 5: bounded request heads
def _serve(client_app, header_timeout: float):
    import threading

    import uvicorn

    from rplnav.service.server import uvicorn_options
    from tests.service.conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(client_app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", **uvicorn_options(header_timeout, 16 * 1024)))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    return server, t, port


def test_oversized_headers_refused_and_slow_heads_cut_off(client):
    import socket

    import httpx

    server, t, port = _serve(client.app, header_timeout=1.0)
    try:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
            try:
                for _ in range(64):  # 4 MiB offered; the server stops reading after 16 KiB
                    s.sendall(b"A" * 65536)
            except OSError:
                pass
            reply = b""
            try:
                reply = s.recv(200)
            except OSError:
                pass
        assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply
        assert time.perf_counter() - t0 < 5
        # a client that never finishes its request head is disconnected after the header timeout
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
            t0 = time.perf_counter()
            assert s.recv(100) == b""
            assert 0.5 < time.perf_counter() - t0 < 5
        # meanwhile ordinary calls are answered promptly
        t0 = time.perf_counter()
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).status_code == 200
        assert time.perf_counter() - t0 < 2
    finally:
        server.should_exit = True
        t.join(5)


# ------------------------------------------------------------------ hole 9: web and audit
def _report_id(client) -> str:
    from tests.service.conftest import example

    r = client.post("/api/v1/assess", json=example("03"))
    assert r.status_code == 200
    return r.headers["x-rplnav-report"].rsplit("/", 1)[-1]


def test_security_headers_on_every_page_and_the_pdf(client):
    eid = _report_id(client)
    for path in ("/", "/guidelines", "/therapies/ivig", f"/reports/{eid}", f"/reports/{eid}.pdf", "/docs",
                 "/api/v1/health", "/nope"):
        r = client.get(path)
        assert r.status_code < 500, path
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["x-frame-options"] == "DENY", path


def test_swagger_ui_is_served_locally(client):
    import re

    page = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    assert "<script>" not in page  # no inline script: the strict CSP holds on /docs too
    for a in assets:
        assert client.get(a).status_code == 200, a


def test_audit_caller_is_not_taken_from_a_client_header(client):
    from tests.service.conftest import example

    client.post("/api/v1/assess", json=example("03"), headers={"X-RPLNav-Caller": "https://trusted-ehr.example"})
    assert client.app.state.core.audit.recent(1)[0].caller == "api"


def test_audit_files_are_private(tmp_path):
    import os
    import stat

    from rplnav.audit import AuditLog

    log_ = AuditLog(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    log_.record(kind="assess", endpoint="x", caller="t", input_sha256="0" * 64, status=200, output={},
                knowledge_version=None)
    try:
        for f in tmp_path.iterdir():
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f.name
    finally:
        log_.close()


def test_report_links_expire(client):
    eid = _report_id(client)
    assert client.get(f"/reports/{eid}").status_code == 200
    client.app.state.core.settings.report_ttl_hours = 0
    r = client.get(f"/reports/{eid}")
    assert r.status_code == 410 and "expired" in r.text
    assert client.get(f"/reports/{eid}.pdf").status_code == 410


def test_audit_log_prune_command(tmp_path, monkeypatch):
    import datetime as dt

    from typer.testing import CliRunner

    from rplnav.audit import AuditEvent, AuditLog
    from rplnav.cli import app as cli_app

    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    log_ = AuditLog(url)
    for _ in range(3):
        log_.record(kind="assess", endpoint="x", caller="t", input_sha256="0" * 64, status=200, output={},
                    knowledge_version=None)
    old = log_.recent(1)[0].id
    with log_.engine.begin() as conn:
        conn.execute(AuditEvent.__table__.update().where(AuditEvent.id == old).values(
            at=dt.datetime.now(dt.UTC) - dt.timedelta(days=400)))
    log_.close()
    monkeypatch.setenv("RPLNAV_DATABASE_URL", url)
    monkeypatch.delenv("RPLNAV_AUDIT_RETENTION_DAYS", raising=False)
    r = CliRunner().invoke(cli_app, ["audit-log", "prune"])
    assert r.exit_code == 2 and "RPLNAV_AUDIT_RETENTION_DAYS" in r.stderr
    monkeypatch.setenv("RPLNAV_AUDIT_RETENTION_DAYS", "365")
    r = CliRunner().invoke(cli_app, ["audit-log", "prune"])
    assert r.exit_code == 0 and r.stdout.startswith("1 audit row(s)")
    log_ = AuditLog(url)
    assert len(log_.recent(10)) == 2 and log_.get(old) is None
    log_.close()


def test_cross_site_form_posts_are_refused(client):
    form = {"id": "x1", "age": "33", "pregnancies.0.outcome": "miscarriage"}
    # another site can make the browser post (with its cookies) but cannot know the token
    for data in (form, {**form, "csrf": "A" * 43}):
        r = client.post("/assess", data=data, follow_redirects=False)
        assert r.status_code == 403 and "csrf" in r.text
    r = client.post("/upload", files={"file": ("p.yaml", b"schema: rplnav.patient/v1\n", "application/yaml")})
    assert r.status_code == 403
    assert client.app.state.core.audit.recent(10) == []  # nothing was assessed, no report was made
    token = csrf(client)
    assert 'name="csrf" value="' + token + '"' in client.get("/").text
    cookie = client.get("/").headers.get("set-cookie")  # the cookie is set once and kept
    assert cookie is None
    assert client.post("/assess", data={**form, "csrf": token}, follow_redirects=False).status_code == 303
